"""Packet sources named by one string, as the CLI and the ROS driver nodes take them."""

from __future__ import annotations

from typing import Any

from fusion_stack.drivers.errors import DriverError


def packet_source(source: str, *, timeout: float | None = 1.0) -> Any:
    """A packet source from its spec: ``udp://HOST:PORT`` (``timeout``: seconds without a packet that end it;
    None waits until closed), a ``.pcap`` file or a bag path."""
    from fusion_stack.drivers.bag_source import BagPacketSource
    from fusion_stack.drivers.pcap import PcapSource
    from fusion_stack.drivers.udp_source import UdpSource

    if source.startswith("udp://"):
        host, _, port = source[len("udp://"):].rpartition(":")
        if not port.isdigit():
            raise DriverError(f"expected udp://HOST:PORT, got {source!r}", field="source")
        return UdpSource(host or "0.0.0.0", int(port), timeout=timeout)
    if source.endswith(".pcap"):
        return PcapSource(source)
    return BagPacketSource(source)
