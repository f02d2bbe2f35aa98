"""Point painting (fusion_stack.fuse.painting) and CameraView: known pixels, a NumPy reference with the camera models'
project(), the multi-camera rule, errors, and perfect-segmentation checks on the simulator and the nuScenes keyframe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.rig import Rig
from fusion_stack.fuse.camera_view import CameraView
from fusion_stack.fuse.decision import BOX_CLASSES, box_rectangles
from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.painting import PaintedPoints, append_radar_points, paint_points
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3

NAMES = ("background", *BOX_CLASSES)  # the segmentation network's classes
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
#: optical frame (z forward, x right, y down) -> body frame looking along +x
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _cam2out(yaw_deg: float, position: tuple[float, float, float] = (1.0, 0.0, 1.5)) -> SE3:
    """A camera looking along the body direction ``yaw_deg`` (about +z), mounted at ``position``."""
    return SE3(yaw_matrix(np.deg2rad(yaw_deg)) @ OPTICAL_TO_BODY, np.array(position))


def _random_probs(rng: np.random.Generator, h: int, w: int, c: int) -> npt.NDArray[np.float32]:
    p = rng.random((h, w, c)).astype(np.float32) + 0.01
    return (p / p.sum(axis=2, keepdims=True)).astype(np.float32)


def _view(sensor_id: str, probs: npt.NDArray[np.float32], camera: PinholeCamera, cam2out: SE3,
          names: tuple[str, ...] = NAMES) -> CameraView:
    return CameraView(sensor_id, probs, names, camera.width, camera.height, camera, cam2out.inverse())


PINHOLE = PinholeCamera(width=100, height=50, fx=50.0, fy=50.0, cx=49.5, cy=24.5)


def test_point_projecting_to_a_known_pixel_gets_that_cells_probabilities() -> None:
    rng = np.random.default_rng(0)
    probs = _random_probs(rng, 25, 40, len(NAMES))  # downscaled: 25 x 40 cells for a 100 x 50 image
    cam2out = _cam2out(30.0)
    view = _view("CAM", probs, PINHOLE, cam2out)
    pixels = np.array([[73.2, 12.7], [0.1, 0.2], [99.9, 49.9], [50.0, 25.0]])
    points = cam2out.apply(PINHOLE.unproject(pixels, np.array([10.0, 3.0, 40.0, 0.6])))
    painted = paint_points(points, [view])
    for i, (u, v) in enumerate(pixels):
        expected = probs[int(v * 25 / 50), int(u * 40 / 100)]
        np.testing.assert_array_equal(painted.paint[i], expected)
    assert painted.painted.all() and (painted.camera_index == 0).all()
    assert painted.class_names == NAMES
    np.testing.assert_array_equal(painted.labels(), np.argmax(painted.paint, axis=1))
    assert painted.features().shape == (4, len(NAMES) + 1) and (painted.features()[:, -1] == 1).all()
    with pytest.raises(ValueError, match="read-only"):
        painted.paint[0, 0] = 1.0


def test_points_behind_outside_or_too_near_stay_unpainted() -> None:
    view = _view("CAM", _random_probs(np.random.default_rng(1), 10, 20, len(NAMES)), PINHOLE, SE3())
    points = np.array([
        [0.0, 0.0, -5.0],  # behind the camera
        [0.0, 0.0, 0.3],  # in front but nearer than min_depth_m = 0.5
        [100.0, 0.0, 5.0],  # outside the image (far right)
        [0.0, -50.0, 5.0],  # above the image
        [np.nan, 0.0, 5.0],  # not finite
        [0.0, 0.0, 5.0],  # seen
    ])
    painted = paint_points(points, [view])
    np.testing.assert_array_equal(painted.painted, [False] * 5 + [True])
    np.testing.assert_array_equal(painted.camera_index, [-1] * 5 + [0])
    assert not painted.paint[:5].any() and (painted.labels()[:5] == -1).all()
    near = paint_points(points, [view], min_depth_m=0.1)
    assert near.painted[1]


def _numpy_reference(points: npt.NDArray[np.float64], views: list[CameraView], min_depth_m: float,
                     mode: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Painting with the camera models' float64 project() and plain NumPy (the definition in the docstring)."""
    n, c = len(points), len(views[0].class_names)
    r2 = np.full((len(views), n), np.inf)
    gathered = np.zeros((len(views), n, c), np.float32)
    for k, view in enumerate(views):
        proj = view.camera.project(view.out2cam.apply(points), near=min_depth_m)
        h, w = view.probs.shape[:2]
        ok = proj.valid
        u, v = proj.uv[ok, 0], proj.uv[ok, 1]
        gathered[k, ok] = view.probs[(v * h / view.image_height).astype(int), (u * w / view.image_width).astype(int)]
        half_w, half_h = view.image_width / 2, view.image_height / 2
        r2[k, ok] = ((u - (half_w - 0.5)) / half_w) ** 2 + ((v - (half_h - 0.5)) / half_h) ** 2
    painted = np.isfinite(r2).any(axis=0)
    index = np.where(painted, np.argmin(r2, axis=0), -1)
    if mode == "centre":
        paint = np.where(painted[:, None], gathered[np.maximum(index, 0), np.arange(n)], 0.0)
    else:
        count = np.isfinite(r2).sum(axis=0)
        paint = gathered.sum(axis=0) / np.maximum(count, 1)[:, None]
    return paint.astype(np.float32), painted, index


@pytest.mark.parametrize("mode", ["centre", "mean"])
def test_painting_equals_a_numpy_reference_with_camera_models_project(rig: Rig, mode: str) -> None:
    rng = np.random.default_rng(2)
    views = []
    for cam in CAMERAS:  # the simulator's six distorted (plumb_bob) cameras, probs at quarter resolution
        model = rig.sensor(cam).camera
        assert model is not None
        views.append(CameraView(cam, _random_probs(rng, 90, 160, len(NAMES)), NAMES, model.width, model.height,
                                model, rig.sensor2base(cam).inverse()))
    points = np.concatenate([rng.uniform([-40, -40, -2], [40, 40, 4], (20000, 3)),
                             rng.uniform([-3, -3, 0], [3, 3, 2], (2000, 3))])  # some points very near the cameras
    painted = paint_points(points, views, multi_view=mode)  # type: ignore[arg-type]
    paint, seen, index = _numpy_reference(points, views, 0.5, mode)
    # the kernel rounds pixels to float32: a point within ~1e-4 px of a cell or image border may differ
    same = (painted.painted == seen) & (painted.camera_index == index) & (painted.paint == paint).all(axis=1)
    assert np.count_nonzero(~same) <= 3, np.flatnonzero(~same)
    assert 0.2 < seen.mean() < 0.95
    if mode == "centre":
        valid = np.array([v.camera.project(v.out2cam.apply(points), near=0.5).valid for v in views])
        assert (valid.sum(axis=0) > 1).sum() > 100  # the overlaps of neighbouring cameras were exercised


def test_a_point_seen_by_two_cameras_takes_the_one_where_it_is_nearest_the_centre() -> None:
    left, right = _cam2out(20.0), _cam2out(-20.0)
    ones = np.zeros((5, 10, 3), np.float32)
    a, b = ones.copy(), ones.copy()
    a[..., 1] = 1.0
    b[..., 2] = 1.0
    names = ("background", "car", "truck")
    views = [_view("LEFT", a, PINHOLE, left, names), _view("RIGHT", b, PINHOLE, right, names)]
    # 20 m ahead, slightly right (-y): both cameras (fov +-45 deg) see it, RIGHT nearer its centre
    points = np.array([[21.0, -3.0, 1.5], [21.0, 3.0, 1.5]])
    centre = paint_points(points, views)
    np.testing.assert_array_equal(centre.camera_index, [1, 0])
    np.testing.assert_array_equal(centre.labels(), [2, 1])
    mean = paint_points(points, views, multi_view="mean")
    np.testing.assert_allclose(mean.paint, [[0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])
    np.testing.assert_array_equal(mean.camera_index, [1, 0])


def test_no_views_or_no_points() -> None:
    none = paint_points(np.zeros((3, 3)), [])
    assert none.paint.shape == (3, 0) and not none.painted.any() and none.class_names == ()
    assert (none.labels() == -1).all()
    view = _view("CAM", np.full((2, 2, len(NAMES)), 0.1, np.float32), PINHOLE, SE3())
    empty = paint_points(np.zeros((0, 3)), [view])
    assert isinstance(empty, PaintedPoints) and empty.paint.shape == (0, len(NAMES)) and len(empty) == 0


def test_paint_40k_points_into_six_cameras_is_fast(rig: Rig) -> None:
    rng = np.random.default_rng(3)
    views = []
    for cam in CAMERAS:
        model = rig.sensor(cam).camera
        assert model is not None
        views.append(CameraView(cam, _random_probs(rng, 180, 320, len(NAMES)), NAMES, model.width, model.height,
                                model, rig.sensor2base(cam).inverse()))
    points = rng.uniform([-50, -50, -2], [50, 50, 4], (40000, 3)).astype(np.float32)
    paint_points(points, views)  # compile / warm up
    best = min(_timed(lambda: paint_points(points, views)) for _ in range(5))
    assert best < 0.05, f"{best * 1e3:.1f} ms"  # about 3 ms on one free core; loose for shared CI machines


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_errors_show_what_came_in() -> None:
    probs = np.full((4, 5, len(NAMES)), 0.1, np.float32)
    view = _view("CAM", probs, PINHOLE, SE3())
    with pytest.raises(FusionError, match=r"points: must be a real \(N, 3\).*shape \(4, 2\)"):
        paint_points(np.zeros((4, 2)), [view])
    with pytest.raises(FusionError, match="min_depth_m"):
        paint_points(np.zeros((4, 3)), [view], min_depth_m=-1.0)
    with pytest.raises(FusionError, match="multi_view"):
        paint_points(np.zeros((4, 3)), [view], multi_view="max")  # type: ignore[arg-type]
    other = _view("CAM2", probs[..., :3], PINHOLE, SE3(), ("background", "car", "truck"))
    with pytest.raises(FusionError, match=r"views\[1\].class_names.*differ"):
        paint_points(np.zeros((4, 3)), [view, other])
    with pytest.raises(FusionError, match=r"views\[0\]: element 0 is a str"):
        paint_points(np.zeros((4, 3)), ["CAM_FRONT"])  # type: ignore[list-item]
    with pytest.raises(FusionError, match=r"class_names: must be 9 unique"):
        CameraView("CAM", probs, NAMES[:3], 100, 50, PINHOLE, SE3())
    with pytest.raises(FusionError, match=r"camera: the camera model is 100 x 50 px but the image is 1600 x 900"):
        CameraView("CAM", probs, NAMES, 1600, 900, PINHOLE, SE3())
    with pytest.raises(FusionError, match="out2cam: must be an SE3"):
        CameraView("CAM", probs, NAMES, 100, 50, PINHOLE, np.eye(4))  # type: ignore[arg-type]
    with pytest.raises(FusionError, match=r"probs: must be probabilities in \[0, 1\], got range"):
        CameraView("CAM", probs * 20, NAMES, 100, 50, PINHOLE, SE3())
    with pytest.raises(FusionError, match=r"probs: must be a non-empty real \(h, w, C\)"):
        CameraView("CAM", probs[0], NAMES, 100, 50, PINHOLE, SE3())
    with pytest.raises(FusionError, match="maps: needs probs"):
        CameraView.from_class_maps(object(), sensor_id="CAM", camera=PINHOLE, out2cam=SE3())


def test_from_class_maps_reads_any_segmentation_result() -> None:
    @dataclass
    class Maps:
        probs: npt.NDArray[np.float32]
        image_width: int
        image_height: int
        class_names: tuple[str, ...]

    probs = np.full((4, 5, 2), 0.5, np.float32)
    view = CameraView.from_class_maps(Maps(probs, 100, 50, ("background", "car")), sensor_id="CAM",
                                      camera=PINHOLE, out2cam=SE3())
    assert view.grid_shape == (4, 5) and view.class_names == ("background", "car") and not view.probs.flags.writeable
    rows, cols = view.cells(np.array([[99.99, 49.99], [0.0, 0.0], [50.0, 25.0]]))
    np.testing.assert_array_equal(rows, [3, 0, 2])
    np.testing.assert_array_equal(cols, [4, 0, 2])


def test_append_radar_points() -> None:
    lidar = np.arange(12, dtype=np.float64).reshape(4, 3)
    radar = np.array([[10.0, 0.0, 0.5], [20.0, 1.0, 0.5]])
    vel = np.array([[-3.0, 0.0, 0.0], [np.nan, np.nan, np.nan]])
    positions, velocities, is_radar = append_radar_points(lidar, radar, vel)
    assert positions.dtype == np.float32 and positions.shape == (6, 3)
    np.testing.assert_array_equal(positions[4:], radar)
    assert np.isnan(velocities[:4]).all() and velocities[4, 0] == -3.0 and np.isnan(velocities[5]).all()
    np.testing.assert_array_equal(is_radar, [False] * 4 + [True] * 2)
    p0, v0, r0 = append_radar_points(lidar, np.zeros((0, 3)), np.zeros((0, 3)))
    assert p0.shape == (4, 3) and not r0.any() and np.isnan(v0).all()
    with pytest.raises(FusionError, match=r"radar_velocities: one velocity per radar detection.*: 2 positions, 1"):
        append_radar_points(lidar, radar, vel[:1])
    with pytest.raises(FusionError, match=r"radar_positions: contains 1 NaN/Inf"):
        append_radar_points(lidar, np.array([[np.nan, 0.0, 0.0]]), np.zeros((1, 3)))
    with pytest.raises(FusionError, match=r"points: must be a real \(N, 3\) array, got shape \(3,\)"):
        append_radar_points(np.zeros(3), radar, vel)


# ------------------------------------------------------------------------------------------------------------
# Realistic checks: perfect segmentation from the simulator's semantic masks and from nuScenes ground truth
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig() -> Rig:
    from fusion_stack.sim.rig import default_rig

    return default_rig()


@dataclass(frozen=True)
class SimFrame:
    points_base: npt.NDArray[np.float64]
    semantic: npt.NDArray[np.int64]  # per point, index into NAMES
    masks: dict[str, npt.NDArray[np.int64]]  # per camera (H, W), index into NAMES


@pytest.fixture(scope="module")
def sim_frame(rig: Rig) -> SimFrame:
    """The first LiDAR sweep and the first image of each camera of a 0.1 s simulated drive (seed 3)."""
    from fusion_stack.sim.camera import CameraTruth
    from fusion_stack.sim.classes import SEMANTIC_CLASSES
    from fusion_stack.sim.lidar import LidarTruth
    from fusion_stack.sim.run import run_simulation
    from fusion_stack.sim.scene import make_scene
    from fusion_stack.types import CameraImage, PointCloud

    lut = np.array([NAMES.index(n) if n in NAMES else 0 for n in SEMANTIC_CLASSES])
    cloud, semantic, masks = None, None, {}
    for s in run_simulation(make_scene(seed=3, duration_s=0.1), rig):
        if isinstance(s.sample, PointCloud) and cloud is None:
            assert isinstance(s.truth, LidarTruth)
            cloud, semantic = s.sample, lut[s.truth.semantic]
        elif isinstance(s.sample, CameraImage) and s.sample.sensor_id not in masks:
            assert isinstance(s.truth, CameraTruth)
            masks[s.sample.sensor_id] = lut[s.truth.semantic_mask]
    assert cloud is not None and semantic is not None and set(masks) == set(CAMERAS)
    # output frame base_link; the images are exposed when the sweep passes each camera's axis, so the points a
    # camera sees were fired within a few ms of its image: the ego motion in between is ignored
    return SimFrame(rig.sensor2base("LIDAR_TOP").apply(cloud.positions), semantic, masks)


def test_perfect_segmentation_paints_simulated_lidar_points_with_their_true_class(rig: Rig,
                                                                                   sim_frame: SimFrame) -> None:
    views = []
    for cam, mask in sim_frame.masks.items():
        model = rig.sensor(cam).camera
        assert model is not None
        one_hot = np.eye(len(NAMES), dtype=np.float32)[mask[::2, ::2]]  # ClassMaps at half resolution
        views.append(CameraView(cam, one_hot, NAMES, model.width, model.height, model,
                                rig.sensor2base(cam).inverse()))
    painted = paint_points(sim_frame.points_base, views)
    labels, truth = painted.labels(), sim_frame.semantic
    on_objects = painted.painted & (truth > 0)
    agreement = np.mean(labels[on_objects] == truth[on_objects])
    as_objects = painted.painted & (labels > 0)
    precision = np.mean(labels[as_objects] == truth[as_objects])
    # measured: 95.6 % of the ~2400 painted object points get their true class (97.2 % at full resolution);
    # 91 % of the points painted as an object are on it (the rest: parallax, e.g. ground just behind a car)
    assert on_objects.sum() > 1000 and painted.painted.mean() > 0.6
    assert agreement > 0.93, agreement
    assert precision > 0.88, precision


@pytest.mark.real_data
def test_painting_on_the_nuscenes_keyframe_with_ground_truth_rectangles(shared_data: Path) -> None:
    from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
    from fusion_stack.types import Boxes3D, PointCloud

    ds = open_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json", load_images=False)
    frame = ds.frame(0)
    lidar, boxes = frame.get("LIDAR_TOP"), frame.get("ground_truth")
    assert isinstance(lidar, PointCloud) and isinstance(boxes, Boxes3D)
    cls = np.array([NAMES.index(n) if n in NAMES else -1 for n in boxes.label_names()])
    far_first = np.argsort(-np.hypot(boxes.centers[:, 0], boxes.centers[:, 1]))
    views = []
    for cam in CAMERAS:  # probs at quarter resolution: each GT box's rectangle, nearer boxes drawn over farther
        model = ds.rig.sensor(cam).camera
        assert model is not None
        out2cam = ds.rig.extrinsic("LIDAR_TOP", cam)  # output frame: the LiDAR frame of the boxes
        grid = CameraView(cam, np.zeros((225, 400, len(NAMES)), np.float32), NAMES, model.width, model.height,
                          model, out2cam)
        rects, seen = box_rectangles(boxes.corners(), grid)
        label = np.zeros((225, 400), np.int64)
        for i in far_first[(seen & (cls >= 0))[far_first]]:
            (r0,), (c0,) = grid.cells(rects[i:i + 1, :2])
            (r1,), (c1,) = grid.cells(rects[i:i + 1, 2:])
            label[r0:r1 + 1, c0:c1 + 1] = cls[i]
        views.append(CameraView(cam, np.eye(len(NAMES), dtype=np.float32)[label], NAMES, model.width,
                                model.height, model, out2cam))
    painted = paint_points(lidar.positions, views)
    labels = painted.labels()
    total = agree = 0
    for box, k in zip(boxes.as_array(), cls):
        if k < 0:
            continue
        inside = _points_in_box(lidar.positions, box) & painted.painted
        total += int(inside.sum())
        agree += int(np.count_nonzero(labels[inside] == k))
    # measured: 91 % of 980 painted points inside GT boxes get the box's class (the rest: rectangles of
    # nearer boxes overlapping, and rectangles larger than the boxes' silhouettes)
    assert total > 800
    assert agree / total > 0.85, agree / total


def _points_in_box(points: npt.NDArray[np.float32], box: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    d = points.astype(np.float64) - box[:3]
    c, s = np.cos(-box[6]), np.sin(-box[6])
    x, y = d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c
    return np.asarray((abs(x) <= box[3] / 2) & (abs(y) <= box[4] / 2) & (abs(d[:, 2]) <= box[5] / 2))
