"""The three packet sources decode alike: bag packets, the same packets replayed to a loopback UDP socket, and the
same packets written to a pcap file (with IPv4 fragmentation for the 35 kB radar messages)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from drivers_testlib import synth_velodyne

from fusion_stack.drivers import (
    VLP16,
    BagPacketSource,
    DriverError,
    Packet,
    PcapSource,
    PcapWriter,
    RadarObjectList,
    UdpSource,
    ars548_driver,
    velodyne_driver,
)
from fusion_stack.types import PointCloud, RadarScan

HOUR_NS = 3_600_000_000_000


def _replay(packets: Sequence[Packet], source: UdpSource) -> threading.Thread:
    """Send ``packets`` to ``source``'s port from a thread, never more than 20 ahead of what it has received (the
    socket buffer may be small: net.core.rmem_max), so a slow test machine loses nothing."""

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, packet in enumerate(packets):
                deadline = time.monotonic() + 5.0
                while i - source.packets_received >= 20 and time.monotonic() < deadline:
                    time.sleep(0.0005)
                tx.sendto(packet.data, ("127.0.0.1", source.port))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _same_clouds(a: Sequence[PointCloud], b: Sequence[PointCloud], *, stamps_modulo: int | None = None) -> None:
    assert [len(c) for c in a] == [len(c) for c in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        assert x.fields.keys() == y.fields.keys()
        for name in x.fields:
            np.testing.assert_array_equal(x.fields[name], y.fields[name], err_msg=name)
        if stamps_modulo is not None:
            assert (x.stamp_ns - y.stamp_ns) % stamps_modulo == 0


def _udp_decode(packets: Sequence[Packet], make_driver: Any) -> list[Any]:
    source = UdpSource("127.0.0.1", 0, timeout=2.0, max_packets=len(packets))
    sender = _replay(packets, source)
    with make_driver(source) as driver:
        out = list(driver)
    sender.join(timeout=5)
    assert source.packets_received == len(packets)
    return out


def _pcap_roundtrip(packets: Sequence[Packet], path: Path, *, port: int, mtu: int = 1500) -> list[Packet]:
    with PcapWriter(path, mtu=mtu) as writer:
        for p in packets:
            writer.write(p.stamp_ns, p.data, src_port=port, dst_port=port)
    with PcapSource(path, port=port) as source:
        return list(source)


# --- synthetic (always run) ---------------------------------------------------------------------------------


def test_udp_loopback_equals_direct_decoding_synthetic() -> None:
    stream = synth_velodyne(VLP16, 200)

    def make(source: Iterable[Packet]) -> Any:
        return velodyne_driver(source, model="VLP-16", time_source="sensor")  # type: ignore[arg-type]

    direct = list(make(iter_source(stream.packets)))
    over_udp = _udp_decode(stream.packets, make)
    assert len(direct) == 3
    _same_clouds(direct, over_udp, stamps_modulo=HOUR_NS)


class iter_source:  # noqa: N801 - a tiny PacketSource over a list
    def __init__(self, packets: Iterable[Packet]) -> None:
        self.packets = list(packets)

    def __iter__(self) -> Any:
        return iter(self.packets)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_roundtrip_synthetic(tmp_path: Path, nanosecond: bool) -> None:
    stream = synth_velodyne(VLP16, 30)
    path = tmp_path / "v.pcap"
    with PcapWriter(path, nanosecond=nanosecond) as writer:
        for p in stream.packets:
            writer.write(p.stamp_ns, p.data)
        writer.write(1, b"x" * 5000, src_port=9, dst_port=9)  # another port, fragmented
    with PcapSource(path, port=2368) as source:
        got = list(source)
    assert [p.data for p in got] == [p.data for p in stream.packets]
    scale = 1 if nanosecond else 1000
    assert [p.stamp_ns for p in got] == [p.stamp_ns // scale * scale for p in stream.packets]
    assert source.counts["skipped.other_port"] == 1 and source.counts["udp"] == 30


def _frame(payload: bytes, *, vlan: bool = False, proto: int = 17, ethertype: int = 0x0800) -> bytes:
    udp = struct.pack("!HHHH", 2368, 2368, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, proto, 0, b"\x01\x02\x03\x04",
                     b"\x05\x06\x07\x08") + udp
    tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
    return b"\x00" * 12 + tag + struct.pack("!H", ethertype) + ip


def _pcap(frames: Sequence[bytes], *, endian: str = "<", linktype: int = 1) -> bytes:
    out = struct.pack(endian + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 100 + i, 5, len(f), len(f)) + f
    return out


def test_pcap_link_layers_and_junk(tmp_path: Path) -> None:
    frames = [_frame(b"a" * 10), _frame(b"b" * 10, vlan=True), _frame(b"c", proto=6), _frame(b"d", ethertype=0x86DD),
              _frame(b"e" * 10)[:40]]
    path = tmp_path / "big.pcap"
    path.write_bytes(_pcap(frames, endian=">"))
    with PcapSource(path) as source:
        got = list(source)
    assert [p.data for p in got] == [b"a" * 10, b"b" * 10]
    assert got[0].stamp_ns == 100 * 10**9 + 5000
    assert source.counts["skipped.not_udp"] == 1 and source.counts["skipped.not_ipv4"] >= 1
    assert source.counts["skipped.bad_ip_length"] == 1
    # raw IPv4 link type
    path.write_bytes(_pcap([_frame(b"z" * 4)[14:]], linktype=101))
    assert [p.data for p in PcapSource(path)] == [b"z" * 4]


def test_pcap_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\x00" * 40)  # pcapng
    with pytest.raises(DriverError, match="magic"):
        PcapSource(path)
    with pytest.raises(DriverError, match="cannot open"):
        PcapSource(tmp_path / "missing.pcap")
    good = _pcap([_frame(b"a" * 10)])
    path.write_bytes(good + b"\x01\x02")  # a truncated record header
    with pytest.raises(DriverError, match="truncated"):
        list(PcapSource(path))
    path.write_bytes(good[:-3])  # a truncated record body: counted, iteration ends
    source = PcapSource(path)
    assert list(source) == [] and source.counts["skipped.truncated_record"] == 1
    path.write_bytes(_pcap([], linktype=147))
    with pytest.raises(DriverError, match="link type"):
        PcapSource(path)


def test_udp_source_timeout_and_close() -> None:
    source = UdpSource("127.0.0.1", 0, timeout=0.2)
    start = time.monotonic()
    assert list(source) == []
    assert source.timed_out and time.monotonic() - start < 2.0
    source.close()
    forever = UdpSource("127.0.0.1", 0, timeout=None, poll_s=0.05)
    threading.Timer(0.2, forever.close).start()
    start = time.monotonic()
    assert list(forever) == []
    assert time.monotonic() - start < 2.0
    with pytest.raises(DriverError, match="timeout"):
        UdpSource("127.0.0.1", 0, timeout=0)


def test_udp_source_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(DriverError, match="cannot listen"):
            UdpSource("127.0.0.1", port)
    with pytest.raises(DriverError, match="cannot listen"):
        UdpSource("not-an-address", 0)


# --- real recordings ----------------------------------------------------------------------------------------


@pytest.mark.real_data
def test_velodyne_bag_udp_pcap_agree(vlp16_dir: Path, tmp_path: Path) -> None:
    bag = vlp16_dir / "1673400471837873222"
    with BagPacketSource(bag) as source:
        packets = list(source)
    assert source.messages == 4 and len(packets) == 603

    def make(src: Any) -> Any:
        return velodyne_driver(src, model="VLP-16", time_source="sensor", sensor_id="top", frame_id="velodyne")

    from_bag = list(make(BagPacketSource(bag)))
    assert len(from_bag) == 5
    _same_clouds(from_bag, _udp_decode(packets, make), stamps_modulo=HOUR_NS)
    from_pcap = list(make(iter_source(_pcap_roundtrip(packets, tmp_path / "vlp16.pcap", port=2368))))
    _same_clouds(from_bag, from_pcap, stamps_modulo=HOUR_NS)


@pytest.mark.real_data
def test_ars548_bag_udp_pcap_agree(ars548_dir: Path, tmp_path: Path) -> None:
    bag = ars548_dir / "1708578204"
    with BagPacketSource(bag) as source:
        packets = list(source)
    assert [len(p.data) for p in packets] == [9401, 35336]

    def make(src: Any) -> Any:
        return ars548_driver(src, sensor_id="radar", frame_id="radar_link")

    from_bag = list(make(BagPacketSource(bag)))
    over_udp = _udp_decode(packets, make)
    pcap_packets = _pcap_roundtrip(packets, tmp_path / "ars.pcap", port=42102)
    assert [p.data for p in pcap_packets] == [p.data for p in packets]  # reassembled from 1500-byte fragments
    from_pcap = list(make(iter_source(pcap_packets)))
    for other in (over_udp, from_pcap):
        assert [type(s) for s in other] == [RadarObjectList, RadarScan]
        assert other[0].objects == from_bag[0].objects
        scan, ref = other[1], from_bag[1]
        np.testing.assert_array_equal(scan.positions, ref.positions)
        np.testing.assert_array_equal(scan.radial_velocity, ref.radial_velocity)
        for name in ref.fields:
            np.testing.assert_array_equal(scan.fields[name], ref.fields[name])
