"""Intrinsic camera models: pinhole, OpenCV radial-tangential and OpenCV equidistant fisheye.

Frames and units
----------------
* Points are in the camera OPTICAL frame (REP-103 optical convention): x right, y down, z forward,
  in metres (any consistent length unit works; only ratios matter).
* Pixel coordinates ``(u, v)`` follow OpenCV: ``u`` to the right, ``v`` down, and pixel ``(0, 0)`` is
  the *centre* of the top-left pixel.  Intrinsics (``fx``, ``fy``, ``cx``, ``cy``, ``skew``) are in pixels.
* The normalised image plane is the plane ``z = 1``: a point ``(X, Y, Z)`` has normalised coordinates
  ``(X / Z, Y / Z)``.  The *distorted* normalised coordinates ``(xd, yd)`` map to pixels through ``K``::

      u = fx * xd + skew * yd + cx
      v = fy * yd + cy

Models
------
* :class:`PinholeCamera`: no distortion.
* :class:`RadTanCamera`: OpenCV's radial-tangential model (``cv2.projectPoints``), with 5 (ROS
  ``plumb_bob``: k1, k2, p1, p2, k3) or 8 (ROS ``rational_polynomial``: k1, k2, p1, p2, k3, k4, k5, k6)
  coefficients; 4 coefficients (k1, k2, p1, p2) are accepted and normalised to 5 with k3 = 0.
* :class:`FisheyeCamera`: OpenCV's equidistant fisheye model (``cv2.fisheye``, ROS ``equidistant``)::

      theta = atan(r),  r = hypot(x, y)
      theta_d = theta * (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
      (xd, yd) = (theta_d / r) * (x, y)

  ``skew`` corresponds to cv2.fisheye's ``alpha`` parameter as ``skew = alpha * fx``.

Note that ``cv2.projectPoints`` ignores ``K[0, 1]``; the projections here agree with it for ``skew == 0``.

Fold-back of the distortion polynomial
--------------------------------------
A distortion polynomial is only a faithful lens model inside the region where the radial mapping is
strictly increasing.  Beyond it the mapping folds back and sends points far outside the field of view
(even at 80+ degrees off-axis) to pixels inside the image.  Each distorted model therefore computes, once
(cached on the coefficients), the largest undistorted radius up to which the mapping is strictly
increasing:

* :class:`RadTanCamera`: ``max_radius`` in the normalised plane, for ``r -> r * d(r)`` with
  ``d(r) = (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)`` (the denominator must also
  stay positive).  The tangential terms are not part of the test.  The search runs on a fine grid up to
  ``r = 10`` (84 degrees off-axis), continues on a geometric grid up to ``r = 1e4``, and the first sign
  change is refined by bisection.  If the mapping is increasing on the whole search range, ``max_radius``
  is ``inf``.
* :class:`FisheyeCamera`: ``max_theta`` (radians from the optical axis) for ``theta -> theta_d``, searched
  over ``[0, pi / 2]``: the OpenCV model computes ``theta = atan(r)``, which never reaches ``pi / 2`` for
  points in front of the camera.  ``inf`` if increasing on the whole range.

:meth:`project` marks points beyond that radius invalid, and :meth:`unproject` only returns points inside
it (whole rows of NaN otherwise).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.errors import CalibrationError

__all__ = [
    "CameraModel",
    "FisheyeCamera",
    "PinholeCamera",
    "Projection",
    "RadTanCamera",
    "camera_from_cv",
]

FloatArray = npt.NDArray[np.float64]

#: Upper bound of the fine linear grid of the fold-back search (normalised radius).
_RADTAN_LINEAR_SEARCH_MAX = 10.0
#: Upper bound of the geometric tail of the fold-back search (normalised radius).
_RADTAN_SEARCH_MAX = 1.0e4
_RADTAN_LINEAR_SAMPLES = 20001
_RADTAN_TAIL_SAMPLES = 2001
_FISHEYE_SEARCH_MAX = math.pi / 2.0
_FISHEYE_SAMPLES = 20001

#: Newton / bisection iteration caps for undistortion.
_MAX_RADIAL_ITERATIONS = 200
_MAX_NEWTON_ITERATIONS = 50
#: Accepted residual of undistortion, in normalised units (relative to max(1, |xd|)).
_UNDISTORT_TOLERANCE = 1e-11
#: Below this distorted radius the fisheye mapping is treated as the identity (as cv2.fisheye does).
_FISHEYE_SMALL_RADIUS = 1e-8


@dataclass(frozen=True, eq=False)
class Projection:
    """Result of :meth:`CameraModel.project`.

    Attributes:
        uv: (N, 2) float64 pixel coordinates, computed for every point (for ``z <= 0`` by the same
            formula, i.e. the mirrored point; non-finite for ``z == 0``).  Where ``z > 0`` the values are
            those of ``cv2.projectPoints`` / ``cv2.fisheye.projectPoints``.
        depth: (N,) float64 ``z`` of each point in the camera optical frame (same unit as the points).
        valid: (N,) bool, True where ``z > near``, ``0 <= u < width``, ``0 <= v < height`` and the point
            lies inside the region where the distortion is monotonic (see the module docstring).
    """

    uv: FloatArray
    depth: FloatArray
    valid: npt.NDArray[np.bool_]


@runtime_checkable
class CameraModel(Protocol):
    """What every camera model offers (pixels, camera optical frame; see the module docstring)."""

    @property
    def width(self) -> int:
        """Image width in pixels."""
        ...

    @property
    def height(self) -> int:
        """Image height in pixels."""
        ...

    @property
    def fx(self) -> float:
        """Focal length along u, in pixels."""
        ...

    @property
    def fy(self) -> float:
        """Focal length along v, in pixels."""
        ...

    @property
    def cx(self) -> float:
        """Principal point u, in pixels."""
        ...

    @property
    def cy(self) -> float:
        """Principal point v, in pixels."""
        ...

    @property
    def skew(self) -> float:
        """``K[0, 1]`` in pixels."""
        ...

    @property
    def model_name(self) -> str:
        """ "pinhole", "plumb_bob", "rational_polynomial" or "fisheye"."""
        ...

    @property
    def K(self) -> FloatArray:  # noqa: N802 (the conventional name of the camera matrix)
        """(3, 3) float64 camera matrix ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``."""
        ...

    @property
    def distortion_coefficients(self) -> FloatArray:
        """(M,) float64 distortion coefficients in OpenCV order (M = 0, 4, 5 or 8)."""
        ...

    def project(self, points_cam: npt.ArrayLike, *, near: float = 1e-3) -> Projection:
        """Project (N, 3) points in the camera optical frame to pixels."""
        ...

    def unproject(self, uv: npt.ArrayLike, depth: npt.ArrayLike | None = None) -> FloatArray:
        """(N, 2) pixels to (N, 3) points in the camera optical frame (z = 1 or z = depth).

        Rows (all three values) are NaN where no point inside the monotonic region maps to the pixel.
        """
        ...

    def distort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) undistorted normalised coordinates to (N, 2) distorted normalised coordinates."""
        ...

    def undistort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) distorted normalised coordinates to (N, 2) undistorted ones (NaN where no solution)."""
        ...


# ----------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------


def _validated_size(value: object, name: str) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise CalibrationError(f"non-finite value {value!r}", field=name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CalibrationError(f"must be a positive int, got {value!r} ({type(value).__name__})", field=name)
    if int(value) <= 0:
        raise CalibrationError(f"must be a positive int, got {value!r}", field=name)
    return int(value)


def _validated_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CalibrationError(f"must be a real number, got {value!r} ({type(value).__name__})", field=name)
    result = float(value)
    if not math.isfinite(result):
        raise CalibrationError(f"non-finite value {value!r}", field=name)
    return result


def _validated_coefficients(value: object, name: str, allowed: tuple[int, ...]) -> tuple[float, ...]:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"cannot read coefficients from {value!r}: {exc}", field=name) from exc
    if arr.ndim != 1:
        raise CalibrationError(f"expected a 1-D sequence of coefficients, got shape {arr.shape}", field=name)
    if arr.dtype.kind not in "iuf":
        raise CalibrationError(f"expected real coefficients, got dtype {arr.dtype}: {value!r}", field=name)
    coefficients = tuple(float(c) for c in arr)
    if len(coefficients) not in allowed:
        wanted = " or ".join(str(n) for n in allowed)
        raise CalibrationError(
            f"wrong number of distortion coefficients: expected {wanted}, got {len(coefficients)}: "
            f"{coefficients}",
            field=name,
        )
    for index, c in enumerate(coefficients):
        if not math.isfinite(c):
            raise CalibrationError(
                f"non-finite coefficient {c!r} at index {index}: {coefficients}", field=name
            )
    return coefficients


def _validate_intrinsics(camera: Any) -> None:
    """Validate and normalise the fields shared by all models (in place, on a frozen dataclass)."""
    width = _validated_size(camera.width, "width")
    height = _validated_size(camera.height, "height")
    values = {name: _validated_real(getattr(camera, name), name) for name in ("fx", "fy", "cx", "cy", "skew")}
    for name in ("fx", "fy"):
        if values[name] <= 0.0:
            raise CalibrationError(f"non-positive focal length {values[name]!r}", field=name)
    if not 0.0 <= values["cx"] <= width:
        raise CalibrationError(f"principal point {values['cx']!r} outside the image [0, {width}]", field="cx")
    if not 0.0 <= values["cy"] <= height:
        raise CalibrationError(
            f"principal point {values['cy']!r} outside the image [0, {height}]", field="cy"
        )
    object.__setattr__(camera, "width", width)
    object.__setattr__(camera, "height", height)
    for name, value in values.items():
        object.__setattr__(camera, name, value)


def _as_real_array(value: npt.ArrayLike, name: str, columns: int | None) -> FloatArray:
    """``value`` as float64, with shape (N, columns) (or (N,) when ``columns`` is None)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"cannot convert to an array: {exc}", field=name) from exc
    if arr.dtype.kind not in "iuf":
        raise CalibrationError(
            f"expected a real (integer or floating) array, got dtype {arr.dtype}", field=name
        )
    expected = "(N,)" if columns is None else f"(N, {columns})"
    if columns is None:
        if arr.ndim != 1:
            raise CalibrationError(f"expected shape {expected}, got {arr.shape}", field=name)
    elif arr.ndim != 2 or arr.shape[1] != columns:
        raise CalibrationError(f"expected shape {expected}, got {arr.shape}", field=name)
    return arr.astype(np.float64, copy=False)


# ----------------------------------------------------------------------------------------------------
# Numerics shared by the models
# ----------------------------------------------------------------------------------------------------


def _first_failure(grid: FloatArray, predicate: Callable[[FloatArray], npt.NDArray[np.bool_]]) -> float:
    """The largest ``t`` such that ``predicate`` holds on ``[grid[0], t]``; ``inf`` if it holds on the grid.

    ``predicate(grid[0])`` must hold.  The first failing grid interval is refined by bisection.
    """
    ok = predicate(grid)
    if bool(ok.all()):
        return math.inf
    j = int(np.argmin(ok))
    lo, hi = float(grid[j - 1]), float(grid[j])
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if bool(predicate(np.array([mid]))[0]):
            lo = mid
        else:
            hi = mid
    return lo


def _radtan_radial_parts(
    s: FloatArray, radial: tuple[float, float, float, float, float, float]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Numerator, denominator and their derivatives with respect to ``s = r^2``."""
    k1, k2, k3, k4, k5, k6 = radial
    num = 1.0 + s * (k1 + s * (k2 + s * k3))
    den = 1.0 + s * (k4 + s * (k5 + s * k6))
    dnum = k1 + s * (2.0 * k2 + s * 3.0 * k3)
    dden = k4 + s * (2.0 * k5 + s * 3.0 * k6)
    return num, den, dnum, dden


def _radtan_radial(distortion: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    k1, k2 = distortion[0], distortion[1]
    k3 = distortion[4]
    k4, k5, k6 = distortion[5:8] if len(distortion) == 8 else (0.0, 0.0, 0.0)
    return (k1, k2, k3, k4, k5, k6)


@functools.lru_cache(maxsize=512)
def _radtan_max_radius(radial: tuple[float, float, float, float, float, float]) -> float:
    """Largest normalised radius up to which ``r -> r * d(r)`` is strictly increasing (see module doc)."""
    if not any(radial):
        return math.inf

    def increasing(r: FloatArray) -> npt.NDArray[np.bool_]:
        s = r * r
        num, den, dnum, dden = _radtan_radial_parts(s, radial)
        # d/dr [r num/den] * den^2 = num den + 2 s (num' den - num den'); den must stay positive.
        slope = num * den + 2.0 * s * (dnum * den - num * dden)
        return (den > 0.0) & (slope > 0.0)

    grid = np.concatenate(
        [
            np.linspace(0.0, _RADTAN_LINEAR_SEARCH_MAX, _RADTAN_LINEAR_SAMPLES),
            np.geomspace(_RADTAN_LINEAR_SEARCH_MAX, _RADTAN_SEARCH_MAX, _RADTAN_TAIL_SAMPLES)[1:],
        ]
    )
    return _first_failure(grid, increasing)


@functools.lru_cache(maxsize=512)
def _fisheye_max_theta(k: tuple[float, float, float, float]) -> float:
    """Largest angle (rad) up to which ``theta -> theta_d`` is strictly increasing (see module doc)."""
    if not any(k):
        return math.inf
    k1, k2, k3, k4 = k

    def increasing(theta: FloatArray) -> npt.NDArray[np.bool_]:
        t2 = theta * theta
        slope = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
        return slope > 0.0

    return _first_failure(np.linspace(0.0, _FISHEYE_SEARCH_MAX, _FISHEYE_SAMPLES), increasing)


def _solve_increasing(
    func: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
    target: FloatArray,
    upper: float,
) -> FloatArray:
    """Solve ``f(t) = target`` for ``t`` in ``[0, upper]``, elementwise, with ``f`` increasing there.

    ``func(t)`` returns ``(f(t), f'(t))``.  Safeguarded Newton: a step that leaves the current bracket is
    replaced by bisection.  Targets above ``f(upper)`` converge to ``upper`` (the caller checks residuals).
    """
    lo = np.zeros_like(target)
    hi = np.full_like(target, upper)
    t = np.minimum(target, upper)
    for _ in range(_MAX_RADIAL_ITERATIONS):
        value, slope = func(t)
        residual = value - target
        lo = np.where(residual < 0.0, t, lo)
        hi = np.where(residual > 0.0, t, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            candidate = t - residual / slope
        outside = ~((candidate > lo) & (candidate < hi))
        candidate = np.where(outside, 0.5 * (lo + hi), candidate)
        candidate = np.where(residual == 0.0, t, candidate)
        done = np.abs(candidate - t) <= 4.0 * np.finfo(np.float64).eps * np.maximum(np.abs(t), 1e-300)
        t = candidate
        if bool(done.all()):
            break
    return t


def _normalized_from_pixels(camera: Any, uv: FloatArray) -> FloatArray:
    yd = (uv[:, 1] - camera.cy) / camera.fy
    xd = (uv[:, 0] - camera.cx - camera.skew * yd) / camera.fx
    return np.stack([xd, yd], axis=1)


def _pixels_from_normalized(camera: Any, xy: FloatArray) -> FloatArray:
    u = camera.fx * xy[:, 0] + camera.skew * xy[:, 1] + camera.cx
    v = camera.fy * xy[:, 1] + camera.cy
    return np.stack([u, v], axis=1)


def _camera_matrix(camera: Any) -> FloatArray:
    return np.array(
        [[camera.fx, camera.skew, camera.cx], [0.0, camera.fy, camera.cy], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def _project(
    camera: Any, points_cam: npt.ArrayLike, near: float, in_region: Callable[[FloatArray], Any]
) -> Projection:
    points = _as_real_array(points_cam, "points_cam", 3)
    near = _validated_real(near, "near")
    z = points[:, 2].copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xy = points[:, :2] / z[:, None]
        uv = _pixels_from_normalized(camera, camera.distort_normalized(xy))
        valid = (
            (z > near)
            & (uv[:, 0] >= 0.0)
            & (uv[:, 0] < camera.width)
            & (uv[:, 1] >= 0.0)
            & (uv[:, 1] < camera.height)
            & in_region(xy)
        )
    return Projection(uv=uv, depth=z, valid=np.asarray(valid, dtype=bool))


def _unproject(camera: Any, uv: npt.ArrayLike, depth: npt.ArrayLike | None) -> FloatArray:
    pixels = _as_real_array(uv, "uv", 2)
    xy = camera.undistort_normalized(_normalized_from_pixels(camera, pixels))
    rays = np.concatenate([xy, np.where(np.isnan(xy).any(axis=1), np.nan, 1.0)[:, None]], axis=1)
    if depth is None:
        return rays
    z = _as_real_array(depth, "depth", None)
    if z.shape[0] != rays.shape[0]:
        raise CalibrationError(
            f"expected shape ({rays.shape[0]},) to match uv {pixels.shape}, got {z.shape}", field="depth"
        )
    return rays * z[:, None]


# ----------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinholeCamera:
    """Ideal pinhole camera (no distortion).

    Args:
        width, height: image size in pixels (positive ints).
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels, inside the image (``0 <= cx <= width``, ``0 <= cy <= height``).
        skew: ``K[0, 1]`` in pixels.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    skew: float = 0.0

    def __post_init__(self) -> None:
        _validate_intrinsics(self)

    @property
    def model_name(self) -> str:
        """Always "pinhole"."""
        return "pinhole"

    @property
    def K(self) -> FloatArray:  # noqa: N802 (the conventional name of the camera matrix)
        """(3, 3) float64 camera matrix ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``."""
        return _camera_matrix(self)

    @property
    def distortion_coefficients(self) -> FloatArray:
        """Empty (0,) float64 array."""
        return np.zeros(0, dtype=np.float64)

    def distort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """Identity on (N, 2) normalised coordinates (a float64 copy)."""
        return _as_real_array(xy, "xy", 2).copy()

    def undistort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """Identity on (N, 2) normalised coordinates (a float64 copy)."""
        return _as_real_array(xy, "xy", 2).copy()

    def project(self, points_cam: npt.ArrayLike, *, near: float = 1e-3) -> Projection:
        """Project (N, 3) points in the camera optical frame to pixels (see :class:`Projection`).

        ``near`` is the near-plane distance in the points' unit; points with ``z <= near`` are invalid.
        """
        return _project(self, points_cam, near, lambda xy: np.ones(xy.shape[0], dtype=bool))

    def unproject(self, uv: npt.ArrayLike, depth: npt.ArrayLike | None = None) -> FloatArray:
        """(N, 2) pixels to (N, 3) points in the camera optical frame.

        With ``depth=None`` the rays are scaled so that ``z == 1``; with ``depth`` of shape (N,) the points
        lie at ``z == depth``.
        """
        return _unproject(self, uv, depth)


@dataclass(frozen=True)
class RadTanCamera:
    """OpenCV radial-tangential ("plumb_bob" / "rational_polynomial") camera.

    Distortion of undistorted normalised coordinates ``(x, y)``, ``r^2 = x^2 + y^2``::

        d = (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)
        xd = x d + 2 p1 x y + p2 (r^2 + 2 x^2)
        yd = y d + p1 (r^2 + 2 y^2) + 2 p2 x y

    Args:
        width, height, fx, fy, cx, cy, skew: as for :class:`PinholeCamera`.
        distortion: (k1, k2, p1, p2), (k1, k2, p1, p2, k3) or (k1, k2, p1, p2, k3, k4, k5, k6), OpenCV
            order; 4 coefficients are stored as 5 with k3 = 0.

    ``max_radius`` is the normalised radius beyond which the radial mapping folds back (module docstring).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...]
    skew: float = 0.0
    max_radius: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_intrinsics(self)
        coefficients = _validated_coefficients(self.distortion, "distortion", (4, 5, 8))
        if len(coefficients) == 4:
            coefficients = (*coefficients, 0.0)
        object.__setattr__(self, "distortion", coefficients)
        object.__setattr__(self, "max_radius", _radtan_max_radius(_radtan_radial(coefficients)))

    @property
    def model_name(self) -> str:
        """ "plumb_bob" for 5 coefficients, "rational_polynomial" for 8."""
        return "plumb_bob" if len(self.distortion) == 5 else "rational_polynomial"

    @property
    def K(self) -> FloatArray:  # noqa: N802 (the conventional name of the camera matrix)
        """(3, 3) float64 camera matrix ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``."""
        return _camera_matrix(self)

    @property
    def distortion_coefficients(self) -> FloatArray:
        """(5,) or (8,) float64 coefficients in OpenCV order."""
        return np.array(self.distortion, dtype=np.float64)

    def _distort(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        p1, p2 = self.distortion[2], self.distortion[3]
        s = x * x + y * y
        num, den, _, _ = _radtan_radial_parts(s, _radtan_radial(self.distortion))
        d = num / den
        xd = x * d + 2.0 * p1 * x * y + p2 * (s + 2.0 * x * x)
        yd = y * d + p1 * (s + 2.0 * y * y) + 2.0 * p2 * x * y
        return xd, yd

    def distort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) undistorted normalised coordinates to (N, 2) distorted normalised coordinates."""
        arr = _as_real_array(xy, "xy", 2)
        xd, yd = self._distort(arr[:, 0], arr[:, 1])
        return np.stack([xd, yd], axis=1)

    def undistort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) distorted normalised coordinates to (N, 2) undistorted ones.

        Inverts the radial part exactly (safeguarded Newton inside ``[0, max_radius]``), then refines the
        full model with Newton's method.  Rows with no solution inside the monotonic region (or with
        non-finite input) are NaN.
        """
        arr = _as_real_array(xy, "xy", 2)
        xd, yd = arr[:, 0], arr[:, 1]
        if not any(self.distortion):
            return arr.copy()
        radial = _radtan_radial(self.distortion)
        p1, p2 = self.distortion[2], self.distortion[3]
        upper = min(self.max_radius, _RADTAN_SEARCH_MAX)

        def radial_map(r: FloatArray) -> tuple[FloatArray, FloatArray]:
            s = r * r
            num, den, dnum, dden = _radtan_radial_parts(s, radial)
            return r * num / den, num / den + 2.0 * s * (dnum * den - num * dden) / (den * den)

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rd = np.hypot(xd, yd)
            r = _solve_increasing(radial_map, np.where(np.isfinite(rd), rd, 0.0), upper)
            scale = np.where(rd > 0.0, r / rd, 1.0)
            x, y = xd * scale, yd * scale
            if p1 != 0.0 or p2 != 0.0:
                x, y = self._newton(x, y, xd, yd, radial, p1, p2)
            ex, ey = self._distort(x, y)
            residual = np.hypot(ex - xd, ey - yd)
            ok = (residual <= _UNDISTORT_TOLERANCE * np.maximum(1.0, rd)) & (np.hypot(x, y) <= upper)
        return np.where(ok[:, None], np.stack([x, y], axis=1), np.nan)

    def _newton(
        self,
        x: FloatArray,
        y: FloatArray,
        xd: FloatArray,
        yd: FloatArray,
        radial: tuple[float, float, float, float, float, float],
        p1: float,
        p2: float,
    ) -> tuple[FloatArray, FloatArray]:
        """Newton iterations on the full model, with step halving when the residual grows."""

        def residual(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
            ex, ey = self._distort(x, y)
            return ex - xd, ey - yd

        fx_, fy_ = residual(x, y)
        norm = np.hypot(fx_, fy_)
        for _ in range(_MAX_NEWTON_ITERATIONS):
            s = x * x + y * y
            num, den, dnum, dden = _radtan_radial_parts(s, radial)
            d = num / den
            dd = (dnum * den - num * dden) / (den * den)
            j11 = d + 2.0 * x * x * dd + 2.0 * p1 * y + 6.0 * p2 * x
            j12 = 2.0 * x * y * dd + 2.0 * p1 * x + 2.0 * p2 * y
            j22 = d + 2.0 * y * y * dd + 6.0 * p1 * y + 2.0 * p2 * x
            det = j11 * j22 - j12 * j12
            step_x = (j22 * fx_ - j12 * fy_) / det
            step_y = (j11 * fy_ - j12 * fx_) / det
            step_x = np.where(np.isfinite(step_x), step_x, 0.0)
            step_y = np.where(np.isfinite(step_y), step_y, 0.0)
            factor = np.ones_like(x)
            new_x, new_y = x - step_x, y - step_y
            new_fx, new_fy = residual(new_x, new_y)
            new_norm = np.hypot(new_fx, new_fy)
            for _ in range(30):
                worse = ~(new_norm <= norm)
                if not bool(worse.any()):
                    break
                factor = np.where(worse, 0.5 * factor, factor)
                new_x, new_y = x - factor * step_x, y - factor * step_y
                new_fx, new_fy = residual(new_x, new_y)
                new_norm = np.hypot(new_fx, new_fy)
            keep = new_norm <= norm
            moved = np.where(keep, np.hypot(new_x - x, new_y - y), 0.0)
            x, y = np.where(keep, new_x, x), np.where(keep, new_y, y)
            fx_, fy_ = np.where(keep, new_fx, fx_), np.where(keep, new_fy, fy_)
            norm = np.where(keep, new_norm, norm)
            if bool((moved <= 1e-15 * np.maximum(1.0, np.hypot(x, y))).all()):
                break
        return x, y

    def _in_region(self, xy: FloatArray) -> npt.NDArray[np.bool_]:
        return np.asarray(np.hypot(xy[:, 0], xy[:, 1]) < self.max_radius, dtype=bool)

    def project(self, points_cam: npt.ArrayLike, *, near: float = 1e-3) -> Projection:
        """Project (N, 3) points in the camera optical frame to pixels (see :class:`Projection`).

        Same values as ``cv2.projectPoints`` (rvec = tvec = 0, skew = 0) for ``z > 0``.  Points with
        ``z <= near``, outside the image, or with normalised radius ``>= max_radius`` are invalid.
        """
        return _project(self, points_cam, near, self._in_region)

    def unproject(self, uv: npt.ArrayLike, depth: npt.ArrayLike | None = None) -> FloatArray:
        """(N, 2) pixels to (N, 3) points in the camera optical frame.

        With ``depth=None`` the rays are scaled so that ``z == 1``; with ``depth`` of shape (N,) the points
        lie at ``z == depth``.  Rows with no undistorted solution inside ``max_radius`` are NaN.
        """
        return _unproject(self, uv, depth)


@dataclass(frozen=True)
class FisheyeCamera:
    """OpenCV equidistant fisheye camera (``cv2.fisheye``; ROS "equidistant").

    Args:
        width, height, fx, fy, cx, cy, skew: as for :class:`PinholeCamera` (``skew = alpha * fx`` in
            cv2.fisheye terms).
        distortion: (k1, k2, k3, k4).

    ``max_theta`` is the angle from the optical axis (radians) beyond which ``theta -> theta_d`` folds
    back (module docstring).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, float, float, float]
    skew: float = 0.0
    max_theta: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_intrinsics(self)
        coefficients = _validated_coefficients(self.distortion, "distortion", (4,))
        object.__setattr__(self, "distortion", coefficients)
        k1, k2, k3, k4 = coefficients
        object.__setattr__(self, "max_theta", _fisheye_max_theta((k1, k2, k3, k4)))

    @property
    def model_name(self) -> str:
        """Always "fisheye"."""
        return "fisheye"

    @property
    def K(self) -> FloatArray:  # noqa: N802 (the conventional name of the camera matrix)
        """(3, 3) float64 camera matrix ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``."""
        return _camera_matrix(self)

    @property
    def distortion_coefficients(self) -> FloatArray:
        """(4,) float64 coefficients (k1, k2, k3, k4)."""
        return np.array(self.distortion, dtype=np.float64)

    def _theta_d(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        k1, k2, k3, k4 = self.distortion
        t2 = theta * theta
        value = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        slope = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
        return value, slope

    def distort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) undistorted normalised coordinates to (N, 2) distorted ones (as cv2.fisheye)."""
        arr = _as_real_array(xy, "xy", 2)
        r = np.hypot(arr[:, 0], arr[:, 1])
        theta_d, _ = self._theta_d(np.arctan(r))
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(r > _FISHEYE_SMALL_RADIUS, theta_d / r, 1.0)
        return arr * scale[:, None]

    def undistort_normalized(self, xy: npt.ArrayLike) -> FloatArray:
        """(N, 2) distorted normalised coordinates to (N, 2) undistorted ones.

        Solves ``theta_d(theta) = |xy|`` for ``theta`` in ``[0, min(max_theta, pi/2))`` with safeguarded
        Newton; rows with no solution there (or non-finite input) are NaN.
        """
        arr = _as_real_array(xy, "xy", 2)
        upper = min(self.max_theta, _FISHEYE_SEARCH_MAX)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            theta_d = np.hypot(arr[:, 0], arr[:, 1])
            target = np.where(np.isfinite(theta_d), theta_d, 0.0)
            theta = _solve_increasing(self._theta_d, target, upper)
            value, _ = self._theta_d(theta)
            ok = (
                np.isfinite(theta_d)
                & (np.abs(value - theta_d) <= _UNDISTORT_TOLERANCE * np.maximum(1.0, theta_d))
                & (theta < _FISHEYE_SEARCH_MAX)
                & (theta <= upper)
            )
            scale = np.where(theta_d > _FISHEYE_SMALL_RADIUS, np.tan(theta) / theta_d, 1.0)
        return np.where(ok[:, None], arr * scale[:, None], np.nan)

    def _in_region(self, xy: FloatArray) -> npt.NDArray[np.bool_]:
        return np.asarray(np.arctan(np.hypot(xy[:, 0], xy[:, 1])) < self.max_theta, dtype=bool)

    def project(self, points_cam: npt.ArrayLike, *, near: float = 1e-3) -> Projection:
        """Project (N, 3) points in the camera optical frame to pixels (see :class:`Projection`).

        Same values as ``cv2.fisheye.projectPoints`` (rvec = tvec = 0, ``alpha = skew / fx``) for
        ``z > 0``.  Points with ``z <= near``, outside the image, or at ``theta >= max_theta`` are invalid.
        """
        return _project(self, points_cam, near, self._in_region)

    def unproject(self, uv: npt.ArrayLike, depth: npt.ArrayLike | None = None) -> FloatArray:
        """(N, 2) pixels to (N, 3) points in the camera optical frame.

        With ``depth=None`` the rays are scaled so that ``z == 1``; with ``depth`` of shape (N,) the points
        lie at ``z == depth``.  Rows with no solution inside ``max_theta`` (and in front of the camera)
        are NaN.
        """
        return _unproject(self, uv, depth)


# ----------------------------------------------------------------------------------------------------
# OpenCV interop
# ----------------------------------------------------------------------------------------------------

_RADTAN_NAMES = ("radtan", "plumb_bob", "rational_polynomial")
_FISHEYE_NAMES = ("fisheye", "equidistant")
_MODEL_NAMES = ("pinhole", *_RADTAN_NAMES, *_FISHEYE_NAMES)


def camera_from_cv(
    width: int,
    height: int,
    K: npt.ArrayLike,
    dist: npt.ArrayLike | None,
    *,
    model: str | None = None,
) -> CameraModel:
    """Build a camera model from OpenCV's camera matrix and distortion vector.

    Args:
        width, height: image size in pixels.
        K: (3, 3) camera matrix ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]`` (pixels).
        dist: OpenCV distortion coefficients in any shape OpenCV uses ((M,), (1, M), (M, 1)); None or
            empty means no distortion.  12 or 14 coefficients are accepted when those beyond the 8th are 0.
        model: None (choose from the coefficients: none or all zero -> pinhole, otherwise radial-tangential),
            "pinhole", "radtan" (as many coefficients as given), "plumb_bob" (5), "rational_polynomial" (8;
            shorter vectors are zero-padded), or "fisheye" / "equidistant" (4 coefficients).

    Returns:
        A :class:`PinholeCamera`, :class:`RadTanCamera` or :class:`FisheyeCamera`.

    Raises:
        CalibrationError: bad ``K`` (field "K"), ``dist`` (field "dist"), ``model`` or camera parameters.
    """
    if model is not None and model not in _MODEL_NAMES:
        raise CalibrationError(
            f"unknown camera model {model!r}; expected one of {_MODEL_NAMES}", field="model"
        )
    try:
        k = np.asarray(K)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"cannot read a camera matrix from {K!r}: {exc}", field="K") from exc
    if k.shape != (3, 3) or k.dtype.kind not in "iuf":
        raise CalibrationError(
            f"expected a real (3, 3) camera matrix, got shape {k.shape} dtype {k.dtype}", field="K"
        )
    k = k.astype(np.float64)
    if not np.isfinite(k).all():
        raise CalibrationError(f"non-finite value in camera matrix {k.tolist()}", field="K")
    if k[1, 0] != 0.0 or k[2, 0] != 0.0 or k[2, 1] != 0.0 or k[2, 2] != 1.0:
        raise CalibrationError(
            f"not a camera matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]]: {k.tolist()}", field="K"
        )
    try:
        d = np.zeros(0) if dist is None else np.asarray(dist)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(
            f"cannot read distortion coefficients from {dist!r}: {exc}", field="dist"
        ) from exc
    if d.size and d.dtype.kind not in "iuf":
        raise CalibrationError(f"expected real coefficients, got dtype {d.dtype}", field="dist")
    if d.ndim > 2 or (d.ndim == 2 and 1 not in d.shape):
        raise CalibrationError(f"expected a vector of coefficients, got shape {d.shape}", field="dist")
    coefficients = d.astype(np.float64).ravel()
    if coefficients.size in (12, 14) and not coefficients[8:].any():
        coefficients = coefficients[:8]
    intrinsics: dict[str, Any] = {
        "width": width,
        "height": height,
        "fx": float(k[0, 0]),
        "fy": float(k[1, 1]),
        "cx": float(k[0, 2]),
        "cy": float(k[1, 2]),
        "skew": float(k[0, 1]),
    }
    distortion = tuple(float(c) for c in coefficients)
    if model in (None, "pinhole") and not coefficients.any():
        return PinholeCamera(**intrinsics)
    if model == "pinhole":
        raise CalibrationError(f"pinhole model with non-zero distortion {distortion}", field="dist")
    if model in _FISHEYE_NAMES:
        k1, k2, k3, k4 = _exact_length(distortion, 4, model)
        return FisheyeCamera(**intrinsics, distortion=(k1, k2, k3, k4))
    if model == "plumb_bob":
        return RadTanCamera(**intrinsics, distortion=_padded(distortion, 5, model))
    if model == "rational_polynomial":
        return RadTanCamera(**intrinsics, distortion=_padded(distortion, 8, model))
    if model == "radtan" and not distortion:
        distortion = (0.0,) * 5
    try:
        return RadTanCamera(**intrinsics, distortion=distortion)
    except CalibrationError as exc:
        if exc.field == "distortion":
            raise CalibrationError(exc.reason, field="dist") from exc
        raise


def _exact_length(distortion: tuple[float, ...], length: int, model: str) -> tuple[float, ...]:
    if len(distortion) != length:
        raise CalibrationError(
            f"model {model!r} needs {length} coefficients, got {len(distortion)}: {distortion}", field="dist"
        )
    return distortion


def _padded(distortion: tuple[float, ...], length: int, model: str) -> tuple[float, ...]:
    if len(distortion) > length and not any(distortion[length:]):
        distortion = distortion[:length]
    if len(distortion) > length or len(distortion) < 4:
        raise CalibrationError(
            f"model {model!r} needs 4 to {length} coefficients, got {len(distortion)}: {distortion}",
            field="dist",
        )
    return distortion + (0.0,) * (length - len(distortion))
