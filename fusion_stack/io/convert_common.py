"""What every message conversion shares: the stream's sample union, the conversion context, the Converter
protocol, ROS time <-> integer nanoseconds and header helpers.

A converter is a plain function ``(message, context) -> sample`` from a message object deserialized by
``rosbags`` (attribute access, arrays as NumPy) to one of the :data:`RecordingSample` types. Converters raise
:class:`RecordingError` whose ``field`` names the message field at fault; the recording adds the file, topic
and stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from fusion_stack.io.calibration_samples import CameraInfoSample, TransformSample
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan

RecordingSample: TypeAlias = (CameraImage | PointCloud | RadarScan | Boxes3D | EgoPose | ImuSample | TwistSample
                              | RawPackets | TextMessage | CameraInfoSample | TransformSample)
"""Everything a recording or dataset stream yields. Each has ``stamp_ns``, ``frame_id`` and ``sensor_id``."""


@dataclass(frozen=True)
class ConversionContext:
    """Where a message came from: its topic and type, its log (receive) stamp in the recording, and the sensor
    the topic is mapped to (``frame_id``: an override of the header's frame, or None to keep it)."""

    topic: str
    msgtype: str
    log_stamp_ns: int
    sensor_id: str
    frame_id: str | None = None

    def frame(self, header_frame_id: str) -> str:
        """The sample's frame: the mapped override, else the header's frame (leading '/' dropped), else the
        sensor id (headerless or empty frame ids)."""
        if self.frame_id:
            return self.frame_id
        f = header_frame_id.lstrip("/")
        return f or self.sensor_id

    def stamp(self, header_stamp_ns: int | None) -> int:
        """The sample's stamp: the header stamp, or the log stamp when the message has none or it is zero."""
        return header_stamp_ns if header_stamp_ns else self.log_stamp_ns


class Converter(Protocol):
    """Turns one deserialized message into a sample (see the module docstring)."""

    def __call__(self, msg: Any, ctx: ConversionContext, /) -> RecordingSample: ...


def time_to_ns(t: Any, *, field: str = "header.stamp") -> int:
    """A ROS time (``sec`` + ``nanosec``, as rosbags gives ROS 1 and ROS 2 times) as integer nanoseconds."""
    try:
        sec, nsec = int(t.sec), int(t.nanosec)
    except (AttributeError, TypeError, ValueError) as err:
        raise RecordingError(f"not a ROS time: {t!r:.80}", field=field) from err
    if not 0 <= nsec < 1_000_000_000:
        raise RecordingError(f"nanosec {nsec} is outside [0, 1e9)", field=f"{field}.nanosec")
    return sec * 1_000_000_000 + nsec


def ns_to_sec_nanosec(stamp_ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec) with 0 <= nanosec < 1e9 (floor division for negative stamps)."""
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return sec, nsec


def header_of(msg: Any) -> tuple[int, str]:
    """(stamp_ns, frame_id) of ``msg.header``."""
    header = getattr(msg, "header", None)
    if header is None:
        raise RecordingError("message has no header", field="header")
    return time_to_ns(header.stamp), str(header.frame_id)
