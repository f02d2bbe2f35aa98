"""Which sensor each topic of a recording belongs to: a small YAML file, or a guess from message types and
topic names (exposed so a CLI can print it and a user can save and edit it).

File format::

    topics:
      /lidar/points: {sensor_id: LIDAR_TOP, kind: lidar}
      /cam/front/image_raw: {sensor_id: CAM_FRONT, kind: camera, frame_id: cam_front_optical}

``sensor_id`` is required; ``kind`` (one of ``fusion_stack.calibration.SENSOR_KINDS``) defaults to the guess
for the topic's type; ``frame_id`` overrides the frame of the messages' headers.

The guess: the sensor id is the topic name without its generic trailing parts (``image_raw``, ``compressed``,
``camera_info``, ``points``, ``packets``, ``data``, ...) and without a ``_packets``/``_points`` suffix, slashes
turned into underscores (``/camera/front/image_raw`` and ``/camera/front/camera_info`` -> ``camera_front``;
``/os_node0/lidar_packets`` -> ``os_node0_lidar``; ``/velodyne_packets`` -> ``velodyne``). The kind follows
the message type (images and camera info -> camera, Imu -> imu, packets and PointCloud2 -> lidar, or radar
when the topic name contains "radar"; an Ouster packet topic containing "imu" -> imu).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from fusion_stack.calibration.rig import SENSOR_KINDS
from fusion_stack.io.errors import RecordingError

_GENERIC_PARTS = frozenset({
    "image_raw", "image_rect", "image_rect_color", "image_color", "image_mono", "image", "compressed",
    "compresseddepth", "theora", "camera_info", "points", "points_raw", "pointcloud", "point_cloud", "cloud",
    "data", "raw", "packets", "detections", "markers", "odom", "odometry", "imu", "twist", "text",
})
_TYPE_KINDS = {
    "sensor_msgs/msg/Image": "camera", "sensor_msgs/msg/CompressedImage": "camera",
    "sensor_msgs/msg/CameraInfo": "camera", "sensor_msgs/msg/Imu": "imu", "sensor_msgs/msg/NavSatFix": "gnss",
    "sensor_msgs/msg/PointCloud2": "lidar", "velodyne_msgs/msg/VelodyneScan": "lidar",
    "nebula_msgs/msg/NebulaPackets": "lidar", "ouster_ros/msg/PacketMsg": "lidar",
    "ouster_sensor_msgs/msg/PacketMsg": "lidar",
}


@dataclass(frozen=True)
class TopicSensor:
    """The sensor of one topic: ``sensor_id``, ``kind`` and an optional ``frame_id`` override."""

    sensor_id: str
    kind: str = "other"
    frame_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sensor_id, str) or not self.sensor_id:
            raise RecordingError(f"sensor_id must be a non-empty string, got {self.sensor_id!r}", field="sensor_id")
        if self.kind not in SENSOR_KINDS:
            raise RecordingError(f"unknown sensor kind {self.kind!r}; expected one of {SENSOR_KINDS}", field="kind")
        if self.frame_id is not None and (not isinstance(self.frame_id, str) or not self.frame_id):
            raise RecordingError(f"frame_id must be a non-empty string or absent, got {self.frame_id!r}",
                                 field="frame_id")


@dataclass(frozen=True)
class SensorMap:
    """topic -> :class:`TopicSensor`; ``guessed`` names the topics whose entry is a guess."""

    topics: Mapping[str, TopicSensor] = field(default_factory=dict)
    guessed: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", MappingProxyType(dict(self.topics)))
        object.__setattr__(self, "guessed", frozenset(self.guessed))

    def get(self, topic: str) -> TopicSensor | None:
        """The sensor of ``topic``, or None."""
        return self.topics.get(topic)

    def merged(self, other: SensorMap) -> SensorMap:
        """This map with the entries of ``other`` added or replacing ours."""
        return SensorMap({**self.topics, **other.topics},
                         (self.guessed - set(other.topics)) | other.guessed)

    def to_dict(self) -> dict[str, Any]:
        """The YAML document (see the module docstring) as plain data."""
        out: dict[str, Any] = {}
        for topic in sorted(self.topics):
            s = self.topics[topic]
            entry: dict[str, Any] = {"sensor_id": s.sensor_id, "kind": s.kind}
            if s.frame_id is not None:
                entry["frame_id"] = s.frame_id
            out[topic] = entry
        return {"topics": out}

    def to_yaml(self) -> str:
        """The map as YAML text (readable back with :func:`load_sensor_map`)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


def sensor_map_from_dict(doc: object, *, source: str | None = None,
                         topic_types: Mapping[str, str] | None = None) -> SensorMap:
    """Build a SensorMap from the parsed YAML document; ``topic_types`` (topic -> message type) supplies the
    default ``kind``."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("topics"), Mapping):
        raise RecordingError("expected a mapping with a 'topics' mapping", source=source, field="topics")
    entries: dict[str, TopicSensor] = {}
    for topic, entry in doc["topics"].items():
        where = f"topics.{topic}"
        if not isinstance(entry, Mapping):
            raise RecordingError(f"expected a mapping with sensor_id, got {entry!r:.80}", source=source, field=where)
        unknown = set(entry) - {"sensor_id", "kind", "frame_id"}
        if unknown:
            raise RecordingError(f"unknown keys {sorted(unknown)}; expected sensor_id, kind, frame_id",
                                 source=source, field=where)
        if "sensor_id" not in entry:
            raise RecordingError("missing key", source=source, field=f"{where}.sensor_id")
        kind = entry.get("kind")
        if kind is None:
            kind = guess_kind(str(topic), (topic_types or {}).get(str(topic), ""))
        try:
            entries[str(topic)] = TopicSensor(entry["sensor_id"], kind, entry.get("frame_id"))
        except RecordingError as err:
            raise RecordingError(err.reason, source=source, field=f"{where}.{err.field}") from err
    return SensorMap(entries)


def load_sensor_map(path_or_text: str | os.PathLike[str], *,
                    topic_types: Mapping[str, str] | None = None) -> SensorMap:
    """Read a sensor-map YAML file (a path, or YAML text containing a newline)."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        text, source = path_or_text, "<sensor map yaml>"
    else:
        p = Path(path_or_text)
        source = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise RecordingError(f"cannot read sensor map: {err}", source=source) from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RecordingError(f"invalid YAML: {err}", source=source) from err
    return sensor_map_from_dict(doc, source=source, topic_types=topic_types)


def guess_kind(topic: str, msgtype: str) -> str:
    """The sensor kind a topic of ``msgtype`` most likely belongs to (see the module docstring)."""
    low = topic.lower()
    kind = _TYPE_KINDS.get(msgtype, "other")
    if kind == "lidar" and "radar" in low:
        return "radar"
    if kind == "lidar" and msgtype.endswith("/PacketMsg") and "imu" in low:
        return "imu"
    return kind


def guess_sensor_id(topic: str) -> str:
    """The sensor id guessed from a topic name (see the module docstring)."""
    parts = [p for p in topic.strip("/").split("/") if p]
    if not parts:
        return "unknown"
    while len(parts) > 1 and parts[-1].lower() in _GENERIC_PARTS:
        parts.pop()
    last = parts[-1]
    for suffix in ("_packets", "_points"):
        if last.endswith(suffix) and len(last) > len(suffix):
            last = last[: -len(suffix)]
    parts[-1] = last
    return "_".join(parts)


def guess_sensor_map(topic_types: Mapping[str, str]) -> SensorMap:
    """A guessed SensorMap for ``{topic: message type}`` (every entry marked guessed)."""
    entries = {t: TopicSensor(guess_sensor_id(t), guess_kind(t, m)) for t, m in topic_types.items()}
    return SensorMap(entries, frozenset(entries))
