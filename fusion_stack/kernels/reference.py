"""NumPy reference implementations of the kernels, for tests and benchmarks.

Each function has the contract of its kernel (same arguments, same result type, CPU only) and performs the same
float64 operations in the same order, so that the results are bit-identical to the CPU kernels wherever the
math is IEEE-exact (everything except ``atan`` in the fisheye model, where NumPy and libm may differ by an ulp).
They are written for clarity, not speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.kernels.cpu_kernels import FISHEYE_SMALL_RADIUS
from fusion_stack.kernels.depth import DepthImages
from fusion_stack.kernels.gather import MODES
from fusion_stack.kernels.inputs import checked_near
from fusion_stack.kernels.params import CameraParams
from fusion_stack.kernels.projection import MultiProjection
from fusion_stack.kernels.voxelize import Voxels, voxel_grid

__all__ = [
    "depth_image_reference",
    "gather_reference",
    "project_camera_reference",
    "project_points_reference",
    "voxelize_reference",
]

FloatArray = npt.NDArray[np.float64]


def _cameras(cameras: CameraParams | Sequence[CameraParams]) -> list[CameraParams]:
    return [cameras] if isinstance(cameras, CameraParams) else list(cameras)


def project_camera_reference(
    points: npt.ArrayLike, camera: CameraParams, *, near: float = 1e-3
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """float64 ``(uv (N, 2), depth (N,), valid (N,))`` of (N, >= 3) source-frame points in one camera."""
    p = np.asarray(points)[:, :3].astype(np.float64)
    r, t = camera.rotation, camera.translation
    k = camera.distortion
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = r[0, 0] * p[:, 0] + r[0, 1] * p[:, 1] + r[0, 2] * p[:, 2] + t[0]
        y = r[1, 0] * p[:, 0] + r[1, 1] * p[:, 1] + r[1, 2] * p[:, 2] + t[1]
        z = r[2, 0] * p[:, 0] + r[2, 1] * p[:, 1] + r[2, 2] * p[:, 2] + t[2]
        inv_z = 1.0 / z
        a = x * inv_z
        b = y * inv_z
        inside = np.ones(p.shape[0], dtype=bool)
        if camera.model == "radtan":
            k1, k2, p1, p2, k3, k4, k5, k6 = k
            s = a * a + b * b
            d = 1.0 + s * (k1 + s * (k2 + s * k3))
            if k4 or k5 or k6:
                d = d / (1.0 + s * (k4 + s * (k5 + s * k6)))
            xd = a * d + 2.0 * p1 * a * b + p2 * (s + 2.0 * a * a)
            yd = b * d + p1 * (s + 2.0 * b * b) + 2.0 * p2 * a * b
            inside = s < camera.fold_limit * camera.fold_limit
        elif camera.model == "fisheye":
            k1, k2, k3, k4 = k[:4]
            rad = np.sqrt(a * a + b * b)
            theta = np.arctan(rad)
            t2 = theta * theta
            theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            scale = np.where(rad > FISHEYE_SMALL_RADIUS, theta_d / rad, 1.0)
            xd = a * scale
            yd = b * scale
            inside = theta < camera.fold_limit
        else:
            xd, yd = a, b
        u = camera.fx * xd + camera.skew * yd + camera.cx
        v = camera.fy * yd + camera.cy
        valid = (z > near) & (u >= 0.0) & (u < camera.width) & (v >= 0.0) & (v < camera.height) & inside
    return np.stack([u, v], axis=1), z, valid


def project_points_reference(
    points: npt.ArrayLike, cameras: CameraParams | Sequence[CameraParams], *, near: float = 1e-3
) -> MultiProjection:
    """Reference of :func:`fusion_stack.kernels.projection.project_points` (float32 results, CPU)."""
    near = checked_near(near)
    results = [project_camera_reference(points, cam, near=near) for cam in _cameras(cameras)]
    with np.errstate(over="ignore"):  # far outside the image, uv may not fit float32: inf, as in the kernel
        return MultiProjection(
            uv=np.stack([r[0] for r in results]).astype(np.float32),
            depth=np.stack([r[1] for r in results]).astype(np.float32),
            valid=np.stack([r[2] for r in results]),
            device="cpu",
        )


def depth_image_reference(
    points: npt.ArrayLike, cameras: CameraParams | Sequence[CameraParams], *, near: float = 1e-3
) -> DepthImages:
    """Reference of :func:`fusion_stack.kernels.depth.depth_image` (lexicographic sort instead of a z-buffer)."""
    near = checked_near(near)
    depths, indices = [], []
    for cam in _cameras(cameras):
        uv, z, valid = project_camera_reference(points, cam, near=near)
        with np.errstate(invalid="ignore", over="ignore"):
            uv32 = uv.astype(np.float32).astype(np.float64)
            col = np.floor(uv32[:, 0] + 0.5)
            row = np.floor(uv32[:, 1] + 0.5)
        keep = valid & (col < cam.width) & (row < cam.height)
        index = np.flatnonzero(keep).astype(np.int32)
        pixel = (row[keep].astype(np.int64) * cam.width + col[keep].astype(np.int64))
        depth32 = z[keep].astype(np.float32)
        order = np.lexsort((index, depth32, pixel))
        pixel, depth32, index = pixel[order], depth32[order], index[order]
        first = np.ones(pixel.shape[0], dtype=bool)
        first[1:] = pixel[1:] != pixel[:-1]
        depth_img = np.zeros(cam.width * cam.height, dtype=np.float32)
        index_img = np.full(cam.width * cam.height, -1, dtype=np.int32)
        depth_img[pixel[first]] = depth32[first]
        index_img[pixel[first]] = index[first]
        depths.append(depth_img.reshape(cam.height, cam.width))
        indices.append(index_img.reshape(cam.height, cam.width))
    return DepthImages(depth=tuple(depths), index=tuple(indices), device="cpu")


def gather_reference(
    image: npt.ArrayLike, uv: npt.ArrayLike, *, mode: str = "nearest", fill: float | Sequence[float] = 0
) -> Any:
    """Reference of :func:`fusion_stack.kernels.gather.gather` (CPU, NumPy inputs)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    img = np.asarray(image)
    flat = img.ndim == 2
    if flat:
        img = img[:, :, None]
    if img.dtype == np.float16:
        img = img.astype(np.float32)
    height, width, channels = img.shape
    coords = np.asarray(uv).astype(np.float64)
    u, v = coords[:, 0], coords[:, 1]
    fill64 = np.broadcast_to(np.asarray(fill, dtype=np.float64), (channels,))
    with np.errstate(invalid="ignore"):
        if mode == "nearest":
            col = np.floor(u + 0.5)
            row = np.floor(v + 0.5)
            inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            out = np.empty((coords.shape[0], channels), dtype=img.dtype)
            out[:] = fill64.astype(img.dtype)
            out[inside] = img[row[inside].astype(np.int64), col[inside].astype(np.int64)]
        else:
            out_dtype = np.float64 if img.dtype == np.float64 else np.float32
            near_image = (u > -2.0) & (u < width + 1.0) & (v > -2.0) & (v < height + 1.0)
            fx0 = np.floor(np.where(near_image, u, 0.0))
            fy0 = np.floor(np.where(near_image, v, 0.0))
            ax = (np.where(near_image, u, 0.0) - fx0)[:, None]
            ay = (np.where(near_image, v, 0.0) - fy0)[:, None]
            x0, y0 = fx0.astype(np.int64), fy0.astype(np.int64)

            def sample(yy: np.ndarray, xx: np.ndarray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
                ok = near_image & (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
                values = np.broadcast_to(fill64, (coords.shape[0], channels)).copy()
                values[ok] = img[yy[ok], xx[ok]].astype(np.float64)
                return values, ok

            p00, ok00 = sample(y0, x0)
            p01, ok01 = sample(y0, x0 + 1)
            p10, ok10 = sample(y0 + 1, x0)
            p11, ok11 = sample(y0 + 1, x0 + 1)
            top = p00 * (1.0 - ax) + p01 * ax
            bottom = p10 * (1.0 - ax) + p11 * ax
            values = top * (1.0 - ay) + bottom * ay
            any_inside = ok00 | ok01 | ok10 | ok11
            values[~any_inside] = fill64
            out = values.astype(out_dtype)
    return out[:, 0] if flat else out


def voxelize_reference(
    points: npt.ArrayLike,
    *,
    voxel_size: Sequence[float] | np.ndarray,
    range: Sequence[float] | np.ndarray,
    max_points_per_voxel: int,
    max_voxels: int,
) -> Voxels:
    """Reference of :func:`fusion_stack.kernels.voxelize.voxelize` (np.unique + stable sort)."""
    grid = voxel_grid(voxel_size, range)
    pts = np.asarray(points)
    n, ndim = pts.shape
    nx, ny, nz = (int(g) for g in grid[6:9])
    with np.errstate(invalid="ignore"):
        cell = (pts[:, :3].astype(np.float64) - grid[:3]) / grid[3:6]
        inside = ((cell >= 0.0) & (cell < grid[6:9])).all(axis=1)
    index = np.flatnonzero(inside)
    ijk = np.floor(cell[inside]).astype(np.int64)
    key = (ijk[:, 2] * ny + ijk[:, 1]) * nx + ijk[:, 0]
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")
    voxel_rank = np.empty(unique.shape[0], dtype=np.int64)
    voxel_rank[by_appearance] = np.arange(unique.shape[0])
    voxel = voxel_rank[inverse.ravel()]
    order = np.argsort(voxel, kind="stable")
    counts = np.bincount(voxel, minlength=unique.shape[0])
    starts = np.cumsum(counts) - counts
    rank = np.empty(voxel.shape[0], dtype=np.int64)
    rank[order] = np.arange(voxel.shape[0]) - starts[voxel[order]]
    total = int(unique.shape[0])
    nvox = min(total, max_voxels)
    keep = (voxel < nvox) & (rank < max_points_per_voxel)
    features = np.zeros((nvox, max_points_per_voxel, ndim), dtype=np.float32)
    features[voxel[keep], rank[keep]] = pts[index[keep]].astype(np.float32)
    num_points = np.minimum(counts[:nvox], max_points_per_voxel).astype(np.int32)
    first_keys = unique[by_appearance][:nvox]
    coords = np.stack([first_keys // (nx * ny), (first_keys // nx) % ny, first_keys % nx], axis=1).astype(np.int32)
    point_to_voxel = np.full(n, -1, dtype=np.int32)
    point_to_voxel[index[keep]] = voxel[keep]
    return Voxels(
        features=features,
        num_points=num_points,
        coords=coords.reshape(nvox, 3),
        point_to_voxel=point_to_voxel,
        grid_size=(nx, ny, nz),
        total_voxels=total,
        device="cpu",
    )
