"""Shared fixtures. Real recordings are found through one fixture, ``shared_data``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion_stack.align.pose_buffer import poses_from_ego
from fusion_stack.align.radar_merge import merge_radar_scans
from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.radar import RadarModel
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.types import Boxes3D, EgoPose, RadarScan

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("FUSION_STACK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings (``$FUSION_STACK_SHARED_DATA``, default ``../shared/data``); tests that
    use it are skipped with a clear reason when it is absent."""
    path = _shared_data_dir()
    if not (path / "README.md").exists():
        pytest.skip(f"real data folder {path} is absent (set FUSION_STACK_SHARED_DATA to run these tests)")
    return path


def simulated_radar_cycles(seed: int, duration_s: float, model: RadarModel | None = None) -> list[dict[str, Any]]:
    """Radar cycles of a simulated drive: the 5 radars' scans (28 ms apart at most) merged into base_link at the
    ground-truth stamp nearest the cycle (poses from the simulated odometry), with truth per detection."""
    rig = default_rig()
    radars = Rig("radars", rig.base_frame, rig.sensors_of_kind("radar"), rig.transforms)
    scene = make_scene(seed=seed, duration_s=duration_s)
    scans: list[tuple[RadarScan, Any]] = []
    gts: list[Boxes3D] = []
    poses: list[EgoPose] = []
    for s in run_simulation(scene, radars, radar=model, world=build_world(scene), with_tf=False):
        if isinstance(s.sample, RadarScan):
            scans.append((s.sample, s.truth))
        elif isinstance(s.sample, Boxes3D):
            gts.append(s.sample)  # in base_link: the rig has no LiDAR
        elif isinstance(s.sample, EgoPose):
            poses.append(s.sample)
    buf = poses_from_ego(poses)
    mounts = {s.sensor_id: rig.sensor2base(s.sensor_id) for s in radars.sensors}
    out = []
    for k in range(len(scans) // len(mounts)):
        cycle = scans[k * len(mounts):(k + 1) * len(mounts)]
        gt = min(gts, key=lambda g: abs(g.stamp_ns - cycle[0][0].stamp_ns - 14_000_000))
        ego = min(poses, key=lambda p: abs(p.stamp_ns - gt.stamp_ns))
        scan2out = {sc.sensor_id: buf.sensor_transform(mounts[sc.sensor_id], sc.stamp_ns, SE3(), gt.stamp_ns)
                    for sc, _ in cycle}
        pts = merge_radar_scans([sc for sc, _ in cycle], scan2out=scan2out, out_frame="base_link",
                                ego_linear_velocity=ego.linear_velocity, ego_angular_velocity=ego.angular_velocity,
                                sensor2body=mounts)
        out.append({"points": pts, "gt": gt, "ids": np.concatenate([t.instance_ids for _, t in cycle]),
                    "kind": np.concatenate([t.kind for _, t in cycle])})
    return out


@pytest.fixture(scope="session")
def radar_cycles() -> Callable[..., list[dict[str, Any]]]:
    """:func:`simulated_radar_cycles`: merged radar cycles of a simulated drive with truth per detection."""
    return simulated_radar_cycles
