"""Samples handed on undecoded: raw sensor packets and text (e.g. a driver's metadata string)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion_stack.io.sample_checks import check_header
from fusion_stack.types import SampleError


@dataclass(frozen=True)
class RawPackets:
    """Raw sensor packets (e.g. Velodyne UDP packets of one scan), for a packet decoder downstream.

    ``packets`` is a tuple of ``(stamp_ns, payload)``; ``packet_format`` names where they came from (the ROS
    message type, e.g. ``velodyne_msgs/msg/VelodyneScan``) so a decoder can check it.
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    packets: tuple[tuple[int, bytes], ...]
    packet_format: str = "unknown"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("RawPackets", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))
        packets = []
        for i, item in enumerate(self.packets):
            try:
                stamp, payload = item
            except (TypeError, ValueError) as err:
                raise SampleError(f"RawPackets.packets[{i}] must be a (stamp_ns, bytes) pair, got {item!r:.80}",
                                  field=f"packets[{i}]") from err
            if isinstance(stamp, bool) or not isinstance(stamp, (int, np.integer)):
                raise SampleError(f"RawPackets.packets[{i}] stamp must be an int of nanoseconds, got {stamp!r}",
                                  field=f"packets[{i}]")
            if not isinstance(payload, bytes):
                raise SampleError(f"RawPackets.packets[{i}] payload must be bytes, got {type(payload).__name__}",
                                  field=f"packets[{i}]")
            packets.append((int(stamp), payload))
        object.__setattr__(self, "packets", tuple(packets))

    def __len__(self) -> int:
        return len(self.packets)


@dataclass(frozen=True)
class TextMessage:
    """A text message (``std_msgs/String``), e.g. the Ouster driver's sensor metadata JSON."""

    stamp_ns: int
    frame_id: str
    sensor_id: str
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("TextMessage", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))
        if not isinstance(self.text, str):
            raise SampleError(f"TextMessage.text must be a str, got {type(self.text).__name__}", field="text")
