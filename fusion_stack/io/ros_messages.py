"""Building rosbags message objects (for writing recordings and for tests): headers and times that work with
ROS 1 and ROS 2 type stores."""

from __future__ import annotations

from typing import Any

from fusion_stack.io.convert_common import ns_to_sec_nanosec
from fusion_stack.io.errors import RecordingError


def message_class(typestore: Any, msgtype: str) -> Any:
    """The message class of ``msgtype`` in a rosbags ``Typestore``; RecordingError when it is not there."""
    try:
        return typestore.types[msgtype]
    except KeyError:
        raise RecordingError(f"message type {msgtype} is not in the type store", field="type") from None


def make_time(typestore: Any, stamp_ns: int) -> Any:
    """A ``builtin_interfaces/msg/Time`` of ``stamp_ns``."""
    sec, nsec = ns_to_sec_nanosec(stamp_ns)
    return message_class(typestore, "builtin_interfaces/msg/Time")(sec=sec, nanosec=nsec)


def make_header(typestore: Any, stamp_ns: int, frame_id: str) -> Any:
    """A ``std_msgs/msg/Header`` (with ``seq=0`` in a ROS 1 store)."""
    cls = message_class(typestore, "std_msgs/msg/Header")
    names = [f[0] for f in typestore.fielddefs["std_msgs/msg/Header"][1]]
    if "seq" in names:
        return cls(seq=0, stamp=make_time(typestore, stamp_ns), frame_id=frame_id)
    return cls(stamp=make_time(typestore, stamp_ns), frame_id=frame_id)
