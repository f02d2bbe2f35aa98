"""Typed samples: construction checks, immutability and box operations."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, FrameSet, PointCloud, RadarScan, SampleError


def _cloud(n: int = 4) -> PointCloud:
    return PointCloud(10, "lidar", "LIDAR_TOP", np.arange(n * 3, dtype=np.float64).reshape(n, 3),
                      {"intensity": np.ones(n, np.float32), "ring": np.arange(n, dtype=np.uint16)})


def test_point_cloud_stores_float32_read_only_views() -> None:
    pc = _cloud()
    assert pc.positions.dtype == np.float32 and len(pc) == 4
    with pytest.raises(ValueError, match="read-only"):
        pc.positions[0, 0] = 1.0
    with pytest.raises(TypeError):
        pc.fields["x"] = np.zeros(4)  # type: ignore[index]
    moved = pc.transformed(SE3(yaw_matrix(np.pi / 2), [1, 0, 0]), "base_link")
    np.testing.assert_allclose(moved.positions[1], [1 - 4, 3, 5])
    assert moved.frame_id == "base_link" and set(moved.fields) == {"intensity", "ring"}


@pytest.mark.parametrize(
    ("kwargs", "field", "shown"),
    [
        ({"positions": np.zeros((5, 2))}, "positions", r"shape \(5, 2\)"),
        ({"positions": np.array([["a", "b", "c"]])}, "positions", "dtype <U1"),
        ({"positions": np.array([[np.nan, 0, 0]])}, "positions", "NaN"),
        ({"fields": {"intensity": np.zeros(3)}}, "fields.intensity", r"shape \(3,\)"),
        ({"stamp_ns": 1.5}, "stamp_ns", "float 1.5"),
        ({"frame_id": ""}, "frame_id", "non-empty"),
    ],
)
def test_point_cloud_rejects_bad_input_showing_what_came_in(kwargs: dict, field: str, shown: str) -> None:
    base = {"stamp_ns": 1, "frame_id": "lidar", "sensor_id": "L", "positions": np.zeros((4, 3)), "fields": {}}
    base.update(kwargs)
    with pytest.raises(SampleError, match=shown) as err:
        PointCloud(**base)
    assert err.value.field == field


def test_camera_image_checks_encoding_channels_and_dtype() -> None:
    img = CameraImage(5, "cam_optical", "CAM", np.zeros((4, 6, 3), np.uint8), "bgr8")
    assert (img.height, img.width) == (4, 6)
    assert CameraImage(5, "c", "C", np.zeros((4, 6), np.uint16), "mono16").data.shape == (4, 6, 1)
    with pytest.raises(SampleError, match=r"\(H, W, 3\) of uint8, got shape \(4, 6, 4\)"):
        CameraImage(5, "c", "C", np.zeros((4, 6, 4), np.uint8), "rgb8")
    with pytest.raises(SampleError, match="float32"):
        CameraImage(5, "c", "C", np.zeros((4, 6)), "32FC1")
    with pytest.raises(SampleError, match="not one of"):
        CameraImage(5, "c", "C", np.zeros((4, 6, 3), np.uint8), "yuv422")


def test_radar_scan_lengths_must_agree() -> None:
    r = RadarScan(1, "radar", "R", np.zeros((3, 3)), np.ones(3), np.zeros(3), {"snr": np.ones(3)})
    assert len(r) == 3 and r.radial_velocity.dtype == np.float32
    with pytest.raises(SampleError, match=r"radial_velocity must be a real array of shape \(3,\)"):
        RadarScan(1, "radar", "R", np.zeros((3, 3)), np.ones(2), np.zeros(3))


def test_boxes_corners_transform_and_checks() -> None:
    boxes = Boxes3D.from_array(np.array([[10.0, 0, 1, 4, 2, 1.5, 0.0], [0, 5, 1, 1, 1, 2, np.pi / 2]]),
                               [0, 1], ("car", "pedestrian"), stamp_ns=3, frame_id="lidar", sensor_id="gt",
                               velocities=np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    assert boxes.label_names() == ("car", "pedestrian")
    lidar2base = SE3(yaw_matrix(np.pi / 2), [1, 0, 2])
    moved = boxes.transformed(lidar2base, "base_link")
    np.testing.assert_allclose(moved.centers[0], [1, 10, 3], atol=1e-5)
    np.testing.assert_allclose(np.cos(moved.yaws), [0, -1], atol=1e-6)
    np.testing.assert_allclose(np.sin(moved.yaws), [1, 0], atol=1e-6)
    np.testing.assert_allclose(moved.velocities[0], [0, 1, 0], atol=1e-6)
    # corners move with the boxes: transforming corners == corners of the transformed boxes
    np.testing.assert_allclose(lidar2base.apply(boxes.corners().reshape(-1, 3)),
                               moved.corners().reshape(-1, 3), atol=1e-5)
    assert len(boxes.select(np.array([False, True]))) == 1
    with pytest.raises(SampleError, match="index class_names"):
        Boxes3D.from_array(np.zeros((1, 7)) + 1, [2], ("car",), stamp_ns=0, frame_id="l", sensor_id="s")
    with pytest.raises(SampleError, match="positive"):
        Boxes3D.from_array(np.array([[0, 0, 0, 0, 1, 1, 0.0]]), [0], ("car",), stamp_ns=0, frame_id="l",
                           sensor_id="s")


def test_empty_boxes_need_no_optional_arrays() -> None:
    empty = Boxes3D(0, "lidar", "gt", np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.int64), ("car",))
    assert len(empty) == 0 and empty.track_ids.dtype == np.int64 and empty.velocities.shape == (0, 3)
    assert empty.corners().shape == (0, 8, 3)


def test_ego_pose_and_frame_set() -> None:
    pose = EgoPose(7, "map", "odom", "base_link", SE3(), linear_velocity=np.array([1.0, 0, 0]))
    assert pose.linear_velocity is not None and pose.linear_velocity.dtype == np.float64
    with pytest.raises(SampleError, match="SE3"):
        EgoPose(7, "map", "odom", "base_link", np.eye(4))  # type: ignore[arg-type]
    pc = _cloud()
    fs = FrameSet(10, "LIDAR_TOP", {"LIDAR_TOP": pc}, frozenset({"CAM_FRONT"}))
    assert fs.get("CAM_FRONT") is None and fs.sensor_ids == ("LIDAR_TOP",) and list(fs) == [pc]
    with pytest.raises(SampleError, match="both present and marked missing"):
        FrameSet(10, "LIDAR_TOP", {"LIDAR_TOP": pc}, frozenset({"LIDAR_TOP"}))
    with pytest.raises(SampleError, match="holds a sample of sensor 'LIDAR_TOP'"):
        FrameSet(10, "LIDAR_TOP", {"CAM": pc})
