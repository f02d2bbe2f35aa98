"""Where the kernels' inputs live and what they look like: device dispatch and boundary checks.

Dispatch rule (every public kernel): ``device=None`` runs on CUDA when any array argument is a CUDA array (a
numba device array, or any object with ``__cuda_array_interface__`` such as a CUDA torch tensor or a CuPy
array) and on the CPU otherwise.  ``device="cpu"`` copies CUDA inputs to the host; ``device="cuda"`` copies
NumPy inputs to the device.  CUDA results are numba device arrays.

Every check raises :class:`~fusion_stack.kernels.errors.KernelError` naming the argument and showing what came in.
"""

from __future__ import annotations

import math
import numbers
import sys
from types import ModuleType
from typing import Any

import numpy as np

from fusion_stack.kernels.errors import KernelError

__all__ = ["checked_near", "cuda_module", "describe", "is_cuda_array", "prepare_array", "resolve_device"]

DEVICES = ("cpu", "cuda")


def describe(value: object) -> str:
    """``"ndarray of shape (3, 4) dtype float64"`` for arrays (host or device), else ``"type list"``."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} dtype {dtype}"
    return f"type {type(value).__name__}"


def is_cuda_array(value: object) -> bool:
    """True for numba device arrays (also the CUDA simulator's) and ``__cuda_array_interface__`` objects."""
    try:
        if hasattr(value, "__cuda_array_interface__"):
            return True
    except Exception:  # a property that raises (e.g. a CPU tensor's) means "not a CUDA array"
        return False
    cuda = sys.modules.get("numba.cuda")
    if cuda is None:  # nothing can be a numba device array before numba.cuda is imported
        return False
    fake = getattr(getattr(cuda, "devicearray", None), "FakeCUDAArray", None)  # the CUDA simulator's arrays
    return fake is not None and isinstance(value, fake)


def cuda_module() -> ModuleType:
    """``numba.cuda``, imported on first use; KernelError when no CUDA device (or simulator) is available."""
    from numba import cuda

    if not cuda.is_available():
        raise KernelError(
            "device 'cuda' requested but no CUDA device is available (numba.cuda.is_available() is False)",
            field="device",
        )
    return cuda


def resolve_device(device: str | None, *arrays: object) -> str:
    """``"cpu"`` or ``"cuda"`` from the explicit ``device`` or, when None, from where ``arrays`` live."""
    if device is None:
        return "cuda" if any(is_cuda_array(a) for a in arrays) else "cpu"
    if device not in DEVICES:
        raise KernelError(f"unknown device {device!r}; expected 'cpu', 'cuda' or None", field="device")
    return device


def checked_near(near: object) -> float:
    """The near-plane distance as a float; must be finite and >= 0 (metres)."""
    if isinstance(near, bool) or not isinstance(near, numbers.Real) or not math.isfinite(float(near)):
        raise KernelError(f"expected a finite real number >= 0, got {near!r}", field="near")
    if float(near) < 0.0:
        raise KernelError(f"expected a distance >= 0, got {near!r}", field="near")
    return float(near)


def _check_shape(shape: tuple[int, ...], dtype: np.dtype[Any], *, name: str, layout: str,
                 ndims: tuple[int, ...], columns: tuple[int, int | None] | None, kinds: str, what: str) -> None:
    if dtype.kind not in kinds:
        raise KernelError(f"expected a {what} array {layout}, got dtype {dtype} (shape {shape})", field=name)
    if len(shape) not in ndims:
        raise KernelError(f"expected an array {layout}, got shape {shape} (dtype {dtype})", field=name)
    if columns is not None:
        low, high = columns
        if shape[-1] < low or (high is not None and shape[-1] > high):
            raise KernelError(f"expected an array {layout}, got shape {shape} (dtype {dtype})", field=name)


def prepare_array(
    value: object,
    *,
    name: str,
    device: str,
    layout: str,
    ndims: tuple[int, ...] = (2,),
    columns: tuple[int, int | None] | None = None,
    kinds: str = "f",
    what: str = "floating-point",
    native: tuple[str, ...] = ("float32", "float64"),
    cast_to: str = "float32",
) -> Any:
    """``value`` checked and placed on ``device`` as a C-contiguous array with a dtype the kernels compile for.

    Args:
        name, layout, what: for the messages (argument name, expected shape in words, expected dtype in words).
        ndims: accepted numbers of dimensions.
        columns: ``(min, max)`` size of the last dimension (``max`` None = unbounded), or None for any.
        kinds: accepted dtype kinds (``np.dtype.kind``).
        native: dtypes passed through; other accepted dtypes are cast to ``cast_to`` (host only: device arrays
            of another dtype raise, so that no hidden conversion runs on the device).

    Host inputs that are not C-contiguous are copied; CUDA inputs must be C-contiguous.
    """
    if is_cuda_array(value):
        arr: Any = value if hasattr(value, "copy_to_host") else cuda_module().as_cuda_array(value)
        shape, dtype = tuple(arr.shape), np.dtype(arr.dtype)
        _check_shape(shape, dtype, name=name, layout=layout, ndims=ndims, columns=columns, kinds=kinds, what=what)
        if device == "cpu":
            return prepare_array(arr.copy_to_host(), name=name, device=device, layout=layout, ndims=ndims,
                                 columns=columns, kinds=kinds, what=what, native=native, cast_to=cast_to)
        if dtype.name not in native:
            raise KernelError(
                f"device arrays must have dtype {' or '.join(native)} (cast on the device first), got {describe(arr)}",
                field=name,
            )
        if not arr.is_c_contiguous():
            raise KernelError(f"device arrays must be C-contiguous, got strides {arr.strides} ({describe(arr)})",
                              field=name)
        return arr
    if isinstance(value, np.ndarray):
        host = value
    else:
        try:
            host = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise KernelError(f"expected an array {layout}, got {describe(value)} ({exc})", field=name) from exc
    _check_shape(tuple(host.shape), host.dtype, name=name, layout=layout, ndims=ndims, columns=columns, kinds=kinds,
                 what=what)
    target = host.dtype if host.dtype.name in native else np.dtype(cast_to)
    host = np.ascontiguousarray(host, dtype=target)
    if device == "cuda":
        return cuda_module().to_device(host)
    return host
