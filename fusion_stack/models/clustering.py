"""Euclidean clustering of points: :func:`euclidean_clusters` (numba) and its SciPy reference.

Two points are neighbours when their distance is at most ``eps_m``, measured on ``(x, y, z * z_scale)`` (a
``z_scale`` below 1 lets the sparse vertical spacing of a spinning LiDAR's rings, which grows with range, bridge
while objects stay apart horizontally); clusters are the connected components of that neighbour graph (single
linkage, as PCL's ``EuclideanClusterExtraction``). Components with fewer than ``min_points`` points are noise
(label -1).

Numbering is canonical, so that any two exact implementations agree label for label: the kept clusters are
numbered 0, 1, ... in the order of their lowest point index.

The kernel hashes the points into cubic cells of edge ``eps / sqrt(3)`` (every two points of a cell are
neighbours, so a cell is united at once), then, for each pair of occupied cells at most two cells apart along every
axis (found by forward-only pointers into the sorted cell keys) whose points' bounding boxes come within ``eps``,
looks for one pair of neighbouring points and stops there; pairs of cells already in the same component are
skipped. Union-find with path halving. (A cloud wider than 2^20 such cells along an axis is hashed into coarser
cells, whose pairs of points are then checked one by one: still exact, only slower.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from fusion_stack.types import SampleError

__all__ = ["Clusters", "euclidean_clusters", "euclidean_clusters_reference"]

_MAX_CELLS_PER_AXIS = 1 << 20


@dataclass(frozen=True, eq=False)
class Clusters:
    """Result of :func:`euclidean_clusters` for N points in K clusters.

    Attributes:
        labels: (N,) int64 cluster of each point, -1 for noise (components under ``min_points``).
        order: (M,) int64 indices of the clustered points grouped by cluster (ascending index within a cluster).
        offsets: (K + 1,) int64: cluster k's points are ``order[offsets[k]:offsets[k + 1]]``.
    """

    labels: npt.NDArray[np.int64]
    order: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]

    @property
    def num_clusters(self) -> int:
        """K, the number of clusters."""
        return int(len(self.offsets) - 1)

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        """(K,) points per cluster."""
        return np.diff(self.offsets)

    def indices(self, k: int) -> npt.NDArray[np.int64]:
        """Indices of the points of cluster ``k``."""
        return self.order[self.offsets[k]:self.offsets[k + 1]]


def _check(points: npt.ArrayLike, eps_m: float, min_points: int, z_scale: float) -> npt.NDArray[np.float64]:
    a = np.asarray(points)
    if a.ndim != 2 or a.shape[1] != 3 or not (np.issubdtype(a.dtype, np.floating)
                                              or np.issubdtype(a.dtype, np.integer)):
        raise SampleError(f"points must be a real (N, 3) array of metres, got shape {a.shape} dtype {a.dtype}",
                          field="points")
    a = np.array(a, dtype=np.float64)  # a copy: z is scaled in place
    if not np.isfinite(a).all():
        raise SampleError(f"points contains {int(np.count_nonzero(~np.isfinite(a).all(axis=1)))} rows with "
                          "NaN/Inf", field="points")
    if not np.isfinite(eps_m) or eps_m <= 0:
        raise SampleError(f"eps_m must be a positive finite distance, got {eps_m!r}", field="eps_m")
    if not np.isfinite(z_scale) or z_scale <= 0:
        raise SampleError(f"z_scale must be positive and finite, got {z_scale!r}", field="z_scale")
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)) or min_points < 1:
        raise SampleError(f"min_points must be an int >= 1, got {min_points!r}", field="min_points")
    a[:, 2] *= z_scale
    return a


def _finish(root: npt.NDArray[np.int64], min_points: int) -> Clusters:
    labels, order, offsets = _canonical(root, min_points)
    return Clusters(labels, order, offsets)


def euclidean_clusters(points: npt.ArrayLike, *, eps_m: float = 0.5, min_points: int = 1,
                       z_scale: float = 1.0) -> Clusters:
    """Cluster ``points`` (N, 3) metres: connected components of the graph of pairs at most ``eps_m`` apart on
    ``(x, y, z * z_scale)``; components under ``min_points`` are noise (see the module docstring)."""
    pts = _check(points, eps_m, min_points, z_scale)
    n = len(pts)
    if n == 0:
        return Clusters(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64))
    cell = eps_m / np.sqrt(3.0)
    lo = pts.min(axis=0)
    span = np.floor((pts.max(axis=0) - lo) / cell).astype(np.int64) + 1
    if (span > _MAX_CELLS_PER_AXIS).any():  # very wide: coarser cells (their pairs are then checked), still exact
        cell = float(((pts.max(axis=0) - lo) / (_MAX_CELLS_PER_AXIS - 1)).max())
        span = np.floor((pts.max(axis=0) - lo) / cell).astype(np.int64) + 1
    root = _cluster_kernel(pts, lo, float(cell), span, float(eps_m))
    return _finish(root, int(min_points))


def euclidean_clusters_reference(points: npt.ArrayLike, *, eps_m: float = 0.5, min_points: int = 1,
                                 z_scale: float = 1.0) -> Clusters:
    """The same partition from SciPy: ``cKDTree.query_pairs`` and ``connected_components`` (the reference the
    tests and the benchmark compare :func:`euclidean_clusters` with)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pts = _check(points, eps_m, min_points, z_scale)
    n = len(pts)
    if n == 0:
        return Clusters(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64))
    pairs = cKDTree(pts).query_pairs(eps_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return _finish(comp.astype(np.int64), int(min_points))


@njit(cache=True, nogil=True)
def _find(parent: Any, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _union(parent: Any, a: int, b: int) -> None:
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


@njit(cache=True, nogil=True)
def _link_cells(pts: Any, order: Any, parent: Any, box: Any, cstart: Any, a0: int, a1: int, c: int, d: int,
                eps2: float) -> None:
    """Unite cells c and d when any of their points are within eps (skipping pairs already united)."""
    if _find(parent, order[a0]) == _find(parent, order[cstart[d]]):
        return
    gap2 = 0.0
    for t in range(3):
        g = max(box[d, t] - box[c, 3 + t], box[c, t] - box[d, 3 + t], 0.0)
        gap2 += g * g
    if gap2 > eps2:
        return
    b0 = cstart[d]
    b1 = cstart[d + 1]
    for p in range(a0, a1):
        i = order[p]
        xi, yi, zi = pts[i, 0], pts[i, 1], pts[i, 2]
        for q in range(b0, b1):
            j = order[q]
            ddx = pts[j, 0] - xi
            ddy = pts[j, 1] - yi
            ddz = pts[j, 2] - zi
            if ddx * ddx + ddy * ddy + ddz * ddz <= eps2:
                _union(parent, i, j)
                return


@njit(cache=True, nogil=True)
def _cluster_kernel(pts: Any, lo: Any, cell: float, span: Any, eps: float) -> Any:
    """Component id (a representative point index) of every point."""
    n = pts.shape[0]
    loose = cell * np.sqrt(3.0) > eps * (1.0 + 1e-12)
    sy = span[2]
    sx = span[1] * span[2]
    keys = np.empty(n, np.int64)
    for k in range(n):
        ix = min(int((pts[k, 0] - lo[0]) / cell), span[0] - 1)
        iy = min(int((pts[k, 1] - lo[1]) / cell), span[1] - 1)
        iz = min(int((pts[k, 2] - lo[2]) / cell), span[2] - 1)
        keys[k] = ix * sx + iy * sy + iz
    order = np.argsort(keys, kind="mergesort")
    sk = keys[order]
    # occupied cells: [start, end) into order
    ncell = 1
    for k in range(1, n):
        if sk[k] != sk[k - 1]:
            ncell += 1
    ckey = np.empty(ncell, np.int64)
    cstart = np.empty(ncell + 1, np.int64)
    c = 0
    ckey[0] = sk[0]
    cstart[0] = 0
    for k in range(1, n):
        if sk[k] != sk[k - 1]:
            c += 1
            ckey[c] = sk[k]
            cstart[c] = k
    cstart[ncell] = n
    parent = np.arange(n)
    box = np.empty((ncell, 6))  # per cell: bounding box of its points (tighter than the cell)
    for c in range(ncell):  # a cell's points are all within eps of each other
        first = order[cstart[c]]
        for t in range(3):
            box[c, t] = pts[first, t]
            box[c, 3 + t] = pts[first, t]
        for k in range(cstart[c] + 1, cstart[c + 1]):
            i = order[k]
            if loose:  # cells wider than eps / sqrt(3): only the pairs within eps
                for q in range(cstart[c], k):
                    j = order[q]
                    dx = pts[j, 0] - pts[i, 0]
                    dy = pts[j, 1] - pts[i, 1]
                    dz = pts[j, 2] - pts[i, 2]
                    if dx * dx + dy * dy + dz * dz <= eps * eps:
                        _union(parent, i, j)
            else:
                _union(parent, first, i)
            for t in range(3):
                box[c, t] = min(box[c, t], pts[i, t])
                box[c, 3 + t] = max(box[c, 3 + t], pts[i, t])
    # forward half of the neighbour cells (|d| <= 2 per axis): for each x-y offset, a run of consecutive keys
    # (dz in -2..2) found by a pointer that only moves forward, since the cells are visited in key order
    xy = np.array([[0, 0], [0, 1], [0, 2], [1, -2], [1, -1], [1, 0], [1, 1], [1, 2], [2, -2], [2, -1], [2, 0],
                   [2, 1], [2, 2]], np.int64)
    ptr = np.zeros(len(xy), np.int64)
    eps2 = eps * eps
    for c in range(ncell):
        key = ckey[c]
        ix = key // sx
        iy = (key % sx) // sy
        iz = key % sy
        a0 = cstart[c]
        a1 = cstart[c + 1]
        for o in range(len(xy)):
            jx = ix + xy[o, 0]
            jy = iy + xy[o, 1]
            if jx >= span[0] or jy < 0 or jy >= span[1]:
                continue
            base = jx * sx + jy * sy
            lo_key = base + (iz + 1 if o == 0 else max(iz - 2, 0))
            hi_key = base + min(iz + 2, span[2] - 1)
            d = ptr[o]
            while d < ncell and ckey[d] < lo_key:
                d += 1
            ptr[o] = d
            while d < ncell and ckey[d] <= hi_key:
                _link_cells(pts, order, parent, box, cstart, a0, a1, c, d, eps2)
                d += 1
    root = np.empty(n, np.int64)
    for k in range(n):
        root[k] = _find(parent, k)
    return root


@njit(cache=True, nogil=True)
def _canonical(comp: Any, min_points: int) -> tuple[Any, Any, Any]:
    """Labels numbered by each component's lowest point index, small components -1; CSR grouping."""
    n = comp.shape[0]
    count = np.zeros(n, np.int64)
    for k in range(n):
        count[comp[k]] += 1
    first_id = np.full(n, -1, np.int64)
    labels = np.full(n, -1, np.int64)
    k_next = 0
    for k in range(n):
        c = comp[k]
        if count[c] < min_points:
            continue
        if first_id[c] < 0:
            first_id[c] = k_next
            k_next += 1
        labels[k] = first_id[c]
    offsets = np.zeros(k_next + 1, np.int64)
    for k in range(n):
        if labels[k] >= 0:
            offsets[labels[k] + 1] += 1
    for c in range(k_next):
        offsets[c + 1] += offsets[c]
    fill = offsets[:-1].copy()
    order = np.empty(offsets[k_next], np.int64)
    for k in range(n):
        lab = labels[k]
        if lab >= 0:
            order[fill[lab]] = k
            fill[lab] += 1
    return labels, order, offsets
