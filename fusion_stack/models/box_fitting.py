"""Oriented bird's-eye-view rectangles around point clusters: :func:`fit_rectangle`, :func:`fit_rectangles` (many
clusters in one numba call) and :func:`grow_rectangle` (extend a partly seen rectangle to a minimum size, away from
the sensor).

Methods (x-y points in metres, any z-up frame):

* ``"lshape"``: the search-based L-shape fit of Zhang et al., "Efficient L-Shape Fitting for Vehicle Detection
  Using Laser Scanners" (IEEE IV 2017) with their *closeness* criterion: for each heading ``theta`` in
  ``[0, pi/2)`` the points are projected on the two rectangle axes, each point scores ``1 / max(d, d0)`` with ``d``
  its distance to the nearest of the four bounding edges, and the heading of highest total score wins. A coarse
  search (``coarse_step_deg``) is refined around the best heading (``fine_step_deg``). Works on the L (or the
  single side) that a LiDAR sees of a car.
* ``"min_area"``: the minimum-area enclosing rectangle (convex hull and rotating calipers, Freeman & Shapira 1975);
  exact on fully seen outlines, biased on L-shapes.

A rectangle is ``(cx, cy, length, width, yaw)``: centre (m), ``length >= width`` (m), ``yaw`` (rad) the direction of
the length in ``(-pi/2, pi/2]`` (a rectangle has no front: add pi where the heading is known).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

from fusion_stack.types import SampleError

__all__ = ["FIT_METHODS", "fit_rectangle", "fit_rectangles", "grow_rectangle", "grow_rectangles"]

FIT_METHODS: tuple[str, ...] = ("lshape", "min_area")
_D0 = 0.01  # metres: the closeness criterion's floor distance (Zhang et al. use 0.01 m)
_MIN_EXTENT = 0.05  # metres: the smallest side length reported (a single point is a 5 cm square)


def _check_xy(points: npt.ArrayLike, name: str = "points") -> npt.NDArray[np.float64]:
    a = np.asarray(points)
    if a.ndim != 2 or a.shape[1] < 2 or a.shape[0] < 1 or not (np.issubdtype(a.dtype, np.floating)
                                                                or np.issubdtype(a.dtype, np.integer)):
        raise SampleError(f"{name} must be a real (N, 2) or (N, 3) array of metres with N >= 1, got shape {a.shape} "
                          f"dtype {a.dtype}", field=name)
    a = np.ascontiguousarray(a[:, :2], dtype=np.float64)
    if not np.isfinite(a).all():
        raise SampleError(f"{name} contains NaN/Inf", field=name)
    return a


def _method_code(method: str) -> int:
    if method not in FIT_METHODS:
        raise SampleError(f"method must be one of {FIT_METHODS}, got {method!r}", field="method")
    return FIT_METHODS.index(method)


def fit_rectangle(points: npt.ArrayLike, *, method: Literal["lshape", "min_area"] = "lshape",
                  coarse_step_deg: float = 3.0, fine_step_deg: float = 0.25, max_points: int = 1024
                  ) -> npt.NDArray[np.float64]:
    """(5,) ``(cx, cy, length, width, yaw)`` of the rectangle around ``points`` (N, 2+) metres (x, y used).

    ``max_points``: larger clusters are subsampled evenly (by index) before fitting.
    """
    xy = _check_xy(points)
    n = len(xy)
    order = np.arange(n, dtype=np.int64)
    offsets = np.array([0, n], dtype=np.int64)
    return fit_rectangles(xy, order, offsets, method=method, coarse_step_deg=coarse_step_deg,
                          fine_step_deg=fine_step_deg, max_points=max_points)[0]


def fit_rectangles(points: npt.ArrayLike, order: npt.ArrayLike, offsets: npt.ArrayLike, *,
                   method: Literal["lshape", "min_area"] = "lshape", coarse_step_deg: float = 3.0,
                   fine_step_deg: float = 0.25, max_points: int = 1024) -> npt.NDArray[np.float64]:
    """(K, 5) rectangles of K clusters given as CSR groups: cluster k is ``points[order[offsets[k]:offsets[k+1]]]``
    (as :class:`fusion_stack.models.clustering.Clusters` holds them). Empty clusters give NaN rows."""
    xy = _check_xy(points)
    idx = np.ascontiguousarray(order, dtype=np.int64)
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or (np.diff(off) < 0).any() or off[-1] > len(idx):
        raise SampleError(f"offsets must be non-decreasing from 0 to at most len(order), got {off[:8]}...",
                          field="offsets")
    if len(idx) and (idx.min() < 0 or idx.max() >= len(xy)):
        raise SampleError(f"order must index points (N={len(xy)}), got range [{idx.min()}, {idx.max()}]",
                          field="order")
    for name, v in (("coarse_step_deg", coarse_step_deg), ("fine_step_deg", fine_step_deg)):
        if not np.isfinite(v) or not 0 < v <= 45:
            raise SampleError(f"{name} must be in (0, 45], got {v!r}", field=name)
    if max_points < 3:
        raise SampleError(f"max_points must be >= 3, got {max_points!r}", field="max_points")
    return _fit_all(xy, idx, off, _method_code(method), np.deg2rad(coarse_step_deg), np.deg2rad(fine_step_deg),
                    int(max_points))


def grow_rectangle(rect: npt.ArrayLike, *, min_length: float, min_width: float, viewpoint: npt.ArrayLike = (0.0, 0.0),
                   length_axis: Literal["auto", "keep"] = "auto", away_fraction: float = 1.0
                   ) -> npt.NDArray[np.float64]:
    """Extend a rectangle seen from ``viewpoint`` (x, y metres, the sensor) to at least ``min_length`` x
    ``min_width``, growing each side away from the viewpoint (the visible faces stay where the points are).

    With ``length_axis="auto"``, when the fitted length is shorter than ``min_width`` allows to tell (both sides no
    longer than ``min_width`` x 1.2), the length is put along the axis closer to the line of sight (the hidden
    depth of an object seen end-on); ``"keep"`` keeps the fitted length axis. ``away_fraction`` scales how far
    the centre moves away (1: the visible faces stay put; less hedges against points that are not the near
    faces). Returns (5,) ``(cx, cy, length, width, yaw)`` (yaw in ``(-pi/2, pi/2]``).
    """
    r = np.asarray(rect, dtype=np.float64).reshape(5)
    vp = np.asarray(viewpoint, dtype=np.float64).reshape(2)
    return _grow(r, float(min_length), float(min_width), vp[0], vp[1], length_axis == "auto", float(away_fraction))


def grow_rectangles(rects: npt.ArrayLike, *, min_length: npt.ArrayLike, min_width: npt.ArrayLike,
                    viewpoint: npt.ArrayLike = (0.0, 0.0), away_fraction: float = 1.0) -> npt.NDArray[np.float64]:
    """:func:`grow_rectangle` (``length_axis="auto"``) of (K, 5) rectangles with per-rectangle (K,) or scalar
    minimum sizes; returns (K, 5)."""
    r = np.ascontiguousarray(rects, dtype=np.float64).reshape(-1, 5)
    k = len(r)
    lengths = np.ascontiguousarray(np.broadcast_to(np.asarray(min_length, dtype=np.float64), (k,)))
    widths = np.ascontiguousarray(np.broadcast_to(np.asarray(min_width, dtype=np.float64), (k,)))
    vp = np.asarray(viewpoint, dtype=np.float64).reshape(2)
    return _grow_all(r, lengths, widths, vp[0], vp[1], float(away_fraction))


@njit(cache=True, nogil=True)
def _grow_all(rects: Any, min_length: Any, min_width: Any, vx: float, vy: float, shift: float) -> Any:
    out = np.empty_like(rects)
    for k in range(rects.shape[0]):
        out[k] = _grow(rects[k], min_length[k], min_width[k], vx, vy, True, shift)
    return out


@njit(cache=True, nogil=True)
def _wrap_half(yaw: float) -> float:
    """Angle in (-pi/2, pi/2]."""
    y = (yaw + np.pi / 2) % np.pi - np.pi / 2
    if y <= -np.pi / 2 + 1e-12:
        y += np.pi
    return y


@njit(cache=True, nogil=True)
def _grow(r: Any, min_length: float, min_width: float, vx: float, vy: float, auto: bool, shift: float) -> Any:
    cx, cy, length, width, yaw = r[0], r[1], r[2], r[3], r[4]
    ux, uy = np.cos(yaw), np.sin(yaw)
    if auto and length <= 1.2 * min_width and min_length > 1.2 * min_width:
        # end-on or side-on view of something short: its length goes along the line of sight
        sx, sy = cx - vx, cy - vy
        norm = np.hypot(sx, sy)
        if norm > 0 and abs(ux * sx + uy * sy) / norm < np.sqrt(0.5):
            yaw = yaw + np.pi / 2
            ux, uy = np.cos(yaw), np.sin(yaw)
            length, width = width, length
    vxs, vys = -uy, ux  # the width axis
    out = np.empty(5)
    new_l = max(length, min_length)
    new_w = max(width, min_width)
    dl = (new_l - length) / 2
    dw = (new_w - width) / 2
    # shift the centre away from the viewpoint along each axis by half the growth (times shift)
    s_l = shift if (cx - vx) * ux + (cy - vy) * uy >= 0 else -shift
    s_w = shift if (cx - vx) * vxs + (cy - vy) * vys >= 0 else -shift
    out[0] = cx + s_l * dl * ux + s_w * dw * vxs
    out[1] = cy + s_l * dl * uy + s_w * dw * vys
    out[2] = new_l
    out[3] = new_w
    out[4] = _wrap_half(yaw)
    return out


@njit(cache=True, nogil=True)
def _rect_at(xy: Any, sel: Any, m: int, theta: float) -> Any:
    """(cx, cy, extent along theta, extent across, theta) of the bounding rectangle at heading theta."""
    c, s = np.cos(theta), np.sin(theta)
    a0 = np.inf
    a1 = -np.inf
    b0 = np.inf
    b1 = -np.inf
    for k in range(m):
        x = xy[sel[k], 0]
        y = xy[sel[k], 1]
        a = x * c + y * s
        b = -x * s + y * c
        a0 = min(a0, a)
        a1 = max(a1, a)
        b0 = min(b0, b)
        b1 = max(b1, b)
    ac = 0.5 * (a0 + a1)
    bc = 0.5 * (b0 + b1)
    out = np.empty(5)
    out[0] = ac * c - bc * s
    out[1] = ac * s + bc * c
    out[2] = a1 - a0
    out[3] = b1 - b0
    out[4] = theta
    return out


@njit(cache=True, nogil=True)
def _closeness(xy: Any, sel: Any, m: int, theta: float, ox: float, oy: float) -> float:
    c, s = np.cos(theta), np.sin(theta)
    a0 = np.inf
    a1 = -np.inf
    b0 = np.inf
    b1 = -np.inf
    for k in range(m):
        x = xy[sel[k], 0] - ox
        y = xy[sel[k], 1] - oy
        a = x * c + y * s
        b = -x * s + y * c
        a0 = min(a0, a)
        a1 = max(a1, a)
        b0 = min(b0, b)
        b1 = max(b1, b)
    score = 0.0
    for k in range(m):
        x = xy[sel[k], 0] - ox
        y = xy[sel[k], 1] - oy
        a = x * c + y * s
        b = -x * s + y * c
        da = min(a1 - a, a - a0)
        db = min(b1 - b, b - b0)
        score += 1.0 / max(min(da, db), _D0)
    return score


@njit(cache=True, nogil=True)
def _lshape(xy: Any, sel: Any, m: int, coarse: float, fine: float) -> float:
    ox = 0.0
    oy = 0.0
    for k in range(m):
        ox += xy[sel[k], 0]
        oy += xy[sel[k], 1]
    ox /= m
    oy /= m
    best = -1.0
    best_t = 0.0
    n_coarse = int(np.ceil(np.pi / 2 / coarse))
    for i in range(n_coarse):
        t = i * (np.pi / 2) / n_coarse
        sc = _closeness(xy, sel, m, t, ox, oy)
        if sc > best:
            best = sc
            best_t = t
    step = (np.pi / 2) / n_coarse
    n_fine = int(np.ceil(step / fine))
    center = best_t
    for i in range(-n_fine, n_fine + 1):
        if i == 0:
            continue
        t = center + i * step / n_fine
        sc = _closeness(xy, sel, m, t, ox, oy)
        if sc > best:
            best = sc
            best_t = t
    return best_t


@njit(cache=True, nogil=True)
def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


@njit(cache=True, nogil=True)
def _min_area(xy: Any, sel: Any, m: int) -> float:
    """Heading of the minimum-area rectangle (an edge of the convex hull; monotone chain hull)."""
    pts = np.empty((m, 2))
    for k in range(m):
        pts[k, 0] = xy[sel[k], 0]
        pts[k, 1] = xy[sel[k], 1]
    order = np.argsort(pts[:, 1], kind="mergesort")  # by x, then y (stable sorts)
    order = order[np.argsort(pts[order, 0], kind="mergesort")]
    p = pts[order]
    hull = np.empty((2 * m + 1, 2))
    h = 0
    for i in range(m):  # lower hull
        while h >= 2 and _cross(hull[h - 2, 0], hull[h - 2, 1], hull[h - 1, 0], hull[h - 1, 1], p[i, 0],
                                p[i, 1]) <= 0:
            h -= 1
        hull[h] = p[i]
        h += 1
    lower = h + 1
    for i in range(m - 2, -1, -1):  # upper hull
        while h >= lower and _cross(hull[h - 2, 0], hull[h - 2, 1], hull[h - 1, 0], hull[h - 1, 1], p[i, 0],
                                    p[i, 1]) <= 0:
            h -= 1
        hull[h] = p[i]
        h += 1
    h -= 1  # the last point repeats the first
    if h < 2:
        return 0.0
    best = np.inf
    best_t = 0.0
    for e in range(h):
        dx = hull[(e + 1) % h, 0] - hull[e, 0]
        dy = hull[(e + 1) % h, 1] - hull[e, 1]
        if dx == 0.0 and dy == 0.0:
            continue
        t = np.arctan2(dy, dx)
        c, s = np.cos(t), np.sin(t)
        a0 = np.inf
        a1 = -np.inf
        b0 = np.inf
        b1 = -np.inf
        for k in range(h):
            a = hull[k, 0] * c + hull[k, 1] * s
            b = -hull[k, 0] * s + hull[k, 1] * c
            a0 = min(a0, a)
            a1 = max(a1, a)
            b0 = min(b0, b)
            b1 = max(b1, b)
        area = (a1 - a0) * (b1 - b0)
        if area < best - 1e-12:
            best = area
            best_t = t
    return best_t


@njit(cache=True, nogil=True)
def _fit_all(xy: Any, order: Any, offsets: Any, method: int, coarse: float, fine: float, max_points: int) -> Any:
    k_n = offsets.shape[0] - 1
    out = np.full((k_n, 5), np.nan)
    for k in range(k_n):
        a = offsets[k]
        b = offsets[k + 1]
        n = b - a
        if n <= 0:
            continue
        stride = max(1, (n + max_points - 1) // max_points)
        m = (n + stride - 1) // stride
        sel = np.empty(m, np.int64)
        for i in range(m):
            sel[i] = order[a + i * stride]
        if m < 3:
            theta = 0.0
            if m == 2:
                theta = np.arctan2(xy[sel[1], 1] - xy[sel[0], 1], xy[sel[1], 0] - xy[sel[0], 0])
        elif method == 0:
            theta = _lshape(xy, sel, m, coarse, fine)
        else:
            theta = _min_area(xy, sel, m)
        r = _rect_at(xy, order[a:b], n, theta)  # the extent of every point, not just the subsample
        if r[3] > r[2]:  # the length is the longer side
            r[2], r[3] = r[3], r[2]
            r[4] = theta + np.pi / 2
        r[2] = max(r[2], _MIN_EXTENT)
        r[3] = max(r[3], _MIN_EXTENT)
        r[4] = _wrap_half(r[4])
        out[k] = r
    return out
