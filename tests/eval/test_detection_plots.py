"""Detection pictures: boxes on a synthetic camera pixel by pixel (in front, behind, across the near plane,
distorted), the bird's-eye view's axes and pixels, PNG files, contact sheets, and one real nuScenes keyframe."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from fusion_stack.calibration.camera_models import PinholeCamera, RadTanCamera
from fusion_stack.eval.detection_metrics import EvaluationError
from fusion_stack.eval.detection_plots import (
    BEV_GROUND_TRUTH_COLOR,
    CLASS_COLORS,
    GROUND_TRUTH_COLOR,
    RADAR_COLOR,
    bev_pixel,
    class_color,
    contact_sheet,
    draw_bev,
    draw_boxes_on_image,
    save_image,
)
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import Boxes3D

CLASSES = ("car", "pedestrian", "unlisted_thing")
CAR = CLASS_COLORS["car"]
CAMERA = PinholeCamera(width=640, height=480, fx=500.0, fy=500.0, cx=320.0, cy=240.0)
# boxes in a body frame (x forward, y left, z up) seen by a camera at its origin looking along +x
BODY2OPTICAL = SE3(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.zeros(3))
EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7), (0, 7),
         (3, 4)]


def boxes(rows: npt.ArrayLike, labels: npt.ArrayLike | None = None, *, frame: str = "base_link",
          velocities: npt.ArrayLike | None = None, track_ids: npt.ArrayLike | None = None) -> Boxes3D:
    b = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    n = len(b)
    return Boxes3D(1, frame, "det", b[:, :3], b[:, 3:6], b[:, 6],
                   np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64), CLASSES,
                   scores=np.full(n, 0.75),
                   velocities=np.full((n, 3), np.nan) if velocities is None else np.asarray(velocities, float),
                   track_ids=np.full(n, -1) if track_ids is None else np.asarray(track_ids, np.int64))


def black() -> npt.NDArray[np.uint8]:
    return np.zeros((CAMERA.height, CAMERA.width, 3), np.uint8)


def projected_corners(b: Boxes3D, camera: PinholeCamera | RadTanCamera = CAMERA) -> npt.NDArray[np.int64]:
    return np.rint(camera.project(BODY2OPTICAL.apply(b.corners().reshape(-1, 3))).uv).astype(np.int64)


def drawn(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    return np.asarray(img.any(axis=2))


# --- camera images ------------------------------------------------------------------------------------------


def test_box_in_front_colours_its_projected_corners_and_equals_the_plain_cv2_drawing() -> None:
    b = boxes([[10.0, 1.0, 0.5, 2.0, 1.6, 1.4, 0.3]])
    out = draw_boxes_on_image(black(), b, camera=CAMERA, box2cam=BODY2OPTICAL, label=False, thickness=1)
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8
    uv = projected_corners(b)
    for u, v in uv:
        assert tuple(out[v, u]) == CAR
    # exactly the 12 edges and the front cross, drawn by cv2 between the rounded corners
    ref = black()
    for i, j in EDGES:
        cv2.line(ref, (int(uv[i, 0]), int(uv[i, 1])), (int(uv[j, 0]), int(uv[j, 1])), CAR, 1, cv2.LINE_8)
    np.testing.assert_array_equal(out, ref)


def test_input_image_is_not_changed_and_bad_images_raise() -> None:
    img = np.full((480, 640, 3), 7, np.uint8)
    out = draw_boxes_on_image(img, boxes([[10.0, 0, 0, 2, 2, 2, 0]]), camera=CAMERA, box2cam=BODY2OPTICAL)
    assert (img == 7).all() and not (out == 7).all()
    with pytest.raises(EvaluationError, match="640x480"):
        draw_boxes_on_image(np.zeros((100, 100, 3), np.uint8), boxes(np.empty((0, 7))), camera=CAMERA,
                            box2cam=BODY2OPTICAL)
    with pytest.raises(EvaluationError, match="uint8"):
        draw_boxes_on_image(np.zeros((480, 640, 3)), boxes(np.empty((0, 7))), camera=CAMERA, box2cam=BODY2OPTICAL)


def test_box_behind_the_camera_draws_nothing() -> None:
    b = boxes([[-10.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0], [-0.5, 3.0, 0.0, 0.6, 0.6, 1.8, 0.0]], [0, 1])
    img = np.full((480, 640, 3), 30, np.uint8)
    out = draw_boxes_on_image(img, b, camera=CAMERA, box2cam=BODY2OPTICAL, ground_truth=b)
    np.testing.assert_array_equal(out, img)


def test_box_across_the_near_plane_draws_only_its_visible_part() -> None:
    # x from -2 to 2 m (half behind the camera), 0.4 to 0.8 m to the right, 1 m high: the visible part projects
    # to u >= 420 px; projecting the hidden corners would mirror them to u = 120 .. 220 px
    b = boxes([[0.0, -0.6, 0.0, 4.0, 0.4, 1.0, 0.0]])
    out = draw_boxes_on_image(black(), b, camera=CAMERA, box2cam=BODY2OPTICAL, label=False, thickness=1)
    _, u = np.nonzero(drawn(out))
    assert len(u) > 100
    assert u.min() >= 419
    front = projected_corners(b)[[0, 3, 4, 7]]  # the corners at x = +2 m
    for uu, vv in front:
        assert tuple(out[vv, uu]) == CAR
    # clipped edges run towards the near plane, out of the right border
    assert drawn(out)[:, -1].any()


def test_distorted_camera_draws_curved_edges_through_the_corners_and_nothing_behind() -> None:
    cam = RadTanCamera(width=640, height=480, fx=400.0, fy=400.0, cx=320.0, cy=240.0,
                       distortion=(-0.3, 0.1, 0.0, 0.0, 0.0))
    b = boxes([[6.0, 0.0, 0.0, 2.0, 5.0, 3.0, 0.0]])
    out = draw_boxes_on_image(np.zeros((480, 640, 3), np.uint8), b, camera=cam, box2cam=BODY2OPTICAL, label=False,
                              thickness=1)
    uv = projected_corners(b, cam)
    for u, v in uv:
        assert tuple(out[v, u]) == CAR
    # barrel distortion bends the top edge of the near face: its middle is below the chord between its corners
    mid = np.rint(cam.project(BODY2OPTICAL.apply(np.array([[5.0, 0.0, 1.5]]))).uv[0]).astype(int)
    chord_v = (uv[4, 1] + uv[7, 1]) / 2
    assert tuple(out[mid[1], mid[0]]) == CAR and chord_v - mid[1] > 4  # 8 px here
    behind = draw_boxes_on_image(np.zeros((480, 640, 3), np.uint8), boxes([[-6.0, 0, 0, 2, 5, 3, 0]]), camera=cam,
                                 box2cam=BODY2OPTICAL)
    assert not behind.any()


def test_ground_truth_is_grey_dashed_under_the_detections_and_labels_are_written() -> None:
    det = boxes([[10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    gt = boxes([[12.0, 2.0, 0.0, 2.0, 2.0, 2.0, 0.0]], [1])
    out = draw_boxes_on_image(black(), det, camera=CAMERA, box2cam=BODY2OPTICAL, ground_truth=gt, label=False)
    grey = (out == GROUND_TRUTH_COLOR).all(axis=2)
    assert grey.sum() > 50
    solid = draw_boxes_on_image(black(), gt, camera=CAMERA, box2cam=BODY2OPTICAL, label=False, thickness=1)
    assert grey.sum() < 0.9 * drawn(solid).sum()  # dashes leave gaps
    for u, v in projected_corners(det):
        assert tuple(out[v, u]) == CAR
    labelled = draw_boxes_on_image(black(), det, camera=CAMERA, box2cam=BODY2OPTICAL, label=True)
    unlabelled = draw_boxes_on_image(black(), det, camera=CAMERA, box2cam=BODY2OPTICAL, label=False)
    text = (labelled != unlabelled).any(axis=2)
    rows = np.nonzero(text.any(axis=1))[0]
    assert text.sum() > 50 and rows.max() <= projected_corners(det)[:, 1].min()  # above the box
    with pytest.raises(EvaluationError, match="odom"):
        draw_boxes_on_image(black(), det, camera=CAMERA, box2cam=BODY2OPTICAL, ground_truth=boxes(
            np.empty((0, 7)), frame="odom"))


def test_class_colours_are_fixed_overridable_and_stable_for_unknown_names() -> None:
    assert class_color("car") == CAR
    assert class_color("car", {"car": (1, 2, 3)}) == (1, 2, 3)
    c = class_color("unlisted_thing")
    assert c == class_color("unlisted_thing") and max(c) == 255
    b = boxes([[10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]], [2])
    out = draw_boxes_on_image(black(), b, camera=CAMERA, box2cam=BODY2OPTICAL, label=False,
                              colors={"unlisted_thing": (9, 250, 9)})
    u, v = projected_corners(b)[0]
    assert tuple(out[v, u]) == (9, 250, 9)


# --- bird's-eye view ------------------------------------------------------------------------------------------


def test_bev_shape_and_pixel_of_a_box_ahead() -> None:
    det = boxes([[10.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]])
    img = draw_bev(points=None, detections=det)
    assert img.shape == (1001, 1001, 3) and img.dtype == np.uint8
    np.testing.assert_allclose(bev_pixel([[10.0, 0.0]]), [[500.0, 400.0]])
    assert tuple(img[400, 500]) == CAR  # the centre (heading tick starts there)
    assert tuple(img[380, 500]) == CAR  # front edge midpoint, 2 m further forward = up
    assert tuple(img[380, 490]) == CAR  # front-left corner (12, 1): left of the centre column
    assert tuple(img[420, 510]) == CAR  # rear-right corner (8, -1)
    assert tuple(img[400, 470]) != CAR  # nothing 3 m to the left
    small = draw_bev(points=None, detections=None, extent_m=20.0, resolution_m=0.2, title="t")
    assert small.shape == (201, 201, 3)


def test_bev_orientation_points_radar_velocities_and_track_ids() -> None:
    gt = boxes([[0.0, 10.0, 0.0, 2.0, 2.0, 1.5, 0.0]])  # 10 m to the left
    det = boxes([[10.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]], velocities=[[0.0, 5.0, 0.0]], track_ids=[7])
    pts = np.array([[20.0, -10.0, 1.0], [-30.0, 0.0, -1.0], [200.0, 0.0, 0.0]])
    img = draw_bev(points=pts, detections=det, ground_truth=gt, radar=np.array([[5.0, 5.0, 0.5]]),
                   radar_velocities=np.array([[-5.0, 0.0, 0.0]]))
    assert tuple(img[490, 390]) == BEV_GROUND_TRUTH_COLOR  # corner (1, 11): up-left of the centre
    assert tuple(img[510, 410]) == BEV_GROUND_TRUTH_COLOR  # corner (-1, 9)
    p = img[300, 600]  # point (20, -10): ahead and to the right
    assert p[0] == p[1] == p[2] > 100
    assert img[800, 500].max() > 80  # point behind
    assert tuple(img[450, 450]) == RADAR_COLOR  # radar (5, 5)
    assert (img[480:500, 445:455] == RADAR_COLOR).all(axis=2).any()  # its arrow points backwards (down)
    assert tuple(img[400, 455]) == CAR  # velocity (0, 5): arrow towards the left, tip at column 450
    without_id = draw_bev(points=pts, detections=boxes([[10.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]],
                                                       velocities=[[0.0, 5.0, 0.0]]), ground_truth=gt,
                          radar=np.array([[5.0, 5.0, 0.5]]), radar_velocities=np.array([[-5.0, 0.0, 0.0]]))
    changed = np.nonzero((img != without_id).any(axis=2))
    assert len(changed[0]) > 10 and changed[0].max() < 380  # the id is written above the box


def test_bev_rejects_inconsistent_input() -> None:
    with pytest.raises(EvaluationError):
        draw_bev(points=None, detections=boxes(np.empty((0, 7))), ground_truth=boxes(np.empty((0, 7)), frame="map"))
    with pytest.raises(EvaluationError):
        draw_bev(points=np.zeros(3), detections=None)
    with pytest.raises(EvaluationError):
        draw_bev(points=None, detections=None, radar=np.zeros((2, 3)), radar_velocities=np.zeros((3, 3)))
    with pytest.raises(EvaluationError):
        draw_bev(points=None, detections=None, resolution_m=0.0)


# --- files and sheets -----------------------------------------------------------------------------------------


def test_save_image_writes_a_png_and_names_the_path_on_failure(tmp_path: Path) -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    img[5, 7] = (255, 10, 0)
    path = tmp_path / "a" / "b" / "pic.png"
    save_image(path, img)
    back = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert back is not None
    np.testing.assert_array_equal(back[:, :, ::-1], img)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EvaluationError, match="file") as err:
        save_image(blocker / "pic.png", img)
    assert err.value.source == str(blocker / "pic.png")
    with pytest.raises(EvaluationError, match="png"):
        save_image(tmp_path / "pic.jpg", img)
    with pytest.raises(EvaluationError, match="uint8"):
        save_image(tmp_path / "pic.png", img.astype(np.float32))


def test_contact_sheet_tiles_with_captions() -> None:
    cams = [np.full((90, 160, 3), 20 * i, np.uint8) for i in range(6)]
    bev = np.full((100, 100, 3), 200, np.uint8)
    sheet = contact_sheet([*cams, bev], columns=4, labels=[f"cam{i}" for i in range(6)] + ["bev"])
    cap = sheet.shape[0] // 2 - 90
    assert cap > 0 and sheet.shape == (2 * (90 + cap), 4 * 160, 3) and sheet.dtype == np.uint8
    np.testing.assert_array_equal(sheet[cap:cap + 90, 160:320], cams[1])
    bev_tile = sheet[90 + 2 * cap:, 320:480]
    assert (bev_tile[:, 40:120] == 200).all()  # the BEV scaled to 90 x 90, centred in its 160-wide tile
    assert (sheet[:cap, :160] > 100).any()  # a caption
    plain = contact_sheet(cams[:2], columns=3)
    assert plain.shape == (90, 320, 3)
    with pytest.raises(EvaluationError):
        contact_sheet(cams, columns=2, labels=["a"])
    with pytest.raises(EvaluationError):
        contact_sheet(cams, columns=0)
    with pytest.raises(EvaluationError):
        contact_sheet([], columns=2)


# --- a real keyframe ------------------------------------------------------------------------------------------


@pytest.mark.real_data
def test_nuscenes_keyframe_ground_truth_on_cam_front(shared_data: Path, tmp_path: Path) -> None:
    from fusion_stack.io.nuscenes_dataset import open_nuscenes_info

    ds = open_nuscenes_info(shared_data / "nuscenes_keyframe/info.json")
    rig = ds.rig
    cam = rig.sensor("CAM_FRONT").camera
    assert cam is not None
    lidar2cam = rig.extrinsic("LIDAR_TOP", "CAM_FRONT")
    gt = ds.boxes(0)
    image = cv2.cvtColor(np.asarray(ds.image(0, "CAM_FRONT").data), cv2.COLOR_BGR2RGB)
    out = draw_boxes_on_image(image, gt, camera=cam, box2cam=lidar2cam, label=False)
    # the visible corners of boxes wholly in front of the camera are coloured in their class colour
    corners = lidar2cam.apply(gt.corners().reshape(-1, 3))
    proj = cam.project(corners)
    whole = proj.valid.reshape(-1, 8).all(axis=1)
    assert whole.sum() >= 10
    uv = np.rint(proj.uv).astype(int).reshape(-1, 8, 2)
    names = gt.label_names()
    hits = [tuple(out[v, u]) == class_color(names[i]) for i in np.nonzero(whole)[0] for u, v in uv[i]]
    assert np.mean(hits) > 0.85  # the rest are overdrawn by nearer boxes
    assert (out != image).any(axis=2).mean() < 0.2
    sheet = contact_sheet([draw_boxes_on_image(image, gt, camera=cam, box2cam=lidar2cam),
                           draw_bev(points=ds.lidar(0).positions, detections=gt, title="LIDAR_TOP")],
                          columns=2, labels=["CAM_FRONT", "BEV"], tile_height=450)
    save_image(tmp_path / "keyframe.png", sheet)
    assert (tmp_path / "keyframe.png").stat().st_size > 10_000
