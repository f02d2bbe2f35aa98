"""Read and write the ROS ``camera_info`` calibration YAML (camera_calibration_parsers format).

The format, as written by ROS ``camera_calibration`` / ``camera_calibration_parsers``::

    image_width: 640
    image_height: 480
    camera_name: narrow_stereo
    camera_matrix: {rows: 3, cols: 3, data: [fx, s, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob            # or rational_polynomial, equidistant
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

Mapping to :mod:`fusion_stack.calibration.camera_models`:

* ``plumb_bob`` with no coefficients (``data: []``) <-> :class:`PinholeCamera`; ``plumb_bob`` with 4 or 5
  coefficients (even all zero: the model the user wrote is kept) <-> :class:`RadTanCamera`.
* ``rational_polynomial`` (8 coefficients) <-> :class:`RadTanCamera` with 8 coefficients.
* ``equidistant`` (4 coefficients k1..k4) <-> :class:`FisheyeCamera`.

As in camera_calibration_parsers, ``camera_name`` defaults to "unknown" and ``distortion_model`` to
"plumb_bob" when absent.  ``rectification_matrix`` and ``projection_matrix`` (stereo rectification) are
checked for size when present but not represented in the camera model; on export they are the identity
and ``[K | 0]``.  Values are in pixels; the camera frame is the optical frame (see camera_models).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fusion_stack.calibration.camera_models import CameraModel, FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError

__all__ = [
    "camera_from_ros_dict",
    "camera_from_ros_yaml",
    "camera_to_ros_dict",
    "camera_to_ros_yaml",
]

_DEFAULT_TEXT_SOURCE = "<camera_info yaml>"
_DEFAULT_DICT_SOURCE = "<camera_info dict>"
_DISTORTION_LENGTHS = {"plumb_bob": (0, 4, 5), "rational_polynomial": (8,), "equidistant": (4,)}
#: Where a camera-model field lives in the YAML (for error messages).
_MODEL_FIELD_TO_KEY = {
    "width": "image_width",
    "height": "image_height",
    "fx": "camera_matrix.data",
    "fy": "camera_matrix.data",
    "cx": "camera_matrix.data",
    "cy": "camera_matrix.data",
    "skew": "camera_matrix.data",
    "distortion": "distortion_coefficients.data",
}


def camera_from_ros_yaml(
    text_or_path: str | os.PathLike[str], *, source: str | None = None
) -> tuple[str, CameraModel]:
    """Parse a ROS camera_info YAML document.

    Args:
        text_or_path: the YAML text, or a path (a :class:`os.PathLike`, or a one-line string naming an
            existing file or ending in ".yaml" / ".yml").
        source: name used in error messages; defaults to the path, or "<camera_info yaml>" for text.

    Returns:
        ``(camera_name, camera)``.

    Raises:
        CalibrationError: unreadable file, invalid YAML, or invalid content (naming source and field).
    """
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str)
        and "\n" not in text_or_path
        and (text_or_path.endswith((".yaml", ".yml")) or os.path.isfile(text_or_path))
    ):
        path = Path(text_or_path)
        source = source or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"cannot read camera_info file: {exc}", source=source) from exc
    elif isinstance(text_or_path, str):
        text = text_or_path
        source = source or _DEFAULT_TEXT_SOURCE
    else:
        raise CalibrationError(
            f"expected YAML text or a path, got {type(text_or_path).__name__}",
            source=source or _DEFAULT_TEXT_SOURCE,
        )
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"invalid YAML: {exc}", source=source) from exc
    return camera_from_ros_dict(document, source=source)


def camera_from_ros_dict(d: object, *, source: str | None = None) -> tuple[str, CameraModel]:
    """Build ``(camera_name, camera)`` from a parsed camera_info mapping (see the module docstring).

    Raises:
        CalibrationError: not a mapping, missing keys, matrices whose ``data`` length is not
            ``rows * cols`` or whose size is wrong, unknown ``distortion_model``, or invalid camera
            parameters; ``field`` names the key (e.g. "camera_matrix.data").
    """
    src = source or _DEFAULT_DICT_SOURCE
    if not isinstance(d, Mapping):
        raise CalibrationError(
            f"expected a mapping (camera_info document), got {type(d).__name__}: {d!r:.80}", source=src
        )
    camera_name = d.get("camera_name", "unknown")
    if not isinstance(camera_name, str):
        raise CalibrationError(f"expected a string, got {camera_name!r}", source=src, field="camera_name")
    width = _required(d, "image_width", src)
    height = _required(d, "image_height", src)
    k = _matrix(d, "camera_matrix", src, shape=(3, 3))
    if k[3] != 0.0 or k[6] != 0.0 or k[7] != 0.0 or k[8] != 1.0:
        raise CalibrationError(
            f"not a camera matrix [fx, s, cx, 0, fy, cy, 0, 0, 1]: {k}",
            source=src,
            field="camera_matrix.data",
        )
    distortion_model = d.get("distortion_model", "plumb_bob")
    if distortion_model not in _DISTORTION_LENGTHS:
        raise CalibrationError(
            f"unknown distortion model {distortion_model!r}; expected one of {tuple(_DISTORTION_LENGTHS)}",
            source=src,
            field="distortion_model",
        )
    coefficients = _matrix(d, "distortion_coefficients", src, shape=None)
    allowed = _DISTORTION_LENGTHS[distortion_model]
    if len(coefficients) not in allowed:
        raise CalibrationError(
            f"distortion model {distortion_model!r} needs {' or '.join(map(str, allowed))} coefficients, "
            f"got {len(coefficients)}: {coefficients}",
            source=src,
            field="distortion_coefficients.data",
        )
    if "rectification_matrix" in d:
        _matrix(d, "rectification_matrix", src, shape=(3, 3))
    if "projection_matrix" in d:
        _matrix(d, "projection_matrix", src, shape=(3, 4))
    intrinsics: dict[str, Any] = {
        "width": width,
        "height": height,
        "fx": k[0],
        "fy": k[4],
        "cx": k[2],
        "cy": k[5],
        "skew": k[1],
    }
    camera: CameraModel
    try:
        if distortion_model == "equidistant":
            k1, k2, k3, k4 = coefficients
            camera = FisheyeCamera(**intrinsics, distortion=(k1, k2, k3, k4))
        elif not coefficients:
            camera = PinholeCamera(**intrinsics)
        else:
            camera = RadTanCamera(**intrinsics, distortion=tuple(coefficients))
    except CalibrationError as exc:
        key = _MODEL_FIELD_TO_KEY.get(exc.field or "", exc.field)
        detail = f"{exc.field}: {exc.reason}" if exc.field and exc.field != key else exc.reason
        raise CalibrationError(detail, source=src, field=key) from exc
    return camera_name, camera


def camera_to_ros_dict(camera_name: str, camera: CameraModel) -> dict[str, Any]:
    """The camera_info mapping of ``camera`` (plain Python ints, floats, strings and lists).

    Rectification is the identity and the projection matrix is ``[K | 0]``.  A :class:`PinholeCamera`
    is written as ``plumb_bob`` with no coefficients.

    Raises:
        CalibrationError: ``camera_name`` not a string, or a camera whose ``model_name`` has no ROS
            distortion model.
    """
    if not isinstance(camera_name, str):
        raise CalibrationError(f"expected a string, got {camera_name!r}", field="camera_name")
    model_name = camera.model_name
    ros_model = {
        "pinhole": "plumb_bob",
        "plumb_bob": "plumb_bob",
        "rational_polynomial": "rational_polynomial",
        "fisheye": "equidistant",
    }.get(model_name)
    if ros_model is None:
        raise CalibrationError(f"no ROS distortion model for camera model {model_name!r}", field="model_name")
    k = [float(v) for v in camera.K.ravel()]
    coefficients = [float(v) for v in camera.distortion_coefficients.ravel()]
    projection = [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]
    identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return {
        "image_width": int(camera.width),
        "image_height": int(camera.height),
        "camera_name": camera_name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": k},
        "distortion_model": ros_model,
        "distortion_coefficients": {"rows": 1, "cols": len(coefficients), "data": coefficients},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": identity},
        "projection_matrix": {"rows": 3, "cols": 4, "data": projection},
    }


def camera_to_ros_yaml(camera_name: str, camera: CameraModel) -> str:
    """The camera_info YAML text of ``camera`` (key order and flow-style lists as ROS writes them).

    Floats are written with Python's shortest round-trip representation, so
    ``camera_from_ros_yaml(camera_to_ros_yaml(name, cam)) == (name, cam)``.
    """
    return yaml.safe_dump(camera_to_ros_dict(camera_name, camera), sort_keys=False, default_flow_style=None)


def _required(d: Mapping[Any, Any], key: str, source: str) -> Any:
    if key not in d:
        raise CalibrationError("missing key", source=source, field=key)
    return d[key]


def _int(value: object, source: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CalibrationError(f"expected a non-negative int, got {value!r}", source=source, field=field)
    return value


def _number(value: object, source: str, field: str, index: int) -> float:
    # PyYAML reads exponents without a dot (e.g. "1e-05", as yaml-cpp writes them) as strings.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CalibrationError(f"element {index} is not a number: {value!r}", source=source, field=field)


def _matrix(d: Mapping[Any, Any], key: str, source: str, *, shape: tuple[int, int] | None) -> list[float]:
    """The row-major ``data`` of the ``{rows, cols, data}`` node ``d[key]``, checked against ``shape``."""
    node = _required(d, key, source)
    if not isinstance(node, Mapping):
        raise CalibrationError(
            f"expected a mapping with rows, cols and data, got {node!r:.80}", source=source, field=key
        )
    for sub in ("rows", "cols", "data"):
        if sub not in node:
            raise CalibrationError("missing key", source=source, field=f"{key}.{sub}")
    rows = _int(node["rows"], source, f"{key}.rows")
    cols = _int(node["cols"], source, f"{key}.cols")
    data = node["data"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CalibrationError(f"expected a list, got {data!r:.80}", source=source, field=f"{key}.data")
    if shape is not None and (rows, cols) != shape:
        raise CalibrationError(
            f"expected a {shape[0]}x{shape[1]} matrix, got rows={rows}, cols={cols}",
            source=source,
            field=f"{key}.rows" if rows != shape[0] else f"{key}.cols",
        )
    if len(data) != rows * cols:
        raise CalibrationError(
            f"data has {len(data)} elements, expected rows * cols = {rows} * {cols} = {rows * cols}",
            source=source,
            field=f"{key}.data",
        )
    values = [_number(v, source, f"{key}.data", i) for i, v in enumerate(data)]
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise CalibrationError(f"element {i} is not finite: {v!r}", source=source, field=f"{key}.data")
    return values
