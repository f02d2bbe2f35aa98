"""Tests of fusion_stack.calibration.camera_models against OpenCV and by construction."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_stack.calibration.camera_models import (
    CameraModel,
    FisheyeCamera,
    PinholeCamera,
    Projection,
    RadTanCamera,
    camera_from_cv,
)
from fusion_stack.calibration.errors import CalibrationError

FloatArray = npt.NDArray[np.float64]

W, H = 640, 480
PINHOLE = PinholeCamera(W, H, 500.0, 510.0, 319.5, 239.5)
PLUMB_BOB = RadTanCamera(W, H, 500.0, 510.0, 319.5, 239.5, (-0.28, 0.07, 1e-3, -5e-4, -0.01))
RATIONAL = RadTanCamera(W, H, 500.0, 510.0, 319.5, 239.5, (0.5, -0.2, 1e-3, 2e-3, 0.05, 0.3, -0.1, 0.02))
FISHEYE = FisheyeCamera(W, H, 300.0, 301.0, 320.0, 240.0, (0.05, -0.01, 0.003, -0.0005))
FISHEYE_SKEW = FisheyeCamera(W, H, 300.0, 301.0, 320.0, 240.0, (0.05, -0.01, 0.003, -0.0005), skew=3.0)
RADTAN_CAMERAS = [PINHOLE, PLUMB_BOB, RATIONAL]
ALL_CAMERAS: list[CameraModel] = [PINHOLE, PLUMB_BOB, RATIONAL, FISHEYE, FISHEYE_SKEW]
ZERO3 = np.zeros(3)
PROPERTY = settings(max_examples=50, deadline=None)


def cv_project(camera: CameraModel, points: FloatArray) -> FloatArray:
    """OpenCV's projection of (N, 3) points (rvec = tvec = 0)."""
    pts = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 1, 3)
    if camera.model_name == "fisheye":
        uv, _ = cv2.fisheye.projectPoints(
            pts, ZERO3, ZERO3, camera.K, camera.distortion_coefficients, alpha=camera.skew / camera.fx
        )
    else:
        uv, _ = cv2.projectPoints(pts, ZERO3, ZERO3, camera.K, camera.distortion_coefficients)
    return np.asarray(uv, dtype=np.float64).reshape(-1, 2)


def cv_undistort(camera: CameraModel, uv: FloatArray) -> FloatArray:
    """OpenCV's undistorted normalised coordinates of (N, 2) pixels (iterated to convergence)."""
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 1000, 1e-15)
    pts = np.ascontiguousarray(uv, dtype=np.float64).reshape(-1, 1, 2)
    if camera.model_name == "fisheye":
        out = cv2.fisheye.undistortPoints(pts, camera.K, camera.distortion_coefficients, criteria=criteria)
    else:
        out = cv2.undistortPoints(pts, camera.K, camera.distortion_coefficients, criteria=criteria)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def pixel_grid(nu: int = 33, nv: int = 25) -> FloatArray:
    """Pixels covering the whole image, up to 1e-6 px from its borders."""
    u = np.linspace(1e-6, W - 1e-6, nu)
    v = np.linspace(1e-6, H - 1e-6, nv)
    return np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)


def random_points(seed: int, n: int = 500, spread: float = 1.5) -> FloatArray:
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.05, 20.0, n)
    xy = rng.uniform(-spread, spread, (n, 2)) * z[:, None]
    return np.column_stack([xy, z])


# ------------------------------------------------------------------------------------------------
# Projection against OpenCV
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("camera", RADTAN_CAMERAS, ids=lambda c: c.model_name)
def test_project_matches_cv2_project_points(camera: CameraModel) -> None:
    points = random_points(1)
    np.testing.assert_allclose(camera.project(points).uv, cv_project(camera, points), rtol=0, atol=1e-6)


@pytest.mark.parametrize("camera", RADTAN_CAMERAS, ids=lambda c: c.model_name)
def test_project_matches_cv2_on_image_border_and_fov_edge(camera: CameraModel) -> None:
    # Points whose image is on the border, found with OpenCV's own undistortion.
    border = np.array([[0.0, 0.0], [W - 1e-6, 0.0], [0.0, H - 1e-6], [W - 1e-6, H - 1e-6], [W / 2, 0.0]])
    rays = np.column_stack([cv_undistort(camera, border), np.ones(len(border))]) * 3.0
    # Points just inside the monotonic region (or far off-axis when it is unbounded).
    r_edge = min(getattr(camera, "max_radius", math.inf), 5.0) * (1.0 - 1e-6)
    angles = np.linspace(0.0, 2.0 * np.pi, 7)
    edge = np.column_stack([r_edge * np.cos(angles), r_edge * np.sin(angles), np.ones_like(angles)])
    points = np.concatenate([rays, edge * 2.0])
    projection = camera.project(points)
    np.testing.assert_allclose(projection.uv, cv_project(camera, points), rtol=1e-13, atol=1e-6)
    np.testing.assert_allclose(projection.uv[: len(border)], border, atol=1e-6)


@pytest.mark.parametrize("camera", [FISHEYE, FISHEYE_SKEW], ids=["no_skew", "skew"])
def test_fisheye_project_matches_cv2_fisheye(camera: FisheyeCamera) -> None:
    points = random_points(2, spread=4.0)
    # Near the edge of the 180 degree field of view, and on the optical axis.
    theta = np.radians([0.0, 1e-7, 60.0, 89.0, 89.99])
    extra = np.column_stack([np.sin(theta), 0.3 * np.sin(theta), np.cos(theta)])
    points = np.concatenate([points, extra])
    np.testing.assert_allclose(camera.project(points).uv, cv_project(camera, points), rtol=1e-13, atol=1e-6)


radtan_coefficients = st.tuples(
    st.floats(-0.5, 0.5),
    st.floats(-0.2, 0.2),
    st.floats(-0.01, 0.01),
    st.floats(-0.01, 0.01),
    st.floats(-0.05, 0.05),
)
rational_tail = st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 0.2), st.floats(0.0, 0.05))
intrinsics = st.fixed_dictionaries(
    {
        "fx": st.floats(200.0, 2000.0),
        "fy": st.floats(200.0, 2000.0),
        "cx": st.floats(250.0, 390.0),
        "cy": st.floats(190.0, 290.0),
    }
)


@PROPERTY
@given(
    params=intrinsics,
    radial=radtan_coefficients,
    tail=st.one_of(st.none(), rational_tail),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_radtan_project_matches_cv2(
    params: dict[str, float], radial: tuple[float, ...], tail: tuple[float, ...] | None, seed: int
) -> None:
    camera = RadTanCamera(W, H, **params, distortion=radial + (tail or ()))
    points = random_points(seed, n=50, spread=2.0)
    np.testing.assert_allclose(camera.project(points).uv, cv_project(camera, points), rtol=1e-12, atol=1e-6)


@PROPERTY
@given(
    params=intrinsics,
    k=st.tuples(*(st.floats(-0.05, 0.05) for _ in range(4))),
    alpha=st.floats(-0.01, 0.01),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_fisheye_project_matches_cv2(
    params: dict[str, float], k: tuple[float, float, float, float], alpha: float, seed: int
) -> None:
    camera = FisheyeCamera(W, H, **params, distortion=k, skew=alpha * params["fx"])
    points = random_points(seed, n=50, spread=10.0)
    np.testing.assert_allclose(camera.project(points).uv, cv_project(camera, points), rtol=1e-12, atol=1e-6)


def test_projection_types_and_depth() -> None:
    points = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 5.0]], dtype=np.float32)
    projection = PLUMB_BOB.project(points)
    assert isinstance(projection, Projection)
    assert projection.uv.dtype == np.float64
    assert projection.uv.shape == (2, 2)
    assert projection.depth.dtype == np.float64
    np.testing.assert_array_equal(projection.depth, [2.0, 5.0])
    assert projection.valid.dtype == np.bool_
    assert projection.valid.tolist() == [True, True]
    np.testing.assert_allclose(projection.uv[1], [PLUMB_BOB.cx, PLUMB_BOB.cy])
    empty = PLUMB_BOB.project(np.zeros((0, 3)))
    assert empty.uv.shape == (0, 2)
    assert empty.valid.shape == (0,)


def test_pinhole_with_skew_projects_through_k() -> None:
    camera = PinholeCamera(W, H, 500.0, 510.0, 320.0, 240.0, skew=2.5)
    points = np.array([[0.3, -0.2, 2.0], [-1.0, 0.5, 4.0]])
    homogeneous = points @ camera.K.T
    np.testing.assert_allclose(camera.project(points).uv, homogeneous[:, :2] / homogeneous[:, 2:], atol=1e-12)
    np.testing.assert_allclose(camera.unproject(camera.project(points).uv, points[:, 2]), points, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Unprojection
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("camera", ALL_CAMERAS, ids=lambda c: f"{c.model_name}-{c.skew}")
def test_unproject_round_trip_over_the_image(camera: CameraModel) -> None:
    uv = pixel_grid()
    rays = camera.unproject(uv)
    assert rays.shape == (len(uv), 3)
    assert not np.isnan(rays).any()
    np.testing.assert_array_equal(rays[:, 2], 1.0)
    projection = camera.project(rays)
    np.testing.assert_allclose(projection.uv, uv, rtol=0, atol=1e-6)
    assert projection.valid.all()


@pytest.mark.parametrize("camera", [PLUMB_BOB, RATIONAL, FISHEYE], ids=lambda c: c.model_name)
def test_unproject_matches_cv2_undistort_points(camera: CameraModel) -> None:
    uv = pixel_grid(17, 13)
    np.testing.assert_allclose(camera.unproject(uv)[:, :2], cv_undistort(camera, uv), rtol=0, atol=1e-9)


def test_unproject_with_depth_places_points_at_that_z() -> None:
    uv = pixel_grid(5, 4)
    depth = np.linspace(0.5, 30.0, len(uv))
    points = PLUMB_BOB.unproject(uv, depth)
    np.testing.assert_allclose(points[:, 2], depth)
    np.testing.assert_allclose(points, PLUMB_BOB.unproject(uv) * depth[:, None], rtol=1e-15)
    np.testing.assert_allclose(PLUMB_BOB.project(points).uv, uv, atol=1e-6)


@PROPERTY
@given(
    params=intrinsics,
    k1=st.floats(-0.3, 0.3),
    k2=st.floats(-0.1, 0.1),
    p=st.tuples(st.floats(-1e-3, 1e-3), st.floats(-1e-3, 1e-3)),
    k3=st.floats(-0.02, 0.02),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_radtan_unproject_round_trip(
    params: dict[str, float], k1: float, k2: float, p: tuple[float, float], k3: float, seed: int
) -> None:
    camera = RadTanCamera(W, H, **params, distortion=(k1, k2, p[0], p[1], k3))
    rng = np.random.default_rng(seed)
    uv = rng.uniform([0.0, 0.0], [W, H], (100, 2))
    rays = camera.unproject(uv)
    solved = ~np.isnan(rays).any(axis=1)
    # A pixel can only lack a solution beyond the largest distorted radius of the monotonic region.
    r_max = min(camera.max_radius, 1e4)
    largest = camera.distort_normalized(np.array([[r_max, 0.0]]))[0, 0] if math.isfinite(r_max) else math.inf
    xd = np.column_stack([(uv[:, 0] - camera.cx) / camera.fx, (uv[:, 1] - camera.cy) / camera.fy])
    assert (np.hypot(xd[:, 0], xd[:, 1])[~solved] >= 0.99 * largest).all()
    projection = camera.project(rays[solved])
    np.testing.assert_allclose(projection.uv, uv[solved], rtol=0, atol=1e-6)
    assert projection.valid.all()


@pytest.mark.parametrize("camera", ALL_CAMERAS, ids=lambda c: f"{c.model_name}-{c.skew}")
def test_distort_and_undistort_normalized_are_inverse(camera: CameraModel) -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(-0.8, 0.8, (200, 2))
    np.testing.assert_allclose(camera.undistort_normalized(camera.distort_normalized(xy)), xy, atol=1e-12)


def test_unproject_beyond_the_fold_is_nan() -> None:
    # k1 = -0.5: r * (1 - 0.5 r^2) peaks at r = sqrt(2/3) with value 0.544 < the corner's 0.8.
    camera = RadTanCamera(W, H, 400.0, 400.0, 320.0, 240.0, (-0.5, 0.0, 0.0, 0.0, 0.0))
    rays = camera.unproject(np.array([[0.0, 0.0], [320.0, 240.0], [320.0 + 0.5 * 400.0, 240.0]]))
    assert np.isnan(rays[0]).all()
    np.testing.assert_allclose(rays[1], [0.0, 0.0, 1.0])
    assert np.isfinite(rays[2]).all()
    assert rays[2, 0] < camera.max_radius


def test_fisheye_unproject_beyond_ninety_degrees_is_nan() -> None:
    # Without distortion theta_d = theta, so distorted radii >= pi/2 are behind the camera.
    camera = FisheyeCamera(W, H, 100.0, 100.0, 320.0, 240.0, (0.0, 0.0, 0.0, 0.0))
    rays = camera.unproject(np.array([[320.0 + 100.0 * 1.6, 240.0], [320.0 + 100.0 * 1.5, 240.0]]))
    assert np.isnan(rays[0]).all()
    np.testing.assert_allclose(rays[1, 0], math.tan(1.5), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# The valid mask
# ------------------------------------------------------------------------------------------------


def test_valid_requires_points_in_front_of_the_near_plane() -> None:
    near = 0.1
    points = np.array(
        [[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, near], [0.0, 0.0, near * (1 + 1e-9)], [0.0, 0.0, 3.0]]
    )
    for camera in ALL_CAMERAS:
        projection = camera.project(points, near=near)
        assert projection.valid.tolist() == [False, False, False, True, True], camera
        np.testing.assert_array_equal(projection.depth, points[:, 2])


def test_points_behind_the_camera_are_invalid_even_if_they_land_in_the_image() -> None:
    points = np.array([[0.1, 0.1, -2.0]])
    projection = PLUMB_BOB.project(points)
    assert 0 <= projection.uv[0, 0] < W
    assert 0 <= projection.uv[0, 1] < H
    assert not projection.valid[0]


def test_valid_requires_the_pixel_inside_the_image() -> None:
    camera = PinholeCamera(W, H, 512.0, 512.0, 320.0, 240.0)
    # u = 512 x / z + 320; v = 512 y / z + 240.
    uv = np.array([[-1.0, 100.0], [700.0, 100.0], [100.0, -0.5], [100.0, 500.0], [100.0, 100.0]])
    points = camera.unproject(uv, np.full(len(uv), 2.0))
    assert camera.project(points).valid.tolist() == [False, False, False, False, True]


def test_valid_on_the_image_border() -> None:
    camera = PinholeCamera(W, H, 512.0, 512.0, 320.0, 240.0)
    # 0.625 * 512 + 320 == 640 and 0.46875 * 512 + 240 == 480 exactly in floating point.
    eps = 1e-9
    points = np.array(
        [
            [0.625, 0.0, 1.0],  # u == width
            [0.625 - eps, 0.0, 1.0],  # u == width - 5e-7
            [-0.625, 0.0, 1.0],  # u == 0
            [-0.625 - eps, 0.0, 1.0],  # u < 0
            [0.0, 0.46875, 1.0],  # v == height
            [0.0, 0.46875 - eps, 1.0],  # v == height - 5e-7
            [0.0, -0.46875, 1.0],  # v == 0
        ]
    )
    projection = camera.project(points)
    assert projection.uv[0, 0] == W
    assert projection.uv[2, 0] == 0.0
    assert projection.uv[4, 1] == H
    assert W - 1e-6 < projection.uv[1, 0] < W
    assert projection.valid.tolist() == [False, True, True, False, False, True, True]


def test_fold_back_point_far_outside_the_fov_is_invalid() -> None:
    camera = RadTanCamera(W, H, 400.0, 400.0, 320.0, 240.0, (-0.3, 0.08, 0.0, 0.0, -0.01))
    # At 67 degrees off-axis, far outside the ~50 degree half field of view (the image corner).
    far = np.array([[2.4, 0.3, 1.0]])
    uv = cv_project(camera, far)[0]
    assert 0 <= uv[0] < W
    assert 0 <= uv[1] < H
    projection = camera.project(far)
    np.testing.assert_allclose(projection.uv[0], uv, atol=1e-6)
    assert not projection.valid[0]
    # The same pixel has a genuine preimage inside the monotonic region, which is valid.
    ray = camera.unproject(projection.uv)
    assert np.hypot(ray[0, 0], ray[0, 1]) < camera.max_radius
    assert camera.project(ray).valid[0]


def test_fisheye_fold_back_point_is_invalid() -> None:
    camera = FisheyeCamera(W, H, 300.0, 300.0, 320.0, 240.0, (0.0, 0.0, 0.0, -0.2))
    # theta_d = theta - 0.2 theta^9 peaks at theta = (1/1.8)^(1/8); at 1.2 rad it is back to 0.168.
    assert camera.max_theta == pytest.approx((1.0 / 1.8) ** 0.125, abs=1e-9)
    theta = 1.2
    far = np.array([[math.sin(theta), 0.0, math.cos(theta)]])
    uv = cv_project(camera, far)[0]
    assert 0 <= uv[0] < W
    projection = camera.project(far)
    np.testing.assert_allclose(projection.uv[0], uv, atol=1e-6)
    assert not projection.valid[0]
    inside = np.array([[math.sin(0.9), 0.0, math.cos(0.9)]])
    assert camera.project(inside).valid[0]


def test_radtan_max_radius_matches_the_analytic_fold() -> None:
    # r (1 + k1 r^2) has derivative 1 + 3 k1 r^2, zero at r = 1 / sqrt(-3 k1).
    camera = RadTanCamera(W, H, 200.0, 200.0, 320.0, 240.0, (-0.2, 0.0, 0.0, 0.0, 0.0))
    assert camera.max_radius == pytest.approx(1.0 / math.sqrt(0.6), abs=1e-9)
    inside = np.array([[0.999 / math.sqrt(0.6), 0.0, 1.0]])
    outside = np.array([[1.001 / math.sqrt(0.6), 0.0, 1.0]])
    assert camera.project(inside).valid[0]
    assert not camera.project(outside).valid[0]


def test_rational_max_radius_stops_before_a_pole_of_the_denominator() -> None:
    # 1 - 0.25 r^2 vanishes at r = 2; the mapping is increasing up to the pole.
    camera = RadTanCamera(W, H, 400.0, 400.0, 320.0, 240.0, (0.0, 0.0, 0.0, 0.0, 0.0, -0.25, 0.0, 0.0))
    assert camera.max_radius == pytest.approx(2.0, abs=1e-9)


def test_max_radius_is_unbounded_without_fold() -> None:
    assert math.isinf(RadTanCamera(W, H, 400.0, 400.0, 320.0, 240.0, (0.0,) * 5).max_radius)
    assert math.isinf(RadTanCamera(W, H, 400.0, 400.0, 320.0, 240.0, (0.1, 0.01, 0.0, 0.0, 0.0)).max_radius)
    assert math.isinf(FISHEYE.max_theta)


# ------------------------------------------------------------------------------------------------
# Construction and properties
# ------------------------------------------------------------------------------------------------


def test_model_names_k_and_coefficients() -> None:
    assert PINHOLE.model_name == "pinhole"
    assert PINHOLE.distortion_coefficients.shape == (0,)
    assert PLUMB_BOB.model_name == "plumb_bob"
    assert PLUMB_BOB.distortion_coefficients.shape == (5,)
    assert RATIONAL.model_name == "rational_polynomial"
    assert RATIONAL.distortion_coefficients.shape == (8,)
    assert FISHEYE.model_name == "fisheye"
    np.testing.assert_array_equal(FISHEYE.distortion_coefficients, [0.05, -0.01, 0.003, -0.0005])
    np.testing.assert_array_equal(FISHEYE_SKEW.K, [[300.0, 3.0, 320.0], [0.0, 301.0, 240.0], [0.0, 0.0, 1.0]])
    assert FISHEYE_SKEW.K.dtype == np.float64
    for camera in ALL_CAMERAS:
        assert isinstance(camera, CameraModel)
        assert camera.distortion_coefficients.dtype == np.float64


def test_four_radtan_coefficients_become_five() -> None:
    camera = RadTanCamera(W, H, 500.0, 500.0, 320.0, 240.0, [0.1, -0.05, 0.001, 0.002])  # type: ignore[arg-type]
    assert camera.distortion == (0.1, -0.05, 0.001, 0.002, 0.0)
    assert camera.model_name == "plumb_bob"
    assert camera == RadTanCamera(W, H, 500.0, 500.0, 320.0, 240.0, (0.1, -0.05, 0.001, 0.002, 0.0))


def test_cameras_are_frozen_comparable_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLUMB_BOB.fx = 1.0  # type: ignore[misc]
    coefficients: Any = np.array([-0.28, 0.07, 1e-3, -5e-4, -0.01])
    same = RadTanCamera(W, H, 500.0, 510.0, 319.5, 239.5, coefficients)
    assert same == PLUMB_BOB
    assert hash(same) == hash(PLUMB_BOB)
    assert dataclasses.replace(PLUMB_BOB, fx=600.0).fx == 600.0
    assert PINHOLE != PLUMB_BOB


# ------------------------------------------------------------------------------------------------
# Validation: one test per rule
# ------------------------------------------------------------------------------------------------

GOOD: dict[str, Any] = {"width": W, "height": H, "fx": 500.0, "fy": 500.0, "cx": 320.0, "cy": 240.0}


def _error(factory: Any, **overrides: Any) -> CalibrationError:
    with pytest.raises(CalibrationError) as info:
        factory(**{**GOOD, **overrides})
    return info.value


@pytest.mark.parametrize("name", ["fx", "fy", "cx", "cy", "skew"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_intrinsic_is_rejected(name: str, bad: float) -> None:
    err = _error(PinholeCamera, **{name: bad})
    assert err.field == name
    assert f"{name}:" in str(err)
    assert "non-finite" in str(err)
    assert repr(bad) in str(err)


@pytest.mark.parametrize("factory", [RadTanCamera, FisheyeCamera])
def test_non_finite_distortion_is_rejected(factory: Any) -> None:
    err = _error(factory, distortion=(0.1, math.nan, 0.0, 0.0))
    assert err.field == "distortion"
    assert "distortion:" in str(err)
    assert "nan" in str(err)


@pytest.mark.parametrize("name", ["width", "height"])
@pytest.mark.parametrize("bad", [0, -640])
def test_non_positive_size_is_rejected(name: str, bad: int) -> None:
    err = _error(PinholeCamera, **{name: bad})
    assert err.field == name
    assert f"{name}:" in str(err)
    assert str(bad) in str(err)


@pytest.mark.parametrize("name", ["width", "height"])
@pytest.mark.parametrize("bad", [640.5, 640.0, "640", True, math.nan])
def test_non_int_size_is_rejected(name: str, bad: object) -> None:
    err = _error(PinholeCamera, **{name: bad})
    assert err.field == name
    assert f"{name}:" in str(err)
    assert repr(bad) in str(err)


def test_numpy_int_size_is_accepted_as_int() -> None:
    camera = PinholeCamera(np.int64(W), np.int32(H), 500.0, 500.0, 320.0, 240.0)  # type: ignore[arg-type]
    assert type(camera.width) is int
    assert camera == PinholeCamera(W, H, 500.0, 500.0, 320.0, 240.0)


@pytest.mark.parametrize("name", ["fx", "fy"])
@pytest.mark.parametrize("bad", [0.0, -500.0])
def test_non_positive_focal_length_is_rejected(name: str, bad: float) -> None:
    err = _error(PinholeCamera, **{name: bad})
    assert err.field == name
    assert f"{name}: non-positive focal length" in str(err)
    assert repr(bad) in str(err)


@pytest.mark.parametrize(("name", "bad"), [("cx", -0.5), ("cx", W + 0.5), ("cy", -1.0), ("cy", H + 1.0)])
def test_principal_point_outside_the_image_is_rejected(name: str, bad: float) -> None:
    err = _error(PinholeCamera, **{name: bad})
    assert err.field == name
    assert f"{name}:" in str(err)
    assert repr(bad) in str(err)


def test_principal_point_on_the_image_edge_is_accepted() -> None:
    assert PinholeCamera(W, H, 500.0, 500.0, 0.0, float(H)).cy == H


def test_non_numeric_intrinsic_is_rejected() -> None:
    err = _error(PinholeCamera, fx="500")
    assert err.field == "fx"
    assert "'500'" in str(err)


@pytest.mark.parametrize("count", [0, 3, 6, 7, 9, 14])
def test_wrong_number_of_radtan_coefficients_is_rejected(count: int) -> None:
    err = _error(RadTanCamera, distortion=(0.01,) * count)
    assert err.field == "distortion"
    assert "distortion: wrong number of distortion coefficients" in str(err)
    assert f"got {count}" in str(err)


@pytest.mark.parametrize("count", [0, 3, 5, 8])
def test_wrong_number_of_fisheye_coefficients_is_rejected(count: int) -> None:
    err = _error(FisheyeCamera, distortion=(0.01,) * count)
    assert err.field == "distortion"
    assert "distortion: wrong number of distortion coefficients" in str(err)
    assert f"got {count}" in str(err)


def test_two_dimensional_distortion_is_rejected() -> None:
    err = _error(RadTanCamera, distortion=np.zeros((1, 5)))
    assert err.field == "distortion"
    assert "(1, 5)" in str(err)


@pytest.mark.parametrize(
    ("method", "value", "field", "shown"),
    [
        ("project", np.zeros((4, 2)), "points_cam", "(4, 2)"),
        ("project", np.zeros(3), "points_cam", "(3,)"),
        ("project", np.zeros((4, 3), dtype=np.complex128), "points_cam", "complex128"),
        ("project", np.array([["a", "b", "c"]]), "points_cam", "<U1"),
        ("project", [[1.0, 2.0, 3.0], [1.0, 2.0]], "points_cam", "inhomogeneous"),
        ("unproject", np.zeros((4, 3)), "uv", "(4, 3)"),
        ("unproject", np.zeros((4, 2), dtype=bool), "uv", "bool"),
        ("distort_normalized", np.zeros((2, 2, 2)), "xy", "(2, 2, 2)"),
        ("undistort_normalized", np.zeros((5,)), "xy", "(5,)"),
    ],
)
def test_bad_point_arrays_are_rejected(method: str, value: Any, field: str, shown: str) -> None:
    for camera in ALL_CAMERAS:
        with pytest.raises(CalibrationError) as info:
            getattr(camera, method)(value)
        assert info.value.field == field
        assert f"{field}:" in str(info.value)
        assert shown in str(info.value)


def test_bad_depth_is_rejected() -> None:
    uv = np.zeros((3, 2))
    with pytest.raises(CalibrationError, match=r"depth: .*\(2,\)"):
        PLUMB_BOB.unproject(uv, np.ones(2))
    with pytest.raises(CalibrationError, match=r"depth: .*\(3, 1\)"):
        PLUMB_BOB.unproject(uv, np.ones((3, 1)))


def test_integer_and_float32_inputs_are_computed_in_float64() -> None:
    points = np.array([[1, -2, 10], [0, 0, 3]], dtype=np.int32)
    expected = PLUMB_BOB.project(points.astype(np.float64)).uv
    np.testing.assert_array_equal(PLUMB_BOB.project(points).uv, expected)
    uv = np.array([[100.25, 200.5]], dtype=np.float32)
    assert PLUMB_BOB.unproject(uv).dtype == np.float64
    np.testing.assert_array_equal(PLUMB_BOB.unproject(uv), PLUMB_BOB.unproject(uv.astype(np.float64)))


# ------------------------------------------------------------------------------------------------
# camera_from_cv
# ------------------------------------------------------------------------------------------------

K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dist", [None, np.zeros(0), np.zeros((1, 5)), np.zeros(8)])
def test_camera_from_cv_without_distortion_is_pinhole(dist: Any) -> None:
    camera = camera_from_cv(W, H, K, dist)
    assert camera == PinholeCamera(W, H, 500.0, 510.0, 320.0, 240.0)


def test_camera_from_cv_keeps_requested_radtan_even_if_zero() -> None:
    camera = camera_from_cv(W, H, K, np.zeros((5, 1)), model="plumb_bob")
    assert camera == RadTanCamera(W, H, 500.0, 510.0, 320.0, 240.0, (0.0,) * 5)
    assert (
        camera_from_cv(W, H, K, np.zeros(5), model="rational_polynomial").model_name == "rational_polynomial"
    )


def test_camera_from_cv_radtan_and_fisheye() -> None:
    dist = np.array([[-0.28, 0.07, 1e-3, -5e-4, -0.01]])
    assert camera_from_cv(W, H, K, dist) == RadTanCamera(W, H, 500.0, 510.0, 320.0, 240.0, tuple(dist[0]))
    eight = np.array([0.5, -0.2, 1e-3, 2e-3, 0.05, 0.3, -0.1, 0.02])
    np.testing.assert_array_equal(camera_from_cv(W, H, K, eight).distortion_coefficients, eight)
    fourteen = np.concatenate([eight, np.zeros(6)])
    np.testing.assert_array_equal(camera_from_cv(W, H, K, fourteen).distortion_coefficients, eight)
    fish = camera_from_cv(W, H, K, np.array([0.05, -0.01, 0.003, -0.0005]).reshape(4, 1), model="fisheye")
    assert fish == FisheyeCamera(W, H, 500.0, 510.0, 320.0, 240.0, (0.05, -0.01, 0.003, -0.0005))
    skewed = K.copy()
    skewed[0, 1] = 1.5
    assert camera_from_cv(W, H, skewed, None).skew == 1.5


@pytest.mark.parametrize(
    ("K_", "dist", "model", "field"),
    [
        (K, np.array([0.1, 0.0, 0.0, 0.0, 0.0]), "pinhole", "dist"),
        (K, np.array([0.1, 0.0, 0.0, 0.0, 0.0]), "kannala", "model"),
        (K, np.array([0.1, 0.0, 0.0, 0.0, 0.0]), "fisheye", "dist"),
        (K, np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.0]), None, "dist"),
        (K, np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0, 0, 0]), None, "dist"),
        (K[:2], None, None, "K"),
        (np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 2.0]]), None, None, "K"),
        (np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, np.nan]]), None, None, "K"),
        (np.array([[-500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]]), None, None, "fx"),
    ],
)
def test_camera_from_cv_rejects_bad_input(K_: Any, dist: Any, model: str | None, field: str) -> None:
    with pytest.raises(CalibrationError) as info:
        camera_from_cv(W, H, K_, dist, model=model)
    assert info.value.field == field
    assert f"{field}:" in str(info.value)
