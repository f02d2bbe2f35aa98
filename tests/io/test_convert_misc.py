"""CameraInfo, TF, IMU, odometry, twist, packets, text and detection round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from fusion_stack.calibration.camera_models import FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.calibration_samples import CameraInfoSample, StampedTransform, TransformSample
from fusion_stack.io.convert_common import ConversionContext
from fusion_stack.io.convert_detections import (
    boxes_to_detections_msg,
    boxes_to_marker_array,
    detections_converter,
    detections_from_msg,
)
from fusion_stack.io.convert_image import image_from_msg
from fusion_stack.io.convert_misc import (
    buffer_packet_from_msg,
    camera_info_from_msg,
    camera_info_to_msg,
    imu_from_msg,
    imu_to_msg,
    odometry_from_msg,
    odometry_to_msg,
    packets_from_msg,
    packets_to_msg,
    text_from_msg,
    text_to_msg,
    tf_from_msg,
    tf_to_msg,
    twist_from_msg,
    twist_to_msg,
)
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.ros_messages import make_header
from fusion_stack.types import Boxes3D, EgoPose

STAMP = 1_650_000_000_987_654_321


def _cdr(msg: Any, msgtype: str, typestore: Any) -> Any:
    return typestore.deserialize_cdr(typestore.serialize_cdr(msg, msgtype), msgtype)


def _pose(seed: int) -> SE3:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    return SE3.from_quaternion(q / np.linalg.norm(q), rng.normal(size=3) * 10)


@pytest.mark.parametrize("camera", [
    PinholeCamera(width=640, height=480, fx=500.0, fy=501.0, cx=320.5, cy=240.25),
    RadTanCamera(width=1600, height=900, fx=1266.4, fy=1266.4, cx=816.3, cy=491.5,
                 distortion=(-0.1, 0.01, 0.001, -0.002, 0.0005)),
    RadTanCamera(width=800, height=600, fx=400.0, fy=400.0, cx=400.0, cy=300.0,
                 distortion=(0.1, -0.02, 0.0, 0.0, 0.001, 0.05, -0.01, 0.002)),
    FisheyeCamera(width=1280, height=960, fx=300.0, fy=300.0, cx=640.0, cy=480.0, distortion=(0.05, -0.01, 0.002, 0.0)),
])
def test_camera_info_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], camera: Any) -> None:
    sample = CameraInfoSample(STAMP, "cam_optical", "cam", camera)
    msg = _cdr(camera_info_to_msg(sample, typestore), "sensor_msgs/msg/CameraInfo", typestore)
    assert camera_info_from_msg(msg, ctx("sensor_msgs/msg/CameraInfo", sensor_id="cam")) == sample


def test_bad_camera_info_names_the_field(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    sample = CameraInfoSample(STAMP, "cam_optical", "cam", PinholeCamera(width=4, height=4, fx=1, fy=1, cx=2, cy=2))
    msg = camera_info_to_msg(sample, typestore)
    msg.k = np.zeros(9)  # an uncalibrated camera
    with pytest.raises(RecordingError) as info:
        camera_info_from_msg(msg, ctx("sensor_msgs/msg/CameraInfo"))
    assert info.value.field == "k"
    msg = camera_info_to_msg(sample, typestore)
    msg.distortion_model = "equidistant"  # with 0 coefficients
    with pytest.raises(RecordingError) as info:
        camera_info_from_msg(msg, ctx("sensor_msgs/msg/CameraInfo"))
    assert info.value.field == "d"


@pytest.mark.parametrize("topic", ["/tf", "/tf_static"])
def test_tf_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], topic: str) -> None:
    transforms = (StampedTransform(STAMP, "base_link", "lidar", _pose(1)),
                  StampedTransform(STAMP + 5, "base_link", "cam_optical", _pose(2)))
    msg = _cdr(tf_to_msg(list(transforms), typestore), "tf2_msgs/msg/TFMessage", typestore)
    back = tf_from_msg(msg, ctx("tf2_msgs/msg/TFMessage", topic=topic, sensor_id="tf"))
    assert isinstance(back, TransformSample) and back.static == (topic == "/tf_static")
    assert (back.stamp_ns, back.frame_id) == (STAMP + 5, "base_link")
    for a, b in zip(back.transforms, transforms):
        assert (a.stamp_ns, a.parent, a.child) == (b.stamp_ns, b.parent, b.child)
        assert a.child2parent.allclose(b.child2parent, atol=1e-12)
    assert [t.child for t in back.static_transforms()] == ["lidar", "cam_optical"]


def test_tf_with_a_bad_quaternion(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    msg = tf_to_msg([StampedTransform(STAMP, "a", "b", _pose(1))], typestore)
    msg.transforms[0].transform.rotation.w = 3.0
    with pytest.raises(RecordingError) as info:
        tf_from_msg(msg, ctx("tf2_msgs/msg/TFMessage"))
    assert info.value.field == "transforms[0].transform.rotation"


@pytest.mark.parametrize("with_orientation", [True, False])
def test_imu_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], with_orientation: bool) -> None:
    cov = np.diag([0.1, 0.2, 0.3])
    sample = ImuSample(STAMP, "imu_link", "imu", [0.1, -0.2, 0.3], [0.0, 0.1, 9.81],
                       _pose(3).as_quaternion() if with_orientation else None, cov if with_orientation else None,
                       cov * 2, None)
    back = imu_from_msg(_cdr(imu_to_msg(sample, typestore), "sensor_msgs/msg/Imu", typestore),
                        ctx("sensor_msgs/msg/Imu", sensor_id="imu"))
    assert back.stamp_ns == STAMP and back.linear_acceleration_covariance is None
    np.testing.assert_array_equal(back.angular_velocity, sample.angular_velocity)
    np.testing.assert_array_equal(back.linear_acceleration, sample.linear_acceleration)
    np.testing.assert_array_equal(back.angular_velocity_covariance, cov * 2)
    if with_orientation:
        np.testing.assert_allclose(back.orientation_xyzw, sample.orientation_xyzw, atol=1e-15)
        np.testing.assert_array_equal(back.orientation_covariance, cov)
    else:
        assert back.orientation_xyzw is None and back.orientation_covariance is None


@pytest.mark.parametrize("with_twist", [True, False])
def test_odometry_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], with_twist: bool) -> None:
    pose = EgoPose(STAMP, "odom", "ego", "base_link", _pose(4), [1.0, 0.1, 0.0] if with_twist else None,
                   [0.0, 0.0, 0.2] if with_twist else None)
    back = odometry_from_msg(_cdr(odometry_to_msg(pose, typestore), "nav_msgs/msg/Odometry", typestore),
                             ctx("nav_msgs/msg/Odometry", sensor_id="ego"))
    assert (back.stamp_ns, back.frame_id, back.child_frame_id) == (STAMP, "odom", "base_link")
    assert back.pose.allclose(pose.pose, atol=1e-12)
    if with_twist:
        np.testing.assert_array_equal(back.linear_velocity, pose.linear_velocity)
        np.testing.assert_array_equal(back.angular_velocity, pose.angular_velocity)
    else:
        assert back.linear_velocity is None and back.angular_velocity is None


def test_twist_round_trip(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    sample = TwistSample(STAMP, "base_link", "wheel_odom", [2.0, 0.0, 0.0], [0.0, 0.0, -0.1])
    back = twist_from_msg(_cdr(twist_to_msg(sample, typestore), "geometry_msgs/msg/TwistStamped", typestore),
                          ctx("geometry_msgs/msg/TwistStamped", sensor_id="wheel_odom"))
    assert back.stamp_ns == STAMP
    np.testing.assert_array_equal(back.linear_velocity, sample.linear_velocity)
    np.testing.assert_array_equal(back.angular_velocity, sample.angular_velocity)


@pytest.mark.parametrize(("msgtype", "sizes"), [("velodyne_msgs/msg/VelodyneScan", [1206, 1206]),
                                                ("nebula_msgs/msg/NebulaPackets", [10, 3000, 0])])
def test_packet_list_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], msgtype: str,
                                sizes: list[int]) -> None:
    rng = np.random.default_rng(5)
    sample = RawPackets(STAMP, "velodyne", "lidar", tuple((STAMP + i, rng.bytes(s)) for i, s in enumerate(sizes)),
                        msgtype)
    back = packets_from_msg(_cdr(packets_to_msg(sample, typestore), msgtype, typestore),
                            ctx(msgtype, sensor_id="lidar"))
    assert back == sample


def test_ouster_packet_and_text_round_trip(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    sample = RawPackets(STAMP, "os_lidar", "os_lidar", ((STAMP, b"\x01\x02" * 100),), "ouster_ros/msg/PacketMsg")
    msg = _cdr(packets_to_msg(sample, typestore), "ouster_ros/msg/PacketMsg", typestore)
    assert buffer_packet_from_msg(msg, ctx("ouster_ros/msg/PacketMsg", sensor_id="os_lidar",
                                           log_stamp_ns=STAMP)) == sample
    text = TextMessage(STAMP, "meta", "meta", '{"beam_intrinsics": []}')
    msg = _cdr(text_to_msg(text, typestore), "std_msgs/msg/String", typestore)
    assert text_from_msg(msg, ctx("std_msgs/msg/String", sensor_id="meta", log_stamp_ns=STAMP)) == text


def test_detections_round_trip(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    rng = np.random.default_rng(6)
    n = 5
    names = ("car", "truck", "pedestrian")
    boxes = Boxes3D(STAMP, "lidar_top", "detector", rng.normal(size=(n, 3)) * 10, rng.uniform(0.5, 5, (n, 3)),
                    rng.uniform(-np.pi, np.pi, n), np.array([2, 0, 2, 1, 0]), names, rng.random(n),
                    track_ids=np.array([4, -1, 7, 100, 3]))
    msg = _cdr(boxes_to_detections_msg(boxes, typestore), "vision_msgs/msg/Detection3DArray", typestore)
    back = detections_converter(names)(msg, ctx("vision_msgs/msg/Detection3DArray", sensor_id="detector"))
    assert back.class_names == names and (back.stamp_ns, back.frame_id) == (STAMP, "lidar_top")
    for name in ("centers", "sizes", "labels", "scores", "track_ids"):
        np.testing.assert_array_equal(getattr(back, name), getattr(boxes, name), err_msg=name)
    np.testing.assert_allclose(back.yaws, boxes.yaws, atol=1e-6)
    assert np.isnan(back.velocities).all()
    auto = detections_from_msg(msg, ctx("vision_msgs/msg/Detection3DArray"))
    assert auto.class_names == ("pedestrian", "car", "truck") and auto.label_names() == boxes.label_names()
    markers = _cdr(boxes_to_marker_array(boxes, typestore), "visualization_msgs/msg/MarkerArray", typestore)
    assert len(markers.markers) == n + 1 and markers.markers[0].action == 3
    with pytest.raises(RecordingError, match="'pedestrian' is not one of"):
        detections_converter(("car", "truck"))(msg, ctx("vision_msgs/msg/Detection3DArray"))


def test_ros1_messages_convert(ctx: Callable[..., ConversionContext]) -> None:
    store = get_typestore(Stores.ROS1_NOETIC)
    header = make_header(store, STAMP, "/cam_optical")
    assert header.seq == 0
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                           do_rectify=False)
    info = store.types["sensor_msgs/msg/CameraInfo"](
        header=header, height=480, width=640, distortion_model="plumb_bob", D=np.array([0.1, 0.01, 0.0, 0.0, 0.0]),
        K=np.array([500.0, 0, 320, 0, 500, 240, 0, 0, 1]), R=np.eye(3).ravel(), P=np.zeros(12), binning_x=0,
        binning_y=0, roi=roi)
    raw = store.serialize_ros1(info, "sensor_msgs/msg/CameraInfo")
    back = camera_info_from_msg(store.deserialize_ros1(raw, "sensor_msgs/msg/CameraInfo"),
                                ctx("sensor_msgs/msg/CameraInfo", sensor_id="cam"))
    assert back.frame_id == "cam_optical" and back.camera.model_name == "plumb_bob"
    assert back.camera.fx == 500.0 and back.stamp_ns == STAMP
    image = store.types["sensor_msgs/msg/Image"](header=header, height=2, width=3, encoding="mono16",
                                                 is_bigendian=1, step=6, data=np.arange(12, dtype=np.uint8))
    img = image_from_msg(store.deserialize_ros1(store.serialize_ros1(image, "sensor_msgs/msg/Image"),
                                                "sensor_msgs/msg/Image"), ctx("sensor_msgs/msg/Image"))
    assert img.data[0, 0, 0] == 0 * 256 + 1 and img.data[1, 2, 0] == 10 * 256 + 11  # big-endian pairs
