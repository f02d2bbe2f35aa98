"""Conversions of the smaller messages: ``CameraInfo`` -> camera model, ``TFMessage`` -> transforms, ``Imu``,
``Odometry`` (-> :class:`EgoPose` with twist), ``TwistStamped``, raw packet messages (Velodyne, Nebula,
Ouster) -> :class:`RawPackets`, ``std_msgs/String`` -> :class:`TextMessage`; and the inverse builders used by the
recording writer and the tests.

CameraInfo uses :func:`fusion_stack.calibration.ros_camera_info.camera_from_ros_dict`, so the distortion models
map as there (plumb_bob without coefficients -> pinhole, with 4/5 -> rad-tan, rational_polynomial, equidistant
-> fisheye). ``/tf_static`` (or any topic ending in ``tf_static``) gives ``TransformSample.static = True``.
Headerless packet messages (Ouster ``PacketMsg``) take the log stamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.ros_camera_info import camera_from_ros_dict, camera_to_ros_dict
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.calibration_samples import CameraInfoSample, StampedTransform, TransformSample
from fusion_stack.io.convert_common import ConversionContext, header_of, time_to_ns
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.ros_messages import make_header, make_time, message_class
from fusion_stack.types import EgoPose, SampleError


def _field(msg: Any, *names: str) -> Any:
    """The first attribute of ``names`` present (ROS 2 ``k`` vs ROS 1 ``K``)."""
    for n in names:
        if hasattr(msg, n):
            return getattr(msg, n)
    raise RecordingError(f"message has none of the fields {names}", field=names[0])


def _vec3(v: Any) -> np.ndarray:
    return np.array([float(v.x), float(v.y), float(v.z)], dtype=np.float64)


def _pose_se3(pose: Any, field: str) -> SE3:
    q = pose.orientation
    try:
        return SE3.from_quaternion([float(q.x), float(q.y), float(q.z), float(q.w)], _vec3(pose.position))
    except GeometryError as err:
        raise RecordingError(err.reason, field=f"{field}.{err.field}" if err.field else field) from err


# --- CameraInfo -----------------------------------------------------------------------------------------------
def camera_from_camera_info(msg: Any) -> CameraModel:
    """The camera model of a ``sensor_msgs/CameraInfo`` (RecordingError naming ``k``, ``d``, ... when invalid)."""
    k = [float(v) for v in np.asarray(_field(msg, "k", "K")).reshape(-1)]
    d = [float(v) for v in np.asarray(_field(msg, "d", "D")).reshape(-1)]
    doc = {"image_width": int(msg.width), "image_height": int(msg.height),
           "camera_matrix": {"rows": 3, "cols": 3, "data": k},
           "distortion_model": str(msg.distortion_model) or "plumb_bob",
           "distortion_coefficients": {"rows": 1, "cols": len(d), "data": d}}
    try:
        return camera_from_ros_dict(doc, source="CameraInfo")[1]
    except CalibrationError as err:
        key = {"camera_matrix.data": "k", "distortion_coefficients.data": "d", "image_width": "width",
               "image_height": "height"}.get(err.field or "", err.field)
        raise RecordingError(err.reason, field=key) from err


def camera_info_from_msg(msg: Any, ctx: ConversionContext) -> CameraInfoSample:
    """``sensor_msgs/CameraInfo`` -> CameraInfoSample."""
    stamp, frame = header_of(msg)
    return CameraInfoSample(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, camera_from_camera_info(msg))


def camera_info_to_msg(sample: CameraInfoSample, typestore: Any) -> Any:
    """A ``sensor_msgs/msg/CameraInfo`` of ``sample`` (ROS 2 field names)."""
    d = camera_to_ros_dict("camera", sample.camera)
    roi = message_class(typestore, "sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0,
                                                                       do_rectify=False)
    return message_class(typestore, "sensor_msgs/msg/CameraInfo")(
        header=make_header(typestore, sample.stamp_ns, sample.frame_id), height=d["image_height"],
        width=d["image_width"], distortion_model=d["distortion_model"],
        d=np.asarray(d["distortion_coefficients"]["data"], dtype=np.float64),
        k=np.asarray(d["camera_matrix"]["data"], dtype=np.float64),
        r=np.asarray(d["rectification_matrix"]["data"], dtype=np.float64),
        p=np.asarray(d["projection_matrix"]["data"], dtype=np.float64), binning_x=0, binning_y=0, roi=roi)


# --- TF -------------------------------------------------------------------------------------------------------
def tf_from_msg(msg: Any, ctx: ConversionContext) -> TransformSample:
    """``tf2_msgs/TFMessage`` -> TransformSample (static when the topic ends in ``tf_static``)."""
    out = []
    for i, t in enumerate(msg.transforms):
        where = f"transforms[{i}]"
        stamp = time_to_ns(t.header.stamp, field=f"{where}.header.stamp")
        parent, child = str(t.header.frame_id).lstrip("/"), str(t.child_frame_id).lstrip("/")
        if not parent or not child:
            raise RecordingError(f"empty frame id (parent {parent!r}, child {child!r})",
                                 field=f"{where}.header.frame_id" if not parent else f"{where}.child_frame_id")
        tr, q = t.transform.translation, t.transform.rotation
        try:
            pose = SE3.from_quaternion([float(q.x), float(q.y), float(q.z), float(q.w)], _vec3(tr))
        except GeometryError as err:
            raise RecordingError(err.reason, field=f"{where}.transform.rotation") from err
        out.append(StampedTransform(stamp, parent, child, pose))
    if not out:
        raise RecordingError("TFMessage holds no transforms", field="transforms")
    stamp = max(t.stamp_ns for t in out)
    return TransformSample(ctx.stamp(stamp), out[0].parent, ctx.sensor_id, tuple(out),
                           static=ctx.topic.rstrip("/").endswith("tf_static"))


def tf_to_msg(transforms: Sequence[StampedTransform], typestore: Any) -> Any:
    """A ``tf2_msgs/msg/TFMessage`` of ``transforms``."""
    ts_cls = message_class(typestore, "geometry_msgs/msg/TransformStamped")
    tf_cls = message_class(typestore, "geometry_msgs/msg/Transform")
    v_cls = message_class(typestore, "geometry_msgs/msg/Vector3")
    q_cls = message_class(typestore, "geometry_msgs/msg/Quaternion")
    items = []
    for t in transforms:
        (x, y, z), (qx, qy, qz, qw) = t.child2parent.to_ros()
        items.append(ts_cls(header=make_header(typestore, t.stamp_ns, t.parent), child_frame_id=t.child,
                            transform=tf_cls(translation=v_cls(x=x, y=y, z=z),
                                             rotation=q_cls(x=qx, y=qy, z=qz, w=qw))))
    return message_class(typestore, "tf2_msgs/msg/TFMessage")(transforms=items)


# --- IMU, odometry, twist -------------------------------------------------------------------------------------
def _cov3(a: Any) -> np.ndarray | None:
    c = np.asarray(a, dtype=np.float64).reshape(-1)
    return None if c.size != 9 or c[0] == -1.0 else c.reshape(3, 3)


def imu_from_msg(msg: Any, ctx: ConversionContext) -> ImuSample:
    """``sensor_msgs/Imu`` -> ImuSample (orientation None when ``orientation_covariance[0] == -1``)."""
    stamp, frame = header_of(msg)
    ocov = _cov3(msg.orientation_covariance)
    quat = None
    if ocov is not None:
        q = msg.orientation
        quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
        norm = float(np.linalg.norm(quat))
        if abs(norm - 1.0) > 1e-3:
            raise RecordingError(f"orientation is not a unit quaternion (norm {norm:.6f}); mark a missing "
                                 f"orientation with orientation_covariance[0] = -1", field="orientation")
        quat = quat / norm
    try:
        return ImuSample(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, _vec3(msg.angular_velocity),
                         _vec3(msg.linear_acceleration), quat, ocov, _cov3(msg.angular_velocity_covariance),
                         _cov3(msg.linear_acceleration_covariance))
    except SampleError as err:
        raise RecordingError(err.reason, field=err.field) from err


def imu_to_msg(sample: ImuSample, typestore: Any) -> Any:
    """A ``sensor_msgs/msg/Imu`` of ``sample`` (unknown orientation/covariances written with the -1 marker)."""
    v_cls = message_class(typestore, "geometry_msgs/msg/Vector3")
    q_cls = message_class(typestore, "geometry_msgs/msg/Quaternion")
    unknown = np.array([-1.0] + [0.0] * 8)

    def cov(c: np.ndarray | None) -> np.ndarray:
        return unknown.copy() if c is None else np.asarray(c, dtype=np.float64).reshape(-1)

    q = sample.orientation_xyzw if sample.orientation_xyzw is not None else np.array([0.0, 0.0, 0.0, 1.0])
    if sample.orientation_xyzw is None:
        ocov = unknown.copy()
    else:  # a known orientation with unknown covariance is written as zero covariance
        ocov = np.zeros(9) if sample.orientation_covariance is None else cov(sample.orientation_covariance)
    w, a = sample.angular_velocity, sample.linear_acceleration
    return message_class(typestore, "sensor_msgs/msg/Imu")(
        header=make_header(typestore, sample.stamp_ns, sample.frame_id),
        orientation=q_cls(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])), orientation_covariance=ocov,
        angular_velocity=v_cls(x=float(w[0]), y=float(w[1]), z=float(w[2])),
        angular_velocity_covariance=cov(sample.angular_velocity_covariance),
        linear_acceleration=v_cls(x=float(a[0]), y=float(a[1]), z=float(a[2])),
        linear_acceleration_covariance=cov(sample.linear_acceleration_covariance))


def odometry_from_msg(msg: Any, ctx: ConversionContext) -> EgoPose:
    """``nav_msgs/Odometry`` -> EgoPose (``pose`` = child2parent; twist in the child frame, as ROS defines)."""
    stamp, frame = header_of(msg)
    pose = _pose_se3(msg.pose.pose, "pose.pose")
    child = str(msg.child_frame_id).lstrip("/") or "base_link"
    cov = np.asarray(msg.twist.covariance).reshape(-1)
    if cov.size and cov[0] == -1.0:  # fusion_stack's marker of "no twist" (see odometry_to_msg)
        return EgoPose(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, child, pose)
    try:
        return EgoPose(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, child, pose,
                       _vec3(msg.twist.twist.linear), _vec3(msg.twist.twist.angular))
    except SampleError as err:
        raise RecordingError(err.reason, field=f"twist.twist.{err.field}") from err


def _pose_msg(typestore: Any, pose: SE3) -> Any:
    (x, y, z), (qx, qy, qz, qw) = pose.to_ros()
    return message_class(typestore, "geometry_msgs/msg/Pose")(
        position=message_class(typestore, "geometry_msgs/msg/Point")(x=x, y=y, z=z),
        orientation=message_class(typestore, "geometry_msgs/msg/Quaternion")(x=qx, y=qy, z=qz, w=qw))


def _twist_msg(typestore: Any, linear: Any, angular: Any) -> Any:
    v_cls = message_class(typestore, "geometry_msgs/msg/Vector3")
    lin = np.zeros(3) if linear is None else np.asarray(linear, dtype=np.float64)
    ang = np.zeros(3) if angular is None else np.asarray(angular, dtype=np.float64)
    return message_class(typestore, "geometry_msgs/msg/Twist")(
        linear=v_cls(x=float(lin[0]), y=float(lin[1]), z=float(lin[2])),
        angular=v_cls(x=float(ang[0]), y=float(ang[1]), z=float(ang[2])))


def odometry_to_msg(pose: EgoPose, typestore: Any) -> Any:
    """A ``nav_msgs/msg/Odometry`` of ``pose`` (covariances zero; a missing twist is written as zero with
    ``twist.covariance[0] = -1``, as sensor_msgs/Imu marks unknown values, and read back as None)."""
    twist_cov = np.zeros(36)
    if pose.linear_velocity is None and pose.angular_velocity is None:
        twist_cov[0] = -1.0
    return message_class(typestore, "nav_msgs/msg/Odometry")(
        header=make_header(typestore, pose.stamp_ns, pose.frame_id), child_frame_id=pose.child_frame_id,
        pose=message_class(typestore, "geometry_msgs/msg/PoseWithCovariance")(
            pose=_pose_msg(typestore, pose.pose), covariance=np.zeros(36)),
        twist=message_class(typestore, "geometry_msgs/msg/TwistWithCovariance")(
            twist=_twist_msg(typestore, pose.linear_velocity, pose.angular_velocity), covariance=twist_cov))


def twist_from_msg(msg: Any, ctx: ConversionContext) -> TwistSample:
    """``geometry_msgs/TwistStamped`` -> TwistSample."""
    stamp, frame = header_of(msg)
    try:
        return TwistSample(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, _vec3(msg.twist.linear),
                           _vec3(msg.twist.angular))
    except SampleError as err:
        raise RecordingError(err.reason, field=f"twist.{err.field}") from err


def twist_to_msg(sample: TwistSample, typestore: Any) -> Any:
    """A ``geometry_msgs/msg/TwistStamped`` of ``sample``."""
    return message_class(typestore, "geometry_msgs/msg/TwistStamped")(
        header=make_header(typestore, sample.stamp_ns, sample.frame_id),
        twist=_twist_msg(typestore, sample.linear_velocity, sample.angular_velocity))


# --- raw packets, text ----------------------------------------------------------------------------------------
#: packet-list message type -> the type of its ``packets`` elements
PACKET_ELEMENT_TYPES = {
    "velodyne_msgs/msg/VelodyneScan": "velodyne_msgs/msg/VelodynePacket",
    "nebula_msgs/msg/NebulaPackets": "nebula_msgs/msg/NebulaPacket",
}


def packets_from_msg(msg: Any, ctx: ConversionContext) -> RawPackets:
    """A packet-list message with ``header`` and ``packets[i].stamp/.data`` (``velodyne_msgs/VelodyneScan``,
    ``nebula_msgs/NebulaPackets``) -> RawPackets."""
    stamp, frame = header_of(msg)
    packets = tuple((time_to_ns(p.stamp, field=f"packets[{i}].stamp"), np.asarray(p.data, np.uint8).tobytes())
                    for i, p in enumerate(msg.packets))
    return RawPackets(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, packets, ctx.msgtype)


def buffer_packet_from_msg(msg: Any, ctx: ConversionContext) -> RawPackets:
    """A headerless one-packet message with ``buf`` (Ouster ``PacketMsg``) -> RawPackets at the log stamp."""
    return RawPackets(ctx.log_stamp_ns, ctx.frame(""), ctx.sensor_id,
                      ((ctx.log_stamp_ns, np.asarray(msg.buf, np.uint8).tobytes()),), ctx.msgtype)


def packets_to_msg(sample: RawPackets, typestore: Any) -> Any:
    """The message of ``sample.packet_format`` (VelodyneScan, NebulaPackets or an Ouster PacketMsg)."""
    cls = message_class(typestore, sample.packet_format)
    names = [f[0] for f in typestore.fielddefs[sample.packet_format][1]]
    if "buf" in names:
        if len(sample.packets) != 1:
            raise RecordingError(f"{sample.packet_format} holds one packet, got {len(sample.packets)}",
                                 field="packets")
        return cls(buf=np.frombuffer(sample.packets[0][1], dtype=np.uint8))
    pkt_cls = message_class(typestore, PACKET_ELEMENT_TYPES.get(sample.packet_format, ""))
    return cls(header=make_header(typestore, sample.stamp_ns, sample.frame_id),
               packets=[pkt_cls(stamp=make_time(typestore, s), data=np.frombuffer(d, dtype=np.uint8))
                        for s, d in sample.packets])


def text_from_msg(msg: Any, ctx: ConversionContext) -> TextMessage:
    """``std_msgs/String`` -> TextMessage at the log stamp."""
    return TextMessage(ctx.log_stamp_ns, ctx.frame(""), ctx.sensor_id, str(msg.data))


def text_to_msg(sample: TextMessage, typestore: Any) -> Any:
    """A ``std_msgs/msg/String`` of ``sample``."""
    return message_class(typestore, "std_msgs/msg/String")(data=sample.text)
