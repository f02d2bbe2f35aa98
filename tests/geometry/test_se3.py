"""SE(3) properties (hypothesis) and conversions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.rotations import quaternion_to_matrix, slerp_matrix, wxyz_to_xyzw, xyzw_to_wxyz
from fusion_stack.geometry.se3 import SE3

finite = st.floats(-50, 50, allow_nan=False)
unit = st.floats(-1, 1, allow_nan=False)


@st.composite
def transforms(draw: st.DrawFn) -> SE3:
    q = np.array([draw(unit) for _ in range(4)])
    if np.linalg.norm(q) < 1e-3:
        q = np.array([0.0, 0.0, 0.0, 1.0])
    return SE3.from_quaternion(q / np.linalg.norm(q), [draw(finite) for _ in range(3)])


@settings(max_examples=60, deadline=None)
@given(transforms(), transforms(), transforms())
def test_composition_is_associative_and_inverse_cancels(a: SE3, b: SE3, c: SE3) -> None:
    assert ((a @ b) @ c).allclose(a @ (b @ c), atol=1e-9)
    assert (a @ a.inverse()).allclose(SE3.identity(), atol=1e-9)
    assert (a.inverse() @ a).allclose(SE3.identity(), atol=1e-9)
    assert (a @ b).inverse().allclose(b.inverse() @ a.inverse(), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(transforms(), st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=5))
def test_apply_equals_homogeneous_matrix_product(a: SE3, pts: list[tuple[float, float, float]]) -> None:
    p = np.array(pts)
    hom = (a.as_matrix() @ np.hstack([p, np.ones((len(p), 1))]).T).T[:, :3]
    np.testing.assert_allclose(a @ p, hom, atol=1e-9)
    np.testing.assert_allclose(a.inverse() @ (a @ p), p, atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(transforms())
def test_quaternion_matrix_and_ros_round_trips(a: SE3) -> None:
    assert SE3.from_quaternion(a.as_quaternion(), a.translation).allclose(a, atol=1e-12)
    assert SE3.from_matrix(a.as_matrix()).allclose(a, atol=1e-12)
    t, q = a.to_ros()
    assert SE3.from_ros(t, q).allclose(a, atol=1e-12)
    assert a.as_quaternion()[3] >= 0
    np.testing.assert_allclose(wxyz_to_xyzw(xyzw_to_wxyz(q)), q)


@settings(max_examples=60, deadline=None)
@given(transforms(), transforms(), st.floats(0, 1))
def test_interpolation_endpoints_and_geodesic(a: SE3, b: SE3, alpha: float) -> None:
    assert a.interpolate(b, 0.0).allclose(a, atol=1e-9)
    assert a.interpolate(b, 1.0).allclose(b, atol=1e-9)
    mid = a.interpolate(b, alpha)
    # SLERP moves at constant angular rate along the geodesic: angle(a -> mid) = alpha * angle(a -> b)
    total = (a.inverse() @ b).rotation_angle()
    part = (a.inverse() @ mid).rotation_angle()
    assert part == pytest.approx(alpha * total, abs=1e-6)
    np.testing.assert_allclose(mid.translation, (1 - alpha) * a.translation + alpha * b.translation, atol=1e-9)


def test_slerp_matches_scipy_and_quaternion_formula() -> None:
    r0 = Rotation.from_euler("xyz", [0.1, -0.4, 1.2]).as_matrix()
    r1 = Rotation.from_euler("xyz", [-0.3, 0.2, -2.0]).as_matrix()
    q0 = Rotation.from_matrix(r0).as_quat()
    q1 = Rotation.from_matrix(r1).as_quat()
    if np.dot(q0, q1) < 0:
        q1 = -q1
    omega = np.arccos(np.dot(q0, q1))
    for alpha in (0.25, 0.5, 0.9):
        q = (np.sin((1 - alpha) * omega) * q0 + np.sin(alpha * omega) * q1) / np.sin(omega)
        np.testing.assert_allclose(slerp_matrix(r0, r1, alpha), quaternion_to_matrix(q), atol=1e-12)


def test_extrapolation_continues_the_geodesic() -> None:
    a = SE3.from_quaternion([0, 0, np.sin(0.1), np.cos(0.1)], [0, 0, 0])  # yaw 0.2
    b = SE3.from_quaternion([0, 0, np.sin(0.2), np.cos(0.2)], [1, 0, 0])  # yaw 0.4
    c = a.interpolate(b, 2.0)
    assert c.rotation_angle() == pytest.approx(0.6)
    np.testing.assert_allclose(c.translation, [2, 0, 0])


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        (np.diag([1.0, 1.0, 1.02, 1.0]), "not orthonormal"),
        (np.diag([1.0, 1.0, -1.0, 1.0]), "det"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.eye(3), "shape"),
    ],
)
def test_from_matrix_rejects_non_rotations(matrix: np.ndarray, words: str) -> None:
    with pytest.raises(GeometryError, match=words):
        SE3.from_matrix(matrix)


def test_non_unit_quaternion_and_bad_points_are_rejected() -> None:
    with pytest.raises(GeometryError, match="not unit"):
        SE3.from_quaternion([0, 0, 0, 2.0])
    with pytest.raises(GeometryError, match=r"\(N, 3\)"):
        SE3().apply(np.zeros((4, 2)))
