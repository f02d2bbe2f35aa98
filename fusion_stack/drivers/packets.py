"""Raw packets as every driver source hands them on, and the drop/loss counters of the decoders.

A :class:`Packet` is one UDP payload (one Velodyne data packet, one ARS548 message) with the host time it was
received (``stamp_ns``, integer nanoseconds since the Unix epoch on the host clock) and, where known, the UDP
ports it travelled between.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fusion_stack.drivers.errors import DriverError


@dataclass(frozen=True)
class Packet:
    """One UDP payload: ``data`` received at host time ``stamp_ns`` (ns); ``src_port``/``dst_port`` when the
    source knows them (pcap, UDP), else 0."""

    stamp_ns: int
    data: bytes
    src_port: int = 0
    dst_port: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.stamp_ns, bool) or not isinstance(self.stamp_ns, int):
            raise DriverError(f"Packet.stamp_ns must be an int of nanoseconds, got {self.stamp_ns!r}",
                              field="stamp_ns")
        if not isinstance(self.data, bytes):
            raise DriverError(f"Packet.data must be bytes, got {type(self.data).__name__}", field="data")


@runtime_checkable
class PacketSource(Protocol):
    """Something that yields packets in arrival order (a bag, a UDP socket, a pcap file) and can be closed.

    Sources end by themselves (end of file, ``max_packets``, idle timeout) or when closed from another thread.
    """

    def __iter__(self) -> Iterator[Packet]: ...

    def close(self) -> None: ...


class DropCounter:
    """Counts of what a decoder did with its input: ``counts`` is a Counter with keys such as ``packets``
    (accepted), ``dropped.<reason>`` (rejected packets), ``lost_packets`` (estimated missing from the
    stream), ``reordered_packets``, ``late_packets`` (arrived after their scan was emitted). ``last_error`` keeps
    the message of the most recent drop."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last_error: str | None = None

    def drop(self, reason: str, message: str) -> None:
        """Count one rejected packet under ``dropped.<reason>``."""
        self.counts[f"dropped.{reason}"] += 1
        self.last_error = f"{reason}: {message}"

    @property
    def dropped(self) -> int:
        """Rejected packets, all reasons together."""
        return sum(v for k, v in self.counts.items() if k.startswith("dropped."))
