"""Checks shared by the io package's own frozen sample types (stamps, ids, small vectors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.types import SampleError, check_header

__all__ = ["check_header", "optional_vector", "readonly_vector"]


def readonly_vector(cls: str, name: str, value: object, shape: tuple[int, ...], *,
                    finite: bool = True) -> npt.NDArray[np.float64]:
    """``value`` as a read-only float64 array of ``shape`` (finite unless ``finite=False``)."""
    a = np.array(value, dtype=np.float64)  # own copy
    if a.shape != shape:
        raise SampleError(f"{cls}.{name} must have shape {shape}, got {a.shape}", field=name)
    if finite and not np.all(np.isfinite(a)):
        raise SampleError(f"{cls}.{name} contains NaN/Inf: {a.tolist()}", field=name)
    a.flags.writeable = False
    return a


def optional_vector(cls: str, name: str, value: object, shape: tuple[int, ...]) -> npt.NDArray[Any] | None:
    """As :func:`readonly_vector`, passing None through."""
    return None if value is None else readonly_vector(cls, name, value, shape)
