"""Image values at (projected) pixel coordinates: :func:`gather`, the building block of point painting.

Pixel conventions are OpenCV's: pixel ``(col, row)`` has its centre at ``(u, v) = (col, row)``.

* ``mode="nearest"``: ``image[floor(v + 0.5), floor(u + 0.5)]`` (the pixel whose centre is nearest, halves
  rounding up -- the pixel :func:`fusion_stack.kernels.depth.depth_image` assigns to the point), ``fill``
  when that pixel is outside the image (so the image covers ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``).  The output
  has the image's dtype.
* ``mode="bilinear"``: bilinear interpolation of the image extended by ``fill`` outside it (as ``cv2.remap``
  with ``INTER_LINEAR`` and ``BORDER_CONSTANT``, but with exact rather than 1/32-pixel weights); exactly ``fill``
  when all four neighbours are outside.  Computed in float64; the output is float64 for float64 images and
  float32 otherwise.

NaN / inf coordinates give ``fill``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion_stack.kernels.cpu_kernels import gather_bilinear_kernel, gather_nearest_kernel
from fusion_stack.kernels.errors import KernelError
from fusion_stack.kernels.inputs import prepare_array, resolve_device

__all__ = ["IMAGE_DTYPES", "gather"]

#: Image dtypes the kernels are compiled for; float16 is cast to float32.
IMAGE_DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64", "float32",
                "float64")
MODES = ("nearest", "bilinear")


def _fill_values(fill: float | Sequence[float] | np.ndarray, channels: int, dtype: np.dtype[Any]) -> np.ndarray:
    """``fill`` as a (channels,) array of ``dtype``; it must be representable exactly in ``dtype``."""
    try:
        values = np.asarray(fill)
    except (TypeError, ValueError) as exc:
        raise KernelError(f"expected a number or one per channel, got {fill!r}: {exc}", field="fill") from exc
    if values.dtype.kind not in "biuf" or values.ndim > 1:
        raise KernelError(f"expected a real number or a sequence of {channels}, got {fill!r}", field="fill")
    if values.ndim == 1 and values.shape[0] != channels:
        raise KernelError(f"expected {channels} values (one per channel), got {values.shape[0]}: {fill!r}",
                          field="fill")
    values = np.broadcast_to(values, (channels,)).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        converted = values.astype(dtype)
    if dtype.kind != "f" and not np.array_equal(converted.astype(np.float64), values):
        raise KernelError(f"fill {fill!r} is not representable in the output dtype {dtype}", field="fill")
    return np.ascontiguousarray(converted)


def gather(
    image: Any,
    uv: Any,
    *,
    mode: str = "nearest",
    fill: float | Sequence[float] | np.ndarray = 0,
    device: str | None = None,
) -> Any:
    """Sample ``image`` at pixel coordinates ``uv`` (module docstring for the rules).

    Args:
        image: (H, W) or (H, W, K) image, any real dtype of :data:`IMAGE_DTYPES` (float16 is cast to float32),
            channels last; NumPy or CUDA array.
        uv: (N, 2) pixel coordinates ``(u, v)`` (float32 or float64), e.g. one camera of
            :attr:`MultiProjection.uv <fusion_stack.kernels.projection.MultiProjection>`.
        mode: "nearest" or "bilinear".
        fill: value for points outside the image: a number or one value per channel; for "nearest" it must be
            representable in the image dtype.
        device: None (follow the data), "cpu" or "cuda".

    Returns:
        (N, K) values ((N,) for a 2-D image): the image dtype for "nearest", float32 (float64 for float64
        images) for "bilinear".  NumPy array on the CPU, numba device array on CUDA.

    Raises:
        KernelError: bad shapes, dtypes, ``mode`` or ``fill``.
    """
    if mode not in MODES:
        raise KernelError(f"unknown mode {mode!r}; expected one of {MODES}", field="mode")
    target = resolve_device(device, image, uv)
    img = prepare_array(image, name="image", device=target, layout="(H, W) or (H, W, K)", ndims=(2, 3),
                        kinds="biuf", what="real", native=IMAGE_DTYPES, cast_to="float32")
    coords = prepare_array(uv, name="uv", device=target, layout="(N, 2)", columns=(2, 2))
    flat = len(img.shape) == 2
    if flat:
        img = img.reshape((img.shape[0], img.shape[1], 1))
    height, width, channels = (int(s) for s in img.shape)
    if height == 0 or width == 0 or channels == 0:
        raise KernelError(f"expected a non-empty image, got shape {tuple(img.shape)}", field="image")
    image_dtype = np.dtype(img.dtype)
    if mode == "nearest":
        out_dtype = image_dtype
    else:
        out_dtype = np.dtype(np.float64) if image_dtype == np.float64 else np.dtype(np.float32)
    fill_values = _fill_values(fill, channels, out_dtype if mode == "nearest" else np.dtype(np.float64))
    n = int(coords.shape[0])
    if target == "cuda":
        from fusion_stack.kernels import cuda_kernels

        out = cuda_kernels.gather(img, coords, mode, fill_values, out_dtype)
    else:
        out = np.empty((n, channels), dtype=out_dtype)
        if n:
            kernel = gather_nearest_kernel if mode == "nearest" else gather_bilinear_kernel
            kernel(img, coords, fill_values, out)
    return out.reshape(n) if flat else out
