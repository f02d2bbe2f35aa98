"""Hard voxelization (and pillarization) of point clouds: :func:`voxelize`.

Grid: ``range = [xmin, ymin, zmin, xmax, ymax, zmax]`` (metres, in the points' frame) and ``voxel_size =
(vx, vy, vz)``; the grid has ``(nx, ny, nz) = round((max - min) / voxel_size)`` cells (as mmdet3d / OpenPCDet).
Point ``(x, y, z)`` falls in cell ``(ix, iy, iz) = floor(((x, y, z) - min) / voxel_size)`` (float64), and is
inside when ``0 <= (x - xmin) / vx < nx`` (likewise y, z); points outside, and NaN / inf points, are dropped.
Pillars: a ``vz`` spanning the whole z range (``nz == 1``).

Deterministic choice of the kept points (independent of threads or devices):

* voxels are numbered by first appearance: in the order of each voxel's first (lowest-index) point, so voxel 0
  is the voxel of the first point inside the grid;
* only the first ``max_voxels`` voxels are kept; the points of later voxels are dropped;
* inside a voxel the points are kept in input order, up to ``max_points_per_voxel``; later ones are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from fusion_stack.kernels.cpu_kernels import voxelize_cpu
from fusion_stack.kernels.errors import KernelError
from fusion_stack.kernels.inputs import prepare_array, resolve_device
from fusion_stack.kernels.projection import POINTS_LAYOUT

__all__ = ["Voxels", "voxel_grid", "voxelize"]

MAX_POINTS = 2**31 - 1
#: Largest number of grid cells (linear voxel ids are int64).
MAX_CELLS = 2**62


@dataclass(frozen=True, eq=False)
class Voxels:
    """Result of :func:`voxelize` with V kept voxels, P = ``max_points_per_voxel`` and D = 3 + F features.

    Attributes:
        features: (V, P, D) float32 points of each voxel in input order, zero-padded after ``num_points``.
        num_points: (V,) int32 number of kept points per voxel (1..P).
        coords: (V, 3) int32 voxel coordinates in (z, y, x) order (mmdet3d / OpenPCDet).
        point_to_voxel: (N,) int32 voxel of each input point, -1 if dropped (outside the grid, non-finite,
            beyond ``max_points_per_voxel`` or in a voxel beyond ``max_voxels``).
        grid_size: (nx, ny, nz) number of cells of the grid.
        total_voxels: number of non-empty voxels before the ``max_voxels`` cap (>= V).
        device: "cpu" (NumPy arrays) or "cuda" (numba device arrays).
    """

    features: Any
    num_points: Any
    coords: Any
    point_to_voxel: Any
    grid_size: tuple[int, int, int]
    total_voxels: int
    device: str


def voxel_grid(voxel_size: Sequence[float] | np.ndarray, point_range: Sequence[float] | np.ndarray) -> np.ndarray:
    """(9,) float64 ``[xmin, ymin, zmin, vx, vy, vz, nx, ny, nz]`` after checking the arguments."""
    try:
        size = np.asarray(voxel_size, dtype=np.float64)
        bounds = np.asarray(point_range, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KernelError(f"expected real numbers: {exc}", field="voxel_size/range") from exc
    if size.shape != (3,) or not np.isfinite(size).all() or not (size > 0).all():
        raise KernelError(f"expected 3 positive finite sizes (vx, vy, vz), got {voxel_size!r}", field="voxel_size")
    if bounds.shape != (6,) or not np.isfinite(bounds).all() or not (bounds[3:] > bounds[:3]).all():
        raise KernelError(
            f"expected [xmin, ymin, zmin, xmax, ymax, zmax] with max > min, got {point_range!r}", field="range"
        )
    cells = np.round((bounds[3:] - bounds[:3]) / size)
    if not (cells >= 1).all():
        raise KernelError(f"voxel_size {size.tolist()} larger than the range {bounds.tolist()}", field="voxel_size")
    if float(np.prod(cells)) >= MAX_CELLS:
        raise KernelError(f"grid of {cells.astype(np.int64).tolist()} cells is too large", field="voxel_size")
    return np.concatenate([bounds[:3], size, cells]).astype(np.float64)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        raise KernelError(f"expected a positive int, got {value!r}", field=name)
    return int(value)


def voxelize(
    points: Any,
    *,
    voxel_size: Sequence[float] | np.ndarray,
    range: Sequence[float] | np.ndarray,
    max_points_per_voxel: int,
    max_voxels: int,
    device: str | None = None,
) -> Voxels:
    """Group points into voxels (module docstring for the grid and for which points are kept).

    Args:
        points: (N, 3 + F) points (x, y, z, then F features), float32 or float64 (float16 cast to float32);
            NumPy or CUDA array; N < 2**31.
        voxel_size: (vx, vy, vz) metres.
        range: [xmin, ymin, zmin, xmax, ymax, zmax] metres.
        max_points_per_voxel: P, the cap on kept points per voxel.
        max_voxels: the cap on kept voxels.
        device: None (follow the data), "cpu" or "cuda".

    Returns:
        :class:`Voxels`.

    Raises:
        KernelError: bad shapes, dtypes, sizes, range or caps.
    """
    grid = voxel_grid(voxel_size, range)
    max_points = _positive_int(max_points_per_voxel, "max_points_per_voxel")
    max_vox = _positive_int(max_voxels, "max_voxels")
    target = resolve_device(device, points)
    pts = prepare_array(points, name="points", device=target, layout=POINTS_LAYOUT, columns=(3, None))
    n = int(pts.shape[0])
    if n > MAX_POINTS:
        raise KernelError(f"at most {MAX_POINTS} points (int32 indices), got {n}", field="points")
    grid_size = (int(grid[6]), int(grid[7]), int(grid[8]))
    if target == "cuda":
        from fusion_stack.kernels import cuda_kernels

        features, num_points, coords, point_to_voxel, total = cuda_kernels.voxelize(pts, grid, max_points, max_vox)
    else:
        threads = numba.get_num_threads()
        nchunks = max(1, min(4 * threads, n // 4096))
        log2_buckets = max(2, int(np.ceil(np.log2(4 * threads))))
        features, num_points, coords, point_to_voxel, total = voxelize_cpu(
            pts, grid, max_points, max_vox, nchunks, log2_buckets
        )
    return Voxels(
        features=features,
        num_points=num_points,
        coords=coords,
        point_to_voxel=point_to_voxel,
        grid_size=grid_size,
        total_voxels=int(total),
        device=target,
    )
