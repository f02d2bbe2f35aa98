"""Ego-motion: a buffer of time-stamped vehicle poses with interpolation, bounded extrapolation and the transform
of any sensor at any stamp into another (``src@t1 -> dst@t2``).

Poses are ``body2fixed`` (the vehicle frame, e.g. ``base_link``, in a fixed frame such as ``odom`` or ``map``).
Interpolation is SLERP on the rotation and linear on the translation; extrapolation continues the motion of the
last (or first) two poses at constant velocity for at most ``max_extrapolation_ns``. Stamps are integer ns.
Used by deskew and sweep accumulation (``fusion_stack.align.deskew``), radar ego-motion compensation and the
pipelines' temporal alignment.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fusion_stack.align.errors import AlignmentError
from fusion_stack.geometry.rotations import matrix_to_quaternion
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import EgoPose

FloatArray = npt.NDArray[np.float64]


def quaternions_to_matrices(q_xyzw: FloatArray) -> FloatArray:
    """(M, 4) unit quaternions (x, y, z, w) -> (M, 3, 3) rotation matrices."""
    x, y, z, w = q_xyzw[:, 0], q_xyzw[:, 1], q_xyzw[:, 2], q_xyzw[:, 3]
    out = np.empty((len(q_xyzw), 3, 3))
    out[:, 0, 0] = 1 - 2 * (y * y + z * z)
    out[:, 0, 1] = 2 * (x * y - z * w)
    out[:, 0, 2] = 2 * (x * z + y * w)
    out[:, 1, 0] = 2 * (x * y + z * w)
    out[:, 1, 1] = 1 - 2 * (x * x + z * z)
    out[:, 1, 2] = 2 * (y * z - x * w)
    out[:, 2, 0] = 2 * (x * z - y * w)
    out[:, 2, 1] = 2 * (y * z + x * w)
    out[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def slerp_quaternions(q0: FloatArray, q1: FloatArray, alpha: FloatArray) -> FloatArray:
    """Vectorised SLERP of (M, 4) quaternion pairs at (M,) ``alpha`` (outside [0, 1] continues the geodesic)."""
    dot = np.sum(q0 * q1, axis=1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1.0 - alpha, np.sin((1.0 - alpha) * theta) / safe)
    w1 = np.where(small, alpha, np.sin(alpha * theta) / safe)
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=1, keepdims=True)


class PoseBuffer:
    """Time-stamped ``body2fixed`` poses of the vehicle, bounded to ``capacity`` poses (oldest dropped).

    ``max_extrapolation_ns`` bounds how far before the first or after the last pose a query may go.
    """

    def __init__(self, *, fixed_frame: str = "odom", body_frame: str = "base_link", capacity: int = 100_000,
                 max_extrapolation_ns: int = 50_000_000) -> None:
        if capacity < 2:
            raise AlignmentError(f"capacity must be >= 2, got {capacity}", field="capacity")
        self.fixed_frame = fixed_frame
        self.body_frame = body_frame
        self.capacity = int(capacity)
        self.max_extrapolation_ns = int(max_extrapolation_ns)
        self._stamps: list[int] = []
        self._quats: list[FloatArray] = []
        self._trans: list[FloatArray] = []
        self._arrays: tuple[npt.NDArray[np.int64], FloatArray, FloatArray] | None = None  # cached for queries

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def time_range_ns(self) -> tuple[int, int]:
        """(first, last) stamp held."""
        if not self._stamps:
            raise AlignmentError("the pose buffer is empty", field="poses")
        return self._stamps[0], self._stamps[-1]

    # --- feeding ------------------------------------------------------------------------------
    def add(self, stamp_ns: int, body2fixed: SE3) -> None:
        """Insert a pose (any order; a pose at an existing stamp replaces it)."""
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
            raise AlignmentError(f"stamp_ns must be an int of nanoseconds, got {stamp_ns!r}", field="stamp_ns")
        stamp = int(stamp_ns)
        q = matrix_to_quaternion(body2fixed.rotation)
        i = bisect.bisect_left(self._stamps, stamp)
        if i < len(self._stamps) and self._stamps[i] == stamp:
            self._quats[i], self._trans[i] = q, np.array(body2fixed.translation)
        else:
            self._stamps.insert(i, stamp)
            self._quats.insert(i, q)
            self._trans.insert(i, np.array(body2fixed.translation))
        if len(self._stamps) > self.capacity:
            del self._stamps[0], self._quats[0], self._trans[0]
        self._arrays = None

    def add_ego_pose(self, pose: EgoPose) -> None:
        """Insert an EgoPose (its frames must be this buffer's fixed and body frames)."""
        if (pose.frame_id, pose.child_frame_id) != (self.fixed_frame, self.body_frame):
            raise AlignmentError(
                f"pose is {pose.frame_id!r} -> {pose.child_frame_id!r}, the buffer holds "
                f"{self.fixed_frame!r} -> {self.body_frame!r}", field="frame_id")
        self.add(pose.stamp_ns, pose.pose)

    def add_twist(self, stamp_ns: int, linear_velocity: npt.ArrayLike, angular_velocity: npt.ArrayLike) -> None:
        """Dead-reckon a new pose at ``stamp_ns`` from the last pose with body-frame velocities held constant
        since the last stamp: ``linear_velocity`` (3,) m/s and ``angular_velocity`` (3,) rad/s (e.g. wheel odometry
        and an IMU gyro). The buffer must hold a pose; start with ``add(t0, SE3())`` for pure odometry."""
        if not self._stamps:
            raise AlignmentError("add_twist needs a starting pose: call add() first", field="poses")
        t0 = self._stamps[-1]
        if stamp_ns <= t0:
            raise AlignmentError(f"twist stamp {stamp_ns} is not after the last pose {t0}", field="stamp_ns")
        dt = (stamp_ns - t0) * 1e-9
        v = np.asarray(linear_velocity, dtype=np.float64).reshape(3)
        w = np.asarray(angular_velocity, dtype=np.float64).reshape(3)
        self.add(stamp_ns, self.pose_at(t0) @ body_motion(v, w, dt))

    # --- queries ------------------------------------------------------------------------------
    def poses_at(self, stamps_ns: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``body2fixed`` at each stamp: rotations (M, 3, 3) and translations (M, 3)."""
        t = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        n = len(self._stamps)
        if n == 0:
            raise AlignmentError("the pose buffer is empty", field="poses")
        lo, hi = self._stamps[0], self._stamps[-1]
        if t.size and (t.min() < lo - self.max_extrapolation_ns or t.max() > hi + self.max_extrapolation_ns):
            raise AlignmentError(
                f"stamps [{t.min()}, {t.max()}] ns reach beyond the poses held [{lo}, {hi}] ns by more than "
                f"the allowed extrapolation of {self.max_extrapolation_ns} ns", field="stamp_ns")
        if self._arrays is None:
            self._arrays = (np.asarray(self._stamps, dtype=np.int64), np.asarray(self._quats),
                            np.asarray(self._trans))
        stamps, quats, trans = self._arrays
        if n == 1:
            return quaternions_to_matrices(np.repeat(quats, len(t), axis=0)), np.repeat(trans, len(t), axis=0)
        i = np.clip(np.searchsorted(stamps, t, side="right"), 1, n - 1)
        t0, t1 = stamps[i - 1], stamps[i]
        alpha = (t - t0) / (t1 - t0).astype(np.float64)
        q = slerp_quaternions(quats[i - 1], quats[i], alpha)
        p = (1.0 - alpha)[:, None] * trans[i - 1] + alpha[:, None] * trans[i]
        return quaternions_to_matrices(q), p

    def pose_at(self, stamp_ns: int) -> SE3:
        """``body2fixed`` at ``stamp_ns``."""
        r, t = self.poses_at([stamp_ns])
        return SE3._trusted(r[0], t[0])  # SLERP of unit quaternions: a rotation by construction

    def motion(self, from_ns: int, to_ns: int) -> SE3:
        """``body@from -> body@to``: maps a point seen in the body frame at ``from_ns`` to where it is, in the
        body frame, at ``to_ns`` (static world)."""
        r, t = self.poses_at([to_ns, from_ns])
        return SE3._trusted(r[0], t[0]).inverse() @ SE3._trusted(r[1], t[1])

    def sensor_transform(self, src2body: SE3, from_ns: int, dst2body: SE3, to_ns: int) -> SE3:
        """``src@from -> dst@to`` for sensors mounted at ``src2body`` and ``dst2body`` (e.g. from
        ``rig.sensor2base(id)``): ``dst2body^-1 . motion(from, to) . src2body``."""
        return dst2body.inverse() @ self.motion(from_ns, to_ns) @ src2body

    def angular_velocity(self, stamps_ns: npt.ArrayLike, *, delta_ns: int = 5_000_000) -> FloatArray:
        """Body-frame angular velocity (M, 3) rad/s at each stamp by central differences over ``delta_ns``."""
        t = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        r0, _ = self.poses_at(t - delta_ns // 2)
        r1, _ = self.poses_at(t + delta_ns // 2)
        rel = np.einsum("mji,mjk->mik", r0, r1)  # R0^T R1
        return rotvecs(rel) / (delta_ns * 1e-9)


def rotvecs(matrices: FloatArray) -> FloatArray:
    """(M, 3, 3) rotations -> (M, 3) rotation vectors (axis * angle, radians)."""
    from scipy.spatial.transform import Rotation

    return np.asarray(Rotation.from_matrix(matrices).as_rotvec(), dtype=np.float64)


def body_motion(linear_velocity: FloatArray, angular_velocity: FloatArray, dt_s: float) -> SE3:
    """The pose after ``dt_s`` seconds of constant body-frame twist, in the body frame at the start
    (exact SE(3) exponential of the twist)."""
    from scipy.linalg import expm

    xi = np.zeros((4, 4))
    w = angular_velocity * dt_s
    xi[:3, :3] = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    xi[:3, 3] = linear_velocity * dt_s
    return SE3.from_matrix(expm(xi), atol=1e-9)


def poses_from_ego(poses: Sequence[EgoPose], **kwargs: int | str) -> PoseBuffer:
    """A PoseBuffer holding ``poses`` (frames taken from the first pose)."""
    if not poses:
        raise AlignmentError("no poses given", field="poses")
    buf = PoseBuffer(fixed_frame=poses[0].frame_id, body_frame=poses[0].child_frame_id, **kwargs)  # type: ignore[arg-type]
    for p in poses:
        buf.add_ego_pose(p)
    return buf
