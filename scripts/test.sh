#!/usr/bin/env bash
# Sets up .venv (see setup_env.sh) and runs the project's checks: ruff, mypy and the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k frame_graph
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
bash scripts/setup_ros.sh   # ROS 2 Kilted rclpy + messages into .venv (the node tests; docs/ros.md)
# ROS processes of the tests stay on loopback over UDP (each test also sets its own ROS_DOMAIN_ID)
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST FASTDDS_BUILTIN_TRANSPORTS=UDPv4
.venv/bin/ruff check fusion_stack tests benchmarks scripts nodes
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
