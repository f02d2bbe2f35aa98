"""Checked reading of parsed YAML/JSON documents: every error names the file and the field path."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fusion_stack.calibration.errors import CalibrationError


class FieldReader:
    """A view of one mapping in a parsed document at ``path`` (e.g. ``sensors[2].camera``) of file ``source``.

    Reads keys with type checks; ``finish()`` rejects keys that were never read (catching typos).
    """

    def __init__(self, data: object, *, source: str | None, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise CalibrationError(f"expected a mapping, got {type(data).__name__}: {str(data)[:80]!r}",
                                   source=source, field=path or "<document>")
        self.data: Mapping[str, Any] = data
        self.source = source
        self.path = path
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        """The dotted path of ``key``."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> CalibrationError:
        """A CalibrationError for ``key`` of this mapping."""
        return CalibrationError(message, source=self.source, field=self.field(key))

    def has(self, key: str) -> bool:
        """True when ``key`` is present."""
        return key in self.data

    def raw(self, key: str, default: Any = ...) -> Any:
        """The value at ``key`` unchecked; missing keys without a default are an error."""
        self._read.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing required field")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = ...) -> str:
        """A non-empty string."""
        v = self.raw(key, default)
        if not isinstance(v, str) or not v:
            raise self.error(key, f"expected a non-empty string, got {v!r}")
        return v

    def integer(self, key: str, default: Any = ...) -> int:
        """An integer (bools are rejected)."""
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"expected an integer, got {v!r}")
        return v

    def number(self, key: str, default: Any = ...) -> float:
        """A finite real number."""
        v = self.raw(key, default)
        return self.check_float(key, v)

    def check_float(self, key: str, v: object) -> float:
        """``v`` as a finite float, or an error naming ``key``."""
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(key, f"expected a number, got {v!r}")
        if not math.isfinite(v):
            raise self.error(key, f"expected a finite number, got {v!r}")
        return float(v)

    def numbers(self, key: str, length: int | Sequence[int] | None = None, default: Any = ...) -> list[float]:
        """A list of finite numbers, optionally of a given length (or one of several lengths)."""
        v = self.raw(key, default)
        if not isinstance(v, (list, tuple)):
            raise self.error(key, f"expected a list of numbers, got {v!r}")
        out = [self.check_float(f"{key}[{i}]", x) for i, x in enumerate(v)]
        allowed = (length,) if isinstance(length, int) else length
        if allowed is not None and len(out) not in allowed:
            raise self.error(key, f"expected {' or '.join(map(str, allowed))} numbers, got {len(out)}")
        return out

    def matrix(self, key: str, rows: int, cols: int) -> list[list[float]]:
        """A rows x cols nested list of finite numbers (or a flat list of rows*cols)."""
        v = self.raw(key)
        if isinstance(v, (list, tuple)) and v and not isinstance(v[0], (list, tuple)):
            if len(v) != rows * cols:
                raise self.error(key, f"expected {rows}x{cols} = {rows * cols} numbers, got {len(v)}")
            v = [v[r * cols:(r + 1) * cols] for r in range(rows)]
        if not isinstance(v, (list, tuple)) or len(v) != rows or any(
                not isinstance(r, (list, tuple)) or len(r) != cols for r in v):
            raise self.error(key, f"expected a {rows}x{cols} matrix, got {v!r}")
        return [[self.check_float(f"{key}[{i}][{j}]", x) for j, x in enumerate(r)] for i, r in enumerate(v)]

    def mapping(self, key: str, default: Any = ...) -> FieldReader:
        """A nested mapping."""
        return FieldReader(self.raw(key, default), source=self.source, path=self.field(key))

    def items(self, key: str) -> Iterator[tuple[int, Any]]:
        """Enumerate a list."""
        v = self.raw(key)
        if not isinstance(v, (list, tuple)):
            raise self.error(key, f"expected a list, got {type(v).__name__}")
        return iter(enumerate(v))

    def sub(self, key: str, index: int, value: object) -> FieldReader:
        """A reader for element ``index`` of list ``key``."""
        return FieldReader(value, source=self.source, path=f"{self.field(key)}[{index}]")

    def finish(self) -> None:
        """Reject keys that were never read."""
        extra = sorted(set(self.data) - self._read)
        if extra:
            raise CalibrationError(
                f"unknown field(s) {extra}; expected only {sorted(self._read)}",
                source=self.source, field=self.path or "<document>")
