"""Fixtures of the pipeline tests: one short simulated drive (mcap with ground truth) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion_stack.sim import simulate

DRIVE_SEED = 11
DRIVE_S = 3.0


@pytest.fixture(scope="session")
def sim_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s simulated drive on the default rig (LiDAR 20 Hz, 6 cameras, 5 radars, odometry, ground truth)."""
    out = tmp_path_factory.mktemp("drive") / "drive.mcap"
    simulate(seed=DRIVE_SEED, duration_s=DRIVE_S, out=out)
    return out
