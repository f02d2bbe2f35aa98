"""Writing typed samples to a ROS 2 recording (mcap by default, or sqlite3) or a ROS 1 ``.bag`` with ``rosbags``.

Topics by sample type (``<id>`` = the sample's sensor id): CameraImage -> ``/<id>/image_raw``
(``sensor_msgs/Image``, or ``/<id>/image_raw/compressed`` with ``compress_images``), plus
``/<id>/camera_info`` when the rig has that camera; PointCloud and RadarScan -> ``/<id>/points``; Boxes3D ->
``/<id>/detections`` (``vision_msgs/Detection3DArray``) and ``/<id>/markers`` (``MarkerArray``, with
``box_markers``); EgoPose -> ``/<id>/odom``; ImuSample -> ``/<id>/imu``; TwistSample -> ``/<id>/twist``;
RawPackets -> ``/<id>/packets`` (their original type); TextMessage -> ``/<id>/text``; CameraInfoSample ->
``/<id>/camera_info``; TransformSample -> ``/tf`` or ``/tf_static``. The rig's static transforms are written
once on ``/tf_static``. Reading the recording back with :func:`open_recording` gives the same samples (see
the conversion modules for what a message cannot hold, e.g. box velocities).

ROS 1 (``storage="ros1"``, ``path`` a ``*.bag`` file): the same topics and messages, serialized for ROS 1 with
the Noetic definitions (see :mod:`fusion_stack.io.ros1_writer` for the mapping and md5sums).

Crash safety: the writer closes its chunk or commits its transaction every ``flush_interval_ns`` of log time
(and on :meth:`RecordingWriter.flush`), and an mcap file always ends in a valid footer after a flush: a process
killed mid-recording leaves a bag :func:`open_recording` reads up to the last flush (through its storage file:
``metadata.yaml`` is written at close). A ROS 1 bag gets its index only at close: a flush writes the open chunk
to the file, but a killed process leaves a bag marked "not indexed" that readers refuse until
:func:`fusion_stack.io.ros1_writer.repair_ros1` (``rosbag reindex`` in place) rebuilds the index; it then reads
up to the last flush. Leaving the ``with`` block by an exception closes the bag normally.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from fusion_stack.calibration.rig import Rig
from fusion_stack.io.calibration_samples import CameraInfoSample, StampedTransform, TransformSample
from fusion_stack.io.convert_common import RecordingSample
from fusion_stack.io.convert_detections import boxes_to_detections_msg, boxes_to_marker_array
from fusion_stack.io.convert_image import image_to_compressed_msg, image_to_msg
from fusion_stack.io.convert_misc import (
    camera_info_to_msg,
    imu_to_msg,
    odometry_to_msg,
    packets_to_msg,
    text_to_msg,
    tf_to_msg,
    twist_to_msg,
)
from fusion_stack.io.convert_pointcloud import pointcloud_to_msg
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.message_types import default_typestore
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.ros1_writer import Ros1BagWriter
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan

_MAGIC = b"\x89MCAP0\r\n"


def _record(op: int, body: bytes) -> bytes:
    return bytes([op]) + len(body).to_bytes(8, "little") + body


class _CrashSafeMcapWriter(McapWriter):
    """rosbags' mcap storage, leaving a valid (summary-less) footer after every closed chunk."""

    def close_chunk(self) -> None:
        super().close_chunk()
        end = self.bio.tell()
        data_end = _record(0x0F, (0).to_bytes(4, "little"))
        footer = _record(0x02, (0).to_bytes(8, "little") * 2 + (0).to_bytes(4, "little"))
        self.bio.write(data_end + footer + _MAGIC)
        self.bio.truncate()
        self.bio.flush()
        self.bio.seek(end)

    def flush(self) -> None:
        if self.chunk.bio.tell():
            self.close_chunk()


class _CrashSafeSqlite3Writer(Sqlite3Writer):
    """rosbags' sqlite3 storage, committing on every flush."""

    def flush(self) -> None:
        self.conn.commit()


class _Writer(Writer):
    STORAGE_PLUGINS = MappingProxyType({StoragePlugin.MCAP: _CrashSafeMcapWriter,
                                        StoragePlugin.SQLITE3: _CrashSafeSqlite3Writer})


class _Storage(Protocol):
    """What RecordingWriter needs of a bag being written (ROS 2 directory or ROS 1 file)."""

    @property
    def is_open(self) -> bool: ...

    def add_connection(self, topic: str, msgtype: str) -> Any: ...

    def write(self, connection: Any, log_stamp_ns: int, msg: Any, msgtype: str) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class _Ros2Storage:
    """A ROS 2 bag directory (mcap or sqlite3) of CDR-serialized messages."""

    def __init__(self, path: Path, plugin: StoragePlugin, typestore: Any) -> None:
        self.typestore = typestore
        self._writer = _Writer(path, version=9, storage_plugin=plugin)
        self._writer.open()

    @property
    def is_open(self) -> bool:
        return self._writer.storage is not None

    def add_connection(self, topic: str, msgtype: str) -> Any:
        return self._writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, connection: Any, log_stamp_ns: int, msg: Any, msgtype: str) -> None:
        self._writer.write(connection, int(log_stamp_ns), self.typestore.serialize_cdr(msg, msgtype))

    def flush(self) -> None:
        storage = self._writer.storage
        if isinstance(storage, (_CrashSafeMcapWriter, _CrashSafeSqlite3Writer)):
            storage.flush()

    def close(self) -> None:
        if self.is_open:
            self._writer.close()


def default_topic(sample: RecordingSample, *, compress_images: bool = False) -> str:
    """The topic a sample is written to (see the module docstring)."""
    sid = sample.sensor_id
    if isinstance(sample, CameraImage):
        return f"/{sid}/image_raw/compressed" if compress_images else f"/{sid}/image_raw"
    if isinstance(sample, TransformSample):
        return "/tf_static" if sample.static else "/tf"
    suffix = {PointCloud: "points", RadarScan: "points", Boxes3D: "detections", EgoPose: "odom", ImuSample: "imu",
              TwistSample: "twist", RawPackets: "packets", TextMessage: "text", CameraInfoSample: "camera_info"}
    return f"/{sid}/{suffix[type(sample)]}"


class RecordingWriter:
    """Writes samples to a new ROS 2 bag directory ``path``, or a new ROS 1 bag file ``path`` (``*.bag``) with
    ``storage="ros1"`` (see the module docstring).

    Options: ``storage`` ``"mcap"``, ``"sqlite3"`` or ``"ros1"``; ``rig`` (its transforms go to ``/tf_static`` and its
    cameras give ``camera_info`` next to each image); ``topics`` to override the topic of a sensor id
    (``{sensor_id: topic}``, for every type but the camera_info/markers companions); ``compress_images`` as
    JPEG (``image_format``); ``box_markers``; ``flush_interval_ns`` of log time between flushes.
    """

    def __init__(self, path: str | os.PathLike[str], *, storage: str = "mcap", rig: Rig | None = None,
                 topics: Mapping[str, str] | None = None, compress_images: bool = False,
                 image_format: str = "jpeg", box_markers: bool = True,
                 flush_interval_ns: int = 1_000_000_000) -> None:
        self.path = Path(path)
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in (*plugins, "ros1"):
            raise RecordingError(f"storage must be 'mcap', 'sqlite3' or 'ros1', got {storage!r}", field="storage")
        self.storage = storage
        self.typestore = default_typestore()  # messages are built with the ROS 2 store (mapped for ROS 1)
        self.rig = rig
        self._topics = dict(topics or {})
        self.compress_images = compress_images
        self.image_format = image_format
        self.box_markers = box_markers
        self.flush_interval_ns = int(flush_interval_ns)
        self._connections: dict[tuple[str, str], Any] = {}
        self._last_flush: int | None = None
        self._static_written = False
        try:
            self._storage: _Storage = (Ros1BagWriter(self.path, ros2_typestore=self.typestore) if storage == "ros1"
                                       else _Ros2Storage(self.path, plugins[storage], self.typestore))
        except RecordingError:
            raise
        except Exception as err:  # rosbags WriterError, OS errors
            raise RecordingError(f"cannot create recording: {err}", source=str(self.path)) from err
        self.message_count = 0

    # --- writing --------------------------------------------------------------------------------------------
    def _connection(self, topic: str, msgtype: str) -> Any:
        key = (topic, msgtype)
        if key not in self._connections:
            for (t, m) in self._connections:
                if t == topic:
                    raise RecordingError(f"topic {topic} already carries {m}, cannot also write {msgtype}",
                                         source=str(self.path), field="topic")
            self._connections[key] = self._storage.add_connection(topic, msgtype)
        return self._connections[key]

    def _put(self, topic: str, msgtype: str, msg: Any, log_stamp_ns: int) -> None:
        conn = self._connection(topic, msgtype)
        self._storage.write(conn, int(log_stamp_ns), msg, msgtype)
        self.message_count += 1

    def write_static_transforms(self, transforms: list[StampedTransform], *, log_stamp_ns: int) -> None:
        """Write one ``/tf_static`` message."""
        if transforms:
            self._put("/tf_static", "tf2_msgs/msg/TFMessage", tf_to_msg(transforms, self.typestore), log_stamp_ns)

    def _write_rig(self, stamp_ns: int) -> None:
        self._static_written = True
        if self.rig is None:
            return
        transforms = [StampedTransform(stamp_ns, t.parent, t.child, t.child2parent) for t in self.rig.transforms]
        self.write_static_transforms(transforms, log_stamp_ns=stamp_ns)

    def write(self, sample: RecordingSample, *, topic: str | None = None, log_stamp_ns: int | None = None) -> None:
        """Write one sample (its log stamp defaults to ``sample.stamp_ns``)."""
        stamp = sample.stamp_ns if log_stamp_ns is None else int(log_stamp_ns)
        if not self._static_written:
            self._write_rig(stamp)
        topic = topic or self._topics.get(sample.sensor_id) or default_topic(
            sample, compress_images=self.compress_images)
        ts = self.typestore
        try:
            if isinstance(sample, CameraImage):
                if self.compress_images:
                    self._put(topic, "sensor_msgs/msg/CompressedImage",
                              image_to_compressed_msg(sample, ts, image_format=self.image_format), stamp)
                else:
                    self._put(topic, "sensor_msgs/msg/Image", image_to_msg(sample, ts), stamp)
                self._camera_info(sample, topic, stamp)
            elif isinstance(sample, (PointCloud, RadarScan)):
                self._put(topic, "sensor_msgs/msg/PointCloud2", pointcloud_to_msg(sample, ts), stamp)
            elif isinstance(sample, Boxes3D):
                self._put(topic, "vision_msgs/msg/Detection3DArray", boxes_to_detections_msg(sample, ts), stamp)
                if self.box_markers:
                    base = topic.rsplit("/", 1)[0] if topic.endswith("/detections") else topic
                    self._put(f"{base}/markers", "visualization_msgs/msg/MarkerArray",
                              boxes_to_marker_array(sample, ts), stamp)
            elif isinstance(sample, EgoPose):
                self._put(topic, "nav_msgs/msg/Odometry", odometry_to_msg(sample, ts), stamp)
            elif isinstance(sample, ImuSample):
                self._put(topic, "sensor_msgs/msg/Imu", imu_to_msg(sample, ts), stamp)
            elif isinstance(sample, TwistSample):
                self._put(topic, "geometry_msgs/msg/TwistStamped", twist_to_msg(sample, ts), stamp)
            elif isinstance(sample, RawPackets):
                self._put(topic, sample.packet_format, packets_to_msg(sample, ts), stamp)
            elif isinstance(sample, TextMessage):
                self._put(topic, "std_msgs/msg/String", text_to_msg(sample, ts), stamp)
            elif isinstance(sample, CameraInfoSample):
                self._put(topic, "sensor_msgs/msg/CameraInfo", camera_info_to_msg(sample, ts), stamp)
            elif isinstance(sample, TransformSample):
                self._put(topic, "tf2_msgs/msg/TFMessage", tf_to_msg(list(sample.transforms), ts), stamp)
            else:
                raise RecordingError(f"cannot write a {type(sample).__name__}", field="sample")
        except RecordingError as err:
            raise RecordingError(f"{topic} at {stamp} ns: {err.reason}", source=str(self.path),
                                 field=err.field) from err
        if self._last_flush is None:
            self._last_flush = stamp
        if abs(stamp - self._last_flush) >= self.flush_interval_ns:
            self.flush()
            self._last_flush = stamp

    def _camera_info(self, image: CameraImage, topic: str, stamp: int) -> None:
        if self.rig is None or image.sensor_id not in self.rig.sensor_ids:
            return
        cam = self.rig.sensor(image.sensor_id).camera
        if cam is None:
            return
        base = topic.removesuffix("/compressed").rsplit("/", 1)[0]
        info = CameraInfoSample(image.stamp_ns, image.frame_id, image.sensor_id, cam)
        self._put(f"{base}/camera_info", "sensor_msgs/msg/CameraInfo", camera_info_to_msg(info, self.typestore),
                  stamp)

    def flush(self) -> None:
        """Make everything written so far readable after a crash (closes the mcap chunk / commits; ROS 1: writes
        the chunk, readable after :func:`~fusion_stack.io.ros1_writer.repair_ros1`)."""
        self._storage.flush()

    # --- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish the bag: summary, footer and ``metadata.yaml`` (ROS 1: index and header) (idempotent)."""
        if self._storage.is_open:
            try:
                self._storage.close()
            except Exception as err:
                raise RecordingError(f"cannot finish recording: {err}", source=str(self.path)) from err

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_recording(path: str | os.PathLike[str], samples: Iterable[RecordingSample], *, storage: str = "mcap",
                    rig: Rig | None = None, **options: Any) -> int:
    """Write an iterable of samples to a new bag at ``path``; returns the number of messages written."""
    with RecordingWriter(path, storage=storage, rig=rig, **options) as writer:
        for sample in samples:
            writer.write(sample)
        return writer.message_count


def repair_mcap(path: str | os.PathLike[str]) -> int:
    """Make an mcap file whose write was cut off mid-chunk readable again: cut it after the last complete
    record and append a summary-less footer. Returns the number of bytes cut. RecordingError when the file is
    not an mcap."""
    p = Path(path)
    data = p.read_bytes()
    if not data.startswith(_MAGIC):
        raise RecordingError("not an mcap file (bad magic)", source=str(p), field="magic")
    pos, good = len(_MAGIC), len(_MAGIC)
    while pos + 9 <= len(data):
        op = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 9], "little")
        if pos + 9 + size > len(data):
            break
        pos += 9 + size
        if op == 0x0F:  # data end: everything before it is complete
            break
        good = pos
    tail = _record(0x0F, (0).to_bytes(4, "little")) + _record(
        0x02, (0).to_bytes(8, "little") * 2 + (0).to_bytes(4, "little")) + _MAGIC
    with p.open("r+b") as f:
        f.seek(good)
        f.write(tail)
        f.truncate()
    return len(data) - good
