"""nuScenes keyframe, KITTI frame and Argoverse 2 log load with their boxes and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.feather as feather
import pytest

from fusion_stack.calibration.kitti import load_kitti_calib
from fusion_stack.calibration.nuscenes import load_nuscenes_info
from fusion_stack.io.av2_dataset import AV2_CATEGORIES, open_av2_log
from fusion_stack.io.dataset_reader import EGO_POSE_ID, GROUND_TRUTH_ID
from fusion_stack.io.kitti_dataset import open_kitti_object
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud

pytestmark = pytest.mark.real_data
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")


def _pkl(shared_data: Path) -> Path:
    return next((shared_data / "nuscenes_keyframe").glob("*.pkl"))


@pytest.mark.parametrize("kind", ["json", "pkl"])
def test_nuscenes_keyframe(shared_data: Path, kind: str) -> None:
    info = shared_data / "nuscenes_keyframe" / "info.json"
    ds = open_nuscenes_info(info if kind == "json" else _pkl(shared_data))
    assert len(ds) == 1
    assert ds.rig.isclose(load_nuscenes_info(info), atol=1e-12)
    fs = ds.frame(0)
    assert set(fs.sensor_ids) == {"LIDAR_TOP", EGO_POSE_ID, GROUND_TRUTH_ID, *CAMERAS}
    lidar = fs.get("LIDAR_TOP")
    assert isinstance(lidar, PointCloud) and len(lidar) == 34688
    assert lidar.stamp_ns == 1532402927647951000 and lidar.frame_id == "lidar_top"
    assert lidar.fields["ring"].dtype == np.uint16 and lidar.fields["ring"].max() == 31
    for cam in CAMERAS:
        img = fs.get(cam)
        assert isinstance(img, CameraImage) and (img.width, img.height, img.encoding) == (1600, 900, "bgr8")
        assert img.frame_id == ds.rig.sensor(cam).frame_id
    assert fs.get("CAM_FRONT").stamp_ns == 1532402927612460000  # type: ignore[union-attr]
    boxes = fs.get(GROUND_TRUTH_ID)
    assert isinstance(boxes, Boxes3D) and len(boxes) == 69 and boxes.frame_id == "lidar_top"
    doc = json.loads(info.read_text())["data_list"][0]
    expect = np.array([b["bbox_3d"] for b in doc["instances"]])
    np.testing.assert_allclose(boxes.as_array(), expect, rtol=1e-6, atol=1e-5)  # z is the gravity centre
    assert boxes.class_names[:3] == ("car", "truck", "trailer") and boxes.class_names[-1] == "ignore"
    assert boxes.label_names()[0] == "pedestrian"
    assert np.count_nonzero(boxes.labels == len(boxes.class_names) - 1) == 1
    np.testing.assert_allclose(boxes.velocities[1], [0.0357412927333759, 1.258390282897789, 0.0], rtol=1e-6)
    assert np.isnan(boxes.velocities).any(axis=1).sum() == 2
    extras = ds.box_extras(0)
    assert extras["num_lidar_pts"].sum() == 1009 and extras["bbox_3d_isvalid"].sum() == 66
    assert len(ds.boxes(0, valid_only=True, drop_ignored=True)) == 65
    # Points land in the boxes as the file counts them (centres at the gravity centre).
    inside = [_points_in_box(lidar.positions, b) for b in boxes.as_array()]
    assert abs(sum(inside) - 1009) < 30
    pose = fs.get(EGO_POSE_ID)
    assert isinstance(pose, EgoPose) and (pose.frame_id, pose.child_frame_id) == ("map", "base_link")
    np.testing.assert_allclose(pose.pose.translation, [411.3039245605469, 1180.890380859375, 0.0])
    stream = list(ds)
    assert [s.stamp_ns for s in stream] == sorted(s.stamp_ns for s in stream) and len(stream) == 9


def _points_in_box(points: np.ndarray, box: np.ndarray) -> int:
    d = points.astype(np.float64) - box[:3]
    c, s = np.cos(-box[6]), np.sin(-box[6])
    x, y = d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c
    return int(np.count_nonzero((abs(x) <= box[3] / 2) & (abs(y) <= box[4] / 2) & (abs(d[:, 2]) <= box[5] / 2)))


def test_kitti_object_frame(shared_data: Path) -> None:
    root = shared_data / "kitti_object" / "training"
    ds = open_kitti_object(root)
    assert ds.frame_ids == ("000000",)
    cam = ds.rig.sensor("cam2").camera
    assert cam is not None and (cam.width, cam.height) == (1224, 370)
    assert ds.rig.isclose(load_kitti_calib(root / "calib" / "000000.txt", image_size=(1224, 370)))
    fs = ds.frame(0)
    lidar, image, boxes = fs.get("velodyne"), fs.get("cam2"), fs.get(GROUND_TRUTH_ID)
    assert isinstance(lidar, PointCloud) and len(lidar) == (root / "velodyne" / "000000.bin").stat().st_size // 16
    assert isinstance(image, CameraImage) and (image.width, image.height) == (1224, 370)
    assert isinstance(boxes, Boxes3D) and boxes.label_names() == ("Pedestrian",)
    assert boxes.frame_id == "velodyne"
    np.testing.assert_allclose(boxes.centers[0], [8.736, -1.868, -0.655], atol=5e-3)  # 8.4 m ahead in camera z
    np.testing.assert_allclose(boxes.sizes[0], [1.20, 0.48, 1.89], atol=1e-6)
    assert _points_in_box(lidar.positions, boxes.as_array()[0]) > 50
    # The box projects onto its 2D label box in image_2.
    uvw = (ds.rig.projection_matrix("velodyne", "cam2") @ np.append(boxes.centers[0], 1.0))[:3]
    u, v = uvw[:2] / uvw[2]
    assert 712.40 < u < 810.73 and 143.00 < v < 307.92


def test_av2_log(shared_data: Path) -> None:
    log = next((shared_data / "av2_sensor").glob("*-*-*"))
    ds = open_av2_log(log)
    assert len(ds) == 2
    rig = ds.rig
    assert len(rig.sensors_of_kind("camera")) == 9 and {"up_lidar", "down_lidar", "lidar"} <= set(rig.sensor_ids)
    front = rig.sensor2base("ring_front_center")
    np.testing.assert_allclose(front.apply_rotation([0.0, 0.0, 1.0]), [1.0, 0.0, 0.0], atol=0.02)  # optical z fwd
    cam = rig.sensor("ring_front_center").camera
    assert cam is not None and (cam.width, cam.height) == (1550, 2048) and cam.model_name == "plumb_bob"
    poses = ds.ego_poses()
    assert len(poses) == 2706 and [p.stamp_ns for p in poses] == sorted(p.stamp_ns for p in poses)
    for p in poses[::50]:
        r = p.pose.rotation
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)
        assert abs(np.linalg.det(r) - 1.0) < 1e-9
    steps = np.linalg.norm(np.diff([p.pose.translation for p in poses], axis=0), axis=1)
    assert steps.max() < 0.5  # a car at 10-20 Hz-ish pose rate moves centimetres per step
    fs = ds.frame(0)
    sweep, boxes, pose = fs.get("lidar"), fs.get(GROUND_TRUTH_ID), fs.get(EGO_POSE_ID)
    assert isinstance(sweep, PointCloud) and len(sweep) == 99229 and sweep.frame_id == "base_link"
    assert sweep.fields["time_offset_ns"].dtype == np.int64
    assert isinstance(boxes, Boxes3D) and len(boxes) == 81 and boxes.class_names == AV2_CATEGORIES
    assert (boxes.track_ids >= 0).all() and len(set(boxes.track_ids.tolist())) == 81
    assert isinstance(pose, EgoPose) and pose.stamp_ns == sweep.stamp_ns
    # The sweep's points fall in the boxes exactly as the annotation file counts them.
    table = feather.read_table(log / "annotations.feather")
    table = table.filter(pc.equal(table.column("timestamp_ns"), sweep.stamp_ns))
    interior = np.asarray(table.column("num_interior_pts"))
    assert [_points_in_box(sweep.positions, b) for b in boxes.as_array()] == interior.tolist()
    # The same track, seen in both sweeps, moves by the ego motion (static objects stay put in the city).
    boxes1 = ds.boxes(1)
    pose1 = ds.ego_pose_at(ds.sweep_stamps[1])
    common = set(boxes.track_ids.tolist()) & set(boxes1.track_ids.tolist())
    assert len(common) > 50
    static = {AV2_CATEGORIES.index(c) for c in ("BOLLARD", "CONSTRUCTION_CONE", "SIGN", "STOP_SIGN")}
    moved = []
    for tid in common:
        i0, i1 = int(np.flatnonzero(boxes.track_ids == tid)[0]), int(np.flatnonzero(boxes1.track_ids == tid)[0])
        if boxes.labels[i0] in static:
            moved.append(np.linalg.norm(pose.pose.apply(boxes.centers[i0]) - pose1.pose.apply(boxes1.centers[i1])))
    assert moved and max(moved) < 0.1  # static objects stay put in the city frame
    assert np.linalg.norm(pose1.pose.translation - pose.pose.translation) > 0.03  # while the car crept on
    stream = list(ds)
    assert [s.stamp_ns for s in stream] == sorted(s.stamp_ns for s in stream)
    assert sum(isinstance(s, PointCloud) for s in stream) == 2 and sum(isinstance(s, Boxes3D) for s in stream) == 2
