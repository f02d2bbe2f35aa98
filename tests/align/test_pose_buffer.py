"""Pose buffer: interpolation, extrapolation bounds, twist integration, sensor transforms across time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.pose_buffer import PoseBuffer, body_motion, poses_from_ego
from fusion_stack.geometry.rotations import rpy_to_matrix, yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import EgoPose

S = 1_000_000_000


def _circle_buffer(speed: float = 10.0, yaw_rate: float = 0.5, n: int = 21) -> PoseBuffer:
    """A car driving a circle: pose(t) = (R sin(wt), R (1 - cos(wt)), yaw wt) with R = v / w; poses every 50 ms."""
    buf = PoseBuffer(fixed_frame="odom")
    radius = speed / yaw_rate
    for k in range(n):
        t = k * 0.05
        buf.add(round(t * S), SE3(yaw_matrix(yaw_rate * t),
                                  [radius * np.sin(yaw_rate * t), radius * (1 - np.cos(yaw_rate * t)), 0.0]))
    return buf


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 0.999))
def test_interpolation_between_poses_is_slerp_and_lerp(frac: float) -> None:
    buf = _circle_buffer()
    t = round((0.3 + 0.05 * frac) * S)
    pose = buf.pose_at(t)
    a, b = buf.pose_at(round(0.3 * S)), buf.pose_at(round(0.35 * S))
    assert pose.allclose(a.interpolate(b, (t - 0.3 * S) / (0.05 * S)), atol=1e-9)


def test_interpolated_circle_stays_close_to_the_true_trajectory() -> None:
    buf = _circle_buffer()
    t = 0.4123
    pose = buf.pose_at(round(t * S))
    assert pose.rotation_angle() == pytest.approx(0.5 * t, abs=1e-9)  # yaw is exact (constant rate)
    true = np.array([20 * np.sin(0.5 * t), 20 * (1 - np.cos(0.5 * t)), 0])
    assert np.linalg.norm(pose.translation - true) < 0.01  # chord error of 50 ms linear interpolation


def test_bounded_extrapolation() -> None:
    buf = _circle_buffer()
    last = buf.time_range_ns[1]
    ahead = buf.pose_at(last + 40_000_000)  # within the 50 ms bound: continues the last segment
    prev, end = buf.pose_at(last - 50_000_000), buf.pose_at(last)
    assert ahead.allclose(prev.interpolate(end, 1.8), atol=1e-9)
    with pytest.raises(AlignmentError, match="beyond the poses held"):
        buf.pose_at(last + 60_000_000)
    with pytest.raises(AlignmentError, match="empty"):
        PoseBuffer().pose_at(0)


def test_twist_integration_matches_the_closed_form_circle() -> None:
    buf = PoseBuffer(fixed_frame="odom")
    buf.add(0, SE3())
    for k in range(1, 41):
        buf.add_twist(k * 25_000_000, [10.0, 0, 0], [0, 0, 0.5])
    t = 1.0
    pose = buf.pose_at(S)
    np.testing.assert_allclose(pose.translation, [20 * np.sin(0.5 * t), 20 * (1 - np.cos(0.5 * t)), 0], atol=1e-9)
    np.testing.assert_allclose(body_motion(np.array([1.0, 0, 0]), np.zeros(3), 2.0).translation, [2, 0, 0])


def test_sensor_transform_across_time_sees_static_points_consistently() -> None:
    buf = _circle_buffer()
    lidar2body = SE3(rpy_to_matrix(0.01, 0.0, 0.1), [1.0, 0.0, 1.8])
    cam2body = SE3(np.array([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]]), [1.5, 0.0, 1.5])
    world_point = np.array([[30.0, 8.0, 1.0]])
    t1, t2 = round(0.2 * S), round(0.73 * S)
    seen_by_lidar = (buf.pose_at(t1) @ lidar2body).inverse() @ world_point
    seen_by_cam = (buf.pose_at(t2) @ cam2body).inverse() @ world_point
    moved = buf.sensor_transform(lidar2body, t1, cam2body, t2) @ seen_by_lidar
    np.testing.assert_allclose(moved, seen_by_cam, atol=1e-9)


def test_angular_velocity_and_ego_pose_feeding() -> None:
    buf = _circle_buffer()
    w = buf.angular_velocity([round(0.5 * S), round(0.61 * S)])
    np.testing.assert_allclose(w, [[0, 0, 0.5], [0, 0, 0.5]], atol=1e-6)
    poses = [EgoPose(k * 100, "map", "gps", "base_link", SE3(np.eye(3), [k, 0, 0])) for k in range(3)]
    b2 = poses_from_ego(poses)
    np.testing.assert_allclose(b2.pose_at(150).translation, [1.5, 0, 0])
    with pytest.raises(AlignmentError, match="the buffer holds"):
        b2.add_ego_pose(EgoPose(7, "odom", "gps", "base_link", SE3()))
