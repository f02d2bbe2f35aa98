"""Project points into one or several cameras in one pass: :func:`project_points`.

Frames and units: ``points`` are in a source frame (e.g. the LiDAR frame), metres; each camera carries its own
``src2cam`` transform into its OPTICAL frame (see :mod:`fusion_stack.kernels.params`).  Pixels follow OpenCV
(pixel ``(0, 0)`` is the centre of the top-left pixel); the models are those of
``fusion_stack.calibration.camera_models`` (pinhole, OpenCV radial-tangential with 5 or 8 coefficients, OpenCV
equidistant fisheye), with the same fold-back rule.

Precision: the inputs are read as float64, the transform, perspective division and distortion are computed in
float64, and the results are stored as float32 (so ``uv`` is within half a float32 ulp, about 1.2e-4 px at
u ~ 2000 px, of the float64 value; depth within 6e-8 relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusion_stack.kernels.cpu_kernels import project_kernel
from fusion_stack.kernels.errors import KernelError
from fusion_stack.kernels.inputs import checked_near, describe, prepare_array, resolve_device
from fusion_stack.kernels.params import CameraParams, pack_cameras

__all__ = ["MultiProjection", "project_points"]

#: Points layout accepted by every kernel that reads points.
POINTS_LAYOUT = "(N, 3) or (N, 3 + F) with x, y, z first"


@dataclass(frozen=True, eq=False)
class MultiProjection:
    """Result of :func:`project_points` for C cameras and N points.

    Attributes:
        uv: (C, N, 2) float32 pixel coordinates, computed for every point (for ``z <= 0`` by the same
            formula, i.e. the mirrored point; non-finite for ``z == 0`` or non-finite points).
        depth: (C, N) float32 ``z`` of each point in each camera's optical frame (metres).
        valid: (C, N) bool: ``z > near``, ``0 <= u < width``, ``0 <= v < height`` and inside the fold-back
            limit (False for NaN / inf points).
        device: "cpu" (NumPy arrays) or "cuda" (numba device arrays).
    """

    uv: Any
    depth: Any
    valid: Any
    device: str


def _checked_out(out: object, ncam: int, n: int, device: str) -> MultiProjection:
    """``out`` if it can receive the projection of n points into ncam cameras on ``device``."""
    if not isinstance(out, MultiProjection):
        raise KernelError(f"expected a MultiProjection to write into, got {type(out).__name__}", field="out")
    if out.device != device:
        raise KernelError(f"out lives on {out.device!r} but the projection runs on {device!r}", field="out")
    expected = {"uv": ((ncam, n, 2), np.float32), "depth": ((ncam, n), np.float32), "valid": ((ncam, n), np.bool_)}
    for name, (shape, dtype) in expected.items():
        arr = getattr(out, name)
        contiguous = arr.is_c_contiguous() if device == "cuda" else arr.flags.c_contiguous and arr.flags.writeable
        if tuple(arr.shape) != shape or np.dtype(arr.dtype) != dtype or not contiguous:
            raise KernelError(
                f"out.{name} must be a writeable C-contiguous {np.dtype(dtype)} array of shape {shape}, got "
                f"{describe(arr)}",
                field="out",
            )
    return out


def project_points(
    points: Any,
    cameras: CameraParams | Sequence[CameraParams],
    *,
    near: float = 1e-3,
    device: str | None = None,
    out: MultiProjection | None = None,
) -> MultiProjection:
    """Project ``points`` into every camera of ``cameras`` in one pass over the points.

    Args:
        points: (N, 3) or (N, 3 + F) points in the source frame (metres); only x, y, z are read.  float32 or
            float64 are used as they are, float16 is cast to float32; NumPy or CUDA array (see
            :mod:`fusion_stack.kernels.inputs` for the dispatch rule).  NaN / inf points come out invalid.
        cameras: one :class:`CameraParams` or a sequence of them (build with
            :func:`fusion_stack.kernels.params.camera_params`).
        near: near-plane distance in metres (finite, >= 0); points with ``z <= near`` are invalid.
        device: None (follow the data), "cpu" or "cuda".
        out: optional result of an earlier call with the same C and N on the same device, overwritten and
            returned instead of allocating new arrays (saves the page faults of fresh memory at large N).

    Returns:
        :class:`MultiProjection` with C = ``len(cameras)``; N = 0 gives empty arrays.

    Raises:
        KernelError: bad shapes or dtypes, bad cameras, ``near`` or ``out``, or CUDA requested without a device.
    """
    cams = pack_cameras(cameras)
    near = checked_near(near)
    target = resolve_device(device, points)
    pts = prepare_array(points, name="points", device=target, layout=POINTS_LAYOUT, columns=(3, None))
    n, ncam = int(pts.shape[0]), int(cams.shape[0])
    if out is not None:
        out = _checked_out(out, ncam, n, target)
    if target == "cuda":
        from fusion_stack.kernels import cuda_kernels

        buffers = None if out is None else (out.uv, out.depth, out.valid)
        uv, depth, valid = cuda_kernels.project(pts, cams, near, buffers)
        return out if out is not None else MultiProjection(uv=uv, depth=depth, valid=valid, device="cuda")
    if out is None:
        out = MultiProjection(
            uv=np.empty((ncam, n, 2), dtype=np.float32),
            depth=np.empty((ncam, n), dtype=np.float32),
            valid=np.empty((ncam, n), dtype=np.bool_),
            device="cpu",
        )
    if n:
        project_kernel(pts, cams, near, out.uv, out.depth, out.valid)
    return out
