"""Message definitions: shipped .msg files, distribution stores, recordings that redefine types."""

from __future__ import annotations

from rosbags.typesys import Stores, get_types_from_msg

from fusion_stack.io.message_types import build_typestore, shipped_message_definitions, store_for_distro


def test_shipped_definitions() -> None:
    defs = shipped_message_definitions()
    assert {"velodyne_msgs/msg/VelodyneScan", "nebula_msgs/msg/NebulaPackets", "ouster_ros/msg/PacketMsg",
            "vision_msgs/msg/Detection3DArray", "vision_msgs/msg/BoundingBox3D"} <= set(defs)
    store = build_typestore({})
    assert "vision_msgs/msg/ObjectHypothesisWithPose" in store.fielddefs
    assert [f[0] for f in store.fielddefs["velodyne_msgs/msg/VelodynePacket"][1]] == ["stamp", "data"]


def test_distro_stores() -> None:
    assert store_for_distro("humble") == Stores.ROS2_HUMBLE
    assert store_for_distro(None) == Stores.LATEST
    assert store_for_distro("rosbags") == Stores.LATEST
    assert store_for_distro("noetic", ros1=True) == Stores.ROS1_NOETIC


def test_a_recording_may_redefine_a_distribution_type() -> None:
    stored = get_types_from_msg("string data\nint32 extra\n", "std_msgs/msg/String")
    store = build_typestore(stored)
    assert [f[0] for f in store.fielddefs["std_msgs/msg/String"][1]] == ["data", "extra"]
    assert "sensor_msgs/msg/Image" in store.fielddefs and "vision_msgs/msg/Detection3D" in store.fielddefs
