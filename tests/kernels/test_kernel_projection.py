"""project_points: CPU kernel == NumPy reference == cv2.projectPoints == CameraModel.project."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from kernel_cases import lidar2cam, lidar_cloud

from fusion_stack.calibration import CameraModel, FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.geometry.se3 import SE3
from fusion_stack.kernels import CameraParams, KernelError, camera_params, project_points
from fusion_stack.kernels.reference import project_points_reference

MODELS = ("pinhole", "plumb_bob", "rational_polynomial", "fisheye")
TOL_PX = 1e-3


def cv2_project(model: CameraModel, transform: SE3, points: np.ndarray) -> np.ndarray:
    """(N, 2) float64 pixels from OpenCV for source-frame ``points``."""
    rvec, _ = cv2.Rodrigues(transform.rotation)
    tvec = transform.translation.reshape(3, 1)
    obj = points[:, :3].astype(np.float64).reshape(-1, 1, 3)
    if model.model_name == "fisheye":
        out, _ = cv2.fisheye.projectPoints(obj, rvec, tvec, model.K, model.distortion_coefficients,
                                           alpha=model.skew / model.fx)
    else:
        out, _ = cv2.projectPoints(obj, rvec, tvec, model.K, model.distortion_coefficients)
    return out.reshape(-1, 2)


def special_points(model: CameraModel, transform: SE3) -> np.ndarray:
    """Points behind the camera, in its plane, NaN / inf, near the border and far off-axis (source frame)."""
    cam_pts = [
        [0.0, 0.0, -5.0], [1.0, 2.0, -0.5], [0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [0.0, 0.0, 5e-4], [0.0, 0.0, 2e-3],
        [np.nan, 0.0, 5.0], [0.0, np.inf, 5.0], [0.0, 0.0, np.inf], [-np.inf, 0.0, 1.0],
        [20.0, 0.0, 1.0], [0.0, -30.0, 1.0], [100.0, 100.0, 1.0], [1e-9, -1e-9, 3.0],
    ]
    # near the four borders (in pixels), back-projected with the model's own inverse
    for u, v in ((0.0, model.cy), (model.width - 1e-3, model.cy), (model.cx, 0.0), (model.cx, model.height - 1e-3),
                 (-0.2, 10.0), (model.width + 0.2, 10.0), (0.5, 0.5)):
        ray = model.unproject(np.array([[u, v]]), np.array([7.0]))[0]
        if np.isfinite(ray).all():
            cam_pts.append(ray.tolist())
    pts = np.asarray(cam_pts, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return transform.inverse().apply(pts).astype(np.float32)


def cloud_for(name: str, n: int = 20000, seed: int = 0) -> np.ndarray:
    return lidar_cloud(n, seed + MODELS.index(name))


@pytest.mark.parametrize("name", MODELS)
def test_cpu_kernel_matches_reference(name: str, models: dict, params: dict) -> None:
    model, transform = models[name]
    pts = np.concatenate([cloud_for(name), special_points(model, transform)])
    got = project_points(pts, [params[name]])
    want = project_points_reference(pts, [params[name]])
    assert got.uv.shape == (1, pts.shape[0], 2) and got.uv.dtype == np.float32
    assert got.depth.dtype == np.float32 and got.valid.dtype == np.bool_
    np.testing.assert_array_equal(got.valid, want.valid)
    np.testing.assert_array_equal(got.depth, want.depth)
    if name == "fisheye":  # atan: NumPy's and libm's may differ by an ulp
        np.testing.assert_allclose(got.uv[want.valid], want.uv[want.valid], rtol=0, atol=TOL_PX)
    else:  # same float64 operations in the same order: bit-identical
        np.testing.assert_array_equal(got.uv, want.uv)
    assert 100 < int(got.valid.sum()) < pts.shape[0]


@pytest.mark.parametrize("name", MODELS)
def test_matches_opencv(name: str, models: dict, params: dict) -> None:
    model, transform = models[name]
    pts = np.concatenate([cloud_for(name, seed=10), special_points(model, transform)])
    got = project_points(pts, params[name])
    valid = got.valid[0]
    expected = cv2_project(model, transform, pts)
    err = np.abs(got.uv[0][valid].astype(np.float64) - expected[valid]).max()
    assert err < TOL_PX, f"max |kernel - OpenCV| = {err} px"


@pytest.mark.parametrize("name", MODELS)
def test_matches_camera_model_project(name: str, models: dict, params: dict) -> None:
    """uv within 1e-3 px where valid; valid masks equal except within float rounding of a boundary."""
    model, transform = models[name]
    near = 0.1
    pts = np.concatenate([cloud_for(name, seed=20), special_points(model, transform)])
    got = project_points(pts, params[name], near=near)
    with np.errstate(invalid="ignore"):
        pts_cam = transform.apply(pts.astype(np.float64))
    proj = model.project(pts_cam, near=near)
    valid, expected = got.valid[0], proj.valid
    both = valid & expected
    assert np.abs(got.uv[0][both] - proj.uv[both]).max() < TOL_PX
    # A point may flip only where it sits within float rounding of a boundary of the valid region: the
    # kernel transforms in its own order (not SE3.apply's BLAS), so u, v, z differ by ~1e-13 relative.
    eps = 1e-9
    with np.errstate(invalid="ignore"):
        u, v, z = proj.uv[:, 0], proj.uv[:, 1], proj.depth
        xy = pts_cam[:, :2] / z[:, None]
        radius = np.hypot(xy[:, 0], xy[:, 1])
        near_edge = (
            (np.abs(u) < eps * model.width) | (np.abs(u - model.width) < eps * model.width)
            | (np.abs(v) < eps * model.height) | (np.abs(v - model.height) < eps * model.height)
            | (np.abs(z - near) < eps)
        )
        if name in ("plumb_bob", "rational_polynomial"):
            near_edge |= np.abs(radius - model.max_radius) < eps * model.max_radius
        if name == "fisheye" and np.isfinite(model.max_theta):
            near_edge |= np.abs(np.arctan(radius) - model.max_theta) < eps
    flipped = valid != expected
    assert not (flipped & ~near_edge).any(), f"{int((flipped & ~near_edge).sum())} masks differ away from borders"


def test_exact_border_pixels() -> None:
    """u == 0 and v == 0 are inside, u == width and v == height are not (exactly representable cases)."""
    cam = CameraParams("pinhole", 1024, 512, 1024.0, 512.0, 512.0, 256.0)
    pts = np.array([[-2.0, 0.0, 4.0], [2.0, 0.0, 4.0], [0.0, -2.0, 4.0], [0.0, 2.0, 4.0],
                    [-2.0, -2.0, 4.0], [1.999, 1.999, 4.0]], dtype=np.float32)
    got = project_points(pts, cam)
    np.testing.assert_array_equal(got.uv[0, :4], [[0.0, 256.0], [1024.0, 256.0], [512.0, 0.0], [512.0, 512.0]])
    np.testing.assert_array_equal(got.valid[0], [True, False, True, False, True, True])
    model = PinholeCamera(1024, 512, 1024.0, 512.0, 512.0, 256.0)
    np.testing.assert_array_equal(model.project(pts).valid, got.valid[0])


def test_behind_nan_and_plane_points_are_invalid(params: dict) -> None:
    cam = CameraParams("radtan", 640, 480, 500.0, 500.0, 320.0, 240.0, distortion=(-0.2, 0.05, 0.0, 0.0, 0.0))
    pts = np.array([[0.0, 0.0, -1.0], [0.1, 0.1, -3.0], [0.0, 0.0, 0.0], [np.nan, 0.0, 1.0], [0.0, 0.0, np.inf],
                    [0.0, 0.0, 5e-4], [0.0, 0.0, 1.0]], dtype=np.float32)
    got = project_points(pts, [cam, params["fisheye"]], near=1e-3)
    np.testing.assert_array_equal(got.valid[0], [False] * 6 + [True])
    assert not np.isfinite(got.uv[0, 2]).all()  # z == 0: non-finite, never a crash
    assert np.isnan(got.depth[0, 3])
    np.testing.assert_allclose(got.uv[0, 0], [320.0, 240.0])  # the mirrored point, as CameraModel.project


@pytest.mark.parametrize(
    "model",
    [
        RadTanCamera(1280, 960, 600.0, 600.0, 640.0, 480.0, distortion=(-0.5, 0.0, 0.0, 0.0, 0.0)),
        RadTanCamera(1280, 960, 600.0, 600.0, 640.0, 480.0, distortion=(0.1, -0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)),
        FisheyeCamera(1280, 960, 400.0, 400.0, 640.0, 480.0, distortion=(-0.3, 0.0, 0.0, 0.0)),
    ],
    ids=["plumb_bob", "rational_polynomial", "fisheye"],
)
def test_fold_back_is_invalid(model: CameraModel) -> None:
    """Beyond the monotonic region the polynomial folds points back into the image: they must be invalid."""
    limit = model.max_theta if model.model_name == "fisheye" else np.arctan(model.max_radius)
    assert np.isfinite(limit)
    angles = np.radians(np.linspace(1.0, 80.0, 400))
    azimuth = np.linspace(0.0, 2 * np.pi, 400)
    pts = np.stack([np.sin(angles) * np.cos(azimuth), np.sin(angles) * np.sin(azimuth), np.cos(angles)], axis=1) * 8.0
    pts = pts.astype(np.float32)
    got = project_points(pts, camera_params(model))
    beyond = angles > limit + 1e-6
    folded_into_image = beyond & (got.uv[0, :, 0] >= 0) & (got.uv[0, :, 0] < model.width) & (
        got.uv[0, :, 1] >= 0) & (got.uv[0, :, 1] < model.height)
    assert folded_into_image.any(), "the test should contain folded-back points that land inside the image"
    assert not got.valid[0][beyond].any()
    np.testing.assert_array_equal(got.valid[0], model.project(pts).valid)
    # OpenCV happily projects the folded points into the image; the kernel agrees with it elsewhere
    expected = cv2_project(model, SE3.identity(), pts)
    assert np.abs(got.uv[0] - expected)[got.valid[0]].max() < TOL_PX


def test_one_pass_equals_per_camera_calls(params: dict) -> None:
    cams = [params[name] for name in MODELS] + [camera_params(*pair) for pair in
                                                  [(PinholeCamera(800, 600, 700.0, 700.0, 400.0, 300.0),
                                                    lidar2cam(100.0)),
                                                   (PinholeCamera(800, 600, 700.0, 700.0, 400.0, 300.0),
                                                    lidar2cam(-100.0))]]
    pts = lidar_cloud(30000, 5, features=2)
    together = project_points(pts, cams)
    assert together.uv.shape == (6, pts.shape[0], 2)
    for c, cam in enumerate(cams):
        alone = project_points(pts[:, :3], cam)
        np.testing.assert_array_equal(together.uv[c], alone.uv[0])
        np.testing.assert_array_equal(together.depth[c], alone.depth[0])
        np.testing.assert_array_equal(together.valid[c], alone.valid[0])


@pytest.mark.slow
def test_million_points_200m_focal_2000(models: dict, params: dict) -> None:
    """float32 in and out, float64 inside: within 1e-3 px of the float64 reference and of OpenCV at scale."""
    model, transform = models["plumb_bob"]
    pts = lidar_cloud(1_000_000, 42, max_range=200.0)
    got = project_points(pts, params["plumb_bob"])
    valid = got.valid[0]
    assert valid.sum() > 50_000
    expected = cv2_project(model, transform, pts[valid])
    assert np.abs(got.uv[0][valid] - expected).max() < TOL_PX
    want = project_points_reference(pts, params["plumb_bob"])
    np.testing.assert_array_equal(got.uv, want.uv)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_other_float_dtypes(dtype: type, params: dict) -> None:
    pts = lidar_cloud(5000, 7, max_range=50.0).astype(dtype)
    got = project_points(pts, params["plumb_bob"])
    want = project_points_reference(pts.astype(np.float64 if dtype == np.float64 else np.float32),
                                    params["plumb_bob"])
    np.testing.assert_array_equal(got.uv, want.uv)
    np.testing.assert_array_equal(got.valid, want.valid)


def test_skew_matches_camera_model() -> None:
    model = PinholeCamera(640, 480, 500.0, 480.0, 320.0, 240.0, skew=3.5)
    pts = lidar_cloud(3000, 9, max_range=30.0)
    transform = lidar2cam(10.0)
    got = project_points(pts, camera_params(model, transform))
    proj = model.project(transform.apply(pts.astype(np.float64)))
    both = got.valid[0] & proj.valid
    assert both.sum() > 50
    assert np.abs(got.uv[0][both] - proj.uv[both]).max() < TOL_PX


def test_out_is_reused_and_checked(params: dict) -> None:
    cams = [params["pinhole"], params["plumb_bob"]]
    pts = lidar_cloud(4000, 11)
    first = project_points(pts, cams)
    buffers = project_points(lidar_cloud(4000, 12), cams)
    again = project_points(pts, cams, out=buffers)
    assert again is buffers
    for field in ("uv", "depth", "valid"):
        np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
    with pytest.raises(KernelError, match="shape"):
        project_points(pts[:10], cams, out=buffers)
    with pytest.raises(KernelError, match="MultiProjection"):
        project_points(pts, cams, out=(first.uv, first.depth, first.valid))  # type: ignore[arg-type]
    frozen = project_points(pts, cams)
    frozen.uv.flags.writeable = False
    with pytest.raises(KernelError, match="writeable"):
        project_points(pts, cams, out=frozen)
