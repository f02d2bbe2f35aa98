"""Fixtures of the driver tests: the real recordings (skipped when the shared data folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vlp16_dir(shared_data: Path) -> Path:
    return shared_data / "rosbag2_velodyne" / "vlp16"


@pytest.fixture(scope="session")
def vlp32_dir(shared_data: Path) -> Path:
    return shared_data / "rosbag2_velodyne" / "vlp32"


@pytest.fixture(scope="session")
def ars548_dir(shared_data: Path) -> Path:
    return shared_data / "rosbag2_radar" / "ars548"
