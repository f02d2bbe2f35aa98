"""voxelize: equals the NumPy reference exactly; caps, containment, order and determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import lidar_cloud

from fusion_stack.kernels import Voxels, voxelize
from fusion_stack.kernels.reference import voxelize_reference

KITTI = {"voxel_size": (0.2, 0.2, 0.4), "range": (0.0, -40.0, -3.0, 70.4, 40.0, 1.0)}
PILLARS = {"voxel_size": (0.32, 0.32, 6.0), "range": (-51.2, -51.2, -5.0, 51.2, 51.2, 1.0)}


def assert_same(got: Voxels, want: Voxels) -> None:
    for field in ("features", "num_points", "coords", "point_to_voxel"):
        g, w = getattr(got, field), getattr(want, field)
        assert g.dtype == w.dtype and g.shape == w.shape, field
        np.testing.assert_array_equal(g, w, err_msg=field)
    assert got.total_voxels == want.total_voxels
    assert got.grid_size == want.grid_size


def crowded_cloud(n: int, seed: int) -> np.ndarray:
    pts = lidar_cloud(n, seed, max_range=60.0, features=2)
    pts[: n // 10, :3] = pts[0, :3] + np.random.default_rng(seed).normal(scale=0.02, size=(n // 10, 3))
    pts[5] = [np.nan, 0.0, 0.0, 0.1, 0.2]
    pts[6] = [np.inf, 1.0, 0.0, 0.1, 0.2]
    return pts


@pytest.mark.parametrize(
    ("grid", "max_points", "max_voxels"),
    [(KITTI, 5, 20000), (KITTI, 35, 500), (PILLARS, 32, 12000), (PILLARS, 3, 100000)],
    ids=["voxels", "voxel-cap", "pillars", "pillar-points-cap"],
)
def test_matches_reference(grid: dict, max_points: int, max_voxels: int) -> None:
    pts = crowded_cloud(50000, 0)
    got = voxelize(pts, **grid, max_points_per_voxel=max_points, max_voxels=max_voxels)
    want = voxelize_reference(pts, **grid, max_points_per_voxel=max_points, max_voxels=max_voxels)
    assert_same(got, want)
    assert got.features.shape[0] > 50


def check_invariants(pts: np.ndarray, vox: Voxels, grid: dict, max_points: int, max_voxels: int) -> None:
    v = vox.features.shape[0]
    assert v == min(vox.total_voxels, max_voxels)
    assert vox.features.shape == (v, max_points, pts.shape[1])
    assert ((vox.num_points >= 1) & (vox.num_points <= max_points)).all()
    lo = np.asarray(grid["range"][:3])
    size = np.asarray(grid["voxel_size"])
    kept = np.flatnonzero(vox.point_to_voxel >= 0)
    voxel = vox.point_to_voxel[kept]
    assert (voxel < v).all()
    # every kept point lies in its voxel (z, y, x coords), by the documented float64 rule
    cell = np.floor((pts[kept, :3].astype(np.float64) - lo) / size).astype(np.int64)
    np.testing.assert_array_equal(cell[:, ::-1], vox.coords[voxel])
    # features hold the kept points in input order, zero-padded
    assert np.bincount(voxel, minlength=v).tolist() == vox.num_points.tolist()
    for k in range(v):
        members = kept[voxel == k]
        np.testing.assert_array_equal(vox.features[k, : len(members)], pts[members].astype(np.float32))
        assert not vox.features[k, len(members):].any()
    # voxels numbered by first appearance
    first = np.array([kept[voxel == k].min() for k in range(v)])
    assert (np.diff(first) > 0).all()
    # coordinates are unique and inside the grid
    assert len({tuple(c) for c in vox.coords.tolist()}) == v
    nx, ny, nz = vox.grid_size
    assert ((vox.coords >= 0) & (vox.coords < [nz, ny, nx])).all()


def test_invariants_and_determinism() -> None:
    pts = crowded_cloud(20000, 1)
    options = {**KITTI, "max_points_per_voxel": 4, "max_voxels": 3000}
    got = voxelize(pts, **options)
    check_invariants(pts, got, KITTI, 4, 3000)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = voxelize(pts, **options)
    finally:
        numba.set_num_threads(threads)
    assert_same(got, single)
    assert_same(got, voxelize(pts, **options))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**31),
    size=st.sampled_from([0.25, 0.5, 1.0, 3.0]),
    max_points=st.integers(1, 6),
    max_voxels=st.integers(1, 80),
    pillars=st.booleans(),
)
def test_property_small_clouds(n: int, seed: int, size: float, max_points: int, max_voxels: int,
                               pillars: bool) -> None:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-3.0, 3.0, size=(n, 4)).astype(np.float32)
    pts[: n // 3, :3] = np.round(pts[: n // 3, :3])  # points exactly on cell boundaries
    grid = {"voxel_size": (size, size, 4.0 if pillars else size), "range": (-2.0, -2.0, -2.0, 2.0, 2.0, 2.0)}
    got = voxelize(pts, **grid, max_points_per_voxel=max_points, max_voxels=max_voxels)
    want = voxelize_reference(pts, **grid, max_points_per_voxel=max_points, max_voxels=max_voxels)
    assert_same(got, want)
    check_invariants(pts, got, grid, max_points, max_voxels)


def test_empty_and_all_outside() -> None:
    options = {**KITTI, "max_points_per_voxel": 5, "max_voxels": 10}
    empty = voxelize(np.zeros((0, 4), dtype=np.float32), **options)
    assert empty.features.shape == (0, 5, 4) and empty.point_to_voxel.shape == (0,) and empty.total_voxels == 0
    outside = voxelize(np.full((7, 3), -100.0, dtype=np.float32), **options)
    assert outside.features.shape == (0, 5, 3)
    np.testing.assert_array_equal(outside.point_to_voxel, -1)


def test_pillars_have_z_zero_and_grid_size() -> None:
    pts = crowded_cloud(5000, 2)
    got = voxelize(pts, **PILLARS, max_points_per_voxel=20, max_voxels=5000)
    assert got.grid_size == (320, 320, 1)
    assert (got.coords[:, 0] == 0).all()


def test_float64_points_are_stored_as_float32() -> None:
    pts = crowded_cloud(3000, 3).astype(np.float64)
    got = voxelize(pts, **KITTI, max_points_per_voxel=5, max_voxels=1000)
    assert got.features.dtype == np.float32
    assert_same(got, voxelize_reference(pts, **KITTI, max_points_per_voxel=5, max_voxels=1000))
