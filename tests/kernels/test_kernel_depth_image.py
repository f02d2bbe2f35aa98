"""depth_image: z-buffer per camera, nearest point per pixel, deterministic ties."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from kernel_cases import lidar_cloud

from fusion_stack.kernels import CameraParams, depth_image, project_points
from fusion_stack.kernels.reference import depth_image_reference


def dense_cloud(n: int, seed: int) -> np.ndarray:
    """Points crowded into a narrow cone (many per pixel), with exact duplicates for ties."""
    rng = np.random.default_rng(seed)
    pts = lidar_cloud(n, seed, max_range=60.0)
    pts[: n // 2, 1:] *= 0.05  # squeeze half of them in front of the cameras
    pts[: n // 2, 0] = np.abs(pts[: n // 2, 0]) + 1.0
    dup = rng.integers(0, n, size=n // 20)
    pts[-(n // 20):] = pts[dup]  # duplicates: same depth, the smaller index must win
    return pts


def small_cameras(params: dict) -> list[CameraParams]:
    """The shared cameras at a lower resolution (more collisions per pixel)."""
    out = []
    for cam in params.values():
        scale = 0.125
        out.append(CameraParams(cam.model, int(cam.width * scale), int(cam.height * scale), cam.fx * scale,
                                cam.fy * scale, cam.cx * scale, cam.cy * scale, skew=cam.skew * scale,
                                distortion=cam.distortion, fold_limit=cam.fold_limit, rotation=cam.rotation,
                                translation=cam.translation))
    return out


def test_matches_reference_exactly(params: dict) -> None:
    pts = dense_cloud(60000, 0)
    cams = small_cameras(params)[:3]  # pinhole, plumb_bob, rational_polynomial: bit-identical math
    got = depth_image(pts, cams, near=0.5)
    want = depth_image_reference(pts, cams, near=0.5)
    for c, cam in enumerate(cams):
        assert got.depth[c].shape == (cam.height, cam.width) and got.depth[c].dtype == np.float32
        assert got.index[c].dtype == np.int32
        np.testing.assert_array_equal(got.depth[c], want.depth[c])
        np.testing.assert_array_equal(got.index[c], want.index[c])
        assert (got.index[c] >= 0).sum() > 100


def test_every_pixel_holds_the_nearest_point(params: dict) -> None:
    """Independent check from project_points: per pixel, min depth then min index; empty pixels get nothing."""
    pts = dense_cloud(40000, 1)
    cams = small_cameras(params)
    got = depth_image(pts, cams, near=0.5)
    proj = project_points(pts, cams, near=0.5)
    for c, cam in enumerate(cams):
        valid = proj.valid[c]
        col = np.floor(proj.uv[c, :, 0].astype(np.float64) + 0.5)
        row = np.floor(proj.uv[c, :, 1].astype(np.float64) + 0.5)
        lands = valid & (col < cam.width) & (row < cam.height)
        pixel = (row[lands] * cam.width + col[lands]).astype(np.int64)
        depth = proj.depth[c][lands]
        index = np.flatnonzero(lands)
        best_depth = np.full(cam.width * cam.height, np.inf, dtype=np.float32)
        np.minimum.at(best_depth, pixel, depth)
        at_best = depth == best_depth[pixel]
        best_index = np.full(cam.width * cam.height, np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(best_index, pixel[at_best], index[at_best])
        flat_depth, flat_index = got.depth[c].ravel(), got.index[c].ravel()
        occupied = np.isfinite(best_depth)
        np.testing.assert_array_equal(flat_index >= 0, occupied)
        np.testing.assert_array_equal(flat_depth[occupied], best_depth[occupied])
        np.testing.assert_array_equal(flat_index[occupied], best_index[occupied])
        assert (flat_depth[~occupied] == 0).all()
        # the index map points at a point that really projects into that pixel with that depth
        k = flat_index[occupied]
        np.testing.assert_array_equal(proj.depth[c][k], flat_depth[occupied])
        assert ((row[k] * cam.width + col[k]) == np.flatnonzero(occupied)).all()


def test_ties_go_to_the_smallest_index() -> None:
    cam = CameraParams("pinhole", 8, 6, 4.0, 4.0, 4.0, 3.0)
    pts = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.01, 0.0, 1.0], [0.0, 0.0, 3.0]],
                   dtype=np.float32)
    got = depth_image(pts, cam)
    assert got.index[0][3, 4] == 1 and got.depth[0][3, 4] == 1.0
    assert (got.index[0] >= 0).sum() == 1


def test_pixel_rule_rounds_half_up_and_drops_the_last_half_pixel() -> None:
    cam = CameraParams("pinhole", 8, 6, 4.0, 4.0, 0.0, 0.0)
    # u = 4 * x / z: 1.5 -> column 2, 0.49 -> 0, 7.5 (valid, < 8) rounds to column 8: not drawn
    pts = np.array([[0.375, 0.0, 1.0], [0.1225, 0.5, 1.0], [1.875, 1.0, 1.0]], dtype=np.float32)
    got = depth_image(pts, cam)
    proj = project_points(pts, cam)
    assert proj.valid[0].all()
    assert got.index[0][0, 2] == 0
    assert got.index[0][2, 0] == 1
    assert (got.index[0] >= 0).sum() == 2


def test_deterministic_across_thread_counts(params: dict) -> None:
    pts = dense_cloud(30000, 2)
    cams = small_cameras(params)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = depth_image(pts, cams, near=0.5)
    finally:
        numba.set_num_threads(threads)
    many = depth_image(pts, cams, near=0.5)
    for c in range(len(cams)):
        np.testing.assert_array_equal(one.depth[c], many.depth[c])
        np.testing.assert_array_equal(one.index[c], many.index[c])


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_clouds(n: int) -> None:
    cams = [CameraParams("pinhole", 4, 3, 2.0, 2.0, 2.0, 1.5), CameraParams("pinhole", 5, 2, 2.0, 2.0, 2.5, 1.0)]
    pts = np.array([[0.0, 0.0, 2.0]], dtype=np.float32)[:n]
    got = depth_image(pts, cams)
    assert [d.shape for d in got.depth] == [(3, 4), (2, 5)]
    assert sum(int((i >= 0).sum()) for i in got.index) == 2 * n
