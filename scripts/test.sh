#!/usr/bin/env bash
# Sets up .venv (see setup_env.sh) and runs the project's checks: ruff, mypy and the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k frame_graph
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
.venv/bin/ruff check fusion_stack tests benchmarks scripts
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
