"""Numba CUDA kernels (imported on first CUDA use; also runs under numba's CUDA simulator).

The per-element math is the plain-Python code of :mod:`fusion_stack.kernels.cpu_kernels`, compiled here as
device functions, so CPU and CUDA evaluate the same float64 expressions in the same order (on a real GPU the
compiler may contract ``a * b + c`` into fused multiply-adds, which changes results by float rounding; under
the simulator they are bit-identical).

All kernels use grid-stride loops; :func:`launch` picks the grid.  Functions here take and return device
arrays and trust their arguments (the public functions check them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import config
from numba import cuda as _cuda

from fusion_stack.kernels import cpu_kernels as cpu

__all__ = ["depth_image", "gather", "project", "voxelize"]

#: numba.cuda, untyped for mypy (its stubs do not describe the device-side intrinsics).
cuda: Any = _cuda
#: True under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1).
SIMULATOR = bool(getattr(config, "ENABLE_CUDASIM", 0))

#: Threads per block, and the cap on blocks (the simulator runs every thread as a Python thread: keep few).
THREADS = 32 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 65535
#: Elements per tile of the two-level prefix sum.
SCAN_TILE = 64 if SIMULATOR else 512
INT32_MAX = 2**31 - 1
CAM_MODEL = cpu.CAM_MODEL
CAM_WIDTH = cpu.CAM_WIDTH
CAM_HEIGHT = cpu.CAM_HEIGHT

_camera_tuple = cuda.jit(device=True)(cpu.camera_tuple)
_project_point = cuda.jit(device=True)(cpu.project_point)
_pixel_of = cuda.jit(device=True)(cpu.pixel_of)
_gather_nearest_point = cuda.jit(device=True)(cpu.gather_nearest_point)
_gather_bilinear_point = cuda.jit(device=True)(cpu.gather_bilinear_point)
_voxel_key = cuda.jit(device=True)(cpu.voxel_key)
_voxel_hash = cuda.jit(device=True)(cpu.voxel_hash)


def launch(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over ``n`` elements."""
    return max(1, min(MAX_BLOCKS, (n + THREADS - 1) // THREADS)), THREADS


# ----------------------------------------------------------------------------------------------------
# Small building blocks
# ----------------------------------------------------------------------------------------------------


@cuda.jit
def _fill(values: Any, value: Any) -> None:
    for i in range(cuda.grid(1), values.shape[0], cuda.gridsize(1)):
        values[i] = value


@cuda.jit
def _tile_sums(values: Any, tile: Any, sums: Any) -> None:
    for t in range(cuda.grid(1), sums.shape[0], cuda.gridsize(1)):
        acc = 0
        for j in range(t * tile, min(values.shape[0], (t + 1) * tile)):
            acc += values[j]
        sums[t] = acc


@cuda.jit
def _tile_scan(values: Any, tile: Any, offsets: Any, out: Any) -> None:
    for t in range(cuda.grid(1), offsets.shape[0], cuda.gridsize(1)):
        acc = offsets[t]
        for j in range(t * tile, min(values.shape[0], (t + 1) * tile)):
            out[j] = acc
            acc += values[j]


def fill(values: Any, value: Any) -> None:
    """Set every element of the device array ``values`` (any shape, C-contiguous) to ``value``."""
    flat = values.reshape(values.size)
    if flat.shape[0]:
        blocks, threads = launch(flat.shape[0])
        _fill[blocks, threads](flat, value)


def exclusive_scan(values: Any) -> tuple[Any, int]:
    """Exclusive prefix sum (int64 device array) of the 1-D device array ``values``, and the total."""
    n = int(values.shape[0])
    out = cuda.device_array(n, dtype=np.int64)
    if n == 0:
        return out, 0
    ntiles = (n + SCAN_TILE - 1) // SCAN_TILE
    sums = cuda.device_array(ntiles, dtype=np.int64)
    blocks, threads = launch(ntiles)
    _tile_sums[blocks, threads](values, SCAN_TILE, sums)
    host = sums.copy_to_host()
    offsets = np.zeros(ntiles, dtype=np.int64)
    np.cumsum(host[:-1], out=offsets[1:])
    _tile_scan[blocks, threads](values, SCAN_TILE, cuda.to_device(offsets), out)
    return out, int(host.sum())


# ----------------------------------------------------------------------------------------------------
# Projection
# ----------------------------------------------------------------------------------------------------


@cuda.jit
def _project_kernel(points: Any, cams: Any, near: Any, uv: Any, depth: Any, valid: Any) -> None:
    for i in range(cuda.grid(1), points.shape[0], cuda.gridsize(1)):
        px = np.float64(points[i, 0])
        py = np.float64(points[i, 1])
        pz = np.float64(points[i, 2])
        for c in range(cams.shape[0]):
            cam = _camera_tuple(cams, c)
            u, v, z, ok = _project_point(cam[CAM_MODEL], cam, px, py, pz, near)
            uv[c, i, 0] = u
            uv[c, i, 1] = v
            depth[c, i] = z
            valid[c, i] = ok


def project(points: Any, cams: np.ndarray, near: float, out: tuple[Any, Any, Any] | None = None) -> tuple[
        Any, Any, Any]:
    """Device ``(uv (C, N, 2) float32, depth (C, N) float32, valid (C, N) bool)`` of device ``points``
    (written into ``out`` when given)."""
    n, ncam = int(points.shape[0]), int(cams.shape[0])
    if out is None:
        uv = cuda.device_array((ncam, n, 2), dtype=np.float32)
        depth = cuda.device_array((ncam, n), dtype=np.float32)
        valid = cuda.device_array((ncam, n), dtype=np.bool_)
    else:
        uv, depth, valid = out
    if n:
        blocks, threads = launch(n)
        _project_kernel[blocks, threads](points, cuda.to_device(cams), near, uv, depth, valid)
    return uv, depth, valid


# ----------------------------------------------------------------------------------------------------
# Depth images: pass 1 atomicMin of the float32 depth per pixel, pass 2 atomicMin of the point index among
# the points at that depth (deterministic: both minima are order-independent).
# ----------------------------------------------------------------------------------------------------


@cuda.jit
def _depth_min_kernel(
    points: Any,
    cams: Any,
    near: Any,
    offsets: Any,
    depth_buf: Any,
    index_buf: Any,
    second_pass: Any,
) -> None:
    for i in range(cuda.grid(1), points.shape[0], cuda.gridsize(1)):
        px = np.float64(points[i, 0])
        py = np.float64(points[i, 1])
        pz = np.float64(points[i, 2])
        for c in range(cams.shape[0]):
            cam = _camera_tuple(cams, c)
            u, v, z, ok = _project_point(cam[CAM_MODEL], cam, px, py, pz, near)
            if ok:
                width = int(cam[CAM_WIDTH])
                col, row, inside = _pixel_of(u, v, width, int(cam[CAM_HEIGHT]))
                if inside:
                    p = offsets[c] + row * width + col
                    d = np.float32(z)
                    if second_pass:
                        if d == depth_buf[p]:
                            cuda.atomic.min(index_buf, p, np.int32(i))
                    else:
                        cuda.atomic.min(depth_buf, p, d)


@cuda.jit
def _depth_finalize(depth_buf: Any, index_buf: Any) -> None:
    for p in range(cuda.grid(1), depth_buf.shape[0], cuda.gridsize(1)):
        if index_buf[p] == INT32_MAX:
            index_buf[p] = -1
            depth_buf[p] = 0.0


def depth_image(points: Any, cams: np.ndarray, near: float, offsets: np.ndarray) -> tuple[Any, Any]:
    """Flat device ``(depth (P,) float32, index (P,) int32)`` over all cameras' pixels (see depth.py)."""
    total = int(offsets[-1])
    depth_buf = cuda.device_array(total, dtype=np.float32)
    index_buf = cuda.device_array(total, dtype=np.int32)
    fill(depth_buf, np.float32(np.inf))
    fill(index_buf, np.int32(INT32_MAX))
    n = int(points.shape[0])
    if n:
        d_cams, d_offsets = cuda.to_device(cams), cuda.to_device(offsets)
        blocks, threads = launch(n)
        _depth_min_kernel[blocks, threads](points, d_cams, near, d_offsets, depth_buf, index_buf, False)
        _depth_min_kernel[blocks, threads](points, d_cams, near, d_offsets, depth_buf, index_buf, True)
    blocks, threads = launch(total)
    _depth_finalize[blocks, threads](depth_buf, index_buf)
    return depth_buf, index_buf


# ----------------------------------------------------------------------------------------------------
# Gather
# ----------------------------------------------------------------------------------------------------


@cuda.jit
def _gather_nearest_kernel(image: Any, uv: Any, fill_values: Any, out: Any) -> None:
    for i in range(cuda.grid(1), uv.shape[0], cuda.gridsize(1)):
        _gather_nearest_point(image, np.float64(uv[i, 0]), np.float64(uv[i, 1]), fill_values, out, i)


@cuda.jit
def _gather_bilinear_kernel(image: Any, uv: Any, fill_values: Any, out: Any) -> None:
    for i in range(cuda.grid(1), uv.shape[0], cuda.gridsize(1)):
        _gather_bilinear_point(image, np.float64(uv[i, 0]), np.float64(uv[i, 1]), fill_values, out, i)


def gather(image: Any, uv: Any, mode: str, fill_values: np.ndarray, out_dtype: np.dtype[Any]) -> Any:
    """Device (N, K) samples of the device ``image`` (H, W, K) at the device ``uv`` (N, 2)."""
    n, channels = int(uv.shape[0]), int(image.shape[2])
    out = cuda.device_array((n, channels), dtype=out_dtype)
    if n:
        kernel = _gather_nearest_kernel if mode == "nearest" else _gather_bilinear_kernel
        blocks, threads = launch(n)
        kernel[blocks, threads](image, uv, cuda.to_device(fill_values), out)
    return out


# ----------------------------------------------------------------------------------------------------
# Voxelize: (1) hash insert with atomicCAS, first point per voxel by atomicMin, count by atomicAdd;
# (2) prefix sum over "first point of its voxel" flags numbers the voxels by first appearance; (3) the points
# of each kept voxel are scattered into its segment (in any order); (4) one thread per voxel picks the
# ``max_points`` smallest point indices of its segment in increasing order (O(P * k) per voxel).
# ----------------------------------------------------------------------------------------------------


@cuda.jit
def _voxel_insert(
    points: Any,
    grid: Any,
    table_key: Any,
    table_first: Any,
    table_count: Any,
    ids: Any,
    slot_of: Any,
) -> None:
    mask = table_key.shape[0] - 1
    for i in range(cuda.grid(1), points.shape[0], cuda.gridsize(1)):
        key = _voxel_key(points, i, grid)
        ids[i] = key
        slot_of[i] = -1
        if key >= 0:
            s = _voxel_hash(key) & mask
            while True:
                old = cuda.atomic.cas(table_key, s, np.int64(-1), np.int64(key))
                if old == -1 or old == key:
                    break
                s = (s + 1) & mask
            slot_of[i] = s
            cuda.atomic.min(table_first, s, np.int32(i))
            cuda.atomic.add(table_count, s, np.int32(1))


@cuda.jit
def _voxel_first_flags(slot_of: Any, table_first: Any, flags: Any) -> None:
    for i in range(cuda.grid(1), slot_of.shape[0], cuda.gridsize(1)):
        s = slot_of[i]
        flags[i] = 1 if (s >= 0 and table_first[s] == i) else 0


@cuda.jit
def _voxel_number(
    slot_of: Any,
    flags: Any,
    voxel_index: Any,
    table_count: Any,
    table_voxel: Any,
    voxel_count: Any,
    voxel_first: Any,
) -> None:
    for i in range(cuda.grid(1), slot_of.shape[0], cuda.gridsize(1)):
        if flags[i]:
            s = slot_of[i]
            v = voxel_index[i]
            table_voxel[s] = v
            voxel_count[v] = table_count[s]
            voxel_first[v] = i


@cuda.jit
def _voxel_scatter(slot_of: Any, table_voxel: Any, seg_start: Any, cursor: Any, seg: Any, nvox: Any) -> None:
    for i in range(cuda.grid(1), slot_of.shape[0], cuda.gridsize(1)):
        s = slot_of[i]
        if s >= 0:
            v = table_voxel[s]
            if v < nvox:
                pos = seg_start[v] + cuda.atomic.add(cursor, v, np.int32(1))
                seg[pos] = i


@cuda.jit
def _voxel_select(
    points: Any, ids: Any, grid: Any, voxel_count: Any, voxel_first: Any, seg_start: Any, seg: Any, max_points: Any,
    features: Any, num_points: Any, coords: Any, point_to_voxel: Any,
) -> None:
    nx = int(grid[6])
    nxy = nx * int(grid[7])
    for v in range(cuda.grid(1), num_points.shape[0], cuda.gridsize(1)):
        k = voxel_count[v]
        base = seg_start[v]
        keep = min(k, max_points)
        prev = -1
        for r in range(keep):
            best = INT32_MAX
            for t in range(base, base + k):
                idx = seg[t]
                if idx > prev and idx < best:
                    best = idx
            prev = best
            for d in range(points.shape[1]):
                features[v, r, d] = points[best, d]
            point_to_voxel[best] = v
        num_points[v] = keep
        key = ids[voxel_first[v]]
        coords[v, 0] = key // nxy
        coords[v, 1] = (key % nxy) // nx
        coords[v, 2] = key % nx


def voxelize(points: Any, grid: np.ndarray, max_points: int, max_voxels: int) -> tuple[Any, Any, Any, Any, int]:
    """Device ``(features, num_points, coords, point_to_voxel)`` and the total voxel count (see voxelize.py)."""
    n, ndim = int(points.shape[0]), int(points.shape[1])
    point_to_voxel = cuda.device_array(n, dtype=np.int32)
    fill(point_to_voxel, np.int32(-1))
    capacity = 2
    while capacity < 2 * n:
        capacity *= 2
    table_key = cuda.device_array(capacity, dtype=np.int64)
    table_first = cuda.device_array(capacity, dtype=np.int32)
    table_count = cuda.device_array(capacity, dtype=np.int32)
    fill(table_key, np.int64(-1))
    fill(table_first, np.int32(INT32_MAX))
    fill(table_count, np.int32(0))
    ids = cuda.device_array(n, dtype=np.int64)
    slot_of = cuda.device_array(n, dtype=np.int64)
    flags = cuda.device_array(n, dtype=np.int32)
    d_grid = cuda.to_device(grid)
    blocks, threads = launch(n)
    if n:
        _voxel_insert[blocks, threads](points, d_grid, table_key, table_first, table_count, ids, slot_of)
        _voxel_first_flags[blocks, threads](slot_of, table_first, flags)
    voxel_index, total = exclusive_scan(flags)
    nvox = min(total, max_voxels)
    features = cuda.device_array((nvox, max_points, ndim), dtype=np.float32)
    fill(features, np.float32(0.0))
    num_points = cuda.device_array(nvox, dtype=np.int32)
    coords = cuda.device_array((nvox, 3), dtype=np.int32)
    if total == 0:
        return features, num_points, coords, point_to_voxel, 0
    table_voxel = cuda.device_array(capacity, dtype=np.int64)
    voxel_count = cuda.device_array(total, dtype=np.int32)
    voxel_first = cuda.device_array(total, dtype=np.int64)
    _voxel_number[blocks, threads](slot_of, flags, voxel_index, table_count, table_voxel, voxel_count, voxel_first)
    seg_start, kept_points = exclusive_scan(voxel_count[:nvox])
    cursor = cuda.device_array(nvox, dtype=np.int32)
    fill(cursor, np.int32(0))
    seg = cuda.device_array(max(1, kept_points), dtype=np.int64)
    _voxel_scatter[blocks, threads](slot_of, table_voxel, seg_start, cursor, seg, nvox)
    vblocks, vthreads = launch(nvox)
    _voxel_select[vblocks, vthreads](points, ids, d_grid, voxel_count, voxel_first, seg_start, seg, max_points,
                                     features, num_points, coords, point_to_voxel)
    return features, num_points, coords, point_to_voxel, total
