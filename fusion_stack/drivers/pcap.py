"""UDP packets from and to classic libpcap files (``.pcap``; not pcapng).

Reading: microsecond and nanosecond files of either byte order; link types Ethernet (1, with 802.1Q VLAN tags),
BSD loopback (0), raw IPv4 (101, 228) and Linux cooked capture (113). IPv4 fragments are reassembled (an
ARS548 detection list is a 35 kB datagram, fragmented on the wire); UDP datagrams whose length fields disagree
with the capture, truncated records and non-UDP traffic are skipped and counted in ``PcapSource.counts``. A
file that is not a pcap, or whose record header runs past the end, raises :class:`DriverError`.

Writing (:class:`PcapWriter`): Ethernet + IPv4 + UDP records, fragmenting datagrams larger than ``mtu``, so
tests and tools can turn recorded packets into a capture that other tools open.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import Packet

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_IPV4 = 0, 1, 101, 113, 228
MAX_REASSEMBLY = 64  # datagrams being reassembled at once


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class PcapSource:
    """UDP payloads of a pcap file in capture order (see the module docstring).

    ``port`` keeps only datagrams sent to (or from) that UDP port; ``stamp_ns`` of each packet is the capture
    time. ``counts`` has ``records``, ``udp`` (datagrams yielded) and ``skipped.<reason>``.
    """

    def __init__(self, path: str | os.PathLike[str], *, port: int | None = None) -> None:
        self.path = Path(path)
        self.port = port
        self.counts: Counter[str] = Counter()
        self._closed = False
        try:
            self._file: BinaryIO = self.path.open("rb")
        except OSError as err:
            raise DriverError(f"cannot open pcap: {err}", source=str(self.path)) from err
        head = self._file.read(24)
        if len(head) < 24 or head[:4] not in _MAGICS:
            self._file.close()
            raise DriverError("not a libpcap file (bad magic; pcapng is not supported)", source=str(self.path),
                              field="magic")
        self._endian, self._ts_scale = _MAGICS[head[:4]]
        self.linktype = struct.unpack(self._endian + "I", head[20:24])[0] & 0x0FFFFFFF
        if self.linktype not in (LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_IPV4):
            self._file.close()
            raise DriverError(f"unsupported link type {self.linktype}", source=str(self.path), field="linktype")
        self._fragments: dict[tuple[bytes, bytes, int], dict[int, bytes]] = {}
        self._fragment_total: dict[tuple[bytes, bytes, int], int] = {}

    # --- records ----------------------------------------------------------------------------------------------
    def _records(self) -> Iterator[tuple[int, bytes]]:
        header = struct.Struct(self._endian + "IIII")
        while not self._closed:
            raw = self._file.read(16)
            if not raw:
                return
            if len(raw) < 16:
                raise DriverError("truncated record header at the end of the file", source=str(self.path),
                                  field="record")
            sec, frac, incl, _orig = header.unpack(raw)
            if incl > 1 << 24:
                raise DriverError(f"record of {incl} bytes: the file is corrupt", source=str(self.path),
                                  field="incl_len")
            data = self._file.read(incl)
            if len(data) < incl:
                self.counts["skipped.truncated_record"] += 1
                return
            self.counts["records"] += 1
            yield sec * 1_000_000_000 + frac * self._ts_scale, data

    def _ip_payload(self, frame: bytes) -> bytes | None:
        """The IPv4 packet inside a link-layer frame, or None."""
        if self.linktype == LINK_ETHERNET:
            off, ethertype = 12, 0
            while len(frame) >= off + 2:
                ethertype = struct.unpack("!H", frame[off:off + 2])[0]
                if ethertype in (0x8100, 0x88A8):
                    off += 4
                    continue
                break
            return frame[off + 2:] if ethertype == 0x0800 else None
        if self.linktype == LINK_LINUX_SLL:
            return frame[16:] if len(frame) >= 16 and struct.unpack("!H", frame[14:16])[0] == 0x0800 else None
        if self.linktype == LINK_NULL:
            return frame[4:] if len(frame) >= 4 and frame[:4] in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02") else None
        return frame

    def _udp(self, ip: bytes) -> tuple[bytes, int, int] | None:
        """(payload, source port, destination port) of a complete UDP datagram in ``ip``, or None."""
        if len(ip) < 20 or ip[0] >> 4 != 4:
            self.counts["skipped.not_ipv4"] += 1
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ihl < 20 or total < ihl or total > len(ip):
            self.counts["skipped.bad_ip_length"] += 1
            return None
        if ip[9] != 17:
            self.counts["skipped.not_udp"] += 1
            return None
        flags_frag = struct.unpack("!H", ip[6:8])[0]
        more, offset = bool(flags_frag & 0x2000), (flags_frag & 0x1FFF) * 8
        body = ip[ihl:total]
        if more or offset:
            key = (ip[12:16], ip[16:20], struct.unpack("!H", ip[4:6])[0])
            parts = self._fragments.setdefault(key, {})
            parts[offset] = body
            if not more:
                self._fragment_total[key] = offset + len(body)
            size = self._fragment_total.get(key)
            if size is None or sum(len(p) for p in parts.values()) < size:
                if len(self._fragments) > MAX_REASSEMBLY:
                    oldest = next(iter(self._fragments))
                    self._fragments.pop(oldest)
                    self._fragment_total.pop(oldest, None)
                    self.counts["skipped.incomplete_fragments"] += 1
                return None
            del self._fragments[key]
            self._fragment_total.pop(key, None)
            buf = bytearray(size)
            covered = 0
            for off in sorted(parts):
                chunk = parts[off]
                if off != covered or off + len(chunk) > size:
                    self.counts["skipped.bad_fragments"] += 1
                    return None
                buf[off:off + len(chunk)] = chunk
                covered = off + len(chunk)
            body = bytes(buf)
        if len(body) < 8:
            self.counts["skipped.bad_udp_length"] += 1
            return None
        src, dst, length = struct.unpack("!HHH", body[:6])
        if length < 8 or length > len(body):
            self.counts["skipped.bad_udp_length"] += 1
            return None
        return body[8:length], src, dst

    def __iter__(self) -> Iterator[Packet]:
        for stamp, frame in self._records():
            ip = self._ip_payload(frame)
            if ip is None:
                self.counts["skipped.not_ipv4"] += 1
                continue
            got = self._udp(ip)
            if got is None:
                continue
            payload, src, dst = got
            if self.port is not None and self.port not in (src, dst):
                self.counts["skipped.other_port"] += 1
                continue
            self.counts["udp"] += 1
            yield Packet(stamp, payload, src_port=src, dst_port=dst)

    def close(self) -> None:
        """Close the file (idempotent); an iteration in progress ends."""
        self._closed = True
        self._file.close()

    def __enter__(self) -> PcapSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class PcapWriter:
    """Writes UDP datagrams as Ethernet/IPv4/UDP records of a microsecond (or ``nanosecond=True``) pcap.

    Datagrams larger than ``mtu`` bytes of IP packet are fragmented as a host would (8-byte aligned pieces).
    """

    def __init__(self, path: str | os.PathLike[str], *, src_ip: str = "192.168.1.201",
                 dst_ip: str = "192.168.1.100", mtu: int = 1500, nanosecond: bool = False) -> None:
        if mtu < 68:
            raise DriverError(f"mtu must be at least 68, got {mtu}", field="mtu")
        self.path = Path(path)
        self.mtu = mtu
        self.nanosecond = nanosecond
        self._src = bytes(int(x) for x in src_ip.split("."))
        self._dst = bytes(int(x) for x in dst_ip.split("."))
        self._ident = 0
        try:
            self._file: BinaryIO = self.path.open("wb")
        except OSError as err:
            raise DriverError(f"cannot create pcap: {err}", source=str(self.path)) from err
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._file.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, LINK_ETHERNET))

    def write(self, stamp_ns: int, payload: bytes, *, src_port: int = 2368, dst_port: int = 2368) -> None:
        """Append one UDP datagram captured at ``stamp_ns``."""
        udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
        self._ident = (self._ident + 1) & 0xFFFF
        step = (self.mtu - 20) // 8 * 8
        for off in range(0, len(udp), step):
            piece = udp[off:off + step]
            more = off + step < len(udp)
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(piece), self._ident,
                                 (0x2000 if more else 0) | (off // 8), 64, 17, 0, self._src, self._dst)
            header = header[:10] + struct.pack("!H", _ipv4_checksum(header)) + header[12:]
            frame = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb" + b"\x08\x00" + header + piece
            sec, rem = divmod(int(stamp_ns), 1_000_000_000)
            frac = rem if self.nanosecond else rem // 1000
            self._file.write(struct.pack("<IIII", sec, frac, len(frame), len(frame)) + frame)

    def close(self) -> None:
        """Finish the file (idempotent)."""
        self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
