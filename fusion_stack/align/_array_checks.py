"""Boundary checks shared by the aligners: turn array-likes into float64 arrays or raise AlignmentError.

Every message shows what came in (shape and dtype, or the Python type), so a caller can see which of its
arrays was wrong without a debugger.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion_stack.align.errors import AlignmentError

FloatArray = npt.NDArray[np.float64]


def describe(value: object) -> str:
    """``"ndarray of shape (3, 4) dtype float64"`` for arrays (and tensors), else ``"type list"`` etc."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} dtype {dtype}"
    return f"type {type(value).__name__}"


def float_array(
    value: object,
    *,
    name: str,
    ndim: int | tuple[int, ...],
    layout: str,
    allow_inf: bool = False,
) -> FloatArray:
    """``value`` as a C-contiguous float64 array with one of the dimensionalities in ``ndim``.

    ``layout`` is the expected shape in words (e.g. ``"(N, D)"``) and goes into the message. Real (bool,
    integer, float) dtypes are accepted and converted; complex, object and string inputs, the wrong number of
    dimensions, NaN (always) and +/-inf (unless ``allow_inf``) raise :class:`AlignmentError`.
    """
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        message = f"expected an array {layout}, got {describe(value)} ({exc})"
        raise AlignmentError(message, field=name) from exc
    if arr.dtype.kind not in "biuf":
        raise AlignmentError(
            f"expected a real-valued array {layout}, got {describe(arr)}", field=name
        )
    if arr.ndim not in allowed:
        dims = " or ".join(f"{d}-D" for d in allowed)
        raise AlignmentError(f"expected a {dims} array {layout}, got {describe(arr)}", field=name)
    out = np.ascontiguousarray(arr, dtype=np.float64)
    bad = np.isnan(out) if allow_inf else ~np.isfinite(out)
    if bad.any():
        what = "NaN" if allow_inf else "NaN or inf"
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AlignmentError(
            f"contains {what} ({int(bad.sum())} entries, first at index {first}); got {describe(arr)}",
            field=name,
        )
    return out


def positive_float(value: float, *, name: str, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or >= 0 with ``allow_zero``), else AlignmentError."""
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise AlignmentError(f"expected a number, got {value!r}", field=name) from exc
    ok = np.isfinite(out) and (out >= 0.0 if allow_zero else out > 0.0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise AlignmentError(f"expected a finite number {bound}, got {value!r}", field=name)
    return out


def positive_int(value: int, *, name: str) -> int:
    """``value`` as an int >= 1 (bools rejected), else AlignmentError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AlignmentError(f"expected an integer >= 1, got {value!r}", field=name)
    return int(value)


def read_only(*arrays: np.ndarray) -> None:
    """Mark result arrays read-only (results are frozen dataclasses; their arrays should not change)."""
    for arr in arrays:
        arr.flags.writeable = False
