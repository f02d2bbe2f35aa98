"""Numba CPU kernels, and the per-element math they share with the CUDA kernels.

The per-element functions (``camera_tuple``, ``project_point``, ``pixel_of``, ``gather_nearest_point``,
``gather_bilinear_point``, ``voxel_key``, ``voxel_hash``) are plain Python: this module compiles them with
``numba.njit`` and
:mod:`fusion_stack.kernels.cuda_kernels` with ``numba.cuda.jit(device=True)``, so both targets run the same
operations in the same order.  They live in this file (not in a module of their own) so that numba's
on-disk cache, which only watches the file that defines a cached function, is invalidated when they change.

Every kernel here is ``@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")`` with
``prange`` over points or chunks of points (over pixel bands and hash buckets in the reduction stages; no
atomics, and results that do not depend on the number of threads).  ``error_model="numpy"`` makes a division
by zero give inf/NaN (as in NumPy) instead of raising inside the kernel; ``fastmath=False`` keeps IEEE
semantics (no reassociation, no fused multiply-add), so the NumPy references can reproduce the results bit
for bit.  Inputs are validated by the public functions
(:mod:`fusion_stack.kernels.projection` and siblings); the kernels trust their arguments.

Camera rows
-----------
Cameras reach the kernels as one float64 array of shape (C, ``CAM_ROW_SIZE``), one row per camera (built by
:func:`fusion_stack.kernels.params.pack_cameras`)::

    [0]      model code: MODEL_PINHOLE, MODEL_RADTAN (k4 = k5 = k6 = 0: no rational denominator),
             MODEL_RATIONAL (radtan with a denominator) or MODEL_FISHEYE
    [1, 2]   width, height (pixels)
    [3:8]    fx, fy, cx, cy, skew (pixels)
    [8:16]   distortion: radtan k1, k2, p1, p2, k3, k4, k5, k6; fisheye k1, k2, k3, k4, 0, 0, 0, 0
    [16]     fold-back limit: radtan max_radius ** 2 (squared normalised radius), fisheye max_theta (rad);
             inf when there is none
    [17:26]  src2cam rotation, row-major
    [26:29]  src2cam translation (metres)
    [29:32]  unused (0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

FloatArray = npt.NDArray[np.float64]
AnyArray = Any  # numpy arrays (CPU), device arrays (CUDA)

CAM_ROW_SIZE = 32
CAM_MODEL = 0
CAM_WIDTH = 1
CAM_HEIGHT = 2
CAM_FX = 3
CAM_FY = 4
CAM_CX = 5
CAM_CY = 6
CAM_SKEW = 7
CAM_DIST = 8
CAM_LIMIT = 16
CAM_ROT = 17
CAM_TRANS = 26

MODEL_PINHOLE = 0.0
MODEL_RADTAN = 1.0
MODEL_FISHEYE = 2.0
MODEL_RATIONAL = 3.0

#: Below this undistorted radius the fisheye mapping is the identity (as in cv2.fisheye).
FISHEYE_SMALL_RADIUS = 1e-8

#: Points per chunk of the projection kernel (the chunk is re-read once per camera from L1/L2).
PROJECT_CHUNK = 2048


# ----------------------------------------------------------------------------------------------------
# Per-element math shared with the CUDA kernels (plain Python; compiled below and in cuda_kernels).
# ----------------------------------------------------------------------------------------------------


def camera_tuple(cams: FloatArray, c: int) -> tuple[float, ...]:
    """Row ``c`` of ``cams`` as a tuple of CAM_ROW_SIZE floats (register values in the loops, no reloads)."""
    return (
        cams[c, 0], cams[c, 1], cams[c, 2], cams[c, 3], cams[c, 4], cams[c, 5], cams[c, 6], cams[c, 7],
        cams[c, 8], cams[c, 9], cams[c, 10], cams[c, 11], cams[c, 12], cams[c, 13], cams[c, 14], cams[c, 15],
        cams[c, 16], cams[c, 17], cams[c, 18], cams[c, 19], cams[c, 20], cams[c, 21], cams[c, 22], cams[c, 23],
        cams[c, 24], cams[c, 25], cams[c, 26], cams[c, 27], cams[c, 28], cams[c, 29], cams[c, 30], cams[c, 31],
    )  # fmt: skip


def project_point(
    model: float, cam: tuple[float, ...], px: float, py: float, pz: float, near: float
) -> tuple[float, float, float, bool]:
    """Project one point into one camera.

    Args:
        model: the camera's model code (``cam[CAM_MODEL]``; passed separately so that a constant specialises
            the code when inlined).
        cam: the camera row as a tuple (:func:`camera_tuple`; layout in the module docstring).
        px, py, pz: the point in the source frame (float64, metres).
        near: near-plane distance (metres).

    Returns:
        ``(u, v, z, valid)``: pixel coordinates and depth (float64; ``z`` in the camera optical frame) and
        validity (``z > near``, ``0 <= u < width``, ``0 <= v < height``, inside the fold-back limit).  ``u``
        and ``v`` are computed for every point (mirrored for ``z < 0``, non-finite for ``z == 0``).
    """
    x = cam[CAM_ROT] * px + cam[CAM_ROT + 1] * py + cam[CAM_ROT + 2] * pz + cam[CAM_TRANS]
    y = cam[CAM_ROT + 3] * px + cam[CAM_ROT + 4] * py + cam[CAM_ROT + 5] * pz + cam[CAM_TRANS + 1]
    z = cam[CAM_ROT + 6] * px + cam[CAM_ROT + 7] * py + cam[CAM_ROT + 8] * pz + cam[CAM_TRANS + 2]
    inv_z = 1.0 / z
    a = x * inv_z
    b = y * inv_z
    xd = a
    yd = b
    inside = True
    if (model == MODEL_RADTAN) | (model == MODEL_RATIONAL):
        k1 = cam[CAM_DIST]
        k2 = cam[CAM_DIST + 1]
        p1 = cam[CAM_DIST + 2]
        p2 = cam[CAM_DIST + 3]
        k3 = cam[CAM_DIST + 4]
        s = a * a + b * b
        d = 1.0 + s * (k1 + s * (k2 + s * k3))
        if model == MODEL_RATIONAL:  # the denominator (1 for MODEL_RADTAN: one division saved)
            k4 = cam[CAM_DIST + 5]
            k5 = cam[CAM_DIST + 6]
            k6 = cam[CAM_DIST + 7]
            d = d / (1.0 + s * (k4 + s * (k5 + s * k6)))
        xd = a * d + 2.0 * p1 * a * b + p2 * (s + 2.0 * a * a)
        yd = b * d + p1 * (s + 2.0 * b * b) + 2.0 * p2 * a * b
        inside = s < cam[CAM_LIMIT]
    elif model == MODEL_FISHEYE:
        k1 = cam[CAM_DIST]
        k2 = cam[CAM_DIST + 1]
        k3 = cam[CAM_DIST + 2]
        k4 = cam[CAM_DIST + 3]
        r = math.sqrt(a * a + b * b)
        theta = math.atan(r)
        t2 = theta * theta
        theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = 1.0
        if r > FISHEYE_SMALL_RADIUS:
            scale = theta_d / r
        xd = a * scale
        yd = b * scale
        inside = theta < cam[CAM_LIMIT]
    u = cam[CAM_FX] * xd + cam[CAM_SKEW] * yd + cam[CAM_CX]
    v = cam[CAM_FY] * yd + cam[CAM_CY]
    valid = (z > near) & (u >= 0.0) & (u < cam[CAM_WIDTH]) & (v >= 0.0) & (v < cam[CAM_HEIGHT]) & inside
    return u, v, z, valid


def pixel_of(u: float, v: float, width: int, height: int) -> tuple[int, int, bool]:
    """The pixel ``(col, row)`` a projection lands in: ``col = floor(float32(u) + 0.5)`` (likewise ``row``).

    ``u``, ``v`` are projections of a VALID point (``0 <= u < width``, ``0 <= v < height``), float32 or
    float64 (rounded to float32 first, so that the pixel is the one the float32 ``uv`` of ``project_points``
    rounds to).
    Returns ``(col, row, inside)``; ``inside`` is False for ``u`` in ``[width - 0.5, width)`` (or ``v``
    likewise), whose rounded pixel lies beyond the last column (row).
    """
    col = int(math.floor(np.float64(np.float32(u)) + 0.5))  # noqa: RUF046 (float-valued on CUDA)
    row = int(math.floor(np.float64(np.float32(v)) + 0.5))  # noqa: RUF046 (float-valued on CUDA)
    return col, row, (col < width) & (row < height)


def gather_nearest_point(image: AnyArray, u: float, v: float, fill: AnyArray, out: AnyArray, i: int) -> None:
    """``out[i, :] = image[round(v), round(u), :]`` (round = floor(x + 0.5)), or ``fill`` outside the image."""
    height = image.shape[0]
    width = image.shape[1]
    channels = image.shape[2]
    if (u > -1.0) & (u < width + 1.0) & (v > -1.0) & (v < height + 1.0):  # also rejects NaN
        col = int(math.floor(u + 0.5))  # noqa: RUF046 (float-valued on CUDA)
        row = int(math.floor(v + 0.5))  # noqa: RUF046 (float-valued on CUDA)
        if (col >= 0) & (col < width) & (row >= 0) & (row < height):
            for k in range(channels):
                out[i, k] = image[row, col, k]
            return
    for k in range(channels):
        out[i, k] = fill[k]


def gather_bilinear_point(image: AnyArray, u: float, v: float, fill: FloatArray, out: AnyArray, i: int) -> None:
    """Bilinear interpolation at ``(u, v)`` of the image extended by ``fill`` outside (cv2.BORDER_CONSTANT).

    Neighbours ``(floor(u) + {0, 1}, floor(v) + {0, 1})``; weights ``1 - a``, ``a`` with ``a = u - floor(u)``
    (likewise ``v``); computed in float64.  All four neighbours outside (or a non-finite coordinate): ``fill``.
    """
    height = image.shape[0]
    width = image.shape[1]
    channels = image.shape[2]
    if (u > -2.0) & (u < width + 1.0) & (v > -2.0) & (v < height + 1.0):  # also rejects NaN
        fx0 = math.floor(u)
        fy0 = math.floor(v)
        x0 = int(fx0)
        y0 = int(fy0)
        ax = u - fx0
        ay = v - fy0
        in_x0 = (x0 >= 0) & (x0 < width)
        in_x1 = (x0 + 1 >= 0) & (x0 + 1 < width)
        in_y0 = (y0 >= 0) & (y0 < height)
        in_y1 = (y0 + 1 >= 0) & (y0 + 1 < height)
        if (in_x0 | in_x1) & (in_y0 | in_y1):
            for k in range(channels):
                p00 = fill[k]
                p01 = fill[k]
                p10 = fill[k]
                p11 = fill[k]
                if in_y0 & in_x0:
                    p00 = np.float64(image[y0, x0, k])
                if in_y0 & in_x1:
                    p01 = np.float64(image[y0, x0 + 1, k])
                if in_y1 & in_x0:
                    p10 = np.float64(image[y0 + 1, x0, k])
                if in_y1 & in_x1:
                    p11 = np.float64(image[y0 + 1, x0 + 1, k])
                top = p00 * (1.0 - ax) + p01 * ax
                bottom = p10 * (1.0 - ax) + p11 * ax
                out[i, k] = top * (1.0 - ay) + bottom * ay
            return
    for k in range(channels):
        out[i, k] = fill[k]


def voxel_key(points: AnyArray, i: int, grid: FloatArray) -> int:
    """Linear voxel id ``(iz * ny + iy) * nx + ix`` of point ``i``, or -1 outside the grid (or non-finite).

    ``grid`` is float64 ``[xmin, ymin, zmin, vx, vy, vz, nx, ny, nz]``; ``ix = floor((x - xmin) / vx)`` in
    float64, inside when ``0 <= (x - xmin) / vx < nx`` (likewise y, z).
    """
    fx = (np.float64(points[i, 0]) - grid[0]) / grid[3]
    fy = (np.float64(points[i, 1]) - grid[1]) / grid[4]
    fz = (np.float64(points[i, 2]) - grid[2]) / grid[5]
    if (fx >= 0.0) & (fx < grid[6]) & (fy >= 0.0) & (fy < grid[7]) & (fz >= 0.0) & (fz < grid[8]):
        ix = int(math.floor(fx))  # noqa: RUF046 (float-valued on CUDA)
        iy = int(math.floor(fy))  # noqa: RUF046 (float-valued on CUDA)
        iz = int(math.floor(fz))  # noqa: RUF046 (float-valued on CUDA)
        return (iz * int(grid[7]) + iy) * int(grid[6]) + ix
    return -1


def voxel_hash(key: int) -> int:
    """Cheap mixing of a non-negative voxel id (no overflow: shifts and xors only)."""
    return key ^ (key >> 16) ^ (key >> 32)


# Inlined into the kernels: a call to a separate jitted function that takes arrays costs atomic reference
# count updates per call, tens of nanoseconds per element.
_camera_tuple = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(camera_tuple)
_project_point = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(project_point)
_pixel_of = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(pixel_of)
_gather_nearest_point = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(gather_nearest_point)
_gather_bilinear_point = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(
    gather_bilinear_point
)
_voxel_key = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(voxel_key)
_voxel_hash = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(voxel_hash)


# ----------------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------------


def project_span(
    p: AnyArray, stride: int, cam: tuple[float, ...], near: float, uv: AnyArray, depth: AnyArray, valid: AnyArray
) -> None:
    """Project ``depth.shape[0]`` points of the flat ``p`` (``stride`` values per point) into ``cam``.

    ``uv`` (2 m,), ``depth`` (m,), ``valid`` (m,) are flat slices of the outputs.  One loop per model with the
    model as a constant, indices from 0: LLVM vectorizes the pinhole and radtan loops (the fisheye loop calls
    ``atan`` and stays scalar).
    """
    m = depth.shape[0]
    model = cam[CAM_MODEL]
    if model == MODEL_PINHOLE:
        for j in range(m):
            u, v, z, ok = _project_point(
                MODEL_PINHOLE, cam, np.float64(p[stride * j]), np.float64(p[stride * j + 1]),
                np.float64(p[stride * j + 2]), near,
            )
            uv[2 * j] = u
            uv[2 * j + 1] = v
            depth[j] = z
            valid[j] = ok
    elif model == MODEL_RADTAN:
        for j in range(m):
            u, v, z, ok = _project_point(
                MODEL_RADTAN, cam, np.float64(p[stride * j]), np.float64(p[stride * j + 1]),
                np.float64(p[stride * j + 2]), near,
            )
            uv[2 * j] = u
            uv[2 * j + 1] = v
            depth[j] = z
            valid[j] = ok
    elif model == MODEL_RATIONAL:
        for j in range(m):
            u, v, z, ok = _project_point(
                MODEL_RATIONAL, cam, np.float64(p[stride * j]), np.float64(p[stride * j + 1]),
                np.float64(p[stride * j + 2]), near,
            )
            uv[2 * j] = u
            uv[2 * j + 1] = v
            depth[j] = z
            valid[j] = ok
    else:
        for j in range(m):
            u, v, z, ok = _project_point(
                MODEL_FISHEYE, cam, np.float64(p[stride * j]), np.float64(p[stride * j + 1]),
                np.float64(p[stride * j + 2]), near,
            )
            uv[2 * j] = u
            uv[2 * j + 1] = v
            depth[j] = z
            valid[j] = ok


_project_span = njit(fastmath=False, cache=True, error_model="numpy", inline="always")(project_span)


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def project_kernel(
    points: AnyArray, cams: FloatArray, near: float, uv: AnyArray, depth: AnyArray, valid: AnyArray
) -> None:
    """Fill ``uv`` (C, N, 2) float32, ``depth`` (C, N) float32, ``valid`` (C, N) bool in one pass.

    ``points`` (N, D >= 3) float32/float64, C-contiguous; all arrays C-contiguous.  Chunks of
    ``PROJECT_CHUNK`` points are projected into every camera while they are in cache, read with the constant
    stride 3 that lets LLVM vectorize (for D != 3 through a small per-chunk copy of x, y, z).
    """
    n = points.shape[0]
    ncam = cams.shape[0]
    stride = points.shape[1]
    flat_points = points.reshape(-1)
    flat_uv = uv.reshape(-1)
    flat_depth = depth.reshape(-1)
    flat_valid = valid.reshape(-1)
    nchunks = (n + PROJECT_CHUNK - 1) // PROJECT_CHUNK
    for ch in prange(nchunks):
        start = ch * PROJECT_CHUNK
        stop = min(n, start + PROJECT_CHUNK)
        xyz = flat_points[3 * start : 3 * stop]
        if stride != 3:  # gather x, y, z into a (m, 3) buffer (in L1) so that one loop body serves all strides
            chunk = flat_points[stride * start : stride * stop]
            xyz = np.empty(3 * (stop - start), dtype=flat_points.dtype)
            for j in range(stop - start):
                xyz[3 * j] = chunk[stride * j]
                xyz[3 * j + 1] = chunk[stride * j + 1]
                xyz[3 * j + 2] = chunk[stride * j + 2]
        for c in range(ncam):
            lo = c * n + start
            hi = c * n + stop
            _project_span(xyz, 3, _camera_tuple(cams, c), near, flat_uv[2 * lo : 2 * hi], flat_depth[lo:hi],
                          flat_valid[lo:hi])


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def depth_image_kernel(
    points: AnyArray,
    cams: FloatArray,
    near: float,
    pixel_offsets: AnyArray,
    nchunks: int,
    nbands: int,
    depth_out: AnyArray,
    index_out: AnyArray,
) -> None:
    """Z-buffer every camera into the flat ``depth_out`` (P,) float32 and ``index_out`` (P,) int32.

    Camera ``c`` owns pixels ``pixel_offsets[c] : pixel_offsets[c + 1]`` (row-major).  Atomic-free and
    parallel: (1) chunks of points are projected (with the vectorized loops of :func:`project_kernel`) and
    their (pixel, depth, index) entries counted per pixel band; (2) the entries are scattered band by band (a
    counting sort); (3) each band of pixels is reduced by one thread: the smallest float32 depth wins, ties go
    to the smallest point index.  Empty pixels: depth 0, index -1.
    """
    n = points.shape[0]
    ncam = cams.shape[0]
    total = pixel_offsets[ncam]
    chunk = (n + nchunks - 1) // nchunks
    capacity = chunk * ncam
    ent_pixel = np.empty(nchunks * capacity, np.int64)
    ent_depth = np.empty(nchunks * capacity, np.float32)
    ent_index = np.empty(nchunks * capacity, np.int32)
    counts = np.zeros((nchunks, nbands), np.int64)
    stride = points.shape[1]
    flat_points = points.reshape(-1)
    for ch in prange(nchunks):
        base = ch * capacity
        k = 0
        block_uv = np.empty(2 * PROJECT_CHUNK, np.float32)
        block_depth = np.empty(PROJECT_CHUNK, np.float32)
        block_valid = np.empty(PROJECT_CHUNK, np.bool_)
        xyz_buffer = np.empty(3 * PROJECT_CHUNK, dtype=flat_points.dtype)
        for block in range(ch * chunk, min(n, (ch + 1) * chunk), PROJECT_CHUNK):
            m = min(PROJECT_CHUNK, min(n, (ch + 1) * chunk) - block)
            xyz = flat_points[3 * block : 3 * (block + m)]
            if stride != 3:
                xyz = xyz_buffer[: 3 * m]
                for j in range(m):
                    xyz[3 * j] = flat_points[stride * (block + j)]
                    xyz[3 * j + 1] = flat_points[stride * (block + j) + 1]
                    xyz[3 * j + 2] = flat_points[stride * (block + j) + 2]
            for c in range(ncam):
                cam = _camera_tuple(cams, c)
                # the vectorized projection loops, into block buffers: the same float32 uv and depth as
                # project_points, from which the pixel rule rounds
                _project_span(xyz, 3, cam, near, block_uv[: 2 * m], block_depth[:m], block_valid[:m])
                width = int(cam[CAM_WIDTH])
                height = int(cam[CAM_HEIGHT])
                for j in range(m):
                    if block_valid[j]:
                        col, row, inside = _pixel_of(block_uv[2 * j], block_uv[2 * j + 1], width, height)
                        if inside:
                            p = pixel_offsets[c] + row * width + col
                            ent_pixel[base + k] = p
                            ent_depth[base + k] = block_depth[j]
                            ent_index[base + k] = block + j
                            counts[ch, (p * nbands) // total] += 1
                            k += 1
    starts = np.empty((nchunks, nbands), np.int64)
    band_start = np.empty(nbands + 1, np.int64)
    acc = 0
    for b in range(nbands):
        band_start[b] = acc
        for ch in range(nchunks):
            starts[ch, b] = acc
            acc += counts[ch, b]
    band_start[nbands] = acc
    s_pixel = np.empty(acc, np.int64)
    s_depth = np.empty(acc, np.float32)
    s_index = np.empty(acc, np.int32)
    for ch in prange(nchunks):
        pos = starts[ch].copy()
        base = ch * capacity
        filled = 0
        for b in range(nbands):
            filled += counts[ch, b]
        for j in range(base, base + filled):
            p = ent_pixel[j]
            b = (p * nbands) // total
            q = pos[b]
            s_pixel[q] = p
            s_depth[q] = ent_depth[j]
            s_index[q] = ent_index[j]
            pos[b] = q + 1
    for b in prange(nbands):
        lo = (b * total + nbands - 1) // nbands
        hi = ((b + 1) * total + nbands - 1) // nbands
        for p in range(lo, hi):
            depth_out[p] = np.inf
            index_out[p] = -1
        for j in range(band_start[b], band_start[b + 1]):
            p = s_pixel[j]
            d = s_depth[j]
            idx = s_index[j]
            best = depth_out[p]
            if (d < best) | ((d == best) & ((idx < index_out[p]) | (index_out[p] < 0))):
                depth_out[p] = d
                index_out[p] = idx
        for p in range(lo, hi):
            if index_out[p] < 0:
                depth_out[p] = 0.0


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def gather_nearest_kernel(image: AnyArray, uv: AnyArray, fill: AnyArray, out: AnyArray) -> None:
    """``out`` (N, K) of the image dtype: nearest pixel of ``image`` (H, W, K) at ``uv`` (N, 2), else ``fill``."""
    for i in prange(uv.shape[0]):
        _gather_nearest_point(image, np.float64(uv[i, 0]), np.float64(uv[i, 1]), fill, out, i)


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def gather_bilinear_kernel(image: AnyArray, uv: AnyArray, fill: FloatArray, out: AnyArray) -> None:
    """``out`` (N, K) float: bilinear sample of ``image`` (H, W, K) at ``uv`` (N, 2); ``fill`` outside."""
    for i in prange(uv.shape[0]):
        _gather_bilinear_point(image, np.float64(uv[i, 0]), np.float64(uv[i, 1]), fill, out, i)


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def voxel_ids_kernel(points: AnyArray, grid: FloatArray, nchunks: int, log2_buckets: int) -> tuple[AnyArray, AnyArray]:
    """Stage 1 of the voxelization: ``(ids (N,) int64 linear voxel id or -1, counts (nchunks, 2**log2_buckets)
    int64 number of points of each chunk per hash bucket)``."""
    n = points.shape[0]
    mask = (1 << log2_buckets) - 1
    chunk = (n + nchunks - 1) // nchunks
    ids = np.empty(n, np.int64)
    counts = np.zeros((nchunks, 1 << log2_buckets), np.int64)
    for ch in prange(nchunks):
        start = ch * chunk
        stop = min(n, start + chunk)
        for i in range(start, stop):
            key = _voxel_key(points, i, grid)
            ids[i] = key
            if key >= 0:
                counts[ch, _voxel_hash(key) & mask] += 1
    return ids, counts


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def voxel_assign_kernel(ids: AnyArray, counts: AnyArray, log2_buckets: int) -> tuple[AnyArray, AnyArray, AnyArray,
                                                                                      AnyArray, int]:
    """Stages 2-4 of the voxelization (independent of the points' dtype, so compiled once).

    (2) A stable counting sort of the point indices by hash bucket (input order kept inside a bucket); (3) one
    hash table per bucket, filled in input order, gives each point the first point of its voxel and its rank in
    the voxel; (4) a prefix sum over "first point of a voxel" flags numbers the voxels by first appearance.

    Returns ``(first_of (N,) int32 first point of the point's voxel, rank (N,) int32 rank of the point in its
    voxel, total (N,) int32 number of points of the voxel (set at its first point), voxel_of_first (N,) int32
    voxel number (set at first points), number of voxels)``.  Entries of points with ``ids == -1`` are unset.
    """
    n = ids.shape[0]
    nchunks = counts.shape[0]
    nbuckets = counts.shape[1]
    mask = nbuckets - 1
    chunk = (n + nchunks - 1) // nchunks
    starts = np.empty((nchunks, nbuckets), np.int64)
    bucket_start = np.empty(nbuckets + 1, np.int64)
    acc = 0
    for b in range(nbuckets):
        bucket_start[b] = acc
        for ch in range(nchunks):
            starts[ch, b] = acc
            acc += counts[ch, b]
    bucket_start[nbuckets] = acc
    order = np.empty(acc, np.int32)
    for ch in prange(nchunks):
        pos = starts[ch].copy()
        start = ch * chunk
        stop = min(n, start + chunk)
        for i in range(start, stop):
            key = ids[i]
            if key >= 0:
                b = _voxel_hash(key) & mask
                order[pos[b]] = i
                pos[b] += 1
    first_of = np.empty(n, np.int32)
    rank = np.empty(n, np.int32)
    total = np.empty(n, np.int32)
    for b in prange(nbuckets):
        lo = bucket_start[b]
        hi = bucket_start[b + 1]
        if hi > lo:
            cap = 2
            while cap < 2 * (hi - lo):
                cap *= 2
            table_key = np.full(cap, -1, np.int64)
            table_first = np.empty(cap, np.int32)
            table_count = np.empty(cap, np.int32)
            for j in range(lo, hi):
                i = order[j]
                key = ids[i]
                s = (_voxel_hash(key) >> log2_buckets) & (cap - 1)
                while (table_key[s] != -1) & (table_key[s] != key):
                    s = (s + 1) & (cap - 1)
                if table_key[s] == -1:
                    table_key[s] = key
                    table_first[s] = i
                    table_count[s] = 0
                first_of[i] = table_first[s]
                rank[i] = table_count[s]
                table_count[s] += 1
            for s in range(cap):
                if table_key[s] != -1:
                    total[table_first[s]] = table_count[s]
    chunk_voxels = np.zeros(nchunks + 1, np.int64)
    for ch in prange(nchunks):
        start = ch * chunk
        stop = min(n, start + chunk)
        m = 0
        for i in range(start, stop):
            if (ids[i] >= 0) & (first_of[i] == i):
                m += 1
        chunk_voxels[ch + 1] = m
    for ch in range(nchunks):
        chunk_voxels[ch + 1] += chunk_voxels[ch]
    voxel_of_first = np.empty(n, np.int32)
    for ch in prange(nchunks):
        start = ch * chunk
        stop = min(n, start + chunk)
        running = chunk_voxels[ch]
        for i in range(start, stop):
            if (ids[i] >= 0) & (first_of[i] == i):
                voxel_of_first[i] = running
                running += 1
    return first_of, rank, total, voxel_of_first, chunk_voxels[nchunks]


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def voxel_fill_kernel(
    points: AnyArray, grid: FloatArray, ids: AnyArray, first_of: AnyArray, rank: AnyArray, total: AnyArray,
    voxel_of_first: AnyArray, nvox: int, max_points: int, nchunks: int,
) -> tuple[AnyArray, AnyArray, AnyArray, AnyArray]:
    """Stage 5 of the voxelization: ``(features (V, P, D) float32, num_points (V,) int32, coords (V, 3) int32
    z-y-x, point_to_voxel (N,) int32)`` for the first ``nvox`` voxels."""
    n = points.shape[0]
    ndim = points.shape[1]
    chunk = (n + nchunks - 1) // nchunks
    nx = int(grid[6])
    nxy = nx * int(grid[7])
    features = np.zeros((nvox, max_points, ndim), np.float32)
    num_points = np.zeros(nvox, np.int32)
    coords = np.zeros((nvox, 3), np.int32)
    point_to_voxel = np.empty(n, np.int32)
    for ch in prange(nchunks):
        start = ch * chunk
        stop = min(n, start + chunk)
        for i in range(start, stop):
            point_to_voxel[i] = -1
            key = ids[i]
            if key >= 0:
                first = first_of[i]
                vox = voxel_of_first[first]
                r = rank[i]
                if (vox < nvox) & (r < max_points):
                    point_to_voxel[i] = vox
                    for d in range(ndim):
                        features[vox, r, d] = points[i, d]
                    if first == i:
                        num_points[vox] = min(total[i], max_points)
                        coords[vox, 0] = key // nxy
                        coords[vox, 1] = (key % nxy) // nx
                        coords[vox, 2] = key % nx
    return features, num_points, coords, point_to_voxel


def voxelize_cpu(
    points: AnyArray, grid: FloatArray, max_points: int, max_voxels: int, nchunks: int, log2_buckets: int
) -> tuple[AnyArray, AnyArray, AnyArray, AnyArray, int]:
    """Voxelize ``points`` (N, D) (see :func:`fusion_stack.kernels.voxelize.voxelize` for the contract).

    Atomic-free and parallel, in three kernels: :func:`voxel_ids_kernel`, :func:`voxel_assign_kernel` (the
    only one that does not depend on the points' dtype) and :func:`voxel_fill_kernel`.

    Returns ``(features (V, P, D) float32, num_points (V,) int32, coords (V, 3) int32 z-y-x,
    point_to_voxel (N,) int32, total number of non-empty voxels before the ``max_voxels`` cap)``.
    """
    ids, counts = voxel_ids_kernel(points, grid, nchunks, log2_buckets)
    first_of, rank, total, voxel_of_first, all_voxels = voxel_assign_kernel(ids, counts, log2_buckets)
    nvox = min(int(all_voxels), max_voxels)
    features, num_points, coords, point_to_voxel = voxel_fill_kernel(
        points, grid, ids, first_of, rank, total, voxel_of_first, nvox, max_points, nchunks
    )
    return features, num_points, coords, point_to_voxel, int(all_voxels)
