"""Raw sensor packets recorded in a ROS bag (``velodyne_msgs/VelodyneScan``, ``nebula_msgs/NebulaPackets``).

:class:`BagPacketSource` reads the :class:`~fusion_stack.io.packet_samples.RawPackets` of one topic with
:func:`~fusion_stack.io.recording.open_recording` and yields their packets one by one, each stamped with the
stamp the recorder gave the packet (the host receive time of the original driver).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import TracebackType

from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import Packet
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.packet_samples import RawPackets
from fusion_stack.io.recording import Recording, open_recording

PACKET_MESSAGE_TYPES = ("velodyne_msgs/msg/VelodyneScan", "nebula_msgs/msg/NebulaPackets")


class BagPacketSource:
    """The packets of ``topic`` (default: the bag's only packet topic) in log-time order.

    ``messages`` counts the bag messages read; ``frame_id`` is the header frame of the last one.
    """

    def __init__(self, path: str | os.PathLike[str], *, topic: str | None = None) -> None:
        try:
            probe = open_recording(path, topics=())
        except RecordingError as err:
            raise DriverError(f"cannot open bag: {err}", source=str(path)) from err
        with probe:
            candidates = sorted(t for t, info in probe.topics.items() if info.msgtype in PACKET_MESSAGE_TYPES)
        if topic is None:
            if len(candidates) != 1:
                raise DriverError(f"pass topic=: the bag has {len(candidates)} packet topics {candidates}",
                                  source=str(path), field="topic")
            topic = candidates[0]
        elif topic not in candidates:
            raise DriverError(f"topic {topic!r} is not a packet topic of the bag (packet topics: {candidates})",
                              source=str(path), field="topic")
        self.topic = topic
        self.messages = 0
        self.frame_id: str | None = None
        self._recording: Recording = open_recording(path, topics=[topic])

    def __iter__(self) -> Iterator[Packet]:
        for sample in self._recording:
            if not isinstance(sample, RawPackets):
                continue
            self.messages += 1
            self.frame_id = sample.frame_id
            for stamp, data in sample.packets:
                yield Packet(stamp, data)

    def close(self) -> None:
        """Close the bag (idempotent)."""
        self._recording.close()

    def __enter__(self) -> BagPacketSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
