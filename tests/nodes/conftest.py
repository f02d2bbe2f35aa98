"""Fixtures of the ROS 2 node tests: real rclpy processes on loopback only.

Every test gets its own ``ROS_DOMAIN_ID`` (by xdist worker and test) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
(Kilted ignores ``ROS_LOCALHOST_ONLY``): no traffic leaves the machine, parallel tests do not see each other. The
tests skip, with the reason, when this interpreter has no rclpy (scripts/setup_ros.sh installs it).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fusion_stack.sim import simulate

_COUNTER = itertools.count()
_ROS_CHECK: tuple[bool, str] | None = None


def ros_available() -> tuple[bool, str]:
    """Whether rclpy and the interface packages the nodes use import in this interpreter (in a child process:
    the wheels' bootstrapper re-executes the interpreter)."""
    global _ROS_CHECK
    if _ROS_CHECK is None:
        code = ("import rclpy, rclpy.lifecycle; from vision_msgs.msg import Detection3DArray; "
                "from tf2_msgs.msg import TFMessage; from diagnostic_msgs.msg import DiagnosticArray; "
                "from rosgraph_msgs.msg import Clock")
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
            ok = proc.returncode == 0
            _ROS_CHECK = (ok, "" if ok else (proc.stderr.strip().splitlines() or ["?"])[-1])
        except (OSError, subprocess.TimeoutExpired) as err:
            _ROS_CHECK = (False, str(err))
    return _ROS_CHECK


@pytest.fixture
def ros_env(worker_id: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment of the ROS processes of one test (loopback only, a domain of its own)."""
    ok, why = ros_available()
    if not ok:
        pytest.skip(f"rclpy is not installed in this interpreter (run scripts/setup_ros.sh): {why}")
    worker = int(worker_id[2:]) if worker_id.startswith("gw") else 0
    domain = 20 + (worker * 20 + next(_COUNTER)) % 80
    env = {"ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4", "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
           "ROS_LOG_DIR": str(tmp_path / "ros_log")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def ros_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s simulated drive (mcap) for the node tests."""
    out = tmp_path_factory.mktemp("ros_drive") / "drive.mcap"
    simulate(seed=13, duration_s=2.0, out=out)
    return out
