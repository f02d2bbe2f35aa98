"""Velodyne data packets -> :class:`~fusion_stack.types.PointCloud` scans (checks in NumPy, the per-return loop
compiled with numba: :mod:`fusion_stack.drivers.velodyne_kernel`).

Geometry (sensor frame, REP-103: x forward, y left, z up): a return of laser ``i`` at distance ``d`` and azimuth
``a`` (degrees, clockwise seen from above as the sensor reports it, 0 = x axis) is at
``x = d cos(el_i) cos(a)``, ``y = -d cos(el_i) sin(a)``, ``z = d sin(el_i)`` (as ROS velodyne_pointcloud and
tier4/nebula compute it). The azimuth of a return is the block azimuth, plus the rotation during the firing
sequence (the gap to the next firing's azimuth times ``slot_time / firing_period``; the last firing of a packet
reuses the gap before it) when ``interpolate_azimuth``, plus the laser's azimuth offset. The timing is the
model's (:mod:`fusion_stack.drivers.velodyne_models`); a return's time is its firing time.

Fields of each cloud: ``intensity`` float32 (the reflectivity byte, 0-255), ``ring`` uint16 (laser rank by
elevation, 0 = lowest), ``azimuth`` float32 (radians in [0, 2 pi), the Velodyne clockwise azimuth above),
``time_offset_ns`` int64 (firing time of the point minus the cloud's ``stamp_ns``, >= 0) and ``return_type``
uint8 (:data:`RETURN_TYPES`: single-return packets give ``strongest``/``last``; dual-return packets give
``identical`` when both returns agree (the duplicate is dropped with ``drop_identical_returns``) and else
first/last by distance and strongest/weak by reflectivity, the nearer one strongest on a tie). On request
(``extra_fields``): ``distance`` float32 (metres), ``laser_id`` uint16, ``elevation`` float32 (radians) and
``firing_azimuth`` float32 (radians, the azimuth of the point's firing block as the packet reports it, before
interpolation and offsets).

Scans are cut per point at ``scan_phase_deg``: a cloud holds the points whose azimuth lies in
``[phase, phase + 360)`` of one turn, in firing order. A scan is emitted once the packets have turned past
its end (plus the largest negative laser azimuth offset), so a cloud comes out with the first packet of the
next turn; :meth:`VelodyneDecoder.flush` emits what is still open (e.g. at the end of a file). The first and
last scans of a stream are usually partial. ``stamp_ns`` is the firing time of the scan's first firing on the
host clock (``time_source="host"``: the packet's receive stamp, as the ROS drivers do) or on the sensor clock
(``"sensor"``: the packet's microseconds past the hour, the hour taken from the host stamp; for sensors
synchronised to GPS/PTP), plus the rig's ``time_offset_ns``.

Stream continuity uses the packets' sensor timestamps: the azimuth is unwrapped with the measured rotation
rate, a gap longer than 1.5 packet durations counts the packets missing in it as ``lost_packets`` (gaps
outside ``sensor_fov_deg``, the field of view set on the sensor, are not losses), a packet older than the
newest one counts as ``reordered_packets`` and is put into its scan if that scan is still open (keep scans
open longer with ``reorder_tolerance_deg``; else its points are dropped as ``late_packets``), an exact
duplicate is dropped. A packet that does not continue the stream (time beyond ``max_gap_ns`` ahead or
``max_reorder_ns`` back, or azimuth away from where the rotation puts it) is dropped as ``inconsistent``
unless the next packet continues from it: then the stream restarts there (``stream_gaps``: sensor restart,
long outage; the open scans are emitted). Bad packets (wrong length, block flag, azimuth, factory bytes,
model, azimuth jumps inside a packet) are dropped and counted by reason in ``counts`` (or raise
:class:`DriverError` with ``strict=True``); they never disturb the scans around them.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import DropCounter, Packet
from fusion_stack.drivers.velodyne_kernel import decode_slots
from fusion_stack.drivers.velodyne_models import (
    LOWER_BANK,
    MODELS_BY_PRODUCT_ID,
    RETURN_DUAL,
    RETURN_LAST,
    RETURN_STRONGEST,
    UPPER_BANK,
    VelodyneModel,
    velodyne_model,
)
from fusion_stack.types import PointCloud

PACKET_SIZE = 1206
_NO_TIME = np.iinfo(np.int64).max
BLOCKS = 12
HOUR_US = 3_600_000_000

RETURN_TYPES: Mapping[str, int] = MappingProxyType({
    "unknown": 0, "last": 1, "first": 2, "strongest": 3, "first_weak": 4, "last_weak": 5, "identical": 6,
    "second": 7, "second_strongest": 8, "first_strongest": 9, "last_strongest": 10})
"""``return_type`` codes (the numbering of tier4/nebula's ``ReturnType``)."""

EXTRA_FIELDS = ("distance", "laser_id", "elevation", "firing_azimuth")
"""Optional per-point fields a decoder can add (see the module docstring)."""

_MODE_NAMES = {RETURN_STRONGEST: "strongest", RETURN_LAST: "last", RETURN_DUAL: "dual"}


@dataclass
class _Scan:
    """Points collected for one scan (turn index ``k``)."""

    first_ns: int
    chunks: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    unsorted: bool = False


def arc_in_window(u0: float, u1: float, lo: float, hi: float) -> float:
    """Degrees of the unwrapped interval ``[u0, u1]`` that fall in the periodic azimuth window ``[lo, hi]``
    (degrees in [0, 360); wrapping through 0 when ``lo > hi``)."""
    if u1 <= u0:
        return 0.0
    width = (hi - lo) % 360.0 or 360.0
    total = 0.0
    for n in range(math.floor((u0 - lo - width) / 360.0), math.floor((u1 - lo) / 360.0) + 1):
        a = lo + 360.0 * n
        total += max(0.0, min(u1, a + width) - max(u0, a))
    return total


def in_window(az_deg: npt.NDArray[Any], lo: float, hi: float) -> npt.NDArray[np.bool_]:
    """Azimuths (degrees in [0, 360)) inside ``[lo, hi]``, wrapping through 0 when ``lo > hi``."""
    if lo <= hi:
        return (az_deg >= lo) & (az_deg <= hi)
    return (az_deg >= lo) | (az_deg <= hi)


class VelodyneDecoder:
    """Stateful decoder of a Velodyne packet stream into scans (see the module docstring).

    Args:
        model: a :class:`VelodyneModel`, a model name (``"VLP-16"``, ``"VLP-32C"``, ``"HDL-32E"``) or
            ``"auto"`` (chosen from the first valid packet's product id).
        sensor_id, frame_id, time_offset_ns: written into each cloud (``time_offset_ns`` is added to stamps).
        scan_phase_deg: azimuth where scans are cut (degrees, Velodyne clockwise azimuth).
        min_range_m, max_range_m: keep returns with ``min < distance < max`` (metres).
        azimuth_window_deg: keep only points with azimuth in ``[lo, hi]`` degrees (wrapping when lo > hi).
        interpolate_azimuth: add the rotation during the firing sequence to each point's azimuth.
        drop_identical_returns: in dual-return mode, drop the second return when it equals the first.
        time_source: ``"host"`` (receive stamps) or ``"sensor"`` (packet timestamps).
        sensor_fov_deg: the field of view configured on the sensor (no packets outside it are losses).
        max_gap_ns: a larger forward time jump between packets is taken as a restart (open scans are emitted)
            once the next packet confirms it; until then the packet is dropped as inconsistent.
        max_reorder_ns: how far back in time a packet may arrive and still be placed in its scan.
        reorder_tolerance_deg: keep a scan open this much longer (azimuth) for late packets.
        return_mode: for sensors without factory bytes (HDL-64E): ``"strongest"`` or ``"last"``.
        extra_fields: optional fields to add, from :data:`EXTRA_FIELDS`.
        strict: raise DriverError on a bad packet instead of counting it.
    """

    def __init__(self, model: str | VelodyneModel = "auto", *, sensor_id: str = "velodyne",
                 frame_id: str = "velodyne", time_offset_ns: int = 0, scan_phase_deg: float = 0.0,
                 min_range_m: float = 0.0, max_range_m: float = math.inf,
                 azimuth_window_deg: tuple[float, float] | None = None, interpolate_azimuth: bool = True,
                 drop_identical_returns: bool = True, time_source: str = "host",
                 sensor_fov_deg: tuple[float, float] | None = None, max_gap_ns: int = 200_000_000,
                 max_reorder_ns: int = 20_000_000, reorder_tolerance_deg: float = 0.0,
                 return_mode: str = "strongest", extra_fields: Iterable[str] = (), strict: bool = False) -> None:
        if time_source not in ("host", "sensor"):
            raise DriverError(f"time_source must be 'host' or 'sensor', got {time_source!r}", field="time_source")
        if return_mode not in ("strongest", "last"):
            raise DriverError(f"return_mode must be 'strongest' or 'last', got {return_mode!r}",
                              field="return_mode")
        if not 0 <= min_range_m < max_range_m:
            raise DriverError(f"need 0 <= min_range_m < max_range_m, got {min_range_m}, {max_range_m}",
                              field="min_range_m")
        for name, window in (("azimuth_window_deg", azimuth_window_deg), ("sensor_fov_deg", sensor_fov_deg)):
            if window is not None and (len(window) != 2 or not all(0 <= w <= 360 for w in window)):
                raise DriverError(f"{name} must be (lo, hi) degrees in [0, 360], got {window!r}", field=name)
        self.extra_fields = tuple(extra_fields)
        unknown = sorted(set(self.extra_fields) - set(EXTRA_FIELDS))
        if unknown:
            raise DriverError(f"unknown extra fields {unknown}; available: {', '.join(EXTRA_FIELDS)}",
                              field="extra_fields")
        self.model: VelodyneModel | None = None if model == "auto" else velodyne_model(model)
        self.sensor_id = sensor_id
        self.frame_id = frame_id
        self.time_offset_ns = int(time_offset_ns)
        self.scan_phase_deg = float(scan_phase_deg) % 360.0
        self.min_range_m = float(min_range_m)
        self.max_range_m = float(max_range_m)
        self.azimuth_window_deg = azimuth_window_deg
        self.interpolate_azimuth = interpolate_azimuth
        self.drop_identical_returns = drop_identical_returns
        self.time_source = time_source
        self.sensor_fov_deg = sensor_fov_deg
        self.max_gap_us = int(max_gap_ns) // 1000
        self.max_reorder_us = int(max_reorder_ns) // 1000
        self.reorder_tolerance_deg = float(reorder_tolerance_deg)
        self.return_mode = return_mode
        self.strict = strict
        self._drops = DropCounter()
        self._scans: dict[int, _Scan] = {}
        self._last_emitted = -(10**9)
        self._u: float | None = None  # unwrapped azimuth (deg) of the newest packet's first block
        self._u_end = 0.0  # ... and where the packet after it should start
        self._ts = 0  # sensor timestamp (us past the hour) of the newest packet
        self._rate = 360.0 / 100_000.0  # deg/us (10 Hz until measured)
        self._last_key: tuple[int, int] | None = None
        self._candidate: tuple[int, float] | None = None  # (ts, azimuth) of a packet that broke the stream
        self._gaps: deque[list[int]] = deque(maxlen=64)  # recent gaps: [ts before, ts after, packets missing]
        self._trigger_rel: float | None = None  # completes_output's view of the last packet
        if self.model is not None:
            self._prepare(self.model)

    # --- public -----------------------------------------------------------------------------------------------
    @property
    def counts(self) -> Counter[str]:
        """Counters: ``packets``, ``scans``, ``points``, ``dropped.<reason>``, ``lost_packets``,
        ``reordered_packets``, ``late_packets``, ``duplicate_packets``, ``stream_gaps``."""
        return self._drops.counts

    @property
    def last_error(self) -> str | None:
        """Why the most recent packet was dropped."""
        return self._drops.last_error

    def decode(self, packets: Iterable[Packet]) -> list[PointCloud]:
        """Decode a batch of packets (in arrival order); returns the scans completed by them."""
        rows: list[bytes] = []
        stamps: list[int] = []
        for pkt in packets:
            if len(pkt.data) != PACKET_SIZE:
                kind = "position_packet" if len(pkt.data) == 512 else "bad_length"
                self._bad(kind, f"packet of {len(pkt.data)} bytes, expected {PACKET_SIZE}")
                continue
            rows.append(pkt.data)
            stamps.append(pkt.stamp_ns)
        out: list[PointCloud] = []
        if rows:
            raw = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), PACKET_SIZE)
            host = np.asarray(stamps, dtype=np.int64)
            ok = self._validate(raw)
            raw, host = raw[ok], host[ok]
            if len(raw):
                modes = self._modes(raw)
                starts = np.flatnonzero(np.r_[True, modes[1:] != modes[:-1]])
                for s, e in zip(starts, [*starts[1:], len(raw)]):
                    out.extend(self._decode_run(raw[s:e], host[s:e], int(modes[s])))
        out.extend(self._emit(final=False))
        return out

    def decode_packet(self, packet: Packet) -> list[PointCloud]:
        """Decode one packet (see :meth:`decode`)."""
        return self.decode((packet,))

    def flush(self) -> list[PointCloud]:
        """Emit every open scan (partial ones included), e.g. at the end of a recording."""
        return self._emit(final=True)

    def completes_output(self, packet: Packet) -> bool:
        """Whether decoding ``packet`` may complete a scan: its first block passes the scan cut (plus the lasers'
        offsets and the reorder tolerance). Cheap (no decoding): a driver batches packets until this says so,
        so batching adds no latency to the scans."""
        data = packet.data
        if self.model is None or len(data) != PACKET_SIZE:
            return True
        a0 = (data[2] | (data[3] << 8)) / 100.0
        rel = (a0 + self._min_off - self.reorder_tolerance_deg - self.scan_phase_deg) % 360.0
        previous, self._trigger_rel = self._trigger_rel, rel
        return previous is None or rel < previous

    # --- validation -------------------------------------------------------------------------------------------
    def _bad(self, reason: str, message: str) -> None:
        if self.strict:
            raise DriverError(message, source=self.sensor_id, field=reason)
        self._drops.drop(reason, message)

    def _validate(self, raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        """Rows that are well-formed packets of the model; counts the others."""
        heads = raw[:, :1200].reshape(len(raw), BLOCKS, 100)[:, :, :4].copy().view("<u2")
        flags, az = heads[:, :, 0], heads[:, :, 1]
        ok = np.ones(len(raw), dtype=bool)
        if self.model is None:
            known = np.isin(raw[:, 1205], list(MODELS_BY_PRODUCT_ID))
            for i in np.flatnonzero(~known):
                self._bad("unknown_product", f"product id 0x{raw[i, 1205]:02x} is not a known model; pass model=")
            ok &= known
            if ok.any():
                self.model = MODELS_BY_PRODUCT_ID[int(raw[np.flatnonzero(ok)[0], 1205])]
                self._prepare(self.model)
        model = self.model
        if model is None:
            return ok
        checks: list[tuple[str, npt.NDArray[np.bool_], str]] = []
        if model.num_lasers == 64:
            good_flags = np.all(flags[:, 0::2] == UPPER_BANK, axis=1) & np.all(flags[:, 1::2] == LOWER_BANK, axis=1)
        else:
            good_flags = np.all(flags == UPPER_BANK, axis=1)
        checks.append(("bad_block_flag", good_flags, "block flags are not the model's bank flags"))
        checks.append(("bad_azimuth", np.all(az < 36000, axis=1), "block azimuth >= 360 deg"))
        if model.has_factory_bytes:
            mode = raw[:, 1204]
            checks.append(("bad_return_mode", (mode >= RETURN_STRONGEST) & (mode <= RETURN_DUAL),
                           "return mode byte not 0x37-0x39"))
            if not model.supports_dual:
                checks.append(("unsupported_return_mode", mode != RETURN_DUAL, f"{model.name}: dual return"))
            if model.product_id is not None:
                checks.append(("wrong_model", raw[:, 1205] == model.product_id,
                               f"product id is not {model.name}'s 0x{model.product_id:02x}"))
            dual = mode == RETURN_DUAL
            pairs = np.all(az[:, 0::2] == az[:, 1::2], axis=1)
            checks.append(("bad_dual_pairing", ~dual | pairs, "dual-return block pair azimuths differ"))
        if model.blocks_per_firing == 2:
            checks.append(("bad_bank_pairing", np.all(az[:, 0::2] == az[:, 1::2], axis=1),
                           "upper/lower block azimuths differ"))
        for reason, good, message in checks:
            if not good.all():
                for _ in range(int(np.count_nonzero(ok & ~good))):
                    self._bad(reason, message)
                ok &= good
        return ok

    def _modes(self, raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        assert self.model is not None
        if self.model.has_factory_bytes:
            return raw[:, 1204].copy()
        mode = RETURN_STRONGEST if self.return_mode == "strongest" else RETURN_LAST
        return np.full(len(raw), mode, dtype=np.uint8)

    # --- tables -----------------------------------------------------------------------------------------------
    def _prepare(self, model: VelodyneModel) -> None:
        n = model.num_lasers
        laser = np.tile(np.asarray(model.slot_laser, dtype=np.int64), (BLOCKS, 1))
        if n == 64:
            laser[1::2] += 32
        el = np.radians(np.asarray(model.elevation_deg, dtype=np.float64))
        self._laser = laser
        self._elevation = el.astype(np.float32)[laser]
        self._cos_el = np.cos(el)[laser]
        self._sin_el = np.sin(el)[laser]
        self._az_off = np.asarray(model.azimuth_offset_deg, dtype=np.float64)[laser]
        self._dist_off = np.asarray(model.distance_offset_m, dtype=np.float32)[laser]
        self._ring = np.asarray(model.ring(), dtype=np.uint16)[laser]
        self._slot_time = np.asarray(model.slot_time_us, dtype=np.float64)
        self._min_off = min(0.0, min(model.azimuth_offset_deg))
        self._res = np.float32(model.distance_resolution_m)

    # --- decoding ---------------------------------------------------------------------------------------------
    def _packet_times(self, host: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        if self.time_source == "host":
            return host
        hour = (host // (HOUR_US * 1000)) * (HOUR_US * 1000)
        t = hour + ts * 1000
        t = np.where(t - host > HOUR_US * 500, t - HOUR_US * 1000, t)
        return np.where(host - t > HOUR_US * 500, t + HOUR_US * 1000, t)

    def _unwrap(self, gaz: npt.NDArray[np.float64], gap: npt.NDArray[np.float64], ts: npt.NDArray[np.int64],
                packet_us: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], int | None, bool]:
        """Unwrapped first-block azimuth of each packet, which packets to keep, the index of a packet the stream
        restarts at (it and the packets after it are left for the caller), and whether a packet came out of
        order.

        A packet must continue the stream: its time within ``[-max_reorder, max_gap]`` of the newest packet and
        its azimuth within 5 deg (+2% of the rotation since) of where the measured rotation rate puts it. One
        that does not is dropped (``dropped.inconsistent``), unless the next packet continues from it: then the
        stream restarts there (``stream_gaps``; the open scans are emitted).
        """
        n_groups = gaz.shape[1]
        rates = gap[:, :-1].sum(axis=1) / ((n_groups - 1) * packet_us / n_groups)
        u0 = np.empty(len(gaz))
        keep = np.ones(len(gaz), dtype=bool)
        restart_at: int | None = None
        counts = self._drops.counts
        reordered = False
        first_az, stamps, rate_list = gaz[:, 0].tolist(), ts.tolist(), rates.tolist()
        spans = ((gaz[:, -1] - gaz[:, 0]) % 360.0 + gap[:, -1]).tolist()
        for p in range(len(gaz)):
            a0, t = first_az[p], stamps[p]
            dt = 0
            restart = self._u is None
            if not restart:
                assert self._u is not None
                dt = (t - self._ts + HOUR_US // 2) % HOUR_US - HOUR_US // 2
                predicted = self._u + self._rate * dt
                miss = abs((a0 - predicted + 180.0) % 360.0 - 180.0)
                if not (-self.max_reorder_us <= dt <= self.max_gap_us
                        and miss <= 5.0 + 0.02 * abs(self._rate * dt)):
                    cand = self._candidate
                    self._candidate = (t, a0)
                    if cand is not None:
                        dt_c = (t - cand[0] + HOUR_US // 2) % HOUR_US - HOUR_US // 2
                        miss_c = abs((a0 - cand[1] - self._rate * dt_c + 180.0) % 360.0 - 180.0)
                        restart = 0 < dt_c <= 5 * packet_us and miss_c <= 5.0
                    if not restart:
                        self._bad("inconsistent", f"packet at {t} us / {a0:.2f} deg does not continue the stream")
                        keep[p] = False
                        continue
                    counts["stream_gaps"] += 1
                    restart_at = p
                    break
            self._candidate = None
            if restart:
                u = a0 + 360.0 * (self._last_emitted + 3 if self._last_emitted > -(10**9) else 0)
            else:
                u = a0 + 360.0 * round((predicted - a0) / 360.0)
                if dt == 0 and self._last_key == (t, round(a0 * 100)):
                    counts["duplicate_packets"] += 1
                    keep[p] = False
                    continue
                if dt < 0:
                    counts["reordered_packets"] += 1
                    reordered = True
                    for gap_entry in self._gaps:  # it was counted lost when the packet after it came
                        if gap_entry[0] < t < gap_entry[1] and gap_entry[2] > 0:
                            gap_entry[2] -= 1
                            counts["lost_packets"] -= 1
                            break
                elif dt > 1.5 * packet_us:
                    if self.sensor_fov_deg is None:
                        missing = round(dt / packet_us) - 1
                    else:
                        arc = arc_in_window(self._u_end, u, *self.sensor_fov_deg)
                        missing = round(arc / max(self._rate * packet_us, 1e-9))
                    if missing > 0:
                        counts["lost_packets"] += missing
                        self._gaps.append([self._ts, t, missing])
            u0[p] = u
            if dt >= 0:
                self._u, self._ts, self._last_key = u, t, (t, round(a0 * 100))
                self._u_end = u + spans[p]
                rate = rate_list[p]
                if 1e-5 < rate < 0.05:  # 0.3 to 1400 Hz: a measured rotation rate
                    self._rate = 0.8 * self._rate + 0.2 * rate if counts["packets"] else rate
            counts["packets"] += 1
        if restart_at is not None:
            u0, keep = u0[:restart_at], keep[:restart_at]
        return u0, keep, restart_at, reordered

    def _decode_run(self, raw: npt.NDArray[np.uint8], host: npt.NDArray[np.int64], mode: int) -> list[PointCloud]:
        """Decode packets of one return mode; returns scans ended by a stream restart."""
        model = self.model
        assert model is not None
        dual = mode == RETURN_DUAL
        bpg = 2 if (dual or model.blocks_per_firing == 2) else 1
        n_groups = BLOCKS // bpg
        az = (raw[:, 2:1200:100].astype(np.float64) + 256.0 * raw[:, 3:1200:100]) / 100.0
        ts = raw[:, 1200:1204].copy().view("<u4")[:, 0].astype(np.int64)
        gaz = az[:, ::bpg]
        # azimuth gap from each firing to the next; a jump inside a packet (a sensor with a limited field of
        # view puts the first firings of the next turn in the packet that ends the view) is replaced by the
        # packet's typical gap, and the blocks after it are stamped later by the jump's rotation time
        raw_gap = np.diff(gaz, axis=1) % 360.0
        typical = np.sort(raw_gap, axis=1)[:, (n_groups - 1) // 2, None]
        jump = raw_gap > np.maximum(4.0 * typical, 1.0)
        n_jumps = jump.sum(axis=1)
        if n_jumps.any():
            fov = self.sensor_fov_deg
            allowed = n_jumps == 0
            if fov is not None:
                at = np.argmax(jump, axis=1)
                rows = np.arange(len(gaz))
                near_end = np.abs((gaz[rows, at] - fov[1] + 180.0) % 360.0 - 180.0) <= 5.0
                near_start = np.abs((gaz[rows, at + 1] - fov[0] + 180.0) % 360.0 - 180.0) <= 5.0
                allowed |= (n_jumps == 1) & near_end & near_start
            if not allowed.all():
                for _ in range(int(np.count_nonzero(~allowed))):
                    self._bad("bad_azimuth", "block azimuths jump inside the packet")
                raw, host, az, ts, gaz, raw_gap, typical, jump = (
                    raw[allowed], host[allowed], az[allowed], ts[allowed], gaz[allowed], raw_gap[allowed],
                    typical[allowed], jump[allowed])
                if len(raw) == 0:
                    return []
        gap = np.empty_like(gaz)
        gap[:, :-1] = np.where(jump, typical, raw_gap)
        gap[:, -1] = gap[:, -2]
        period = model.firing_period_us
        u0, keep, restart_at, reordered = self._unwrap(gaz, gap, ts, n_groups * period)
        extra_us = np.zeros_like(gaz)
        if jump.any():
            extra_us[:, 1:] = np.cumsum(np.where(jump, (raw_gap - typical) / self._rate, 0.0), axis=1)
        if restart_at is None:
            self._decode_packets(raw[keep], host[keep], ts[keep], gap[keep], extra_us[keep], u0[keep], reordered,
                                 mode, bpg)
            return []
        # decode what came before the restart, end the open scans, start afresh
        self._decode_packets(raw[:restart_at][keep], host[:restart_at][keep], ts[:restart_at][keep],
                             gap[:restart_at][keep], extra_us[:restart_at][keep], u0[keep], reordered, mode, bpg)
        return self._emit(final=True) + self._decode_run(raw[restart_at:], host[restart_at:], mode)

    def _decode_packets(self, raw: npt.NDArray[np.uint8], host: npt.NDArray[np.int64], ts: npt.NDArray[np.int64],
                        gap: npt.NDArray[np.float64], extra_us: npt.NDArray[np.float64], u0: npt.NDArray[np.float64],
                        reordered: bool, mode: int, bpg: int) -> None:
        """Decode accepted packets into the open scans (the per-return work, compiled)."""
        model = self.model
        assert model is not None
        n_pk = len(raw)
        if n_pk == 0:
            return
        dual = mode == RETURN_DUAL
        period = model.firing_period_us
        k_base = math.floor((float(u0.min()) - 400.0 - self.scan_phase_deg) / 360.0)
        k_top = math.floor((float(u0.max()) + 800.0 - self.scan_phase_deg) / 360.0)
        firsts = np.full(k_top - k_base + 1, _NO_TIME, dtype=np.int64)
        n_max = n_pk * BLOCKS * 32
        out_xyz = np.empty((n_max, 3), np.float32)
        out_f32 = np.empty((n_max, 4), np.float32)
        out_slot = np.empty((n_max, 3), np.int64)
        out_t = np.empty(n_max, np.int64)
        out_rt = np.empty(n_max, np.uint8)
        out_k = np.empty(n_max, np.int64)
        late = np.zeros(n_pk, dtype=np.bool_)
        window = self.azimuth_window_deg or (0.0, 360.0)
        single = RETURN_TYPES["last"] if mode == RETURN_LAST else RETURN_TYPES["strongest"]
        n = decode_slots(np.ascontiguousarray(raw), u0, gap, extra_us, self._packet_times(host, ts), self._cos_el,
                         self._sin_el, self._az_off, self._dist_off, self._slot_time, bpg, period, self._res,
                         self.min_range_m, self.max_range_m, self.interpolate_azimuth, dual,
                         self.drop_identical_returns, single, self.azimuth_window_deg is not None,
                         float(window[0]), float(window[1]), self.scan_phase_deg, self._last_emitted, k_base,
                         firsts, out_xyz, out_f32, out_slot, out_t, out_rt, out_k, late)
        if late.any():
            self._drops.counts["late_packets"] += int(np.count_nonzero(late))
        for i in np.flatnonzero(firsts != _NO_TIME):
            k, first_ns = int(i) + k_base, int(firsts[i])
            scan = self._scans.get(k)
            if scan is None:
                self._scans[k] = _Scan(first_ns, unsorted=reordered)
            else:
                scan.unsorted |= reordered
                scan.first_ns = min(scan.first_ns, first_ns)
        if n == 0:
            return
        ks = out_k[:n]
        blk, slot = out_slot[:n, 1], out_slot[:n, 2]
        order_key = u0[out_slot[:n, 0]]  # firing order of the packets, whatever order they arrived in
        cols: tuple[np.ndarray, ...] = (out_xyz[:n], out_f32[:n, 0], self._ring[blk, slot], out_f32[:n, 1],
                                        out_t[:n], out_rt[:n], order_key)
        extra: dict[str, Callable[[], np.ndarray]] = {
            "distance": lambda: out_f32[:n, 2], "laser_id": lambda: self._laser[blk, slot].astype(np.uint16),
            "elevation": lambda: self._elevation[blk, slot], "firing_azimuth": lambda: out_f32[:n, 3]}
        cols += tuple(extra[name]() for name in self.extra_fields)
        k_lo, k_hi = int(ks.min()), int(ks.max())
        if k_lo == k_hi:  # views into this call's output arrays: no copies
            self._scans[k_lo].chunks.append(cols)
        elif (ks[1:] >= ks[:-1]).all():  # packets in order: one slice per scan
            cuts = np.searchsorted(ks, np.arange(k_lo, k_hi + 2))
            for k, a, b in zip(range(k_lo, k_hi + 1), cuts[:-1], cuts[1:]):
                if b > a:
                    self._scans[k].chunks.append(tuple(c[a:b] for c in cols))
        else:
            for k in range(k_lo, k_hi + 1):
                m = ks == k
                if m.any():
                    self._scans[k].chunks.append(tuple(c[m] for c in cols))

    # --- emission ---------------------------------------------------------------------------------------------
    def _emit(self, *, final: bool) -> list[PointCloud]:
        out: list[PointCloud] = []
        for k in sorted(self._scans):
            if not final and (self._u is None
                              or self.scan_phase_deg + 360.0 * (k + 1)
                              > self._u + self._min_off - self.reorder_tolerance_deg):
                break
            scan = self._scans.pop(k)
            self._last_emitted = max(self._last_emitted, k)
            out.append(self._cloud(scan))
        if final:
            self._u = None
        return out

    def _cloud(self, scan: _Scan) -> PointCloud:
        names = ("intensity", "ring", "azimuth", "time_offset_ns", "return_type", "order", *self.extra_fields)
        cols: list[np.ndarray]
        if scan.chunks:
            cols = [np.concatenate(c) for c in zip(*scan.chunks)]
        else:
            dtypes = {"intensity": np.float32, "ring": np.uint16, "azimuth": np.float32, "time_offset_ns": np.int64,
                      "return_type": np.uint8, "order": np.float64, "distance": np.float32, "laser_id": np.uint16,
                      "elevation": np.float32, "firing_azimuth": np.float32}
            cols = [np.empty((0, 3), np.float32)] + [np.empty(0, dtypes[n]) for n in names]
        if scan.unsorted and len(cols[0]):
            order = np.argsort(cols[6], kind="stable")
            cols = [c[order] for c in cols]
        fields = dict(zip(names, cols[1:]))
        del fields["order"]
        fields["time_offset_ns"] = fields["time_offset_ns"] - scan.first_ns
        self._drops.counts["scans"] += 1
        self._drops.counts["points"] += len(cols[0])
        return PointCloud(scan.first_ns + self.time_offset_ns, self.frame_id, self.sensor_id, cols[0], fields)
