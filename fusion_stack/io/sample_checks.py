"""Checks shared by the io package's own frozen sample types (stamps, ids, small vectors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.types import SampleError


def check_header(cls: str, stamp_ns: object, frame_id: object, sensor_id: object) -> int:
    """Validate ``stamp_ns`` (int ns), ``frame_id`` and ``sensor_id`` (non-empty strings); return the stamp."""
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
        raise SampleError(f"{cls}.stamp_ns must be an int of nanoseconds, got {type(stamp_ns).__name__} "
                          f"{stamp_ns!r}", field="stamp_ns")
    for name, value in (("frame_id", frame_id), ("sensor_id", sensor_id)):
        if not isinstance(value, str) or not value:
            raise SampleError(f"{cls}.{name} must be a non-empty string, got {value!r}", field=name)
    return int(stamp_ns)


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
