"""Bad and unusual input: clear KernelErrors or documented results, never a crash inside a kernel."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from kernel_cases import lidar2cam, lidar_cloud

from fusion_stack.calibration import FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.errors import FusionStackError
from fusion_stack.kernels import (
    CameraParams,
    KernelError,
    camera_params,
    depth_image,
    gather,
    pack_cameras,
    project_points,
    voxelize,
)
from fusion_stack.kernels.reference import project_points_reference

CAM = CameraParams("pinhole", 64, 48, 50.0, 50.0, 32.0, 24.0)
VOX = {"voxel_size": (1.0, 1.0, 1.0), "range": (-5.0, -5.0, -5.0, 5.0, 5.0, 5.0), "max_points_per_voxel": 4,
       "max_voxels": 100}


def run_all(points: object) -> None:
    project_points(points, CAM)
    depth_image(points, CAM)
    voxelize(points, **VOX)


def test_kernel_error_is_a_fusion_stack_value_error() -> None:
    assert issubclass(KernelError, FusionStackError) and issubclass(KernelError, ValueError)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((5, 2), dtype=np.float32), r"\(5, 2\)"),
        (np.zeros(6, dtype=np.float32), r"\(6,\)"),
        (np.zeros((2, 3, 1), dtype=np.float32), r"\(2, 3, 1\)"),
        (np.zeros((4, 3), dtype=np.int32), "int32"),
        (np.zeros((4, 3), dtype=np.complex64), "complex64"),
        (np.array([["a", "b", "c"]]), "<U1"),
        ([[1.0, 2.0], [3.0]], "points"),
        (None, "points"),
    ],
    ids=["two-columns", "flat", "three-dims", "int", "complex", "strings", "ragged", "none"],
)
def test_bad_points_raise_a_clear_error(points: object, message: str) -> None:
    for call in (lambda: project_points(points, CAM), lambda: depth_image(points, CAM),
                 lambda: voxelize(points, **VOX)):
        with pytest.raises(KernelError, match=message) as info:
            call()
        assert info.value.field == "points"


def test_nan_and_inf_points_are_invalid_or_dropped() -> None:
    pts = np.array([[np.nan, 0, 1], [0, np.inf, 1], [0, 0, -np.inf], [np.nan] * 3, [0.1, 0.1, 1.0]],
                   dtype=np.float32)
    proj = project_points(pts, CAM)
    np.testing.assert_array_equal(proj.valid[0], [False, False, False, False, True])
    depth = depth_image(pts, CAM)
    assert (depth.index[0] >= 0).sum() == 1 and depth.index[0].max() == 4
    vox = voxelize(pts, **VOX)
    np.testing.assert_array_equal(vox.point_to_voxel, [-1, -1, -1, -1, 0])
    uv = np.array([[np.nan, 1.0], [np.inf, np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(gather(np.ones((4, 4), dtype=np.uint8), uv, fill=3), [3, 3])


def test_empty_inputs() -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    proj = project_points(empty, [CAM, CAM])
    assert proj.uv.shape == (2, 0, 2) and proj.valid.shape == (2, 0)
    assert (depth_image(empty, CAM).index[0] == -1).all()
    assert voxelize(empty, **VOX).features.shape == (0, 4, 3)
    assert gather(np.zeros((3, 3, 2), dtype=np.float32), np.zeros((0, 2), dtype=np.float32)).shape == (0, 2)


def test_non_contiguous_inputs_give_the_same_results() -> None:
    pts = lidar_cloud(3000, 0, max_range=8.0, features=3)
    strided = pts[::2, [2, 0, 1]][:, [1, 2, 0]]  # fancy-indexed then sliced columns, rows with a step
    fortran = np.asfortranarray(pts[::2, :3])
    contiguous = np.ascontiguousarray(pts[::2, :3])
    base = project_points(contiguous, CAM)
    for variant in (strided, fortran, pts[::2, :3]):
        got = project_points(variant, CAM)
        np.testing.assert_array_equal(got.uv, base.uv)
    np.testing.assert_array_equal(voxelize(fortran, **VOX).features, voxelize(contiguous, **VOX).features)
    image = np.zeros((8, 6, 3), dtype=np.uint8)
    image[:] = np.arange(6)[None, :, None]
    transposed = np.ascontiguousarray(image.transpose(1, 0, 2)).transpose(1, 0, 2)
    uv = np.array([[2.0, 3.0], [5.0, 7.0]], dtype=np.float32)
    np.testing.assert_array_equal(gather(transposed, uv[:, ::-1][:, ::-1]), gather(image, uv))


def test_extra_columns_are_ignored_by_projection() -> None:
    pts = lidar_cloud(2000, 1, max_range=10.0, features=2)
    np.testing.assert_array_equal(project_points(pts, CAM).uv, project_points(pts[:, :3].copy(), CAM).uv)
    np.testing.assert_array_equal(project_points(pts, CAM).uv, project_points_reference(pts, CAM).uv)


@pytest.mark.parametrize("near", [-1.0, math.nan, math.inf, "1", True, None])
def test_bad_near(near: object) -> None:
    with pytest.raises(KernelError, match="near"):
        project_points(np.zeros((1, 3), dtype=np.float32), CAM, near=near)  # type: ignore[arg-type]


def test_bad_device() -> None:
    pts = np.zeros((1, 3), dtype=np.float32)
    with pytest.raises(KernelError, match="device"):
        project_points(pts, CAM, device="gpu")


def test_cuda_without_a_device_is_a_clear_error() -> None:
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a CUDA device is available")
    with pytest.raises(KernelError, match="no CUDA device"):
        project_points(np.zeros((1, 3), dtype=np.float32), CAM, device="cuda")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "kannala"}, "model"),
        ({"width": 0}, "width"),
        ({"height": 2.5}, "height"),
        ({"fx": -1.0}, "fx"),
        ({"cy": math.nan}, "cy"),
        ({"skew": "0"}, "skew"),
        ({"model": "radtan", "distortion": (0.1, 0.2, 0.3)}, "distortion"),
        ({"model": "fisheye", "distortion": (0.1, 0.2, 0.3, 0.4, 0.5)}, "distortion"),
        ({"distortion": (0.1, 0, 0, 0)}, "distortion"),
        ({"model": "radtan", "distortion": (0.1, math.inf, 0, 0, 0)}, "distortion"),
        ({"fold_limit": 0.0}, "fold_limit"),
        ({"rotation": np.eye(4)}, "rotation"),
        ({"rotation": np.full((3, 3), np.nan)}, "rotation"),
        ({"translation": (1.0, 2.0)}, "translation"),
    ],
)
def test_bad_camera_params(kwargs: dict, field: str) -> None:
    base = {"model": "pinhole", "width": 64, "height": 48, "fx": 50.0, "fy": 50.0, "cx": 32.0, "cy": 24.0}
    with pytest.raises(KernelError) as info:
        CameraParams(**{**base, **kwargs})
    assert info.value.field == field


def test_camera_params_adapter_reads_models_and_transforms() -> None:
    transform = lidar2cam(30.0)
    radtan = RadTanCamera(640, 480, 500.0, 501.0, 320.0, 240.0, distortion=(-0.4, 0.1, 0.0, 0.0), skew=0.3)
    params = camera_params(radtan, transform)
    assert params.model == "radtan" and params.fold_limit == radtan.max_radius and params.skew == 0.3
    assert params.distortion == (-0.4, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(params.rotation, transform.rotation)
    fisheye = camera_params(FisheyeCamera(640, 480, 300.0, 300.0, 320.0, 240.0, distortion=(0.1, 0, 0, 0)))
    assert fisheye.model == "fisheye" and fisheye.fold_limit == math.inf
    np.testing.assert_array_equal(fisheye.rotation, np.eye(3))
    duck = SimpleNamespace(model_name="plumb_bob", width=10, height=8, fx=5.0, fy=5.0, cx=5.0, cy=4.0, skew=0.0,
                           distortion_coefficients=np.array([0.1, 0.0, 0.0, 0.0, 0.0]))
    assert camera_params(duck).fold_limit == math.inf
    with pytest.raises(KernelError, match="width"):
        camera_params(SimpleNamespace(model_name="pinhole"))
    with pytest.raises(KernelError, match="rotation"):
        camera_params(PinholeCamera(10, 8, 5.0, 5.0, 5.0, 4.0), SimpleNamespace(translation=np.zeros(3)))


def test_pack_cameras_checks_its_elements() -> None:
    assert pack_cameras(CAM).shape == (1, 32)
    with pytest.raises(KernelError, match="at least one camera"):
        pack_cameras([])
    with pytest.raises(KernelError, match="camera_params"):
        pack_cameras([PinholeCamera(10, 8, 5.0, 5.0, 5.0, 4.0)])  # type: ignore[list-item]
    with pytest.raises(KernelError, match="sequence"):
        pack_cameras(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"voxel_size": (1.0, 0.0, 1.0)}, "voxel_size"),
        ({"voxel_size": (1.0, 1.0)}, "voxel_size"),
        ({"voxel_size": (20.0, 1.0, 1.0)}, "voxel_size"),
        ({"range": (0, 0, 0, 1, 1)}, "range"),
        ({"range": (0, 0, 0, -1, 1, 1)}, "range"),
        ({"range": (0, 0, 0, math.nan, 1, 1)}, "range"),
        ({"max_points_per_voxel": 0}, "max_points_per_voxel"),
        ({"max_voxels": 2.0}, "max_voxels"),
        ({"max_voxels": True}, "max_voxels"),
    ],
)
def test_bad_voxel_options(kwargs: dict, field: str) -> None:
    with pytest.raises(KernelError) as info:
        voxelize(np.zeros((3, 3), dtype=np.float32), **{**VOX, **kwargs})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("image", "uv", "field"),
    [
        (np.zeros((4, 4, 3, 1), dtype=np.uint8), np.zeros((2, 2), dtype=np.float32), "image"),
        (np.zeros((4,), dtype=np.uint8), np.zeros((2, 2), dtype=np.float32), "image"),
        (np.zeros((4, 4), dtype=np.complex64), np.zeros((2, 2), dtype=np.float32), "image"),
        (np.zeros((0, 4), dtype=np.uint8), np.zeros((2, 2), dtype=np.float32), "image"),
        (np.zeros((4, 4), dtype=np.uint8), np.zeros((2, 3), dtype=np.float32), "uv"),
        (np.zeros((4, 4), dtype=np.uint8), np.zeros((2, 2), dtype=np.int64), "uv"),
    ],
)
def test_bad_gather_inputs(image: np.ndarray, uv: np.ndarray, field: str) -> None:
    with pytest.raises(KernelError) as info:
        gather(image, uv)
    assert info.value.field == field


def test_dispatch_follows_the_data() -> None:
    import torch
    from numba import cuda

    tensor = torch.rand(5, 3) + torch.tensor([0.0, 0.0, 1.0])  # a CPU tensor: runs on the CPU
    got = project_points(tensor, CAM)
    assert got.device == "cpu"
    np.testing.assert_array_equal(got.uv, project_points(tensor.numpy(), CAM).uv)

    class OnTheDevice:
        """Anything exposing __cuda_array_interface__ counts as CUDA data."""

        shape = (5, 3)
        dtype = np.dtype(np.float32)
        __cuda_array_interface__: dict = {}  # noqa: RUF012

    if not cuda.is_available():
        with pytest.raises(KernelError, match="no CUDA device"):
            project_points(OnTheDevice(), CAM)
    assert project_points(np.zeros((2, 3), dtype=np.float32), CAM, device="cpu").device == "cpu"
