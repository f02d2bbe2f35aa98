"""Importers and exporters: every exporter/importer pair returns the same calibration; bad files are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusion_stack.calibration.camera_models import PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.formats import RIG_FORMATS, LoadOptions, guess_format, load_any, save_any
from fusion_stack.calibration.kitti import (
    dump_kitti_calib,
    load_kitti_calib,
    load_kitti_info,
    parse_kitti_calib_text,
    rig_from_kitti_matrices,
)
from fusion_stack.calibration.nuscenes import (
    load_nuscenes_ego_poses,
    load_nuscenes_info,
    load_nuscenes_tables,
    save_nuscenes_info,
    save_nuscenes_tables,
)
from fusion_stack.calibration.opencalib import load_opencalib, save_opencalib
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import rpy_to_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import EgoPose

OPTICAL = np.array([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])


def kitti_matrices() -> dict[str, np.ndarray]:
    K = np.array([[721.5, 0, 609.6], [0, 721.5, 172.9], [0, 0, 1]])
    mats = {f"P{i}": np.hstack([K, (K @ np.array([b, 0.001 * i, 0.002 * i]))[:, None]])
            for i, b in enumerate([0.0, -0.54, 0.06, -0.47])}
    mats["R0_rect"] = rpy_to_matrix(0.004, -0.008, 0.01)
    velo2cam = SE3(OPTICAL.T @ rpy_to_matrix(0.01, 0.002, -0.003), [-0.004, -0.076, -0.27])
    mats["Tr_velo_to_cam"] = velo2cam.as_matrix()[:3]
    mats["Tr_imu_to_velo"] = SE3(rpy_to_matrix(0.0, 0.015, 0.001), [-0.81, 0.32, -0.8]).as_matrix()[:3]
    return mats


def test_kitti_text_round_trip(tmp_path: Path) -> None:
    rig = rig_from_kitti_matrices(kitti_matrices(), image_size=(1242, 375))
    text = dump_kitti_calib(rig)
    back_mats = parse_kitti_calib_text(text)
    for key, m in kitti_matrices().items():
        np.testing.assert_allclose(back_mats[key], m, rtol=1e-11, atol=1e-12, err_msg=key)
    path = tmp_path / "000123.txt"
    path.write_text(text)
    assert load_kitti_calib(path, image_size=(1242, 375), name="kitti").isclose(rig, atol=1e-9)
    # the rectified cameras sit on a horizontal baseline: cam2 is 0.06 m left of cam0's frame (x right)
    np.testing.assert_allclose(rig.transform("cam0_optical", "cam2_optical").translation, [0.06, 0.002, 0.004],
                               atol=1e-12)


def test_kitti_real_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "kitti_object" / "training" / "calib" / "000000.txt"
    rig = load_kitti_calib(src, image_size=(1224, 370))
    out = tmp_path / "000000.txt"
    save_any(rig, out, "kitti")
    original = parse_kitti_calib_text(src.read_text())
    written = parse_kitti_calib_text(out.read_text())
    for key in ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"):
        # the importer projects file rotations (6-7 digits) onto exact rotations: differences stay below 1e-6
        np.testing.assert_allclose(written[key], original[key], atol=2e-6, err_msg=key)
    assert load_kitti_calib(out, image_size=(1224, 370)).isclose(rig, atol=1e-9)


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (lambda t: "\n".join(ln for ln in t.splitlines() if not ln.startswith("P2")), "P2", "missing"),
        (lambda t: t.replace("R0_rect: 9.999", "R0_rect: 1.3999"), "R0_rect", "not orthonormal"),
        (lambda t: t.replace("P2: 7.2", "P2: -7.2"), "P2.fx", "focal"),
        (lambda t: t.replace("Tr_velo_to_cam:", "Tr_velo_to_cam: nan"), "Tr_velo_to_cam", "expected 12 numbers"),
        (lambda t: t.replace("P1: ", "P1: inf "), "P1", "expected 12"),
    ],
)
def test_kitti_bad_files_name_file_and_field(tmp_path: Path, edit, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    text = dump_kitti_calib(rig_from_kitti_matrices(kitti_matrices()))
    path = tmp_path / "bad.txt"
    path.write_text(edit(text))
    with pytest.raises(CalibrationError) as err:
        load_kitti_calib(path)
    assert str(path) in str(err.value) and field in str(err.value) and words in str(err.value), str(err.value)


def nuscenes_like_rig() -> Rig:
    sensors = [SensorCalibration("LIDAR_TOP", "lidar", "lidar_top"),
               SensorCalibration("RADAR_FRONT", "radar", "radar_front")]
    transforms = [StaticTransform("base_link", "lidar_top", SE3(rpy_to_matrix(0, 0, -np.pi / 2), [0.94, 0, 1.84])),
                  StaticTransform("base_link", "radar_front", SE3(rpy_to_matrix(0, 0, 0.01), [3.4, 0, 0.5]))]
    for i, ch in enumerate(("CAM_FRONT", "CAM_BACK")):
        frame = f"{ch.lower()}_optical"
        cam = PinholeCamera(width=1600, height=900, fx=1266.4 - i, fy=1266.4 - i, cx=816.3, cy=491.5)
        transforms.append(StaticTransform("base_link", frame,
                                          SE3(rpy_to_matrix(0, 0, i * np.pi) @ OPTICAL, [1.7 - 1.7 * i, 0.0, 1.5])))
        sensors.append(SensorCalibration(ch, "camera", frame, camera=cam))
    return Rig(name="nuscenes", base_frame="base_link", sensors=tuple(sensors), transforms=tuple(transforms))


def test_nuscenes_tables_round_trip_with_ego_poses(tmp_path: Path) -> None:
    rig = nuscenes_like_rig()
    poses = [EgoPose(1_532_402_927_647_951_000 + k * 50_000_000, "map", "ego_pose", "base_link",
                     SE3(rpy_to_matrix(0, 0, 0.1 * k), [411.3 + k, 1180.9, 0.0])) for k in range(3)]
    save_nuscenes_tables(rig, tmp_path, ego_poses=poses)
    assert load_nuscenes_tables(tmp_path).isclose(rig, atol=1e-12)
    back = load_nuscenes_ego_poses(tmp_path)
    assert [p.stamp_ns for p in back] == [p.stamp_ns for p in poses]
    assert all(a.pose.allclose(b.pose, atol=1e-9) for a, b in zip(back, poses))
    # quaternions are written in nuScenes' (w, x, y, z) order
    entry = json.loads((tmp_path / "calibrated_sensor.json").read_text())[0]
    np.testing.assert_allclose(entry["rotation"], [np.cos(np.pi / 4), 0, 0, -np.sin(np.pi / 4)], atol=1e-12)


def test_nuscenes_tables_errors(tmp_path: Path) -> None:
    save_nuscenes_tables(nuscenes_like_rig(), tmp_path)
    calib = json.loads((tmp_path / "calibrated_sensor.json").read_text())
    calib[1]["sensor_token"] = "deadbeef"
    (tmp_path / "calibrated_sensor.json").write_text(json.dumps(calib))
    with pytest.raises(CalibrationError, match=r"calibrated_sensor.json: \[1\].sensor_token: .*missing sensor"):
        load_nuscenes_tables(tmp_path)
    calib[1] = {**calib[0], "token": "a-second-calibration-of-the-lidar"}
    (tmp_path / "calibrated_sensor.json").write_text(json.dumps(calib))
    with pytest.raises(CalibrationError, match="calibrated more than once"):
        load_nuscenes_tables(tmp_path)
    assert load_nuscenes_tables(tmp_path, calibrated_sensor_tokens={calib[0]["token"]}).sensor_ids == ("LIDAR_TOP",)
    calib[0]["rotation"] = [2.0, 0, 0, 0]
    (tmp_path / "calibrated_sensor.json").write_text(json.dumps(calib[:1]))
    with pytest.raises(CalibrationError, match=r"\[0\].rotation: quaternion is not unit"):
        load_nuscenes_tables(tmp_path)


def test_nuscenes_info_round_trip(tmp_path: Path) -> None:
    rig = nuscenes_like_rig()
    rig = Rig(name="x", base_frame=rig.base_frame, sensors=tuple(s for s in rig.sensors if s.kind != "radar"),
              transforms=tuple(t for t in rig.transforms if t.child != "radar_front"))
    path = tmp_path / "info.json"
    save_nuscenes_info(rig, path)
    assert load_nuscenes_info(path, name="x").isclose(rig, atol=1e-12)


def test_nuscenes_real_info_round_trips_through_tables(shared_data: Path, tmp_path: Path) -> None:
    rig = load_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json", name="nuscenes")
    save_any(rig, tmp_path / "tables", "nuscenes")
    assert load_any(tmp_path / "tables").isclose(rig, atol=1e-12)


def opencalib_rig() -> Rig:
    cam = RadTanCamera(width=1920, height=1080, fx=2109.75, fy=2071.72, cx=949.828, cy=576.237,
                       distortion=(-0.108, 0.138, -0.0038, -0.0048))
    lidar2cam = SE3(OPTICAL.T @ rpy_to_matrix(0.01, 0.012, -0.0125), [-0.03, -0.35, -0.57])
    return Rig(name="oc", base_frame="top_center_lidar",
               sensors=(SensorCalibration("top_center_lidar", "lidar", "top_center_lidar"),
                        SensorCalibration("center_camera", "camera", "center_camera_optical", camera=cam)),
               transforms=(StaticTransform("top_center_lidar", "center_camera_optical", lidar2cam.inverse()),))


def test_opencalib_round_trip(tmp_path: Path) -> None:
    rig = opencalib_rig()
    save_opencalib(rig, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "center_camera-intrinsic.json", "top_center_lidar-to-center_camera-extrinsic.json"]
    assert load_opencalib(tmp_path, name="oc").isclose(rig, atol=1e-12)


def test_opencalib_real_files_and_errors(shared_data: Path, tmp_path: Path) -> None:
    rig = load_opencalib(shared_data / "opencalib" / "lidar2camera")
    stored = json.loads((shared_data / "opencalib" / "lidar2camera" /
                         "top_center_lidar-to-center_camera-extrinsic.json").read_text())
    m = np.array(next(iter(stored.values()))["param"]["sensor_calib"]["data"])
    np.testing.assert_allclose(rig.extrinsic("top_center_lidar", "center_camera").as_matrix(), m, atol=2e-5)
    # the radar extrinsic's rotation is off orthonormal by 1.7e-3: rejected unless the tolerance is raised
    with pytest.raises(CalibrationError, match=r"radar-to-center_camera-extrinsic.json: .*sensor_calib: .*orthonormal"):
        load_opencalib(shared_data / "opencalib" / "radar2camera")
    assert load_opencalib(shared_data / "opencalib" / "radar2camera", rotation_atol=3e-3).sensor_ids == (
        "radar", "center_camera")
    save_opencalib(opencalib_rig(), tmp_path)
    (tmp_path / "center_camera-intrinsic.json").unlink()
    with pytest.raises(CalibrationError, match=r"has no center_camera-intrinsic\.json"):
        load_opencalib(tmp_path)


def test_ros_camera_info_round_trip_through_formats(tmp_path: Path) -> None:
    rig = opencalib_rig()
    out = tmp_path / "center_camera.yaml"
    save_any(rig, out, "ros")
    back = load_any(out)
    assert guess_format(out) == "ros"
    assert back.sensor("center_camera").camera == rig.sensor("center_camera").camera


def test_every_writable_format_round_trips(tmp_path: Path) -> None:
    """Each format that can be written reads back to the same calibration (what it can represent)."""
    cases = {"rig": (nuscenes_like_rig(), "r.yaml"), "nuscenes": (nuscenes_like_rig(), "tables"),
             "opencalib": (opencalib_rig(), "oc"), "kitti": (rig_from_kitti_matrices(kitti_matrices()), "k.txt"),
             "nuscenes-info": (Rig(name="n", base_frame="base_link",
                                   sensors=nuscenes_like_rig().sensors[:1] + nuscenes_like_rig().sensors[2:],
                                   transforms=nuscenes_like_rig().transforms[:1] + nuscenes_like_rig().transforms[2:]),
                               "info.json")}
    writable = {k for k, v in RIG_FORMATS.items() if v.save is not None} - {"ros"}
    assert writable == set(cases)
    for fmt, (rig, name) in cases.items():
        save_any(rig, tmp_path / name, fmt)
        back = load_any(tmp_path / name, fmt, LoadOptions(name=rig.name))
        assert back.isclose(rig, atol=1e-9), fmt


def test_kitti_info_matches_kitti_conventions(shared_data: Path, tmp_path: Path) -> None:
    rig = load_kitti_info(shared_data / "kitti_object" / "demo_000008" / "info.json")
    cam2 = rig.sensor("cam2").camera
    assert cam2 is not None and (cam2.width, cam2.height) == (1242, 375)
    # a camera rotated away from the rectified frame cannot be written as a KITTI P matrix
    rotated = StaticTransform("cam_rect_optical", "cam3_optical", SE3(rpy_to_matrix(0, 0.1, 0), [0.5, 0, 0]))
    bad = Rig(name="k", base_frame="velodyne", sensors=rig.sensors,
              transforms=(*(t for t in rig.transforms if t.child != "cam3_optical"), rotated))
    with pytest.raises(CalibrationError, match="KITTI cameras must be rectified"):
        save_any(bad, tmp_path / "never.txt", "kitti")
