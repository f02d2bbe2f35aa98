"""Loading pickled dataset info files (mmdet3d ``.pkl``) without executing arbitrary code.

``pickle.load`` runs whatever callables a file names. :func:`load_restricted_pickle` rebuilds only plain
containers and NumPy arrays/scalars: the globals it resolves are ``numpy.ndarray``, ``numpy.dtype`` (not object
dtypes), ``numpy.core.multiarray._reconstruct`` / ``scalar``, ``numpy.core.numeric._frombuffer`` (also under
``numpy._core``), ``_codecs.encode`` (latin-1 text to bytes, as NumPy pickles write it), ``collections.
OrderedDict`` and the builtin containers and scalars. Anything else, and any malformed or truncated file,
raises RecordingError.
"""

from __future__ import annotations

import codecs
import collections
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

from fusion_stack.io.errors import RecordingError


class _ForbiddenError(Exception):
    """A global or a value the restricted unpickler refuses."""


def _safe_dtype(*args: Any) -> np.dtype[Any]:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise _ForbiddenError(f"object dtype {dt} is not allowed")
    return dt


def _safe_scalar(dtype: Any, *args: Any) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _ForbiddenError(f"scalar of dtype {dtype!r} is not allowed")
    return _multiarray.scalar(dtype, *args)


def _safe_reconstruct(cls: Any, *args: Any) -> Any:
    if cls is not np.ndarray:
        raise _ForbiddenError(f"_reconstruct of {cls!r} is not allowed (only numpy.ndarray)")
    return _multiarray._reconstruct(cls, *args)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _ForbiddenError(f"array of dtype {dtype!r} is not allowed")
    return getattr(_numeric, "_frombuffer")(buf, dtype, shape, order)  # noqa: B009 - private in NumPy


def _safe_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise _ForbiddenError(f"_codecs.encode({type(obj).__name__}, {encoding!r}) is not allowed")
    return codecs.encode(obj, encoding, errors)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{(mod, "_reconstruct"): _safe_reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "scalar"): _safe_scalar for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "_frombuffer"): _safe_frombuffer for mod in ("numpy.core.numeric", "numpy._core.numeric")},
}
for _name, _obj in (("dict", dict), ("list", list), ("tuple", tuple), ("set", set), ("frozenset", frozenset),
                    ("int", int), ("float", float), ("complex", complex), ("bool", bool), ("str", str),
                    ("bytes", bytes), ("bytearray", bytearray)):
    _ALLOWED[("builtins", _name)] = _obj
    _ALLOWED[("__builtin__", _name)] = _obj  # protocol 2 pickles written by Python 2


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _ForbiddenError(f"global {module}.{name} is not allowed") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _ForbiddenError(f"persistent id {pid!r:.40} is not allowed")


def loads_restricted_pickle(data: bytes, *, source: str | None = None) -> Any:
    """Unpickle ``data`` allowing only NumPy arrays and plain containers (see the module docstring)."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except _ForbiddenError as err:
        raise RecordingError(f"refused to unpickle: {err}", source=source, field="pickle") from err
    except Exception as err:  # malformed pickles raise many types (UnpicklingError, EOFError, ValueError, ...)
        raise RecordingError(f"not a valid pickle: {type(err).__name__}: {err}", source=source,
                             field="pickle") from err


def load_restricted_pickle(path: str | os.PathLike[str]) -> Any:
    """Read a pickle file allowing only NumPy arrays and plain containers."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise RecordingError(f"cannot read: {err.strerror}", source=str(p)) from err
    return loads_restricted_pickle(data, source=str(p))
