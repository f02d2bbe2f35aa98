"""Array-level 3D box geometry: corners, bird's-eye-view polygons and BEV IoU.

Boxes are gravity-aligned: ``(x, y, z, l, w, h, yaw)`` with the centre ``(x, y, z)`` in metres in the frame of
the boxes, size ``l`` (along the heading), ``w``, ``h`` in metres and ``yaw`` in radians, counter-clockwise
about +z from +x (REP-103). The centre is the geometric centre (not the bottom).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion_stack.geometry.errors import GeometryError

# Corner order of `box_corners`: bottom face counter-clockwise seen from above starting at front-left
# (+l/2, +w/2), then the top face in the same order.
_UNIT_CORNERS = np.array(
    [
        [0.5, 0.5, -0.5],
        [-0.5, 0.5, -0.5],
        [-0.5, -0.5, -0.5],
        [0.5, -0.5, -0.5],
        [0.5, 0.5, 0.5],
        [-0.5, 0.5, 0.5],
        [-0.5, -0.5, 0.5],
        [0.5, -0.5, 0.5],
    ]
)


def check_boxes(boxes: npt.ArrayLike, *, name: str = "boxes") -> npt.NDArray[np.float64]:
    """Return ``boxes`` as a float64 (N, 7) array, or raise GeometryError showing what came in."""
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 7 or not np.issubdtype(arr.dtype, np.number):
        raise GeometryError(
            f"expected an (N, 7) real array of (x, y, z, l, w, h, yaw), got shape {arr.shape} dtype {arr.dtype}",
            field=name,
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise GeometryError(f"boxes contain NaN or Inf at rows {np.nonzero(~np.isfinite(arr).all(1))[0]}",
                            field=name)
    return arr


def box_corners(boxes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Corners (N, 8, 3) in metres of (N, 7) boxes, in the boxes' frame (order: see ``_UNIT_CORNERS``)."""
    b = check_boxes(boxes)
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    local = _UNIT_CORNERS[None, :, :] * b[:, None, 3:6]
    x = c[:, None] * local[..., 0] - s[:, None] * local[..., 1]
    y = s[:, None] * local[..., 0] + c[:, None] * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + b[:, None, 0:3]


def bev_polygons(boxes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Bird's-eye-view rectangles (N, 4, 2) in metres, counter-clockwise, of (N, 7) boxes."""
    return box_corners(boxes)[:, :4, :2]


def _polygon_area(poly: npt.NDArray[np.float64]) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip_convex(subject: npt.NDArray[np.float64], clip: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sutherland-Hodgman clipping of a polygon by a counter-clockwise convex polygon."""
    out = subject
    n = len(clip)
    for i in range(n):
        if len(out) == 0:
            break
        a, b = clip[i], clip[(i + 1) % n]
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])  # >= 0: inside (left of edge)
        prev = np.roll(out, 1, axis=0)
        prev_side = np.roll(side, 1)
        pts: list[npt.NDArray[np.float64]] = []
        for p, q, sp, sq in zip(out, prev, side, prev_side):
            if sp >= 0:
                if sq < 0:
                    pts.append(q + (p - q) * (sq / (sq - sp)))
                pts.append(p)
            elif sq >= 0:
                pts.append(q + (p - q) * (sq / (sq - sp)))
        out = np.array(pts).reshape(-1, 2)
    return out


def bev_iou(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Bird's-eye-view IoU (N, M) in [0, 1] of rotated boxes (N, 7) and (M, 7) given in the same frame.

    Pairs whose circumscribed circles do not overlap are skipped (IoU 0) without polygon clipping.
    """
    a = check_boxes(boxes_a, name="boxes_a")
    b = check_boxes(boxes_b, name="boxes_b")
    out = np.zeros((len(a), len(b)))
    if len(a) == 0 or len(b) == 0:
        return out
    pa, pb = bev_polygons(a), bev_polygons(b)
    area_a, area_b = a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]
    ra = 0.5 * np.hypot(a[:, 3], a[:, 4])
    rb = 0.5 * np.hypot(b[:, 3], b[:, 4])
    dist = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    for i, j in zip(*np.nonzero(dist < ra[:, None] + rb[None, :])):
        inter = _polygon_area(_clip_convex(pa[i], pb[j]))
        union = area_a[i] + area_b[j] - inter
        out[i, j] = inter / union if union > 0 else 0.0
    return out
