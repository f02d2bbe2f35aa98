"""Rotation helpers: validation, quaternions (ROS order x, y, z, w), yaw and SLERP.

Quaternions are unit Hamilton quaternions in ROS order ``(x, y, z, w)`` unless a name says ``wxyz``
(nuScenes order). Rotation matrices are (3, 3) float64 with det +1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation, Slerp

from fusion_stack.geometry.errors import GeometryError

ROTATION_ATOL = 1e-5  # tolerance on |R^T R - I| and |det R - 1| for matrices read from files


def check_rotation_matrix(
    matrix: npt.ArrayLike, *, atol: float = ROTATION_ATOL, field: str = "rotation"
) -> npt.NDArray[np.float64]:
    """Return ``matrix`` as a float64 (3, 3) rotation, re-orthonormalised, or raise GeometryError.

    Raises when the shape is not (3, 3), values are not finite, ``R^T R`` differs from I by more than ``atol``
    or ``det R`` differs from +1 by more than ``atol`` (a reflection).
    """
    r = np.asarray(matrix, dtype=np.float64)
    if r.shape != (3, 3):
        raise GeometryError(f"expected a (3, 3) rotation matrix, got shape {r.shape}", field=field)
    if not np.all(np.isfinite(r)):
        raise GeometryError(f"rotation matrix contains NaN or Inf: {r.tolist()}", field=field)
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    if err > atol:
        raise GeometryError(
            f"rotation matrix is not orthonormal: max |R^T R - I| = {err:.3g} > {atol:g}; got {r.tolist()}",
            field=field,
        )
    det = float(np.linalg.det(r))
    if abs(det - 1.0) > atol:
        raise GeometryError(f"rotation matrix has det {det:.6g}, expected +1 (no reflection)", field=field)
    u, _, vt = np.linalg.svd(r)
    return np.asarray(u @ vt, dtype=np.float64)


def check_quaternion(
    q_xyzw: npt.ArrayLike, *, atol: float = 1e-3, field: str = "rotation_xyzw"
) -> npt.NDArray[np.float64]:
    """Return a normalised float64 quaternion (4,) in (x, y, z, w) order, or raise GeometryError.

    The norm must lie within ``atol`` of 1 (a file that stores a non-unit quaternion is an error, not noise).
    """
    q = np.asarray(q_xyzw, dtype=np.float64)
    if q.shape != (4,):
        raise GeometryError(f"expected a quaternion of 4 values (x, y, z, w), got shape {q.shape}", field=field)
    if not np.all(np.isfinite(q)):
        raise GeometryError(f"quaternion contains NaN or Inf: {q.tolist()}", field=field)
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > atol:
        raise GeometryError(f"quaternion is not unit: norm {norm:.6g}, got {q.tolist()}", field=field)
    return q / norm


def quaternion_to_matrix(q_xyzw: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(3, 3) rotation matrix of a unit quaternion (x, y, z, w)."""
    return np.asarray(Rotation.from_quat(check_quaternion(q_xyzw)).as_matrix(), dtype=np.float64)


def matrix_to_quaternion(matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Unit quaternion (x, y, z, w) with w >= 0 of a (3, 3) rotation matrix."""
    q = np.asarray(Rotation.from_matrix(np.asarray(matrix, dtype=np.float64)).as_quat(), dtype=np.float64)
    return q if q[3] >= 0 else -q


def wxyz_to_xyzw(q_wxyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Reorder a quaternion from (w, x, y, z) (nuScenes, Eigen constructors) to ROS (x, y, z, w)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    return np.array([q[1], q[2], q[3], q[0]])


def xyzw_to_wxyz(q_xyzw: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Reorder a quaternion from ROS (x, y, z, w) to (w, x, y, z)."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    return np.array([q[3], q[0], q[1], q[2]])


def yaw_matrix(yaw: float) -> npt.NDArray[np.float64]:
    """(3, 3) rotation by ``yaw`` radians about +z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> npt.NDArray[np.float64]:
    """(3, 3) rotation from fixed-axis roll (x), pitch (y), yaw (z) in radians: R = Rz(yaw) Ry(pitch) Rx(roll)."""
    return np.asarray(Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(), dtype=np.float64)


def slerp_matrix(r0: npt.ArrayLike, r1: npt.ArrayLike, alpha: float) -> npt.NDArray[np.float64]:
    """Spherical linear interpolation between rotations: ``r0`` at alpha 0, ``r1`` at alpha 1.

    ``alpha`` outside [0, 1] extrapolates along the same geodesic.
    """
    rots = Rotation.from_matrix(np.stack([np.asarray(r0, float), np.asarray(r1, float)]))
    if 0.0 <= alpha <= 1.0:
        return np.asarray(Slerp([0.0, 1.0], rots)(alpha).as_matrix(), dtype=np.float64)
    delta = rots[0].inv() * rots[1]
    return np.asarray((rots[0] * Rotation.from_rotvec(delta.as_rotvec() * alpha)).as_matrix(), dtype=np.float64)
