"""Camera parameters as plain values for the kernels, and the adapter from a camera model and a transform.

The kernels package does not import :mod:`fusion_stack.calibration` or :mod:`fusion_stack.geometry`:
:func:`camera_params` reads the attributes of any camera model (``model_name``, ``width``, ``height``, ``fx``,
``fy``, ``cx``, ``cy``, ``skew``, ``distortion_coefficients``, ``max_radius`` / ``max_theta``) and of any
rigid transform (``rotation``, ``translation``), so a :class:`fusion_stack.calibration.CameraModel` and a
:class:`fusion_stack.geometry.se3.SE3` work as they are.

Frames and units: the transform is ``src2cam`` (``p_cam = rotation @ p_src + translation``, metres) into the
camera OPTICAL frame (x right, y down, z forward); intrinsics are in pixels with OpenCV's conventions (pixel
``(0, 0)`` is the centre of the top-left pixel).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.kernels.cpu_kernels import (
    CAM_CX,
    CAM_CY,
    CAM_DIST,
    CAM_FX,
    CAM_FY,
    CAM_HEIGHT,
    CAM_LIMIT,
    CAM_MODEL,
    CAM_ROT,
    CAM_ROW_SIZE,
    CAM_SKEW,
    CAM_TRANS,
    CAM_WIDTH,
    MODEL_FISHEYE,
    MODEL_PINHOLE,
    MODEL_RADTAN,
    MODEL_RATIONAL,
)
from fusion_stack.kernels.errors import KernelError

__all__ = ["MODELS", "CameraParams", "camera_params", "pack_cameras"]

FloatArray = npt.NDArray[np.float64]

#: Kernel model names and the camera-model names (``CameraModel.model_name``) they stand for.
MODELS = {
    "pinhole": "pinhole",
    "radtan": "radtan",
    "plumb_bob": "radtan",
    "rational_polynomial": "radtan",
    "fisheye": "fisheye",
    "equidistant": "fisheye",
}
_MODEL_CODES = {"pinhole": MODEL_PINHOLE, "radtan": MODEL_RADTAN, "fisheye": MODEL_FISHEYE}
_DISTORTION_LENGTHS = {"pinhole": (0,), "radtan": (4, 5, 8), "fisheye": (4,)}


def _readonly(values: npt.ArrayLike, shape: tuple[int, ...], name: str) -> FloatArray:
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KernelError(f"expected a real array of shape {shape}, got {values!r}: {exc}", field=name) from exc
    if arr.shape != shape:
        raise KernelError(f"expected shape {shape}, got {arr.shape}", field=name)
    if not np.isfinite(arr).all():
        raise KernelError(f"non-finite values: {arr.tolist()}", field=name)
    arr.flags.writeable = False
    return arr


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KernelError(f"expected a real number, got {value!r} ({type(value).__name__})", field=name)
    return float(value)


@dataclass(frozen=True, eq=False)
class CameraParams:
    """One camera as the kernels see it: intrinsics, distortion, fold-back limit and ``src2cam`` extrinsic.

    Attributes:
        model: "pinhole", "radtan" (OpenCV radial-tangential, 4, 5 or 8 coefficients) or "fisheye" (OpenCV
            equidistant, 4 coefficients).  The ROS names "plumb_bob", "rational_polynomial" and "equidistant"
            are accepted and normalised.
        width, height: image size in pixels (positive ints).
        fx, fy: focal lengths in pixels (> 0); cx, cy: principal point in pixels; skew: ``K[0, 1]`` in pixels
            (``u = fx * xd + skew * yd + cx``).
        distortion: coefficients in OpenCV order (radtan: k1, k2, p1, p2[, k3[, k4, k5, k6]]; fisheye: k1, k2,
            k3, k4; pinhole: none); stored zero-padded to 8 values (and that form is accepted back).
        fold_limit: where the distortion polynomial folds back (see ``fusion_stack.calibration.camera_models``):
            radtan: the largest undistorted normalised radius ``max_radius``; fisheye: the largest angle from the
            optical axis ``max_theta`` (radians).  Points at or beyond it are invalid.  ``inf`` = no limit (the
            default; :func:`camera_params` copies the camera model's limit).  Ignored for pinhole.
        rotation: (3, 3) float64 ``src2cam`` rotation (applied as given: not re-orthonormalised).
        translation: (3,) float64 ``src2cam`` translation in metres.

    Raises:
        KernelError: unknown model, non-positive size or focal length, non-finite values, wrong number of
            distortion coefficients, bad rotation/translation shapes, or a non-positive fold limit.
    """

    model: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    skew: float = 0.0
    distortion: tuple[float, ...] = ()
    fold_limit: float = math.inf
    rotation: FloatArray = field(default_factory=lambda: np.eye(3))
    translation: FloatArray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        model = MODELS.get(self.model) if isinstance(self.model, str) else None
        if model is None:
            raise KernelError(f"unknown camera model {self.model!r}; expected one of {sorted(MODELS)}", field="model")
        object.__setattr__(self, "model", model)
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
                raise KernelError(f"expected a positive int, got {value!r}", field=name)
            object.__setattr__(self, name, int(value))
        for name in ("fx", "fy", "cx", "cy", "skew"):
            value = _real(getattr(self, name), name)
            if not math.isfinite(value):
                raise KernelError(f"non-finite value {value!r}", field=name)
            if name in ("fx", "fy") and value <= 0.0:
                raise KernelError(f"expected a positive focal length, got {value!r}", field=name)
            object.__setattr__(self, name, value)
        try:
            coefficients = tuple(float(c) for c in np.asarray(self.distortion, dtype=np.float64).ravel())
        except (TypeError, ValueError) as exc:
            raise KernelError(f"cannot read coefficients from {self.distortion!r}: {exc}", field="distortion") from exc
        longest = max(_DISTORTION_LENGTHS[model])
        if len(coefficients) == 8 and not any(coefficients[longest:]):  # the stored (zero-padded) form
            coefficients = coefficients[:longest]
        if len(coefficients) not in _DISTORTION_LENGTHS[model]:
            raise KernelError(
                f"a {model} camera takes {' or '.join(map(str, _DISTORTION_LENGTHS[model]))} coefficients, "
                f"got {len(coefficients)}: {coefficients}",
                field="distortion",
            )
        if not all(math.isfinite(c) for c in coefficients):
            raise KernelError(f"non-finite coefficients {coefficients}", field="distortion")
        object.__setattr__(self, "distortion", coefficients + (0.0,) * (8 - len(coefficients)))
        limit = _real(self.fold_limit, "fold_limit")
        if not limit > 0.0:
            raise KernelError(f"expected a positive limit (or inf), got {limit!r}", field="fold_limit")
        object.__setattr__(self, "fold_limit", limit)
        object.__setattr__(self, "rotation", _readonly(self.rotation, (3, 3), "rotation"))
        object.__setattr__(self, "translation", _readonly(self.translation, (3,), "translation"))

    def packed(self) -> FloatArray:
        """(CAM_ROW_SIZE,) float64 row in the layout of :mod:`fusion_stack.kernels.cpu_kernels`."""
        row = np.zeros(CAM_ROW_SIZE, dtype=np.float64)
        row[CAM_MODEL] = _MODEL_CODES[self.model]
        if self.model == "radtan" and any(self.distortion[5:]):
            row[CAM_MODEL] = MODEL_RATIONAL
        row[CAM_WIDTH] = self.width
        row[CAM_HEIGHT] = self.height
        row[CAM_FX] = self.fx
        row[CAM_FY] = self.fy
        row[CAM_CX] = self.cx
        row[CAM_CY] = self.cy
        row[CAM_SKEW] = self.skew
        row[CAM_DIST : CAM_DIST + 8] = self.distortion
        if self.model == "radtan":
            row[CAM_LIMIT] = self.fold_limit * self.fold_limit
        elif self.model == "fisheye":
            row[CAM_LIMIT] = self.fold_limit
        else:
            row[CAM_LIMIT] = math.inf
        row[CAM_ROT : CAM_ROT + 9] = self.rotation.ravel()
        row[CAM_TRANS : CAM_TRANS + 3] = self.translation
        return row


def camera_params(camera: Any, src2cam: Any = None) -> CameraParams:
    """Build :class:`CameraParams` from a camera model and a ``src2cam`` transform (duck-typed).

    Args:
        camera: anything with ``model_name`` ("pinhole", "plumb_bob", "rational_polynomial", "radtan",
            "fisheye" or "equidistant"), ``width``, ``height``, ``fx``, ``fy``, ``cx``, ``cy``, ``skew`` and
            ``distortion_coefficients``; ``max_radius`` (radtan) or ``max_theta`` (fisheye) when present
            become the fold limit (``inf`` when absent), e.g. a ``fusion_stack.calibration.CameraModel``.
        src2cam: anything with ``rotation`` (3, 3) and ``translation`` (3,) (e.g. an ``SE3`` such as
            ``rig.extrinsic(src_sensor, camera_sensor)``), mapping the source frame into the camera optical
            frame; None = identity (points already in the camera frame).

    Raises:
        KernelError: a missing attribute (naming it) or invalid values (see :class:`CameraParams`).
    """
    try:
        name = camera.model_name
        intrinsics = {key: getattr(camera, key) for key in ("width", "height", "fx", "fy", "cx", "cy", "skew")}
        coefficients = camera.distortion_coefficients
    except AttributeError as exc:
        raise KernelError(f"not a camera model ({type(camera).__name__}): {exc}", field="camera") from exc
    model = MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        raise KernelError(f"unknown camera model {name!r}; expected one of {sorted(MODELS)}", field="camera")
    limit_name = {"radtan": "max_radius", "fisheye": "max_theta"}.get(model)
    limit = float(getattr(camera, limit_name, math.inf)) if limit_name else math.inf
    if src2cam is None:
        rotation, translation = np.eye(3), np.zeros(3)
    else:
        try:
            rotation, translation = src2cam.rotation, src2cam.translation
        except AttributeError as exc:
            raise KernelError(
                f"not a transform with rotation and translation ({type(src2cam).__name__}): {exc}", field="src2cam"
            ) from exc
    return CameraParams(
        model=model,
        distortion=tuple(np.asarray(coefficients, dtype=np.float64).ravel().tolist()),
        fold_limit=limit,
        rotation=rotation,
        translation=translation,
        **intrinsics,
    )


def pack_cameras(cameras: CameraParams | Sequence[CameraParams]) -> FloatArray:
    """(C, CAM_ROW_SIZE) float64 C-contiguous array of camera rows; a single camera counts as C = 1.

    Raises:
        KernelError: no cameras, or an element that is not a :class:`CameraParams` (build those with
            :func:`camera_params`).
    """
    items = [cameras] if isinstance(cameras, CameraParams) else cameras
    try:
        items = list(items)
    except TypeError as exc:
        raise KernelError(
            f"expected a sequence of CameraParams, got {type(cameras).__name__}", field="cameras"
        ) from exc
    if not items:
        raise KernelError("expected at least one camera, got an empty sequence", field="cameras")
    for index, item in enumerate(items):
        if not isinstance(item, CameraParams):
            raise KernelError(
                f"element {index} is a {type(item).__name__}, not CameraParams (use kernels.camera_params(camera, "
                "src2cam) to build one from a camera model)",
                field="cameras",
            )
    return np.ascontiguousarray(np.stack([item.packed() for item in items]))
