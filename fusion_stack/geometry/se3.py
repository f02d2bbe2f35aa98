"""SE(3) rigid transforms.

An ``SE3`` named ``src2dst`` maps points from frame ``src`` into frame ``dst``: ``p_dst = src2dst @ p_src``.
Compose with ``@``: ``lidar2cam = ego2cam @ lidar2ego``. Translations are in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import numpy.typing as npt

from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.rotations import (
    ROTATION_ATOL,
    check_quaternion,
    check_rotation_matrix,
    matrix_to_quaternion,
    quaternion_to_matrix,
    slerp_matrix,
)


def _readonly(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    a = np.array(a, dtype=np.float64)  # own copy
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class SE3:
    """A rigid transform: ``p' = rotation @ p + translation``.

    rotation: (3, 3) float64 orthonormal with det +1 (checked, re-orthonormalised).
    translation: (3,) float64 metres.
    """

    rotation: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    translation: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        t = np.asarray(self.translation, dtype=np.float64)
        if t.shape != (3,):
            raise GeometryError(f"expected a translation of shape (3,), got {t.shape}", field="translation")
        if not np.all(np.isfinite(t)):
            raise GeometryError(f"translation contains NaN or Inf: {t.tolist()}", field="translation")
        object.__setattr__(self, "rotation", _readonly(check_rotation_matrix(self.rotation)))
        object.__setattr__(self, "translation", _readonly(t))

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def _trusted(cls, rotation: npt.NDArray[np.float64], translation: npt.NDArray[np.float64]) -> SE3:
        """Build from values already known to be valid (results of SE3 algebra): no checks, no SVD."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "rotation", _readonly(rotation))
        object.__setattr__(obj, "translation", _readonly(translation))
        return obj

    @classmethod
    def identity(cls) -> SE3:
        """The identity transform."""
        return cls()

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike, *, atol: float = ROTATION_ATOL) -> SE3:
        """From a (4, 4) homogeneous matrix (last row 0 0 0 1) or a (3, 4) [R | t] matrix."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape not in ((4, 4), (3, 4)):
            raise GeometryError(f"expected a (4, 4) or (3, 4) matrix, got shape {m.shape}", field="matrix")
        if not np.all(np.isfinite(m)):
            raise GeometryError(f"matrix contains NaN or Inf: {m.tolist()}", field="matrix")
        if m.shape == (4, 4) and not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise GeometryError(f"last row of a homogeneous matrix must be [0, 0, 0, 1], got {m[3].tolist()}",
                                field="matrix")
        return cls(check_rotation_matrix(m[:3, :3], atol=atol), m[:3, 3])

    @classmethod
    def from_quaternion(cls, q_xyzw: npt.ArrayLike, translation: npt.ArrayLike = (0.0, 0.0, 0.0)) -> SE3:
        """From a unit quaternion (x, y, z, w) and a translation (3,) in metres."""
        return cls(quaternion_to_matrix(check_quaternion(q_xyzw)), np.asarray(translation, dtype=np.float64))

    @classmethod
    def from_ros(cls, translation: Sequence[float], rotation_xyzw: Sequence[float]) -> SE3:
        """From a ROS ``geometry_msgs/Transform`` as (x, y, z) and (x, y, z, w)."""
        return cls.from_quaternion(rotation_xyzw, translation)

    # --- conversions --------------------------------------------------------------------------
    def as_matrix(self) -> npt.NDArray[np.float64]:
        """(4, 4) homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def as_quaternion(self) -> npt.NDArray[np.float64]:
        """Rotation as a unit quaternion (x, y, z, w) with w >= 0."""
        return matrix_to_quaternion(self.rotation)

    def to_ros(self) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        """(translation (x, y, z), rotation (x, y, z, w)) as plain floats, as in ``geometry_msgs/Transform``."""
        t = self.translation
        q = self.as_quaternion()
        return (float(t[0]), float(t[1]), float(t[2])), (float(q[0]), float(q[1]), float(q[2]), float(q[3]))

    # --- algebra ------------------------------------------------------------------------------
    def inverse(self) -> SE3:
        """The inverse transform (``dst2src`` of a ``src2dst``)."""
        rt = self.rotation.T
        return SE3._trusted(rt, -rt @ self.translation)

    @overload
    def __matmul__(self, other: SE3) -> SE3: ...
    @overload
    def __matmul__(self, other: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]: ...

    def __matmul__(self, other: SE3 | npt.NDArray[np.floating]) -> SE3 | npt.NDArray[np.float64]:
        """Compose (``a2c = b2c @ a2b``) or apply to points (N, 3)."""
        if isinstance(other, SE3):
            return SE3._trusted(
                self.rotation @ other.rotation, self.rotation @ other.translation + self.translation
            )
        return self.apply(other)

    def apply(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Transform points (N, 3) or (3,) in metres; returns float64 of the same shape."""
        p = np.asarray(points)
        if p.shape[-1:] != (3,) or p.ndim not in (1, 2):
            raise GeometryError(f"expected points of shape (N, 3) or (3,), got {p.shape}", field="points")
        return np.asarray(p @ self.rotation.T + self.translation, dtype=np.float64)

    def apply_rotation(self, vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Rotate direction vectors (N, 3) or (3,) (velocities, normals): no translation."""
        v = np.asarray(vectors)
        if v.shape[-1:] != (3,) or v.ndim not in (1, 2):
            raise GeometryError(f"expected vectors of shape (N, 3) or (3,), got {v.shape}", field="vectors")
        return np.asarray(v @ self.rotation.T, dtype=np.float64)

    def interpolate(self, other: SE3, alpha: float) -> SE3:
        """SLERP on the rotation and linear interpolation on the translation: self at 0, ``other`` at 1.

        ``alpha`` outside [0, 1] extrapolates (callers bound it).
        """
        rot = slerp_matrix(self.rotation, other.rotation, alpha)
        return SE3._trusted(rot, (1.0 - alpha) * self.translation + alpha * other.translation)

    def rotation_angle(self) -> float:
        """Angle of the rotation in radians, in [0, pi]."""
        c = (np.trace(self.rotation) - 1.0) / 2.0
        return float(np.arccos(np.clip(c, -1.0, 1.0)))

    def allclose(self, other: SE3, *, atol: float = 1e-9) -> bool:
        """True when rotation and translation agree elementwise within ``atol``."""
        return bool(np.allclose(self.rotation, other.rotation, atol=atol)
                    and np.allclose(self.translation, other.translation, atol=atol))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SE3):
            return NotImplemented
        return bool(np.array_equal(self.rotation, other.rotation)
                    and np.array_equal(self.translation, other.translation))

    def __hash__(self) -> int:
        return hash((self.rotation.tobytes(), self.translation.tobytes()))

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.4f}" for v in self.translation)
        q = ", ".join(f"{v:.4f}" for v in self.as_quaternion())
        return f"SE3(t=[{t}], q_xyzw=[{q}])"
