"""Oriented rectangles: the L-shape fit recovers synthetic rectangles (centre, size, yaw) from the sides a sensor
sees, with range noise; minimum-area rectangles are exact on full outlines; growing a partly seen rectangle to a
class size moves its hidden sides away from the sensor."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.models.box_fitting import fit_rectangle, fit_rectangles, grow_rectangle, grow_rectangles
from fusion_stack.types import SampleError


def _corners(cx: float, cy: float, length: float, width: float, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[length / 2, width / 2], [-length / 2, width / 2], [-length / 2, -width / 2],
                      [length / 2, -width / 2]])
    return local @ np.array([[c, s], [-s, c]]) + [cx, cy]


def _outline(rng: np.random.Generator, rect: tuple[float, float, float, float, float], *, view=(0.0, 0.0),
             per_m: float = 25.0, noise: float = 0.02, all_sides: bool = False) -> np.ndarray:
    """Points on the sides of a rectangle that face ``view`` (or on all four), with Gaussian noise (m)."""
    corners = _corners(*rect)
    pts = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        normal = np.array([b[1] - a[1], a[0] - b[0]])  # outward for the counter-clockwise order
        if all_sides or normal @ (np.asarray(view) - (a + b) / 2) > 0:
            m = max(int(np.linalg.norm(b - a) * per_m), 2)  # evenly spaced returns, like a scanner's
            t = np.clip(np.linspace(0, 1, m) + rng.uniform(-0.3, 0.3, m) / m, 0, 1)[:, None]
            pts.append(a + t * (b - a))
    p = np.concatenate(pts)
    return p + rng.normal(0, noise, p.shape)


def _yaw_diff(a: float, b: float) -> float:
    """Smallest difference of two headings modulo pi (a rectangle has no front)."""
    return abs((a - b + np.pi / 2) % np.pi - np.pi / 2)


@pytest.mark.parametrize("yaw", [0.0, 0.2, 0.55, 0.785, 1.1, 1.45, -0.4, -1.2, 2.5])
@pytest.mark.parametrize("where", [(12.0, 5.0), (-8.0, -9.0), (25.0, -3.0)])
def test_lshape_recovers_rectangles_seen_from_the_sensor(yaw: float, where: tuple[float, float]) -> None:
    rng = np.random.default_rng(abs(int(100 * yaw) + int(where[0])))
    length, width = 4.6, 1.9
    pts = _outline(rng, (where[0], where[1], length, width, yaw))
    cx, cy, fl, fw, fyaw = fit_rectangle(pts)
    assert -np.pi / 2 < fyaw <= np.pi / 2 and fl >= fw
    if len(pts) > 150:  # two sides seen (an L): the whole rectangle
        assert _yaw_diff(fyaw, yaw) < np.deg2rad(1.5)
        assert np.hypot(cx - where[0], cy - where[1]) < 0.1
        assert abs(fl - length) < 0.1 and abs(fw - width) < 0.1
    else:  # one side seen face-on: that segment (its direction, its length), the depth unknown
        side = length if len(pts) > 100 else width
        assert _yaw_diff(fyaw, yaw if side == length else yaw + np.pi / 2) < np.deg2rad(1.5)
        assert abs(fl - side) < 0.1 and fw < 0.2
        hidden = width if side == length else length
        assert np.hypot(cx - where[0], cy - where[1]) == pytest.approx(hidden / 2, abs=0.1)


def test_lshape_with_more_noise_and_sparse_points() -> None:
    rng = np.random.default_rng(3)
    errs = []
    for _ in range(30):
        yaw = rng.uniform(-np.pi, np.pi)
        truth = (rng.uniform(5, 30), rng.uniform(-15, 15), rng.uniform(3.8, 5.2), rng.uniform(1.6, 2.0), yaw)
        pts = _outline(rng, truth, per_m=8.0, noise=0.05)
        r = fit_rectangle(pts)
        errs.append((np.hypot(r[0] - truth[0], r[1] - truth[1]), _yaw_diff(r[4], yaw)))
    e = np.array(errs)
    assert np.median(e[:, 0]) < 0.25 and e[:, 0].max() < 1.0  # one-sided views miss half the depth
    assert np.rad2deg(np.median(e[:, 1])) < 2.0 and np.rad2deg(e[:, 1].max()) < 8.0


@pytest.mark.parametrize("yaw", [0.0, 0.3, 1.0, -0.7])
def test_min_area_is_exact_on_full_outlines(yaw: float) -> None:
    rng = np.random.default_rng(1)
    pts = _outline(rng, (3.0, -2.0, 10.0, 2.5, yaw), all_sides=True, noise=0.0, per_m=10)
    pts = np.concatenate([pts, _corners(3.0, -2.0, 10.0, 2.5, yaw)])
    for method in ("min_area", "lshape"):
        r = fit_rectangle(pts, method=method)
        np.testing.assert_allclose(r[:4], [3.0, -2.0, 10.0, 2.5], atol=0.02 if method == "lshape" else 1e-6)
        assert _yaw_diff(r[4], yaw) < (np.deg2rad(0.3) if method == "lshape" else 1e-9)


def test_min_area_is_biased_on_an_l_shape() -> None:
    """Why the detector uses the L-shape: the minimum-area rectangle of an L is rotated toward its diagonal."""
    rng = np.random.default_rng(2)
    pts = _outline(rng, (12.0, 5.0, 4.5, 1.8, 0.3))
    assert _yaw_diff(fit_rectangle(pts, method="min_area")[4], 0.3) > np.deg2rad(5)
    assert _yaw_diff(fit_rectangle(pts, method="lshape")[4], 0.3) < np.deg2rad(1.5)


def test_one_visible_side_grown_to_the_class_size() -> None:
    """Only the rear of a car 15 m ahead is seen: growing to the car's typical size away from the sensor puts the
    centre back where it is; a car seen side-on keeps its length axis."""
    rng = np.random.default_rng(4)
    truth = (15.0, 0.3, 4.5, 1.85, 0.0)
    rear = _outline(rng, truth)
    rear = rear[rear[:, 0] < 15.0 - 2.0]  # the rear face only
    r = fit_rectangle(rear)
    assert r[2] < 2.0  # only the width is visible
    g = grow_rectangle(r, min_length=4.5, min_width=1.85)
    assert np.hypot(g[0] - truth[0], g[1] - truth[1]) < 0.2
    assert _yaw_diff(g[4], 0.0) < np.deg2rad(2) and abs(g[2] - 4.5) < 0.1
    side = _outline(rng, (2.0, 8.0, 4.5, 1.85, 0.0))
    side = side[side[:, 1] < 8.0 - 0.8]  # the near side only
    g = grow_rectangle(fit_rectangle(side), min_length=4.5, min_width=1.85)
    assert np.hypot(g[0] - 2.0, g[1] - 8.0) < 0.2 and _yaw_diff(g[4], 0.0) < np.deg2rad(2)
    # growing never shrinks, a full outline stays put, and a viewpoint elsewhere mirrors the growth
    full = fit_rectangle(_outline(rng, (5.0, 5.0, 6.0, 2.5, 0.4)))
    np.testing.assert_allclose(grow_rectangle(full, min_length=4.5, min_width=1.85), full)
    wall = [10.0, 0.0, 1.0, 0.2, np.pi / 2]  # a 1 m segment across the x axis, grown 1 m deep
    g_near = grow_rectangle(wall, min_length=1.0, min_width=1.2, viewpoint=(0.0, 0.0))
    g_far = grow_rectangle(wall, min_length=1.0, min_width=1.2, viewpoint=(20.0, 0.0))
    assert g_near[0] == pytest.approx(10.5) and g_far[0] == pytest.approx(9.5)
    assert g_near[0] > 10.0 > g_far[0]


def test_batch_equals_single_fits_and_degenerate_clusters() -> None:
    rng = np.random.default_rng(5)
    clusters = [_outline(rng, (rng.uniform(-20, 20), rng.uniform(-20, 20), 4.0, 1.8, rng.uniform(-3, 3)),
                         all_sides=True) for _ in range(6)]
    clusters += [np.array([[1.0, 2.0]]), np.array([[0.0, 0.0], [1.0, 1.0]]),
                 np.column_stack([np.linspace(0, 3, 20), np.zeros(20)])]  # one point, two, a line
    pts = np.concatenate(clusters)
    perm = rng.permutation(len(pts))  # order may list a cluster's points anywhere in ``points``
    inv = np.argsort(perm)
    offsets = np.cumsum([0] + [len(c) for c in clusters])
    order = inv[np.arange(len(pts))]
    batch = fit_rectangles(pts[perm], order, offsets)
    for k, c in enumerate(clusters):
        np.testing.assert_allclose(batch[k], fit_rectangle(c), atol=1e-9)
    one, two, line = batch[-3:]
    np.testing.assert_allclose(one[:4], [1.0, 2.0, 0.05, 0.05])
    assert abs(two[2] - np.sqrt(2)) < 1e-9 and _yaw_diff(two[4], np.pi / 4) < 1e-9
    assert abs(line[2] - 3.0) < 1e-9 and line[3] == pytest.approx(0.05) and _yaw_diff(line[4], 0.0) < 1e-9
    # an empty cluster is a NaN row; a subsampled big cluster still bounds every point
    assert np.isnan(fit_rectangles(pts, np.arange(3), np.array([0, 0, 3]))[0]).all()
    big = _outline(rng, (0.0, 0.0, 12.0, 2.5, 0.2), per_m=400, all_sides=True)
    r = fit_rectangle(big, max_points=64)
    assert abs(r[2] - 12.0) < 0.15 and _yaw_diff(r[4], 0.2) < np.deg2rad(1.5)
    grown = grow_rectangles(batch[:6], min_length=4.5, min_width=np.full(6, 1.9))
    for k in range(6):
        np.testing.assert_allclose(grown[k], grow_rectangle(batch[k], min_length=4.5, min_width=1.9))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"points": np.zeros((0, 2))}, "points"),
    ({"points": np.zeros(5)}, "points"),
    ({"points": np.array([[np.nan, 0.0]])}, "points"),
    ({"points": np.zeros((3, 2)), "method": "hough"}, "method"),
    ({"points": np.zeros((3, 2)), "coarse_step_deg": 0.0}, "coarse_step_deg"),
    ({"points": np.zeros((3, 2)), "fine_step_deg": 60.0}, "fine_step_deg"),
    ({"points": np.zeros((3, 2)), "max_points": 2}, "max_points"),
])
def test_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(SampleError) as err:
        fit_rectangle(**kwargs)
    assert err.value.field == field


def test_bad_groups() -> None:
    pts = np.zeros((4, 2))
    with pytest.raises(SampleError) as err:
        fit_rectangles(pts, np.arange(4), np.array([0, 5]))
    assert err.value.field == "offsets"
    with pytest.raises(SampleError) as err:
        fit_rectangles(pts, np.array([0, 1, 9]), np.array([0, 3]))
    assert err.value.field == "order"
