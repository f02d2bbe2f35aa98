"""Camera-only 3D boxes from class maps: exact flat-ground geometry on a synthetic view, ground-truth objects
found from perfect class maps of a simulated scene (errors growing with range), a reasonable recall from the
network's maps, duplicate merging across views, and input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.models.camera_boxes import (
    BOX_SIZE_PRIORS,
    CONTACT_INSETS,
    CameraBoxDetector,
    CameraBoxScores,
    ground_intersection,
    pixel_rays,
    score_camera_boxes,
)
from fusion_stack.models.camera_net import (
    SEGMENTATION_CLASSES,
    CameraSegmenter,
    ClassMaps,
    class_maps_from_labels,
    segmentation_labels,
)
from fusion_stack.sim.camera import CameraTruth
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.sim.truth import GROUND_TRUTH_ID
from fusion_stack.types import Boxes3D, CameraImage, SampleError

OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM = PinholeCamera(width=640, height=360, fx=500.0, fy=500.0, cx=320.0, cy=180.0)
SEED = 950  # held out from training (see the checkpoint's JSON)


def _blob_maps(rows: tuple[int, int], cols: tuple[int, int], cls: str = "car", *, scale: int = 1) -> ClassMaps:
    """One-hot maps of a 640 x 360 image (cells of ``scale`` pixels) with one rectangle [r0, r1) x [c0, c1)."""
    labels = np.zeros((360, 640), np.int64)
    labels[rows[0]:rows[1], cols[0]:cols[1]] = SEGMENTATION_CLASSES.index(cls)
    return class_maps_from_labels(labels, width=640 // scale, height=360 // scale)


def _expected_contact(u: float, v: float, height: float) -> np.ndarray:
    """Where the pinhole ray through (u, v) of a level camera at ``height`` m (looking along +x) meets z = 0."""
    t = height / ((v - CAM.cy) / CAM.fy)
    return np.array([t, -t * (u - CAM.cx) / CAM.fx, 0.0])


def test_ground_back_projection_is_exact() -> None:
    rig = default_rig()
    rng = np.random.default_rng(1)
    for cam_id in ("CAM_FRONT", "CAM_BACK_LEFT"):
        cam = rig.sensor(cam_id).camera
        assert cam is not None
        cam2base = rig.sensor2base(cam_id)
        # ground points in view of the camera, projected with the (distorted) model and cut back with the ground
        heading = cam2base.rotation[:, 2]
        ahead = np.arctan2(heading[1], heading[0]) + rng.uniform(-0.4, 0.4, 50)
        dist = rng.uniform(4.0, 40.0, 50)
        ground_z = -0.3
        pts = np.column_stack([cam2base.translation[0] + dist * np.cos(ahead),
                               cam2base.translation[1] + dist * np.sin(ahead), np.full(50, ground_z)])
        proj = cam.project(cam2base.inverse().apply(pts))
        ok = proj.valid
        assert ok.sum() > 20
        hits, t = ground_intersection(pixel_rays(cam, cam2base, proj.uv[ok]), cam2base.translation, ground_z)
        assert np.isfinite(t).all()
        np.testing.assert_allclose(hits, pts[ok], atol=1e-6)
    # rays above the horizon never meet the ground
    _, t = ground_intersection(np.array([[1.0, 0.0, 0.1], [1.0, 0.0, 0.0]]), np.array([0.0, 0.0, 1.5]), 0.0)
    assert np.isnan(t).all()


@pytest.mark.parametrize("scale", [1, 5])
def test_synthetic_flat_ground_box(scale: int) -> None:
    """A car blob on a level camera 1.5 m above flat ground: the box centre follows the documented geometry."""
    cam2out = SE3(OPTICAL_TO_BODY, np.array([2.0, 1.0, 1.5]))
    maps = _blob_maps((0, 255), (300, 340), scale=scale)  # top at the image edge: the prior height is kept
    boxes = CameraBoxDetector().detect([(maps, CAM, cam2out)], stamp_ns=5, frame_id="base_link")
    assert len(boxes) == 1 and boxes.label_names() == ("car",)
    # bottom edge between pixel rows 254 and 255 (v = 254.5), columns 300..339 (u from 299.5 to 339.5)
    contact = _expected_contact(319.5, 254.5, 1.5) + np.array([2.0, 1.0, 0.0])
    ray = (contact[:2] - cam2out.translation[:2]) / np.linalg.norm(contact[:2] - cam2out.translation[:2])
    length, width, height = BOX_SIZE_PRIORS["car"]
    rel = 0.0 - math.atan2(ray[1], ray[0])
    half = (length / 2 - CONTACT_INSETS["car"]) * abs(math.cos(rel)) + width / 2 * abs(math.sin(rel))
    np.testing.assert_allclose(boxes.centers[0, :2], contact[:2] + ray * half, atol=1e-4)
    assert boxes.centers[0, 2] == pytest.approx(height / 2, abs=1e-6)
    np.testing.assert_allclose(boxes.sizes[0], (length, width, height), atol=1e-6)
    assert boxes.yaws[0] == pytest.approx(0.0)
    assert (boxes.frame_id, boxes.sensor_id, boxes.stamp_ns) == ("base_link", "camera", 5)
    # a raised ground plane moves the camera 0.5 m closer to it: the same blob lands nearer
    lower = CameraBoxDetector().detect([(maps, CAM, cam2out)], stamp_ns=5, frame_id="base_link", ground_z=0.5)
    near = _expected_contact(319.5, 254.5, 1.0)
    assert np.hypot(*(lower.centers[0, :2] - cam2out.translation[:2])) == pytest.approx(
        np.hypot(*near[:2]) + half, abs=1e-4)
    assert lower.centers[0, 2] == pytest.approx(0.5 + height / 2, abs=1e-6)


def test_yaw_modes_and_barrier_heading() -> None:
    cam2out = SE3(yaw_matrix(0.5) @ OPTICAL_TO_BODY, np.array([0.0, 0.0, 1.5]))
    car = _blob_maps((150, 255), (300, 340))
    ray = CameraBoxDetector(yaw_mode="ray").detect([(car, CAM, cam2out)], stamp_ns=0, frame_id="base_link")
    assert ray.yaws[0] == pytest.approx(math.atan2(ray.centers[0, 1], ray.centers[0, 0]), abs=1e-6)
    barrier = _blob_maps((200, 255), (250, 400), "barrier")
    b = CameraBoxDetector().detect([(barrier, CAM, cam2out)], stamp_ns=0, frame_id="base_link")
    assert b.label_names() == ("barrier",) and b.yaws[0] == pytest.approx(math.pi / 2)


def test_duplicates_across_views_merge_and_small_blobs_are_dropped() -> None:
    cam2out = SE3(OPTICAL_TO_BODY, np.array([0.0, 0.0, 1.5]))
    maps = _blob_maps((150, 255), (300, 340), scale=5)
    det = CameraBoxDetector()
    one = det.detect([(maps, CAM, cam2out)], stamp_ns=0, frame_id="base_link")
    two = det.detect([(maps, CAM, cam2out), (maps, CAM, cam2out)], stamp_ns=0, frame_id="base_link")
    assert len(one) == len(two) == 1
    tiny = _blob_maps((240, 250), (300, 305))  # 50 pixels
    assert len(det.detect([(tiny, CAM, cam2out)], stamp_ns=0, frame_id="base_link")) == 0
    sky = _blob_maps((10, 100), (300, 340))  # above the horizon: no ground contact
    assert len(det.detect([(sky, CAM, cam2out)], stamp_ns=0, frame_id="base_link")) == 0
    empty = det.detect([], stamp_ns=0, frame_id="base_link")
    assert len(empty) == 0 and empty.class_names == det.class_names


def test_input_validation() -> None:
    cam2out = SE3(OPTICAL_TO_BODY, np.array([0.0, 0.0, 1.5]))
    maps = _blob_maps((150, 255), (300, 340), scale=5)
    det = CameraBoxDetector()
    with pytest.raises(SampleError) as err:
        det.detect([(maps, CAM)], stamp_ns=0, frame_id="base_link")  # type: ignore[list-item]
    assert err.value.field == "views[0]"
    with pytest.raises(SampleError):
        det.detect([(maps, "camera", cam2out)], stamp_ns=0, frame_id="base_link")  # type: ignore[list-item]
    small_cam = PinholeCamera(width=320, height=180, fx=250.0, fy=250.0, cx=160.0, cy=90.0)
    with pytest.raises(SampleError, match="320x180"):
        det.detect([(maps, small_cam, cam2out)], stamp_ns=0, frame_id="base_link")
    with pytest.raises(SampleError) as err:
        det.detect([(maps, CAM, cam2out)], stamp_ns=0, frame_id="base_link", ground_z=float("nan"))
    assert err.value.field == "ground_z"
    with pytest.raises(SampleError) as err:
        det.detect([(maps, CAM, cam2out)], stamp_ns=0.5, frame_id="base_link")  # type: ignore[arg-type]
    assert err.value.field == "stamp_ns"
    for kwargs, field in (({"min_pixels": 0}, "min_pixels"), ({"yaw_mode": "north"}, "yaw_mode"),
                          ({"class_names": ("car", "tank")}, "size_priors"), ({"max_range_m": -1.0}, "max_range_m"),
                          ({"truncated_score": 2.0}, "truncated_score"), ({"class_names": ()}, "class_names")):
        with pytest.raises(SampleError) as err:
            CameraBoxDetector(**kwargs)
        assert err.value.field == field
    with pytest.raises(TypeError):
        CameraBoxDetector(("car",))  # type: ignore[call-arg]  # options are keyword-only


# --- the simulated scene ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_groups() -> list[tuple[Boxes3D, list[tuple[CameraImage, CameraTruth]]]]:
    """Ground truth (base_link) and the six images of each camera instant of a short held-out simulation."""
    rig = default_rig()
    cams = tuple(s for s in rig.sensors if s.kind == "camera")
    frames = {s.frame_id for s in cams}
    cam_rig = Rig("cams", rig.base_frame, cams, tuple(t for t in rig.transforms if t.child in frames))
    scene = make_scene(seed=SEED, duration_s=1.0)
    groups: dict[int, list[tuple[CameraImage, CameraTruth]]] = {}
    truth: dict[int, Boxes3D] = {}
    for s in run_simulation(scene, cam_rig, world=build_world(scene), camera_rate_hz=2.0, with_tf=False):
        if isinstance(s.sample, Boxes3D) and s.sample.sensor_id == GROUND_TRUTH_ID:
            truth[s.sample.stamp_ns] = s.sample
        elif isinstance(s.sample, CameraImage) and isinstance(s.truth, CameraTruth):
            groups.setdefault(s.sample.stamp_ns, []).append((s.sample, s.truth))
    out = [(truth[k], g) for k, g in groups.items() if k in truth]
    assert out and all(b.frame_id == "base_link" for b, _ in out)
    return out


def _visible(group: list[tuple[CameraImage, CameraTruth]], min_pixels: int = 200) -> set[int]:
    best: dict[int, int] = {}
    for _, t in group:
        ids, counts = np.unique(t.instance_mask[t.instance_mask >= 0], return_counts=True)
        for i, c in zip(ids.tolist(), counts.tolist()):
            best[i] = max(best.get(i, 0), c)
    return {i for i, c in best.items() if c >= min_pixels}


def _score(groups: list[tuple[Boxes3D, list[tuple[CameraImage, CameraTruth]]]],
           maps_of: dict[tuple[int, str], ClassMaps]) -> CameraBoxScores:
    rig = default_rig()
    det = CameraBoxDetector()
    results = []
    for gt, group in groups:
        views = []
        for image, _ in group:
            cam = rig.sensor(image.sensor_id).camera
            assert cam is not None
            views.append((maps_of[(image.stamp_ns, image.sensor_id)], cam, rig.sensor2base(image.sensor_id)))
        results.append((det.detect(views, stamp_ns=gt.stamp_ns, frame_id="base_link"), gt, _visible(group)))
    return score_camera_boxes(results, max_range_m=25.0)


def test_perfect_maps_find_objects_within_25_m(
        sim_groups: list[tuple[Boxes3D, list[tuple[CameraImage, CameraTruth]]]]) -> None:
    maps = {(im.stamp_ns, im.sensor_id): class_maps_from_labels(segmentation_labels(t.semantic_mask), width=128,
                                                                height=72)
            for _, g in sim_groups for im, t in g}
    scores = _score(sim_groups, maps)
    assert len(scores.ranges) >= 20
    # matched: same class, centre within 1.5 m + 0.12 m per metre of range
    assert scores.recall() >= 0.6
    assert scores.recall(max_range_m=10.0) >= 0.6
    assert scores.median_error(max_range_m=10.0) < 1.0
    assert scores.median_error(min_range_m=10.0, max_range_m=25.0) < 1.5
    matched = np.isfinite(scores.errors)
    assert (scores.errors[matched] < 1.5 + 0.12 * scores.ranges[matched]).all()
    assert scores.false_positives <= 0.5 * scores.detections


def test_network_maps_give_a_reasonable_recall(
        sim_groups: list[tuple[Boxes3D, list[tuple[CameraImage, CameraTruth]]]]) -> None:
    segmenter = CameraSegmenter()
    images = [im for _, g in sim_groups for im, _ in g]
    maps = dict(zip([(im.stamp_ns, im.sensor_id) for im in images], segmenter.predict_batch(images)))
    scores = _score(sim_groups, maps)
    assert scores.recall() >= 0.35
    assert scores.median_error() < 1.5


def test_scores_count_and_match() -> None:
    gt = Boxes3D.from_array([[10, 0, 0.8, 4.5, 1.8, 1.6, 0], [20, 5, 0.8, 4.5, 1.8, 1.6, 0],
                             [40, 0, 0.8, 4.5, 1.8, 1.6, 0]], [0, 0, 0], ("car",), stamp_ns=0, frame_id="base_link",
                            sensor_id=GROUND_TRUTH_ID)
    pred = Boxes3D.from_array([[10.5, 0, 0.8, 4.5, 1.8, 1.6, 0], [26, 5, 0.8, 4.5, 1.8, 1.6, 0],
                               [3, 3, 0.8, 4.5, 1.8, 1.6, 0]], [0, 0, 0], ("car",), stamp_ns=0, frame_id="base_link",
                              sensor_id="camera")
    s = score_camera_boxes([(pred, gt, None)], max_range_m=25.0)
    assert len(s.ranges) == 2  # the box at 40 m is beyond the range
    assert s.recall() == 0.5 and s.median_error() == pytest.approx(0.5)
    assert s.detections == 2 and s.false_positives == 1  # (26, 5) is 6 m off: too far for 1.5 + 0.12 * 20.6
