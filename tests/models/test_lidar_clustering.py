"""Euclidean clustering: the numba kernel gives exactly the partition (and the canonical numbering) of the SciPy
reference (cKDTree pairs + connected components), which itself agrees with brute force."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.models.clustering import Clusters, euclidean_clusters, euclidean_clusters_reference
from fusion_stack.types import SampleError


def _brute_force(points: np.ndarray, eps: float, min_points: int, z_scale: float) -> np.ndarray:
    """Labels from the O(N^2) distance matrix and a breadth-first search, numbered by lowest point index."""
    p = np.asarray(points, dtype=np.float64) * [1.0, 1.0, z_scale]
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    adj = d <= eps
    n = len(p)
    comp = np.full(n, -1)
    c = 0
    for i in range(n):
        if comp[i] >= 0:
            continue
        stack = [i]
        comp[i] = c
        while stack:
            j = stack.pop()
            for k in np.flatnonzero(adj[j] & (comp < 0)):
                comp[k] = c
                stack.append(k)
        c += 1
    labels = np.full(n, -1)
    sizes = np.bincount(comp)
    nxt = 0
    seen: dict[int, int] = {}
    for i in range(n):
        if sizes[comp[i]] >= min_points:
            if comp[i] not in seen:
                seen[comp[i]] = nxt
                nxt += 1
            labels[i] = seen[comp[i]]
    return labels


def _same(a: Clusters, b: Clusters) -> None:
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def _blobs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points around random centres (objects) plus uniform clutter, z squashed like a driving scene."""
    centres = rng.uniform(-30, 30, (max(n // 200, 1), 3)) * [1, 1, 0.05]
    pts = centres[rng.integers(len(centres), size=n)] + rng.normal(0, 0.8, (n, 3)) * [1, 1, 0.5]
    clutter = rng.uniform(-30, 30, (n // 5, 3)) * [1, 1, 0.1]
    return np.concatenate([pts, clutter])


@pytest.mark.parametrize(("seed", "n", "eps", "min_points", "z_scale"),
                         [(0, 300, 0.5, 1, 1.0), (1, 400, 1.0, 3, 0.5), (2, 250, 0.3, 2, 2.0), (3, 50, 5.0, 1, 1.0)])
def test_reference_equals_brute_force(seed: int, n: int, eps: float, min_points: int, z_scale: float) -> None:
    pts = _blobs(np.random.default_rng(seed), n)
    ref = euclidean_clusters_reference(pts, eps_m=eps, min_points=min_points, z_scale=z_scale)
    np.testing.assert_array_equal(ref.labels, _brute_force(pts, eps, min_points, z_scale))


@pytest.mark.parametrize(("seed", "n", "eps", "min_points", "z_scale"),
                         [(0, 2000, 0.5, 1, 1.0), (1, 20000, 0.6, 5, 0.5), (2, 5000, 0.25, 2, 1.0),
                          (3, 8000, 1.5, 10, 0.3), (4, 3000, 0.7, 1, 3.0), (5, 1, 0.5, 1, 1.0)])
def test_numba_equals_reference_on_random_data(seed: int, n: int, eps: float, min_points: int,
                                               z_scale: float) -> None:
    pts = _blobs(np.random.default_rng(seed), n)
    got = euclidean_clusters(pts, eps_m=eps, min_points=min_points, z_scale=z_scale)
    _same(got, euclidean_clusters_reference(pts, eps_m=eps, min_points=min_points, z_scale=z_scale))
    assert got.sizes.min(initial=min_points) >= min_points
    for k in range(got.num_clusters):
        assert (got.labels[got.indices(k)] == k).all()


def test_structured_edge_cases() -> None:
    rng = np.random.default_rng(7)
    # duplicates, a dense blob (many points per cell), grid points exactly on the cell lattice, integer input
    dup = np.repeat(rng.uniform(0, 5, (20, 3)), 5, axis=0)
    dense = rng.normal(0, 0.05, (800, 3)) + np.array([10.0, 10.0, 0.0])
    grid = np.stack(np.meshgrid(np.arange(6) * 0.5, np.arange(6) * 0.5, [0.0]), -1).reshape(-1, 3)
    lattice = grid + np.array([30.0, 0.0, 0.0])
    chain = np.column_stack([np.arange(200) * 0.45, np.full(200, -20.0), np.zeros(200)])  # one long cluster
    far = np.array([[1e5, 1e5, 0.0], [-1e5, 3e4, 50.0], [1e5 + 0.1, 1e5, 0.0], [3e6, 0.0, 0.0], [3e6, 0.2, 0.0]])
    for pts in (dup, dense, lattice, chain, far, np.concatenate([dup, dense, lattice, chain, far])):
        for eps in (0.3, 0.5, 0.51):
            _same(euclidean_clusters(pts, eps_m=eps), euclidean_clusters_reference(pts, eps_m=eps))
    assert euclidean_clusters(chain, eps_m=0.5).num_clusters == 1
    assert euclidean_clusters(chain, eps_m=0.4).num_clusters == 200
    ints = np.array([[0, 0, 0], [1, 0, 0], [5, 5, 5]])
    assert euclidean_clusters(ints, eps_m=1.0).labels.tolist() == [0, 0, 1]
    empty = euclidean_clusters(np.zeros((0, 3)))
    assert empty.num_clusters == 0 and empty.labels.shape == (0,)
    noise = euclidean_clusters(rng.uniform(0, 100, (50, 3)), eps_m=0.01, min_points=2)
    assert noise.num_clusters == 0 and (noise.labels == -1).all()


def test_numba_equals_reference_on_a_lidar_sweep() -> None:
    """A synthetic spinning-LiDAR scan of boxes (rings, range-dependent spacing)."""
    rng = np.random.default_rng(11)
    el = np.deg2rad(np.linspace(-30, 10, 32))
    az = np.linspace(-np.pi, np.pi, 1000, endpoint=False)
    dirs = np.stack([np.cos(el)[:, None] * np.cos(az), np.cos(el)[:, None] * np.sin(az),
                     np.sin(el)[:, None] * np.ones_like(az)], -1).reshape(-1, 3)
    ranges = rng.uniform(3, 40, len(dirs))
    pts = dirs * ranges[:, None] + [0, 0, 1.8]
    pts = pts[pts[:, 2] > 0.2]
    _same(euclidean_clusters(pts, eps_m=0.6, z_scale=0.5, min_points=3),
          euclidean_clusters_reference(pts, eps_m=0.6, z_scale=0.5, min_points=3))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"points": np.zeros((4, 2))}, "points"),
    ({"points": np.array([[0.0, 0.0, np.inf]])}, "points"),
    ({"points": np.zeros((4, 3)), "eps_m": 0.0}, "eps_m"),
    ({"points": np.zeros((4, 3)), "eps_m": np.nan}, "eps_m"),
    ({"points": np.zeros((4, 3)), "min_points": 0}, "min_points"),
    ({"points": np.zeros((4, 3)), "min_points": True}, "min_points"),
    ({"points": np.zeros((4, 3)), "z_scale": -1.0}, "z_scale"),
])
def test_bad_input(kwargs: dict, field: str) -> None:
    for fn in (euclidean_clusters, euclidean_clusters_reference):
        with pytest.raises(SampleError) as err:
            fn(**kwargs)
        assert err.value.field == field
