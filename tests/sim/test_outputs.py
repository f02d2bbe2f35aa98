"""Outputs: the odometry integrates to the poses, runs are byte-identical per seed, the mcap replays through
open_recording and the nuScenes info folder loads through open_nuscenes_info."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from fusion_stack.align.pose_buffer import body_motion
from fusion_stack.calibration.rig import Rig
from fusion_stack.io.calibration_samples import TransformSample
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.io.recording import open_recording
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import Scene, make_scene
from fusion_stack.sim.simulate import SimulationSummary, simulate
from fusion_stack.sim.truth import BoxTruth
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan

DURATION = 0.6


def test_ego_poses_integrate_the_published_odometry(scene: Scene, rig: Rig) -> None:
    lidar_free = Rig(rig.name, rig.base_frame, (), rig.transforms)  # odometry only: no sensors
    poses = [s.sample for s in run_simulation(scene, lidar_free) if isinstance(s.sample, EgoPose)]
    assert len(poses) == int(scene.duration_s * 50) + 1
    pose = poses[0].pose
    for a, b in itertools.pairwise(poses):
        assert a.linear_velocity is not None and a.angular_velocity is not None
        assert b.linear_velocity is not None and b.angular_velocity is not None
        dt = (b.stamp_ns - a.stamp_ns) * 1e-9
        pose = pose @ body_motion(0.5 * (a.linear_velocity + b.linear_velocity),
                                  0.5 * (a.angular_velocity + b.angular_velocity), dt)
    end = poses[-1].pose
    travelled = np.linalg.norm(end.translation - poses[0].pose.translation)
    assert travelled > 5.0
    assert np.linalg.norm(pose.translation - end.translation) < 0.01 * max(1.0, travelled / 10)
    assert (pose.inverse() @ end).rotation_angle() < 1e-3


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    root = tmp_path_factory.mktemp("sim")
    calls: list[tuple[int, int]] = []
    (root / "a").mkdir()
    (root / "b").mkdir()
    first = simulate(seed=7, duration_s=DURATION, out=root / "a" / "bag", preview=True,
                     progress=lambda done, total: calls.append((done, total)))
    simulate(seed=7, duration_s=DURATION, out=root / "b" / "bag")  # same name: the bag records its name
    assert calls and calls[-1][0] == calls[-1][1]
    return root / "a" / "bag", root / "b" / "bag", first


def test_same_seed_gives_byte_identical_bags(bags: tuple[Path, Path, SimulationSummary]) -> None:
    a, b, _ = bags
    mcap_a, mcap_b = sorted(a.glob("*.mcap")), sorted(b.glob("*.mcap"))
    assert len(mcap_a) == len(mcap_b) == 1
    assert mcap_a[0].read_bytes() == mcap_b[0].read_bytes()
    other = make_scene(seed=8, duration_s=DURATION)
    same = make_scene(seed=7, duration_s=DURATION)
    assert not np.array_equal(other.ego.states[:, :2] - other.ego.states[0, :2],
                              same.ego.states[:, :2] - same.ego.states[0, :2]) or len(other.agents) != len(same.agents)


def test_the_bag_replays_through_open_recording(bags: tuple[Path, Path, SimulationSummary]) -> None:
    a, _, summary = bags
    assert summary.preview is not None and summary.preview.stat().st_size > 50_000
    with open_recording(a) as rec:
        kinds = {t: info.sensor.kind for t, info in rec.topics.items()}
        samples = list(rec)
        graph = rec.frame_graph()
    assert kinds["/LIDAR_TOP/points"] == "lidar" and kinds["/RADAR_FRONT/points"] == "radar"
    assert kinds["/CAM_FRONT/image_raw/compressed"] == "camera"
    by_type: dict[type, list[object]] = {}
    for s in samples:
        by_type.setdefault(type(s), []).append(s)
    clouds = [s for s in by_type[PointCloud] if isinstance(s, PointCloud)]
    assert len(clouds) == 12  # sweeps that end within 0.6 s: starts 0.00 ... 0.55
    assert set(clouds[0].fields) == {"intensity", "ring", "time_offset_ns"}
    assert clouds[0].fields["time_offset_ns"].max() > 40_000_000  # a rotating sweep
    assert len(clouds[0]) > 10_000
    radar = [s for s in by_type[RadarScan] if isinstance(s, RadarScan)]
    assert {r.sensor_id for r in radar} == {"RADAR_FRONT", "RADAR_FRONT_LEFT", "RADAR_FRONT_RIGHT",
                                            "RADAR_BACK_LEFT", "RADAR_BACK_RIGHT"}
    images = [s for s in by_type[CameraImage] if isinstance(s, CameraImage)]
    assert len({i.sensor_id for i in images}) == 6 and images[0].data.shape[:2] == (360, 640)
    boxes = [s for s in by_type[Boxes3D] if isinstance(s, Boxes3D)]
    assert boxes and boxes[0].frame_id == "lidar_top" and len(boxes[0]) > 5
    assert set(boxes[0].class_names) <= set(BOX_CLASSES)
    odom = [s for s in by_type[EgoPose] if isinstance(s, EgoPose)]
    assert odom[0].linear_velocity is not None
    assert any(isinstance(s, TransformSample) for s in samples)
    t = clouds[3].stamp_ns
    graph.lookup_between("lidar_top", t, "cam_front_optical", t + 10_000_000, fixed_frame="map")


def test_nuscenes_info_folder_loads(tmp_path: Path) -> None:
    summary = simulate(seed=7, duration_s=DURATION, out=tmp_path / "ds", output_format="nuscenes")
    assert summary.keyframes == 2
    ds = open_nuscenes_info(tmp_path / "ds" / "info.json")  # no special case: sizes are in the file
    assert len(ds) == 2
    frame = ds.frame(1)
    cloud, boxes = frame.get("LIDAR_TOP"), frame.get("ground_truth")
    assert isinstance(cloud, PointCloud) and len(cloud) > 10_000
    assert isinstance(boxes, Boxes3D) and len(boxes) > 5
    assert ds.class_names[:-1] == BOX_CLASSES
    assert isinstance(frame.get("CAM_FRONT"), CameraImage)
    extras = ds.box_extras(1)
    assert extras["num_lidar_pts"].sum() > 100
    assert ds.rig.sensor("CAM_FRONT").camera is not None
    # the same keyframes in the official table format
    from fusion_stack.io.nuscenes_tables import open_nuscenes_tables

    tables = open_nuscenes_tables(tmp_path / "ds", version="v1.0-sim")
    assert len(tables) == 2
    again = tables.boxes(1)
    assert len(again) == len(boxes) and again.label_names() == boxes.label_names()
    np.testing.assert_allclose(again.centers, boxes.centers, atol=1e-4)
    assert len(tables.lidar(1)) == len(cloud)


def test_box_truth_counts_match_the_sweep(scene: Scene, rig: Rig) -> None:
    small = Rig(rig.name, rig.base_frame, tuple(s for s in rig.sensors if s.kind == "lidar"), rig.transforms)
    stream = run_simulation(scene, small, with_tf=False)
    last_cloud = None
    for s in stream:
        if isinstance(s.sample, PointCloud):
            last_cloud = s
        if isinstance(s.sample, Boxes3D) and s.time_s >= 1.0:
            assert isinstance(s.truth, BoxTruth) and last_cloud is not None
            ids = last_cloud.truth.instance_ids  # type: ignore[union-attr]
            for iid, n, vis in zip(s.truth.instance_ids, s.truth.num_lidar_pts, s.truth.visibility):
                assert n == np.count_nonzero(ids == iid)
                assert 0.0 <= vis <= 1.0
                if n > 20:
                    assert vis > 0.0
            np.testing.assert_array_equal(s.sample.track_ids, s.truth.instance_ids)
            break


def test_a_rig_without_lidar_still_gets_ground_truth(scene: Scene, rig: Rig) -> None:
    radars_only = Rig(rig.name, rig.base_frame, tuple(s for s in rig.sensors if s.kind == "radar"), rig.transforms)
    boxes = [s for s in run_simulation(scene, radars_only, with_tf=False) if isinstance(s.sample, Boxes3D)]
    assert len(boxes) == int(scene.duration_s * 20) - 1 + 1
    assert all(b.sample.frame_id == "base_link" for b in boxes)
    last = boxes[-1].truth
    assert isinstance(last, BoxTruth)
    assert np.all(last.visibility == 0) and np.all(last.num_lidar_pts == 0) and last.num_radar_pts.sum() > 0
