"""Calibration checked against the real recordings in ../shared/data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fusion_stack.calibration.kitti import load_kitti_calib, load_kitti_info
from fusion_stack.calibration.nuscenes import load_nuscenes_info
from fusion_stack.calibration.opencalib import load_opencalib
from fusion_stack.calibration.rig_file import load_rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.kitti_labels import kitti_labels_to_boxes, load_kitti_labels
from fusion_stack.types import Boxes3D

REPO = Path(__file__).resolve().parents[2]
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")


@pytest.fixture(scope="module")
def nusc(shared_data: Path) -> tuple[dict, Path]:
    path = shared_data / "nuscenes_keyframe" / "info.json"
    return json.loads(path.read_text())["data_list"][0], path


def _ns(seconds: float) -> int:
    return round(seconds * 1e6) * 1000  # nuScenes stamps are microseconds


def _ego_motion(dt_s: float, v: np.ndarray, w: np.ndarray) -> SE3:
    """Constant-velocity ego motion over ``dt_s``: the pose of the ego at t0 + dt in the ego frame at t0."""
    return SE3(Rotation.from_rotvec(w * dt_s).as_matrix(), v * dt_s)


def test_nuscenes_lidar2cam_composed_through_frame_graph_equals_stored(nusc: tuple[dict, Path]) -> None:
    """mmdet3d's stored lidar2cam = cam2ego^-1 . ego(t_cam)^-1 . ego(t_lidar) . lidar2ego: it includes the ego
    motion between the LiDAR and camera stamps (up to 43 ms at 9 m/s here). The info file holds the ego pose at
    the LiDAR stamp only, so the camera-stamp poses come from a constant-velocity model fitted on the OTHER five
    cameras (leave-one-out), and lidar2cam is looked up across time through `map` in the frame graph."""
    item, path = nusc
    rig = load_nuscenes_info(path)
    t_lidar = _ns(item["timestamp"])
    lidar2ego = rig.sensor2base("LIDAR_TOP")
    deltas = {}  # observed ego motion per camera: ego(t_cam)^-1 . ego(t_lidar)
    for cam in CAMERAS:
        stored = SE3.from_matrix(np.array(item["images"][cam]["lidar2cam"]))
        deltas[cam] = rig.sensor2base(cam) @ stored @ lidar2ego.inverse()
    ego2global = SE3.from_matrix(np.array(item["ego2global"]))
    worst_static, worst_timed = 0.0, 0.0
    for cam in CAMERAS:
        others = [c for c in CAMERAS if c != cam]
        dts = np.array([(_ns(item["images"][c]["timestamp"]) - t_lidar) / 1e9 for c in others])
        # delta = motion(dt)^-1  =>  delta.translation ~ -v dt, rotvec(delta) ~ -w dt (least squares)
        trans = np.array([deltas[c].translation for c in others])
        rotv = np.array([Rotation.from_matrix(deltas[c].rotation).as_rotvec() for c in others])
        v = -(dts @ trans) / (dts @ dts)
        w = -(dts @ rotv) / (dts @ dts)
        t_cam = _ns(item["images"][cam]["timestamp"])
        graph = rig.frame_graph()
        graph.add_transform("map", "base_link", t_lidar, ego2global)
        graph.add_transform("map", "base_link", t_cam, ego2global @ _ego_motion((t_cam - t_lidar) / 1e9, v, w))
        timed = graph.lookup_between("lidar_top", t_lidar, rig.sensor(cam).frame_id, t_cam, fixed_frame="map")
        stored = np.array(item["images"][cam]["lidar2cam"])
        worst_timed = max(worst_timed, float(np.abs(timed.as_matrix() - stored).max()))
        worst_static = max(worst_static, float(np.abs(rig.extrinsic("LIDAR_TOP", cam).as_matrix() - stored).max()))
    assert worst_static > 0.3  # the static composition misses the ego motion by a third of a metre ...
    assert worst_timed < 2e-3  # ... the time-aware composition through the frame graph reproduces it
    # With the ego motion taken from each camera's own stored matrix, the frame graph composes it exactly.
    for cam in CAMERAS:
        t_cam = _ns(item["images"][cam]["timestamp"])
        graph = rig.frame_graph()
        graph.add_transform("map", "base_link", t_lidar, ego2global)
        graph.add_transform("map", "base_link", t_cam, ego2global @ deltas[cam].inverse())
        timed = graph.lookup_between("lidar_top", t_lidar, rig.sensor(cam).frame_id, t_cam, fixed_frame="map")
        np.testing.assert_allclose(timed.as_matrix(), item["images"][cam]["lidar2cam"], atol=1e-6)
    # the committed rig file holds the same calibration
    assert load_rig(REPO / "calib" / "nuscenes_keyframe.yaml").isclose(rig, atol=1e-12)


def test_nuscenes_annotated_box_centres_project_into_the_cameras_that_see_them(nusc: tuple[dict, Path]) -> None:
    item, path = nusc
    rig = load_nuscenes_info(path)
    inst = item["instances"]
    assert len(inst) == 69
    centres = np.array([i["bbox_3d"][:3] for i in inst])  # info files store the gravity centre
    seen_by_any = np.zeros(len(inst), bool)
    for cam in CAMERAS:
        model = rig.sensor(cam).camera
        assert model is not None
        p_cam = rig.extrinsic("LIDAR_TOP", cam).apply(centres)
        proj = model.project(p_cam)
        in_front = p_cam[:, 2] > 0.5
        # a box centre in front of a camera and within its field of view lies inside the image ...
        u, v = proj.uv[:, 0], proj.uv[:, 1]
        horizontal_fov = np.abs(p_cam[:, 0] / np.maximum(p_cam[:, 2], 1e-9)) < (model.width / 2) / model.fx
        expected = in_front & horizontal_fov
        assert np.all((u[expected] >= 0) & (u[expected] < model.width) & (v[expected] >= 0)
                      & (v[expected] < model.height)), cam
        seen_by_any |= proj.valid
        # with the stored (time-aware) lidar2cam, the projected centres match nuScenes' own `center_2d`/`depth`
        # of the camera instances: same boxes, same camera model
        timed = model.project(SE3.from_matrix(np.array(item["images"][cam]["lidar2cam"])).apply(centres))
        for a in item["cam_instances"][cam]:
            cu, cv = a["center_2d"]
            dist = np.hypot(timed.uv[:, 0] - cu, timed.uv[:, 1] - cv) + 10 * np.abs(timed.depth - a["depth"])
            assert dist.min() < 0.01, (cam, cu, cv, a["depth"])
    assert seen_by_any.sum() >= 60  # nearly every annotated box is visible in some camera


def test_kitti_demo_lidar2img_from_calibration_equals_stored(shared_data: Path) -> None:
    path = shared_data / "kitti_object" / "demo_000008" / "info.json"
    images = json.loads(path.read_text())["data_list"][0]["images"]
    rig = load_kitti_info(path)
    for i in range(4):
        built = rig.projection_matrix("velodyne", f"cam{i}")
        stored = np.array(images[f"CAM{i}"]["lidar2img"])
        np.testing.assert_allclose(built, stored, rtol=1e-6, atol=1e-4, err_msg=f"CAM{i}")


def test_kitti_labelled_box_corners_project_onto_the_labelled_2d_box(shared_data: Path) -> None:
    root = shared_data / "kitti_object" / "training"
    h, w = cv2.imread(str(root / "image_2" / "000000.png")).shape[:2]
    rig = load_kitti_calib(root / "calib" / "000000.txt", image_size=(w, h))
    labels = load_kitti_labels(root / "label_2" / "000000.txt")
    boxes = kitti_labels_to_boxes(labels, rig.transform("cam_rect_optical", "velodyne"), dst_frame="velodyne")
    assert isinstance(boxes, Boxes3D)
    assert len(boxes) == len(labels) >= 1
    cam = rig.sensor("cam2").camera
    assert cam is not None
    corners = boxes.corners()  # (N, 8, 3) in the LiDAR frame
    for lab, c in zip(labels, corners):
        uv = cam.project(rig.extrinsic("velodyne", "cam2").apply(c)).uv
        box2d = np.array([max(uv[:, 0].min(), 0), max(uv[:, 1].min(), 0), min(uv[:, 0].max(), w - 1),
                          min(uv[:, 1].max(), h - 1)])
        # KITTI's 2D boxes are drawn on the pixels, the 3D boxes on the points: for this walking pedestrian the
        # 3D box is 1.2 m long (stride), 10 px wider on the right than the visible body. A wrong convention
        # (bottom vs centre, l/w swapped, ry sign) moves edges by 40-100 px.
        np.testing.assert_allclose(box2d, lab.bbox, atol=12.0)
        inter = np.prod(np.clip(np.minimum(box2d[2:], lab.bbox[2:]) - np.maximum(box2d[:2], lab.bbox[:2]), 0, None))
        union = np.prod(box2d[2:] - box2d[:2]) + np.prod(np.subtract(lab.bbox[2:], lab.bbox[:2])) - inter
        assert inter / union > 0.85
    # and the committed rig file is this calibration
    assert load_rig(REPO / "calib" / "kitti_000000.yaml").isclose(rig, atol=1e-9)


def _read_ascii_pcd(path: Path) -> np.ndarray:
    text = path.read_text().splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith("DATA")) + 1
    fields = next(line for line in text if line.startswith("FIELDS")).split()[1:]
    assert re.match(r"DATA ascii", text[start - 1])
    data = np.loadtxt(text[start:], dtype=np.float64)
    return data[:, [fields.index("x"), fields.index("y"), fields.index("z")]]


def test_opencalib_lidar_points_land_on_the_image_with_plausible_depths(shared_data: Path) -> None:
    folder = shared_data / "opencalib" / "lidar2camera"
    rig = load_opencalib(folder)
    img = cv2.imread(str(folder / "0.png"))
    h, w = img.shape[:2]
    pts = _read_ascii_pcd(folder / "0.pcd")
    cam = rig.sensor("center_camera").camera
    assert cam is not None
    lidar2cam = rig.extrinsic("top_center_lidar", "center_camera")
    proj = cam.project(lidar2cam.apply(pts))
    uv, depth = proj.uv, proj.depth
    on_image = (depth > 1.0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    # a forward camera sees thousands of points of a 78k-point scan at road-scene depths ...
    assert on_image.sum() > 5000
    assert 3.0 < np.median(depth[on_image]) < 60.0
    # ... points ahead of the LiDAR (x > 0) are the ones in front of the camera ...
    assert np.mean(pts[on_image, 0] > 0) > 0.99
    # ... while the inverted extrinsic puts points from behind and beside the car on the image.
    wrong = cam.project(lidar2cam.inverse().apply(pts))
    wrong_on = (wrong.depth > 1.0) & (wrong.uv[:, 0] >= 0) & (wrong.uv[:, 0] < w) & (wrong.uv[:, 1] >= 0) & (
        wrong.uv[:, 1] < h)
    assert np.mean(pts[wrong_on, 0] > 0) < 0.9
    # ground points (lowest LiDAR returns) land in the lower half of the image (camera above the road)
    ground = on_image & (pts[:, 2] < np.percentile(pts[on_image, 2], 10))
    assert np.median(uv[ground, 1]) > h / 2
