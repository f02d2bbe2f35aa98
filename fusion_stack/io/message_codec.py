"""Serialized ROS 2 messages (CDR bytes) <-> typed samples, without ROS: what the ROS 2 nodes use.

The nodes subscribe with ``raw=True`` and publish bytes, so the library decodes and encodes live messages with the
very converters that read and write bags (:mod:`fusion_stack.io.converters`, rosbags' CDR code): a message gives
the same sample whether it comes from a bag or from a topic, and no ROS message object enters the library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fusion_stack.io.calibration_samples import StampedTransform
from fusion_stack.io.convert_common import ConversionContext, Converter, RecordingSample
from fusion_stack.io.convert_detections import boxes_to_detections_msg, boxes_to_marker_array
from fusion_stack.io.convert_image import image_to_compressed_msg, image_to_msg
from fusion_stack.io.convert_misc import camera_info_to_msg, odometry_to_msg, tf_to_msg
from fusion_stack.io.convert_pointcloud import pointcloud_to_msg
from fusion_stack.io.converters import DEFAULT_CONVERTERS
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.message_errors import BadMessageError
from fusion_stack.io.message_types import default_typestore
from fusion_stack.io.ros_messages import make_header, message_class
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan

_DECODE_ERRORS = (RecordingError, ValueError, TypeError, AttributeError, KeyError, IndexError)

MSGTYPES = {
    "pointcloud": "sensor_msgs/msg/PointCloud2", "image": "sensor_msgs/msg/Image",
    "compressed_image": "sensor_msgs/msg/CompressedImage", "camera_info": "sensor_msgs/msg/CameraInfo",
    "detections": "vision_msgs/msg/Detection3DArray", "markers": "visualization_msgs/msg/MarkerArray",
    "tf": "tf2_msgs/msg/TFMessage", "odometry": "nav_msgs/msg/Odometry",
    "diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
"""The ROS 2 message types the nodes publish, by role."""


class MessageCodec:
    """Decodes CDR bytes of any type with a converter into samples and encodes samples into CDR bytes.

    ``converters`` replaces :data:`~fusion_stack.io.converters.DEFAULT_CONVERTERS`; ``typestore`` a rosbags store
    (default: the latest ROS 2 store plus fusion_stack's shipped definitions).
    """

    def __init__(self, *, converters: Mapping[str, Converter] | None = None, typestore: Any = None) -> None:
        self.converters = DEFAULT_CONVERTERS if converters is None else converters
        self.typestore = default_typestore() if typestore is None else typestore

    def deserialize(self, raw: bytes | memoryview, msgtype: str, *, topic: str, receive_ns: int = 0) -> Any:
        """The rosbags message of ``raw`` (BadMessageError naming the topic when the bytes are not a message)."""
        if msgtype not in self.typestore.types:
            raise BadMessageError(f"message type {msgtype} has no definition", source=None, field="type",
                                  topic=topic, stamp_ns=receive_ns, msgtype=msgtype, reason_kind="unknown_type")
        try:
            return self.typestore.deserialize_cdr(raw, msgtype)
        except Exception as err:  # rosbags raises many kinds on corrupt bytes
            raise BadMessageError(f"cannot deserialize {len(raw)} bytes: {type(err).__name__}: {err}",
                                  source=None, field="serialized_data", topic=topic, stamp_ns=receive_ns,
                                  msgtype=msgtype, reason_kind="deserialize") from err

    def decode(self, raw: bytes | memoryview, msgtype: str, *, topic: str, sensor_id: str, receive_ns: int,
               frame_id: str | None = None, stamp_zero_as_receive: bool = True) -> RecordingSample:
        """The sample of one serialized message received at ``receive_ns`` on ``topic`` from ``sensor_id``
        (``frame_id`` overrides the header's). A zero header stamp becomes ``receive_ns`` (as in bags), or stays 0
        with ``stamp_zero_as_receive=False`` (live data: a driver that does not stamp is a fault to report).
        Raises BadMessageError (a RecordingError) naming topic and field."""
        converter = self.converters.get(msgtype)
        if converter is None:
            raise BadMessageError("no converter for this type", source=None, field="type", topic=topic,
                                  stamp_ns=receive_ns, msgtype=msgtype, reason_kind="unknown_type")
        msg = self.deserialize(raw, msgtype, topic=topic, receive_ns=receive_ns)
        try:
            log_ns = int(receive_ns) if stamp_zero_as_receive else 0
            return converter(msg, ConversionContext(topic, msgtype, log_ns, sensor_id, frame_id))
        except _DECODE_ERRORS as err:
            reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
            raise BadMessageError(reason, source=None, field=getattr(err, "field", None) or "message", topic=topic,
                                  stamp_ns=receive_ns, msgtype=msgtype, reason_kind="convert") from err

    def serialize(self, msg: Any, msgtype: str) -> bytes:
        """CDR bytes of a rosbags message."""
        return bytes(self.typestore.serialize_cdr(msg, msgtype))

    def encode(self, sample: RecordingSample, *, compress_images: bool = False) -> tuple[str, bytes]:
        """``(message type, CDR bytes)`` of a sample: point clouds and radar scans as PointCloud2, images as
        Image (or CompressedImage JPEG), boxes as Detection3DArray, ego poses as Odometry."""
        ts = self.typestore
        if isinstance(sample, (PointCloud, RadarScan)):
            return MSGTYPES["pointcloud"], self.serialize(pointcloud_to_msg(sample, ts), MSGTYPES["pointcloud"])
        if isinstance(sample, CameraImage):
            if compress_images:
                t = MSGTYPES["compressed_image"]
                return t, self.serialize(image_to_compressed_msg(sample, ts), t)
            return MSGTYPES["image"], self.serialize(image_to_msg(sample, ts), MSGTYPES["image"])
        if isinstance(sample, Boxes3D):
            return MSGTYPES["detections"], self.serialize(boxes_to_detections_msg(sample, ts), MSGTYPES["detections"])
        if isinstance(sample, EgoPose):
            return MSGTYPES["odometry"], self.serialize(odometry_to_msg(sample, ts), MSGTYPES["odometry"])
        raise RecordingError(f"cannot encode a {type(sample).__name__}", field="sample")

    def encode_markers(self, boxes: Boxes3D, *, lifetime_ns: int = 0) -> bytes:
        """A MarkerArray drawing ``boxes`` (one cube and one label per box)."""
        return self.serialize(boxes_to_marker_array(boxes, self.typestore, lifetime_ns=lifetime_ns),
                              MSGTYPES["markers"])

    def encode_tf(self, transforms: Sequence[StampedTransform]) -> bytes:
        """A TFMessage of ``transforms`` (for ``/tf`` or ``/tf_static``)."""
        return self.serialize(tf_to_msg(list(transforms), self.typestore), MSGTYPES["tf"])

    def encode_camera_info(self, image: CameraImage, camera: Any) -> bytes:
        """The CameraInfo of ``image`` taken with ``camera`` (a camera model)."""
        from fusion_stack.io.calibration_samples import CameraInfoSample

        info = CameraInfoSample(image.stamp_ns, image.frame_id, image.sensor_id, camera)
        return self.serialize(camera_info_to_msg(info, self.typestore), MSGTYPES["camera_info"])

    def encode_diagnostics(self, stamp_ns: int, statuses: Sequence[Any], *, node_name: str,
                           hardware_id: str = "") -> bytes:
        """A DiagnosticArray with one DiagnosticStatus per :class:`~fusion_stack.pipeline.health.SensorStatus`
        (``name`` = ``<node_name>: <sensor_id>``; values as KeyValue pairs)."""
        ts = self.typestore
        kv = message_class(ts, "diagnostic_msgs/msg/KeyValue")
        status_cls = message_class(ts, "diagnostic_msgs/msg/DiagnosticStatus")
        out = []
        for s in statuses:
            values = [kv(key=str(k), value=str(v)) for k, v in s.values.items()]
            out.append(status_cls(level=int(s.level),
                                  name=f"{node_name}: {s.sensor_id}", message=str(s.message),
                                  hardware_id=hardware_id or str(s.sensor_id), values=values))
        arr = message_class(ts, MSGTYPES["diagnostics"])(header=make_header(ts, stamp_ns, ""), status=out)
        return self.serialize(arr, MSGTYPES["diagnostics"])

