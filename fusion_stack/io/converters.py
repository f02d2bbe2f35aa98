"""The default message conversions: a plain ``{message type: Converter}`` dict.

Extend it by passing your own dict to ``open_recording(..., converters={**DEFAULT_CONVERTERS, "my_msgs/msg/X":
my_converter})``; a converter follows :class:`fusion_stack.io.convert_common.Converter`. Types are written as
rosbags names them (``sensor_msgs/msg/Image``, also for ROS 1 recordings).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fusion_stack.io.convert_common import Converter
from fusion_stack.io.convert_detections import detections_from_msg
from fusion_stack.io.convert_image import compressed_image_from_msg, image_from_msg
from fusion_stack.io.convert_misc import (
    buffer_packet_from_msg,
    camera_info_from_msg,
    imu_from_msg,
    odometry_from_msg,
    packets_from_msg,
    text_from_msg,
    tf_from_msg,
    twist_from_msg,
)
from fusion_stack.io.convert_pointcloud import pointcloud2_from_msg

DEFAULT_CONVERTERS: Mapping[str, Converter] = MappingProxyType({
    "sensor_msgs/msg/Image": image_from_msg,
    "sensor_msgs/msg/CompressedImage": compressed_image_from_msg,
    "sensor_msgs/msg/PointCloud2": pointcloud2_from_msg,
    "sensor_msgs/msg/CameraInfo": camera_info_from_msg,
    "sensor_msgs/msg/Imu": imu_from_msg,
    "nav_msgs/msg/Odometry": odometry_from_msg,
    "geometry_msgs/msg/TwistStamped": twist_from_msg,
    "tf2_msgs/msg/TFMessage": tf_from_msg,
    "velodyne_msgs/msg/VelodyneScan": packets_from_msg,
    "nebula_msgs/msg/NebulaPackets": packets_from_msg,
    "ouster_ros/msg/PacketMsg": buffer_packet_from_msg,
    "ouster_sensor_msgs/msg/PacketMsg": buffer_packet_from_msg,
    "std_msgs/msg/String": text_from_msg,
    "vision_msgs/msg/Detection3DArray": detections_from_msg,
})
