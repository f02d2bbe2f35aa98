"""Official nuScenes tables: write -> read round trips (real keyframe, synthetic scene), conventions, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import rpy_to_matrix, yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.io.nuscenes_tables import DETECTION_CLASSES, open_nuscenes_tables, write_nuscenes_tables
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, FrameSet, PointCloud

CLASSES = (*DETECTION_CLASSES, "ignore")
T0_NS = 1_532_402_927_647_951_000
LIDAR2EGO = SE3(yaw_matrix(0.1), np.array([0.9, 0.05, 1.8]))
CAM2EGO = SE3(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), np.array([1.7, 0.0, 1.5]))
EGO_YAWS = (0.3, 0.35)
EGO_XYZ = (np.array([100.0, 200.0, 1.0]), np.array([104.0, 201.0, 1.1]))


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * np.asarray(a))))


def _table(root: Path, name: str) -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads((root / "v1.0-mini" / f"{name}.json").read_text())
    return doc


def _rig() -> Rig:
    cam = PinholeCamera(width=8, height=6, fx=5.0, fy=5.0, cx=4.0, cy=3.0)
    return Rig("scene_root", "base_link",
               (SensorCalibration("LIDAR_TOP", "lidar", "lidar_top"),
                SensorCalibration("CAM_FRONT", "camera", "cam_front_optical", camera=cam)),
               (StaticTransform("base_link", "lidar_top", LIDAR2EGO),
                StaticTransform("base_link", "cam_front_optical", CAM2EGO)))


def _frames(*, tilt: float = 0.0) -> list[FrameSet]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(2):
        stamp = T0_NS + k * 500_000_000
        pts = rng.uniform(-20, 20, size=(50, 3)).astype(np.float32)
        pts[:5] = np.array([10.0 + k, 2.0, 0.5], dtype=np.float32) + rng.uniform(-0.5, 0.5, (5, 3)).astype(np.float32)
        cloud = PointCloud(stamp, "lidar_top", "LIDAR_TOP", pts,
                           {"intensity": rng.uniform(0, 100, 50).astype(np.float32),
                            "ring": rng.integers(0, 32, 50).astype(np.uint16)})
        image = CameraImage(stamp - 30_000_000, "cam_front_optical", "CAM_FRONT",
                            rng.integers(0, 255, (6, 8, 3)).astype(np.uint8), "bgr8")
        pose = EgoPose(stamp, "map", "ego_pose", "base_link",
                       SE3(rpy_to_matrix(tilt, 0.0, EGO_YAWS[k]), EGO_XYZ[k]))
        # a car (track 7) seen twice, a pedestrian (track 3) and an untracked cone in the first frame only
        n = 3 if k == 0 else 1
        boxes = Boxes3D(stamp, "lidar_top", "ground_truth",
                        np.array([[10.0 + k, 2.0, 0.5], [5.0, -3.0, 0.9], [8.0, 6.0, 0.4]])[:n],
                        np.array([[4.5, 1.9, 1.6], [0.7, 0.6, 1.8], [0.4, 0.4, 0.8]])[:n],
                        np.array([0.2, -1.0, 0.0])[:n], np.array([0, 7, 8])[:n], CLASSES,
                        track_ids=np.array([7, 3, -1])[:n])
        out.append(FrameSet(stamp, "LIDAR_TOP", {"LIDAR_TOP": cloud, "CAM_FRONT": image, "ego_pose": pose,
                                                 "ground_truth": boxes}))
    return out


def test_real_keyframe_round_trip(shared_data: Path, tmp_path: Path) -> None:
    info = open_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json")
    root = tmp_path / "nuscenes_keyframe"  # the rig is named after the folder, as the info reader's
    write_nuscenes_tables(root, info.frames(), info.rig, scene_name="scene-0061", image_format="png",
                          log_name="n015-2018-07-24-11-22-45+0800")
    ds = open_nuscenes_tables(root)
    assert len(ds) == len(info) == 1
    a, b = info.frame(0), ds.frame(0)
    assert a.sensor_ids == b.sensor_ids and a.stamp_ns == b.stamp_ns
    assert {s.sensor_id: s.stamp_ns for s in a} == {s.sensor_id: s.stamp_ns for s in b}
    la, lb = a.samples["LIDAR_TOP"], b.samples["LIDAR_TOP"]
    assert isinstance(la, PointCloud) and isinstance(lb, PointCloud)
    assert np.array_equal(la.positions, lb.positions)
    for name in ("intensity", "ring"):
        assert np.array_equal(la.fields[name], lb.fields[name]) and la.fields[name].dtype == lb.fields[name].dtype
    for cam in (s for s in a.sensor_ids if s.startswith("CAM")):
        ia, ib = a.samples[cam], b.samples[cam]
        assert isinstance(ia, CameraImage) and isinstance(ib, CameraImage)
        assert (ia.encoding, ia.frame_id) == (ib.encoding, ib.frame_id) and np.array_equal(ia.data, ib.data)
    ba, bb = a.samples["ground_truth"], b.samples["ground_truth"]
    assert isinstance(ba, Boxes3D) and isinstance(bb, Boxes3D)
    assert len(ba) == len(bb) == 69 and ba.class_names == bb.class_names
    assert ba.label_names() == bb.label_names() and bb.frame_id == "lidar_top"
    np.testing.assert_allclose(bb.centers, ba.centers, atol=1e-5)
    np.testing.assert_allclose(bb.sizes, ba.sizes, atol=1e-5)
    assert _wrap(bb.yaws - ba.yaws).max() < 1e-5
    assert np.all(ba.track_ids == -1) and len(set(bb.track_ids.tolist())) == len(bb)  # one instance per box
    assert np.all(np.isnan(bb.velocities))
    assert ds.rig.isclose(info.rig, atol=1e-9) and ds.rig_of(0).sensor_ids == info.rig.sensor_ids
    pa, pb = a.samples["ego_pose"], b.samples["ego_pose"]
    assert isinstance(pa, EgoPose) and isinstance(pb, EgoPose)
    assert pb.pose.allclose(pa.pose, atol=1e-9) and (pa.frame_id, pa.child_frame_id) == (pb.frame_id, pb.child_frame_id)
    names = {Path(sd["filename"]).name for sd in _table(root, "sample_data")}
    assert "n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin" in names


def test_synthetic_scene_conventions_and_round_trip(tmp_path: Path) -> None:
    frames = _frames()
    root = tmp_path / "scene_root"
    write_nuscenes_tables(root, frames, _rig(), scene_name="scene-sim", image_format="png")
    # --- the official conventions, checked on the raw tables
    samples, sds = _table(root, "sample"), _table(root, "sample_data")
    scene = _table(root, "scene")[0]
    assert scene["name"] == "scene-sim" and scene["nbr_samples"] == 2
    assert (scene["first_sample_token"], scene["last_sample_token"]) == (samples[0]["token"], samples[1]["token"])
    assert [s["timestamp"] for s in samples] == [T0_NS // 1000, T0_NS // 1000 + 500_000]  # microseconds
    assert (samples[0]["prev"], samples[0]["next"]) == ("", samples[1]["token"])
    assert (samples[1]["prev"], samples[1]["next"]) == (samples[0]["token"], "")
    poses = {p["token"]: p for p in _table(root, "ego_pose")}
    calibs = {c["token"]: c for c in _table(root, "calibrated_sensor")}
    channels = {s["token"]: s["channel"] for s in _table(root, "sensor")}
    for sd in sds:
        k = [s["token"] for s in samples].index(sd["sample_token"])
        channel = channels[calibs[sd["calibrated_sensor_token"]]["sensor_token"]]
        pose = poses[sd["ego_pose_token"]]
        assert pose["timestamp"] == sd["timestamp"] and sd["is_key_frame"] is True
        np.testing.assert_allclose(pose["translation"], EGO_XYZ[k])
        np.testing.assert_allclose(pose["rotation"], [np.cos(EGO_YAWS[k] / 2), 0, 0, np.sin(EGO_YAWS[k] / 2)])
        if channel == "LIDAR_TOP":
            assert sd["timestamp"] == samples[k]["timestamp"] and sd["filename"].endswith(".pcd.bin")
            np.testing.assert_allclose(calibs[sd["calibrated_sensor_token"]]["translation"], [0.9, 0.05, 1.8])
            assert (sd["width"], sd["height"]) == (0, 0)
        else:
            assert channel == "CAM_FRONT" and sd["timestamp"] == samples[k]["timestamp"] - 30_000
            assert (sd["width"], sd["height"]) == (8, 6)
            np.testing.assert_allclose(calibs[sd["calibrated_sensor_token"]]["camera_intrinsic"],
                                       [[5, 0, 4], [0, 5, 3], [0, 0, 1]])
    lidar_sds = [sd for sd in sds if sd["filename"].startswith("samples/LIDAR_TOP/")]
    assert (lidar_sds[0]["next"], lidar_sds[1]["prev"]) == (lidar_sds[1]["token"], lidar_sds[0]["token"])
    anns = _table(root, "sample_annotation")
    assert len(anns) == 4
    car0 = anns[0]
    assert car0["size"] == pytest.approx([1.9, 4.5, 1.6])  # (w, l, h)
    yaw_g = EGO_YAWS[0] + 0.1 + 0.2  # ego yaw + lidar mount yaw + box yaw, all about z
    np.testing.assert_allclose(car0["rotation"], [np.cos(yaw_g / 2), 0, 0, np.sin(yaw_g / 2)], atol=1e-12)  # w,x,y,z
    centre_ego = yaw_matrix(0.1) @ np.array([10.0, 2.0, 0.5]) + [0.9, 0.05, 1.8]
    np.testing.assert_allclose(car0["translation"], yaw_matrix(EGO_YAWS[0]) @ centre_ego + EGO_XYZ[0], atol=1e-9)
    assert car0["num_lidar_pts"] == 5
    instances = {i["token"]: i for i in _table(root, "instance")}
    car = instances[car0["instance_token"]]
    assert car["nbr_annotations"] == 2 and car["first_annotation_token"] == car0["token"]
    car1 = next(a for a in anns if a["sample_token"] == samples[1]["token"])
    assert car1["instance_token"] == car0["instance_token"] and (car0["next"], car1["prev"]) == (car1["token"],
                                                                                                 car0["token"])
    cats = {c["token"]: c["name"] for c in _table(root, "category")}
    assert cats[car["category_token"]] == "vehicle.car"
    # --- reading back
    ds = open_nuscenes_tables(root)
    assert len(ds) == 2 and ds.rig.isclose(_rig(), atol=1e-9)
    tracks = []
    for fs_in, fs_out in zip(frames, ds.frames()):
        assert fs_in.sensor_ids == fs_out.sensor_ids and fs_in.stamp_ns == fs_out.stamp_ns
        for sid in ("LIDAR_TOP", "CAM_FRONT"):
            assert fs_in.samples[sid].stamp_ns == fs_out.samples[sid].stamp_ns
        ci, co = fs_in.samples["CAM_FRONT"], fs_out.samples["CAM_FRONT"]
        assert isinstance(ci, CameraImage) and isinstance(co, CameraImage) and np.array_equal(ci.data, co.data)
        li, lo = fs_in.samples["LIDAR_TOP"], fs_out.samples["LIDAR_TOP"]
        assert isinstance(li, PointCloud) and isinstance(lo, PointCloud)
        assert np.array_equal(li.positions, lo.positions) and np.array_equal(li.fields["ring"], lo.fields["ring"])
        bi, bo = fs_in.samples["ground_truth"], fs_out.samples["ground_truth"]
        assert isinstance(bi, Boxes3D) and isinstance(bo, Boxes3D)
        np.testing.assert_allclose(bo.centers, bi.centers, atol=1e-9)
        np.testing.assert_allclose(bo.sizes, bi.sizes, atol=1e-12)
        assert _wrap(bo.yaws - bi.yaws).max() < 1e-9 and bo.label_names() == bi.label_names()
        tracks.append(bo.track_ids.tolist())
        pi, po = fs_in.samples["ego_pose"], fs_out.samples["ego_pose"]
        assert isinstance(pi, EgoPose) and isinstance(po, EgoPose) and po.pose.allclose(pi.pose, atol=1e-9)
    assert tracks[0][0] == tracks[1][0] and len(set(tracks[0])) == 3  # the car keeps its id; all ids distinct
    # velocities from neighbouring annotations (devkit's box_velocity), in the LiDAR frame, vz = 0
    v_global = (np.asarray(car1["translation"]) - np.asarray(car0["translation"])) / 0.5
    global2lidar = (SE3(yaw_matrix(EGO_YAWS[0]), EGO_XYZ[0]) @ LIDAR2EGO).inverse()
    v0 = ds.boxes(0).velocities
    np.testing.assert_allclose(v0[0], [*global2lidar.apply_rotation(v_global[None])[0][:2], 0.0], atol=1e-9)
    assert np.all(np.isnan(v0[1:]))  # pedestrian and cone: one annotation each
    assert np.all(np.isnan(open_nuscenes_tables(root, velocities=False).boxes(0).velocities))
    assert len(open_nuscenes_tables(root, scene="scene-sim", load_images=False).frame(0).sensor_ids) == 3


def test_writer_is_deterministic_and_jpeg_default(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_nuscenes_tables(tmp_path / name, _frames(), _rig(), scene_name="scene-sim")
    for table in ("scene", "sample", "sample_data", "sample_annotation", "instance", "ego_pose"):
        assert _table(tmp_path / "a", table) == _table(tmp_path / "b", table)
    img = open_nuscenes_tables(tmp_path / "a").image(0, "CAM_FRONT")
    assert img.data.shape == (6, 8, 3) and img.encoding == "bgr8"
    assert all(sd["filename"].endswith((".jpg", ".pcd.bin")) for sd in _table(tmp_path / "a", "sample_data"))


def test_gravity_aligned_rotation_is_about_global_z(tmp_path: Path) -> None:
    frames = _frames(tilt=0.02)
    write_nuscenes_tables(tmp_path, frames, _rig(), gravity_aligned=True, image_format="png")
    for ann in _table(tmp_path, "sample_annotation"):
        assert ann["rotation"][1:3] == pytest.approx([0.0, 0.0], abs=1e-12)
    boxes = open_nuscenes_tables(tmp_path).boxes(0)
    gt = frames[0].samples["ground_truth"]
    assert isinstance(gt, Boxes3D) and _wrap(boxes.yaws - gt.yaws).max() < 1e-3


def test_missing_table_names_file_and_field(tmp_path: Path) -> None:
    write_nuscenes_tables(tmp_path, _frames(), _rig(), image_format="png")
    (tmp_path / "v1.0-mini" / "instance.json").unlink()
    with pytest.raises(RecordingError) as err:
        open_nuscenes_tables(tmp_path)
    assert err.value.source is not None and err.value.source.endswith("instance.json")
    assert err.value.field == "instance"


@pytest.mark.parametrize(("key", "on_open"), [("calibrated_sensor_token", True), ("ego_pose_token", False)])
def test_dangling_token_names_file_and_field(tmp_path: Path, key: str, on_open: bool) -> None:
    write_nuscenes_tables(tmp_path, _frames(), _rig(), image_format="png")
    path = tmp_path / "v1.0-mini" / "sample_data.json"
    sds = json.loads(path.read_text())
    sds[0][key] = "no-such-token"
    path.write_text(json.dumps(sds))
    with pytest.raises(RecordingError) as err:
        open_nuscenes_tables(tmp_path).frame(0)
    assert err.value.source is not None and err.value.source.endswith("sample_data.json")
    assert err.value.field == f"[0].{key}" and "no-such-token" in str(err.value)
    if on_open:
        with pytest.raises(RecordingError):
            open_nuscenes_tables(tmp_path)


def test_unknown_scene_and_bad_frames(tmp_path: Path) -> None:
    write_nuscenes_tables(tmp_path, _frames(), _rig(), image_format="png")
    with pytest.raises(RecordingError, match="no scene"):
        open_nuscenes_tables(tmp_path, scene="nope")
    with pytest.raises(RecordingError, match="no frames"):
        write_nuscenes_tables(tmp_path / "x", [], _rig())
    fs = _frames()[0]
    bad = FrameSet(fs.stamp_ns, "LIDAR_TOP", {k: v for k, v in fs.samples.items() if k != "ego_pose"})
    with pytest.raises(RecordingError, match="EgoPose"):
        write_nuscenes_tables(tmp_path / "y", [bad], _rig())
