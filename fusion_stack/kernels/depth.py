"""Per-camera z-buffer depth images with a pixel -> point index map: :func:`depth_image`.

Pixel rule: a VALID projection (see :func:`fusion_stack.kernels.projection.project_points`) with float32
coordinates ``(u, v)`` lands in pixel ``(col, row) = (floor(u + 0.5), floor(v + 0.5))``, i.e. the pixel whose
centre is nearest (halves round up) -- the same pixel that ``gather(..., mode="nearest")`` reads for that
``uv``.  Valid points with ``u`` in ``[width - 0.5, width)`` (or ``v`` in ``[height - 0.5, height)``) round to
one column (row) beyond the image and are not drawn.

Z-buffer rule: each pixel keeps the point with the smallest float32 depth; ties go to the smallest point index,
so the result does not depend on the order of evaluation (CPU threads or CUDA atomics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from fusion_stack.kernels.cpu_kernels import CAM_HEIGHT, CAM_WIDTH, depth_image_kernel
from fusion_stack.kernels.errors import KernelError
from fusion_stack.kernels.inputs import checked_near, prepare_array, resolve_device
from fusion_stack.kernels.params import CameraParams, pack_cameras
from fusion_stack.kernels.projection import POINTS_LAYOUT

__all__ = ["DepthImages", "depth_image"]

#: Point indices are stored as int32.
MAX_POINTS = 2**31 - 1
#: Pixels per band of the CPU reduction (a band's depth and index fit in L2).
_BAND_PIXELS = 1 << 16


@dataclass(frozen=True, eq=False)
class DepthImages:
    """Result of :func:`depth_image`: one depth image and one index map per camera.

    Attributes:
        depth: per camera, (H, W) float32 depth (``z`` in the camera optical frame, metres) of the nearest
            point in each pixel; 0 where no point lands.
        index: per camera, (H, W) int32 index (row of ``points``) of that point; -1 where no point lands.
        device: "cpu" (NumPy arrays) or "cuda" (numba device arrays).
    """

    depth: tuple[Any, ...]
    index: tuple[Any, ...]
    device: str


def pixel_offsets(cams: np.ndarray) -> np.ndarray:
    """(C + 1,) int64 start of each camera's pixels in the flat buffer (row-major images, camera after camera)."""
    sizes = cams[:, CAM_WIDTH].astype(np.int64) * cams[:, CAM_HEIGHT].astype(np.int64)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def split_images(flat_depth: Any, flat_index: Any, cams: np.ndarray, offsets: np.ndarray) -> tuple[
        tuple[Any, ...], tuple[Any, ...]]:
    """Per-camera (H, W) views of the flat depth and index buffers."""
    depths, indices = [], []
    for c in range(cams.shape[0]):
        shape = (int(cams[c, CAM_HEIGHT]), int(cams[c, CAM_WIDTH]))
        lo, hi = int(offsets[c]), int(offsets[c + 1])
        depths.append(flat_depth[lo:hi].reshape(shape))
        indices.append(flat_index[lo:hi].reshape(shape))
    return tuple(depths), tuple(indices)


def depth_image(
    points: Any,
    cameras: CameraParams | Sequence[CameraParams],
    *,
    near: float = 1e-3,
    device: str | None = None,
) -> DepthImages:
    """Render the points into a z-buffer depth image and an index map for every camera (module docstring).

    Args:
        points: (N, 3) or (N, 3 + F) points in the source frame (metres), as for
            :func:`~fusion_stack.kernels.projection.project_points`; N < 2**31.
        cameras: one :class:`CameraParams` or a sequence of them.
        near: near-plane distance in metres (finite, >= 0).
        device: None (follow the data), "cpu" or "cuda".

    Returns:
        :class:`DepthImages`; every pixel empty when N = 0.

    Raises:
        KernelError: bad inputs (as :func:`project_points`) or too many points.
    """
    cams = pack_cameras(cameras)
    near = checked_near(near)
    target = resolve_device(device, points)
    pts = prepare_array(points, name="points", device=target, layout=POINTS_LAYOUT, columns=(3, None))
    n = int(pts.shape[0])
    if n > MAX_POINTS:
        raise KernelError(f"at most {MAX_POINTS} points (int32 indices), got {n}", field="points")
    offsets = pixel_offsets(cams)
    total = int(offsets[-1])
    if target == "cuda":
        from fusion_stack.kernels import cuda_kernels

        flat_depth, flat_index = cuda_kernels.depth_image(pts, cams, near, offsets)
    else:
        flat_depth = np.empty(total, dtype=np.float32)
        flat_index = np.empty(total, dtype=np.int32)
        threads = numba.get_num_threads()
        nchunks = max(1, min(4 * threads, n // 4096))
        nbands = max(4 * threads, total // _BAND_PIXELS)
        depth_image_kernel(pts, cams, near, offsets, nchunks, nbands, flat_depth, flat_index)
    depths, indices = split_images(flat_depth, flat_index, cams, offsets)
    return DepthImages(depth=depths, index=indices, device=target)
