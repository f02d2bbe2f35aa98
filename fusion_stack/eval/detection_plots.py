"""Pictures of detections: 3D boxes drawn on camera images, bird's-eye views, PNG files and contact sheets.

Every picture is an (H, W, 3) uint8 RGB array drawn with OpenCV (no matplotlib: fast enough for every frame of
a run). Colours are RGB triples; each class has one (:data:`CLASS_COLORS` for the nuScenes detection classes,
a stable hashed colour for other names), overridable per call with ``colors``. Ground truth is grey and dashed
on images and green in bird's-eye views.

Camera images: the 8 corners of each box are moved into the camera optical frame with ``box2cam``, its 12 edges
(and a cross on the front face, marking the heading) are clipped against the plane ``z = near_m`` in 3D before
projection, so a box crossing the camera plane draws only its visible part and a box behind the camera draws
nothing (projecting first would mirror the hidden corners into the picture). With a distorted camera each
clipped edge is drawn as a polyline of projected samples (a straight edge bends under distortion) and only
where the samples lie inside the region where the distortion model is monotonic (see
:mod:`fusion_stack.calibration.camera_models`), tested with the camera's own distort / undistort round trip.

Bird's-eye view: the picture covers ``[-extent_m, extent_m]`` in x and y of the boxes' frame around its origin,
x forward = up, y left = left; it is ``2 * round(extent_m / resolution_m) + 1`` pixels square and the pixel
``(row, col)`` has its centre at ``x = extent_m - row * resolution_m``, ``y = extent_m - col * resolution_m``:
the origin is the centre pixel.

Errors are :class:`~fusion_stack.eval.detection_metrics.EvaluationError` naming the argument (and the path
for files).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.eval.detection_metrics import EvaluationError
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import Boxes3D

__all__ = [
    "BEV_GROUND_TRUTH_COLOR",
    "CLASS_COLORS",
    "GROUND_TRUTH_COLOR",
    "bev_pixel",
    "class_color",
    "contact_sheet",
    "draw_bev",
    "draw_boxes_on_image",
    "save_image",
]

Color = tuple[int, int, int]
ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]

CLASS_COLORS: Mapping[str, Color] = MappingProxyType({
    "car": (255, 158, 0),
    "truck": (255, 99, 71),
    "trailer": (255, 140, 0),
    "bus": (255, 69, 0),
    "construction_vehicle": (233, 150, 70),
    "bicycle": (220, 20, 60),
    "motorcycle": (255, 61, 99),
    "pedestrian": (0, 140, 255),
    "traffic_cone": (47, 79, 79),
    "barrier": (112, 128, 144),
})
"""RGB colour of each nuScenes detection class (the devkit's rendering colours)."""
GROUND_TRUTH_COLOR: Color = (190, 190, 190)
"""Ground truth on camera images: grey, dashed."""
BEV_GROUND_TRUTH_COLOR: Color = (0, 210, 0)
"""Ground truth in bird's-eye views: green outlines."""
RADAR_COLOR: Color = (255, 0, 255)
POINT_COLOR_RANGE = (90, 235)  # grey level of LiDAR points from low to high
_BACKGROUND: Color = (18, 18, 22)
_GRID: Color = (48, 48, 56)
_AXES: Color = (80, 80, 92)
_TEXT: Color = (235, 235, 235)

# corner indices of `box_corners` (bottom face 0-3, top face 4-7; 0, 3, 4, 7 are the front face at +l/2)
_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]])
_HEADING_CROSS = np.array([[0, 7], [3, 4]])
_DASH_ON_PX, _DASH_OFF_PX = 8.0, 6.0
_EDGE_SAMPLES = 24  # polyline pieces per edge for distorted cameras


def class_color(name: str, colors: Mapping[str, Color] | None = None) -> Color:
    """RGB colour of class ``name``: ``colors[name]`` if given, else :data:`CLASS_COLORS`, else a bright colour
    hashed from the name (the same on every run)."""
    if colors is not None and name in colors:
        return tuple(int(c) for c in colors[name])  # type: ignore[return-value]
    if name in CLASS_COLORS:
        return CLASS_COLORS[name]
    hue = zlib.crc32(name.encode()) % 180
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _check_image(image: object, name: str) -> ImageArray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise EvaluationError(f"expected an (H, W, 3) uint8 RGB image, got shape {a.shape} dtype {a.dtype}",
                              field=name)
    return a


def _clip_segments(p0: FloatArray, p1: FloatArray, lo: FloatArray, hi: FloatArray
                   ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Liang-Barsky: clip segments ``p0 -> p1`` (K, D) to the box ``lo <= p <= hi`` (D,); returns the clipped
    ends and which segments keep a part."""
    d = p1 - p0
    t0 = np.zeros(len(p0))
    t1 = np.ones(len(p0))
    keep = np.ones(len(p0), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(p0.shape[1]):
            for bound, sign in ((lo[k], -1.0), (hi[k], 1.0)):
                q = sign * (bound - p0[:, k])  # inside iff sign * d * t <= q
                den = sign * d[:, k]
                parallel = den == 0.0
                keep &= ~(parallel & (q < 0.0))
                t = q / den
                t1 = np.where(~parallel & (den > 0.0), np.minimum(t1, t), t1)
                t0 = np.where(~parallel & (den < 0.0), np.maximum(t0, t), t0)
    keep &= t0 <= t1
    return p0 + t0[:, None] * d, p0 + t1[:, None] * d, keep


def _in_model_region(camera: CameraModel, points_cam: FloatArray) -> npt.NDArray[np.bool_]:
    """True where points (z > 0) lie where the camera's distortion is monotonic: distort then undistort
    returns them (undistortion only answers inside that region)."""
    if camera.model_name == "pinhole" or not len(points_cam):
        return np.ones(len(points_cam), bool)
    xy = points_cam[:, :2] / points_cam[:, 2:3]
    back = camera.undistort_normalized(camera.distort_normalized(xy))
    with np.errstate(invalid="ignore"):
        err = np.abs(back - xy).max(axis=1)
        return np.asarray(err <= 1e-6 * np.maximum(1.0, np.abs(xy).max(axis=1)), dtype=bool)


def _draw_segments(img: ImageArray, a: FloatArray, b: FloatArray, color: Color, thickness: int,
                   dashed: bool) -> None:
    """Draw 2-D segments ``a -> b`` (K, 2) in pixels (cv2 convention: integer = pixel centre), clipped to a
    margin around the image first (no huge coordinates, no dash loops off-screen)."""
    if not len(a):
        return
    h, w = img.shape[:2]
    margin = thickness + 2.0
    a, b, keep = _clip_segments(a, b, np.array([-margin, -margin]), np.array([w - 1 + margin, h - 1 + margin]))
    a, b = a[keep], b[keep]
    if dashed:
        starts, ends = [], []
        period = _DASH_ON_PX + _DASH_OFF_PX
        for p, q in zip(a, b):
            length = float(np.hypot(*(q - p)))
            if length == 0.0:
                continue
            s = np.arange(0.0, length, period)
            e = np.minimum(s + _DASH_ON_PX, length)
            u = (q - p) / length
            starts.append(p + s[:, None] * u)
            ends.append(p + e[:, None] * u)
        if not starts:
            return
        a, b = np.concatenate(starts), np.concatenate(ends)
    ia, ib = np.rint(a).astype(np.int64), np.rint(b).astype(np.int64)
    for p, q in zip(ia, ib):
        cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), color, thickness, cv2.LINE_8)


def _project_box_edges(corners_cam: FloatArray, camera: CameraModel, near_m: float) -> list[tuple[FloatArray,
                                                                                                 FloatArray]]:
    """Per box: the visible pieces of its edges and heading cross as pixel segments (a (K, 2), b (K, 2))."""
    pairs = np.concatenate([_EDGES, _HEADING_CROSS])
    out = []
    for corners in corners_cam:
        p0, p1 = corners[pairs[:, 0]], corners[pairs[:, 1]]
        z0, z1 = p0[:, 2], p1[:, 2]
        keep = (z0 > near_m) | (z1 > near_m)
        p0, p1, z0, z1 = p0[keep], p1[keep], z0[keep], z1[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(z0 != z1, (near_m - z0) / (z1 - z0), 0.0)[:, None]
        cut = p0 + t * (p1 - p0)
        p0 = np.where((z0 <= near_m)[:, None], cut, p0)
        p1 = np.where((z1 <= near_m)[:, None], cut, p1)
        if not len(p0):
            out.append((np.empty((0, 2)), np.empty((0, 2))))
            continue
        if camera.model_name == "pinhole":
            proj0 = camera.project(p0, near=0.0).uv
            proj1 = camera.project(p1, near=0.0).uv
            out.append((proj0, proj1))
            continue
        s = np.linspace(0.0, 1.0, _EDGE_SAMPLES + 1)
        samples = p0[:, None, :] + s[None, :, None] * (p1 - p0)[:, None, :]  # (E, S+1, 3)
        flat = samples.reshape(-1, 3)
        uv = camera.project(flat, near=0.0).uv.reshape(len(p0), -1, 2)
        ok = _in_model_region(camera, flat).reshape(len(p0), -1) & np.isfinite(uv).all(axis=2)
        piece = ok[:, :-1] & ok[:, 1:]
        out.append((uv[:, :-1][piece], uv[:, 1:][piece]))
    return out


def draw_boxes_on_image(image: npt.ArrayLike, boxes: Boxes3D, *, camera: CameraModel, box2cam: SE3,
                        colors: Mapping[str, Color] | None = None, label: bool = True,
                        ground_truth: Boxes3D | None = None, thickness: int = 2, near_m: float = 0.1
                        ) -> ImageArray:
    """A copy of ``image`` ((H, W, 3) uint8 RGB, the size of ``camera``) with ``boxes`` drawn on it.

    ``box2cam`` maps the boxes' frame (``boxes.frame_id``, also that of ``ground_truth``) into the camera's
    optical frame. Detections: 12 edges and a cross on the front face, in their class colour (``colors`` by class
    name overrides :data:`CLASS_COLORS`), ``thickness`` pixels, with ``"class score"`` above the box when
    ``label``; ground truth below them, grey and dashed. Far boxes are drawn first. Edges are clipped at
    ``z = near_m`` metres in front of the camera (see the module docstring); lines are not antialiased, so a
    box corner inside the picture colours exactly its projected pixel (rounded).
    """
    img = _check_image(image, "image").copy()
    if (img.shape[1], img.shape[0]) != (camera.width, camera.height):
        raise EvaluationError(f"image is {img.shape[1]}x{img.shape[0]} but the camera is "
                              f"{camera.width}x{camera.height}", field="image")
    if ground_truth is not None and ground_truth.frame_id != boxes.frame_id:
        raise EvaluationError(f"ground truth is in {ground_truth.frame_id!r}, boxes in {boxes.frame_id!r}",
                              field="ground_truth")
    near = float(near_m)
    if not near > 0.0:
        raise EvaluationError(f"expected near_m > 0, got {near_m!r}", field="near_m")
    font_scale = max(0.4, 0.55 * img.shape[0] / 720.0)
    for which, bxs in (("gt", ground_truth), ("det", boxes)):
        if bxs is None or not len(bxs):
            continue
        corners = box2cam.apply(bxs.corners().reshape(-1, 3)).reshape(-1, 8, 3)
        order = np.argsort(-corners[:, :, 2].mean(axis=1), kind="stable")
        pieces = _project_box_edges(corners[order], camera, near)
        names = bxs.label_names()
        for i, (a, b) in zip(order, pieces):
            if which == "gt":
                _draw_segments(img, a, b, GROUND_TRUTH_COLOR, max(1, thickness - 1), dashed=True)
                continue
            color = class_color(names[i], colors)
            _draw_segments(img, a, b, color, thickness, dashed=False)
            if label and len(a):
                pts = np.concatenate([a, b])
                inside = pts[(pts[:, 0] >= 0) & (pts[:, 0] < img.shape[1]) & (pts[:, 1] >= 0)
                             & (pts[:, 1] < img.shape[0])]
                if len(inside):
                    _put_label(img, f"{names[i]} {float(bxs.scores[i]):.2f}",
                               (float(inside[:, 0].min()), float(inside[:, 1].min())), color, font_scale)
    return img


def _put_label(img: ImageArray, text: str, anchor: tuple[float, float], color: Color, scale: float) -> None:
    """``text`` on a dark box whose bottom-left is at ``anchor`` (pixels), kept inside the picture."""
    thick = max(1, round(scale * 1.6))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    h, w = img.shape[:2]
    x = int(np.clip(anchor[0], 0, max(0, w - tw - 2)))
    y = int(np.clip(anchor[1] - 3, th + base + 2, h - 1))
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 2, y), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


# --- bird's-eye view ------------------------------------------------------------------------------------------


def bev_pixel(xy: npt.ArrayLike, *, extent_m: float = 50.0, resolution_m: float = 0.1) -> FloatArray:
    """(N, 2) ``(col, row)`` pixel coordinates (cv2 order; integer = pixel centre) of (N, 2) points ``(x, y)``
    in metres in a :func:`draw_bev` picture with the same ``extent_m`` and ``resolution_m``."""
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    half = round(extent_m / resolution_m) * resolution_m
    return np.stack([(half - p[:, 1]) / resolution_m, (half - p[:, 0]) / resolution_m], axis=1)


def _points_array(value: object, name: str) -> FloatArray | None:
    if value is None:
        return None
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise EvaluationError(f"expected an (N, 3) array of points, got shape {a.shape}", field=name)
    return a


def draw_bev(*, points: npt.ArrayLike | None = None, detections: Boxes3D | None = None,
             ground_truth: Boxes3D | None = None, radar: npt.ArrayLike | None = None,
             radar_velocities: npt.ArrayLike | None = None, extent_m: float = 50.0, resolution_m: float = 0.1,
             title: str = "", colors: Mapping[str, Color] | None = None, grid_m: float = 10.0) -> ImageArray:
    """A bird's-eye view (RGB uint8, ``2 * round(extent_m / resolution_m) + 1`` pixels square) of one frame.

    Everything is in the boxes' frame (``points`` (N, 3) LiDAR points and ``radar`` (M, 3) detections, metres,
    must already be there; ``radar_velocities`` (M, 3) m/s): x forward = up, y left = left, origin at the centre
    (see the module docstring). Drawn: a grid every ``grid_m`` metres, a scale bar and the origin; points as grey
    dots (brighter = higher); radar as magenta dots with velocity arrows; ground truth outlined green;
    detections in their class colour with a heading tick (centre to front edge), velocity arrows (the motion of
    one second, where finite) and track ids (where >= 0); ``title`` at the top left.
    """
    extent, res = float(extent_m), float(resolution_m)
    if not (np.isfinite(extent) and np.isfinite(res) and extent > 0.0 and res > 0.0):
        raise EvaluationError(f"expected positive extent_m and resolution_m, got {extent_m!r}, {resolution_m!r}",
                              field="extent_m")
    half_px = round(extent / res)
    size = 2 * half_px + 1
    if size > 20001:
        raise EvaluationError(f"extent_m / resolution_m = {extent / res:.0f} makes a {size}-pixel picture",
                              field="resolution_m")
    if detections is not None and ground_truth is not None and detections.frame_id != ground_truth.frame_id:
        raise EvaluationError(f"ground truth is in {ground_truth.frame_id!r}, detections in "
                              f"{detections.frame_id!r}", field="ground_truth")
    img = np.empty((size, size, 3), np.uint8)
    img[:] = _BACKGROUND

    def px(xy: npt.ArrayLike) -> FloatArray:
        return bev_pixel(xy, extent_m=extent, resolution_m=res)

    def ipt(p: FloatArray) -> tuple[int, int]:
        return round(float(p[0])), round(float(p[1]))

    # grid, axes
    step = max(1, round(grid_m / res))
    for k in range(half_px % step, size, step):
        cv2.line(img, (k, 0), (k, size - 1), _GRID, 1)
        cv2.line(img, (0, k), (size - 1, k), _GRID, 1)
    cv2.line(img, (half_px, 0), (half_px, size - 1), _AXES, 1)
    cv2.line(img, (0, half_px), (size - 1, half_px), _AXES, 1)

    pts = _points_array(points, "points")
    if pts is not None and len(pts):
        c = np.rint(px(pts[:, :2])).astype(np.int64)
        ok = (c >= 0).all(axis=1) & (c < size).all(axis=1)
        z = pts[ok, 2] if pts.shape[1] > 2 else np.zeros(int(ok.sum()))
        lo, hi = POINT_COLOR_RANGE
        grey = (lo + (hi - lo) * np.clip((z + 2.0) / 5.0, 0.0, 1.0)).astype(np.uint8)
        img[c[ok, 1], c[ok, 0]] = grey[:, None]

    scale = max(0.35, 0.45 * size / 1001.0)
    # ego: a small triangle pointing forward
    tri = px(np.array([[2.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]]))
    cv2.fillPoly(img, [np.rint(tri).astype(np.int32)], (255, 255, 255))

    rad = _points_array(radar, "radar")
    if rad is not None and len(rad):
        rv = _points_array(radar_velocities, "radar_velocities")
        if rv is not None and rv.shape[0] != rad.shape[0]:
            raise EvaluationError(f"expected one velocity per radar point ({rad.shape[0]}), got shape {rv.shape}",
                                  field="radar_velocities")
        rp = px(rad[:, :2])
        for i, p in enumerate(rp):
            cv2.circle(img, ipt(p), 2, RADAR_COLOR, -1)
            if rv is not None and np.isfinite(rv[i, :2]).all():
                q = px(rad[i:i + 1, :2] + rv[i:i + 1, :2])[0]
                _arrow(img, p, q, RADAR_COLOR, 1)

    if ground_truth is not None and len(ground_truth):
        polys = [np.rint(px(p)).astype(np.int32) for p in ground_truth.bev_polygons()]
        cv2.polylines(img, polys, True, BEV_GROUND_TRUTH_COLOR, 1, cv2.LINE_8)

    if detections is not None and len(detections):
        names = detections.label_names()
        polys_m = detections.bev_polygons()
        centres = px(detections.centers[:, :2])
        fronts = px(0.5 * (polys_m[:, 0] + polys_m[:, 3]))
        vel = np.asarray(detections.velocities, dtype=np.float64)[:, :2]
        for i in range(len(detections)):
            color = class_color(names[i], colors)
            cv2.polylines(img, [np.rint(px(polys_m[i])).astype(np.int32)], True, color, 2, cv2.LINE_8)
            cv2.line(img, ipt(centres[i]), ipt(fronts[i]), color, 2, cv2.LINE_8)
            if np.isfinite(vel[i]).all() and np.hypot(*vel[i]) > 0.05:
                tip = px(detections.centers[i:i + 1, :2] + vel[i:i + 1])[0]
                _arrow(img, centres[i], tip, color, 1)
            tid = int(detections.track_ids[i])
            if tid >= 0:
                corner = np.rint(px(polys_m[i]).min(axis=0)).astype(int)
                cv2.putText(img, str(tid), (int(corner[0]), int(corner[1]) - 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                            color, 1, cv2.LINE_AA)

    # scale bar (grid_m metres) at the bottom left, title at the top left
    bar = max(1, round(grid_m / res))
    y0 = size - 20
    cv2.line(img, (15, y0), (15 + bar, y0), _TEXT, 2)
    for x in (15, 15 + bar):
        cv2.line(img, (x, y0 - 5), (x, y0 + 5), _TEXT, 2)
    cv2.putText(img, f"{grid_m:g} m", (25 + bar, y0 + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (10, 10 + round(25 * scale / 0.45)), cv2.FONT_HERSHEY_SIMPLEX, scale * 1.3, _TEXT,
                    1, cv2.LINE_AA)
    return img


def _arrow(img: ImageArray, p: FloatArray, q: FloatArray, color: Color, thickness: int) -> None:
    length = float(np.hypot(*(q - p)))
    if not np.isfinite(length) or length < 1.0:
        return
    h, w = img.shape[:2]
    a, b, keep = _clip_segments(p[None], q[None], np.array([-5.0, -5.0]), np.array([w + 4.0, h + 4.0]))
    if keep[0]:
        cv2.arrowedLine(img, (round(a[0, 0]), round(a[0, 1])), (round(b[0, 0]), round(b[0, 1])), color, thickness,
                        cv2.LINE_8, 0, min(0.4, 6.0 / length))


# --- files and sheets -----------------------------------------------------------------------------------------


def save_image(path: str | Path, image: npt.ArrayLike) -> None:
    """Write ``image`` ((H, W, 3) uint8 RGB, or (H, W) uint8 grey) as a PNG at ``path`` (suffix ``.png``),
    creating parent folders. Raises EvaluationError naming the path when it cannot."""
    p = Path(path)
    a = np.asarray(image)
    if a.ndim == 2 and a.dtype == np.uint8 and 0 not in a.shape:
        bgr: npt.NDArray[Any] = a
    else:
        bgr = cv2.cvtColor(_check_image(a, "image"), cv2.COLOR_RGB2BGR)
    if p.suffix.lower() != ".png":
        raise EvaluationError(f"expected a .png path, got suffix {p.suffix!r}", source=str(p), field="path")
    ok, data = cv2.imencode(".png", bgr)
    if not ok:  # pragma: no cover (cv2 encodes any uint8 image)
        raise EvaluationError("PNG encoding failed", source=str(p), field="image")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.tobytes())
    except OSError as err:
        raise EvaluationError(f"cannot write the picture: {err.strerror or err}", source=str(p),
                              field="path") from err


def contact_sheet(images: Sequence[npt.ArrayLike], *, columns: int, labels: Sequence[str] = (),
                  tile_height: int | None = None) -> ImageArray:
    """Tile ``images`` (each (H, W, 3) uint8 RGB or (H, W) uint8 grey) row by row, ``columns`` per row.

    Each picture is scaled to ``tile_height`` pixels high (default: the first one's height), keeping its aspect,
    and centred in a tile as wide as the widest; with ``labels`` (one per image) each tile gets a caption strip
    above it. Returns (rows * (tile_height + caption), columns * tile_width, 3) uint8 RGB.
    """
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise EvaluationError(f"expected an integer >= 1, got {columns!r}", field="columns")
    if not len(images):
        raise EvaluationError("no images to tile", field="images")
    if labels and len(labels) != len(images):
        raise EvaluationError(f"expected {len(images)} labels (one per image), got {len(labels)}", field="labels")
    rgb = []
    for i, im in enumerate(images):
        a = np.asarray(im)
        if a.ndim == 2 and a.dtype == np.uint8 and 0 not in a.shape:
            a = np.repeat(a[:, :, None], 3, axis=2)
        rgb.append(_check_image(a, f"images[{i}]"))
    th = int(tile_height) if tile_height is not None else rgb[0].shape[0]
    if th < 1:
        raise EvaluationError(f"expected tile_height >= 1, got {tile_height!r}", field="tile_height")
    scaled = []
    for a in rgb:
        w = max(1, round(a.shape[1] * th / a.shape[0]))
        interp = cv2.INTER_AREA if th < a.shape[0] else cv2.INTER_LINEAR
        scaled.append(a if a.shape[0] == th else cv2.resize(a, (w, th), interpolation=interp))
    tw = max(s.shape[1] for s in scaled)
    cap = max(18, round(th * 0.06)) if labels else 0
    cols = min(int(columns), len(scaled))
    rows = -(-len(scaled) // cols)
    sheet = np.empty((rows * (th + cap), cols * tw, 3), np.uint8)
    sheet[:] = _BACKGROUND
    font_scale = cap / 36.0
    for k, s in enumerate(scaled):
        r, c = divmod(k, cols)
        y, x = r * (th + cap), c * tw
        off = (tw - s.shape[1]) // 2
        sheet[y + cap:y + cap + th, x + off:x + off + s.shape[1]] = s
        if labels:
            cv2.putText(sheet, str(labels[k]), (x + 6, y + cap - max(3, cap // 5)), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, _TEXT, max(1, round(font_scale * 1.5)), cv2.LINE_AA)
    return sheet
