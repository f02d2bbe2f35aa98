"""The live-message codec: CDR bytes <-> samples equal the bag path; bad bytes are typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.io.message_codec import MSGTYPES, MessageCodec
from fusion_stack.io.message_errors import BadMessageError
from fusion_stack.pipeline.health import ERROR, OK, STALE, SensorStatus
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, CameraImage, PointCloud, RadarScan


@pytest.fixture(scope="module")
def codec() -> MessageCodec:
    return MessageCodec()


def test_point_cloud_round_trip(codec: MessageCodec) -> None:
    rng = np.random.default_rng(0)
    cloud = PointCloud(1_700_000_000_123_456_789, "lidar_top", "LIDAR_TOP", rng.normal(size=(500, 3)),
                       {"intensity": rng.uniform(size=500).astype(np.float32)})
    msgtype, raw = codec.encode(cloud)
    assert msgtype == MSGTYPES["pointcloud"]
    back = codec.decode(raw, msgtype, topic="/LIDAR_TOP/points", sensor_id="LIDAR_TOP", receive_ns=1)
    assert isinstance(back, PointCloud)
    assert back.stamp_ns == cloud.stamp_ns and back.frame_id == "lidar_top"
    np.testing.assert_array_equal(back.positions, cloud.positions)
    np.testing.assert_array_equal(back.fields["intensity"], cloud.fields["intensity"])


def test_radar_image_and_boxes_round_trip(codec: MessageCodec) -> None:
    scan = RadarScan(5, "radar", "RADAR_FRONT", [[10, 1, 0], [20, -2, 0.5]], [1.5, -3.0], [10, 2])
    back = codec.decode(codec.encode(scan)[1], MSGTYPES["pointcloud"], topic="/RADAR_FRONT/points",
                        sensor_id="RADAR_FRONT", receive_ns=1)
    assert isinstance(back, RadarScan)
    np.testing.assert_allclose(back.radial_velocity, scan.radial_velocity)
    img = CameraImage(7, "cam", "CAM_FRONT", np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    back_img = codec.decode(codec.encode(img)[1], MSGTYPES["image"], topic="/CAM_FRONT/image_raw",
                            sensor_id="CAM_FRONT", receive_ns=1)
    assert isinstance(back_img, CameraImage)
    np.testing.assert_array_equal(back_img.data, img.data)
    boxes = Boxes3D.from_array([[10, 2, 1, 4, 2, 1.5, 0.3]], [0], BOX_CLASSES, stamp_ns=9, frame_id="base_link",
                               sensor_id="fusion", scores=[0.8])
    back_boxes = codec.decode(codec.encode(boxes)[1], MSGTYPES["detections"], topic="/fusion/detections",
                              sensor_id="fusion", receive_ns=1)
    assert isinstance(back_boxes, Boxes3D)
    np.testing.assert_allclose(back_boxes.as_array(), boxes.as_array(), atol=1e-6)
    assert codec.deserialize(codec.encode_markers(boxes), MSGTYPES["markers"], topic="/m").markers


def test_bad_bytes_and_unknown_types_are_typed_errors(codec: MessageCodec) -> None:
    with pytest.raises(BadMessageError) as info:
        codec.decode(b"\x00\x01\x00\x00garbage", MSGTYPES["pointcloud"], topic="/x", sensor_id="x", receive_ns=3)
    assert info.value.reason_kind == "deserialize" and info.value.topic == "/x"
    with pytest.raises(BadMessageError) as info:
        codec.decode(b"", "my_msgs/msg/Nothing", topic="/y", sensor_id="y", receive_ns=3)
    assert info.value.reason_kind == "unknown_type"


def test_diagnostics_carry_levels_and_values(codec: MessageCodec) -> None:
    statuses = [SensorStatus("CAM_FRONT", STALE, "silent", {"rate_hz": "0"}),
                SensorStatus("LIDAR_TOP", OK, "ok", {"rate_hz": "20.00"}),
                SensorStatus("RADAR_FRONT", ERROR, "rejected", {})]
    msg = codec.deserialize(codec.encode_diagnostics(42, statuses, node_name="fusion"), MSGTYPES["diagnostics"],
                            topic="/diagnostics")
    assert [s.level for s in msg.status] == [STALE, OK, ERROR]
    assert msg.status[0].name == "fusion: CAM_FRONT"
    assert [(v.key, v.value) for v in msg.status[1].values] == [("rate_hz", "20.00")]
