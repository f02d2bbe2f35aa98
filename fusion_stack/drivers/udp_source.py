"""Live UDP packets from a socket, stamped by the kernel on arrival.

:class:`UdpSource` binds ``host:port`` (optionally joining a multicast group, as the ARS548 sends to one) and
yields one :class:`~fusion_stack.drivers.packets.Packet` per datagram, stamped with the kernel's receive time
(``SO_TIMESTAMPNS``, nanoseconds since the Unix epoch) where the platform gives it, else the system clock right
after ``recv``. Iteration ends after ``timeout`` seconds without a packet, after ``max_packets``, or when
:meth:`UdpSource.close` is called from another thread (checked every ``poll_s``): it never blocks forever.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import Packet

MAX_DATAGRAM = 65535
_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", None)


class UdpSource:
    """UDP datagrams received on ``host:port`` (see the module docstring).

    Args:
        host: the local address to bind (``"127.0.0.1"``, ``"0.0.0.0"``, or the sensor network's interface).
        port: the UDP port (0: any free port; read it back from :attr:`port`).
        timeout: seconds without a packet after which iteration ends (None: wait until closed).
        max_packets: stop after this many packets (None: no limit).
        multicast_group: join this IPv4 multicast group on ``host``'s interface (e.g. ``"224.0.2.2"``).
        receive_buffer_bytes: the socket receive buffer to ask for (bursts of large datagrams need room).
        poll_s: how often a blocked receive checks for :meth:`close`.
    """

    def __init__(self, host: str, port: int, *, timeout: float | None = 1.0, max_packets: int | None = None,
                 multicast_group: str | None = None, receive_buffer_bytes: int = 8 * 1024 * 1024,
                 poll_s: float = 0.1) -> None:
        if timeout is not None and not timeout > 0:
            raise DriverError(f"timeout must be positive seconds or None, got {timeout!r}", field="timeout")
        self.timeout = timeout
        self.max_packets = max_packets
        self.poll_s = min(poll_s, timeout) if timeout is not None else poll_s
        self._closed = threading.Event()
        self.packets_received = 0
        self.timed_out = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):  # a smaller buffer still works
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
            if multicast_group is not None:
                sock.bind(("0.0.0.0" if host in ("", "0.0.0.0") else multicast_group, port))
                iface = socket.inet_aton("0.0.0.0" if host in ("", "0.0.0.0") else host)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                socket.inet_aton(multicast_group) + iface)
            else:
                sock.bind((host, port))
            self._kernel_stamps = False
            if _TIMESTAMPNS is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)
                    self._kernel_stamps = True
                except OSError:
                    self._kernel_stamps = False
            sock.settimeout(self.poll_s)
        except OSError as err:
            sock.close()
            raise DriverError(f"cannot listen on UDP {host}:{port}: {err}", source=f"udp://{host}:{port}",
                              field="port") from err
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]

    def _receive(self) -> tuple[bytes, int, int] | None:
        """(payload, stamp_ns, source port), or None on a poll timeout."""
        try:
            if self._kernel_stamps:
                data, ancdata, _flags, addr = self._sock.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(16))
                stamp = 0
                for level, kind, cdata in ancdata:
                    if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(cdata) >= 16:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        stamp = sec * 1_000_000_000 + nsec
                return data, stamp or time.time_ns(), int(addr[1])
            data, addr = self._sock.recvfrom(MAX_DATAGRAM)
            return data, time.time_ns(), int(addr[1])
        except TimeoutError:
            return None

    def __iter__(self) -> Iterator[Packet]:
        last = time.monotonic()
        while not self._closed.is_set():
            if self.max_packets is not None and self.packets_received >= self.max_packets:
                return
            try:
                got = self._receive()
            except OSError as err:
                if self._closed.is_set():
                    return
                raise DriverError(f"receive failed: {err}", source=f"udp://{self.host}:{self.port}") from err
            if got is None:
                if self.timeout is not None and time.monotonic() - last >= self.timeout:
                    self.timed_out = True
                    return
                continue
            last = time.monotonic()
            data, stamp, src_port = got
            self.packets_received += 1
            yield Packet(stamp, data, src_port=src_port, dst_port=self.port)

    def close(self) -> None:
        """Stop iteration (from any thread) and release the socket."""
        self._closed.set()
        self._sock.close()

    def __enter__(self) -> UdpSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
