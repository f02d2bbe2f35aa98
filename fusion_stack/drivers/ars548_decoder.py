"""Continental ARS548 UDP messages -> :class:`~fusion_stack.types.RadarScan` and :class:`RadarObjectList`.

Detection list -> RadarScan in the sensor frame (x forward, y left, z up): ``x = r cos(el) cos(az)``,
``y = r cos(el) sin(az)``, ``z = r sin(el)``; ``radial_velocity`` is the range rate (m/s, positive = moving
away), ``rcs`` in dBsm. Per-detection fields: ``range`` (m), ``azimuth`` / ``elevation`` (rad), the standard
deviations ``range_std``, ``azimuth_std``, ``elevation_std``, ``range_rate_std``, ``existence_probability``
(the positive predictive value / 100), ``positive_predictive_value`` / ``multi_target_probability`` /
``ambiguity_flag`` (uint8 percent, as sent), ``classification``, ``invalid_flags`` (uint8),
``measurement_id``, ``object_id`` and ``sort_index`` (uint16). Detections whose distance, azimuth or elevation
the sensor flags invalid, or with non-finite values, are dropped and counted (``dropped_detections``).
The list's header (the sensor's mounting origin, ambiguity-free velocity domain, alignment) is kept as
:attr:`Ars548Decoder.detection_header`.

Object list -> :class:`RadarObjectList` in ``object_frame_id`` (the vehicle frame the sensor reports objects
in). Sensor status messages update :attr:`Ars548Decoder.status` (cycle time, mounting, versions).

Stamps: ``time_source="host"`` uses the packet's receive stamp (as tier4/nebula does by default),
``"sensor"`` the message's own time stamp; the rig's ``time_offset_ns`` is added. Continuity: when the E2E
counter is in use (non-zero) a jump counts ``lost_messages`` and a step back ``reordered_messages``; otherwise
the sensor time stamps are used with the cycle time (from the status message, else ``cycle_time_ms``).
``check_crc`` verifies the E2E CRC (CRC-64/XZ over the bytes after the CRC field) when the sensor fills it (a
zero CRC means E2E is off, as in the sample recordings). Malformed messages (short, wrong service or length,
impossible counts, bad CRC) are dropped and counted in ``counts`` (or raise :class:`DriverError` with
``strict=True``); unknown methods are counted as ``ignored.<method>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.drivers import ars548_layout as layout
from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import DropCounter, Packet
from fusion_stack.drivers.radar_objects import RadarObject, RadarObjectList
from fusion_stack.types import RadarScan

Ars548Sample = RadarScan | RadarObjectList
INVALID_POSITION_FLAGS = 0x01 | 0x04 | 0x10


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xC96C5795D7870F42 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc64_table()


def crc64_xz(data: bytes) -> int:
    """CRC-64/XZ (ECMA-182 reflected, init and xor-out all ones), the CRC of AUTOSAR E2E profile 7."""
    c = 0xFFFFFFFFFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class Ars548DetectionHeader:
    """The per-list values of a detection list: the sensor's mounting origin in the vehicle frame (m, rad, with
    std), the ambiguity-free radial velocity domain (m/s), alignment corrections (rad) and status, the sensor
    time stamp (ns) and its sync status (1 ok, 2 never synced, 3 lost)."""

    sensor_stamp_ns: int
    sync_status: int
    origin_position: tuple[float, float, float]
    origin_position_std: tuple[float, float, float]
    origin_roll: float
    origin_roll_std: float
    origin_pitch: float
    origin_pitch_std: float
    origin_yaw: float
    origin_yaw_std: float
    ambiguity_free_velocity_min: float
    ambiguity_free_velocity_max: float
    alignment_azimuth_correction: float
    alignment_elevation_correction: float
    alignment_status: int


@dataclass(frozen=True)
class Ars548Status:
    """The sensor status message: software version, mounting (m, rad), vehicle size (m), maximum distance (m),
    cycle time and time slot (ms), radar state (0 init, 1 ok, 2 invalid) and the raw status bytes."""

    sensor_stamp_ns: int
    sync_status: int
    sw_version: tuple[int, int, int]
    mounting: tuple[float, float, float]
    yaw: float
    pitch: float
    maximum_distance: int
    cycle_time_ms: int
    time_slot_ms: int
    radar_status: int
    voltage_status: int
    temperature_status: int
    blockage_status: int


def _f(v: Any) -> float:
    return float(v)


class Ars548Decoder:
    """Stateful decoder of ARS548 messages (see the module docstring).

    Args:
        sensor_id, frame_id: of the RadarScans (the sensor frame); object_frame_id: of the object lists.
        time_offset_ns: added to every stamp (the rig's offset of this sensor).
        time_source: ``"host"`` or ``"sensor"``.
        cycle_time_ms: the measurement cycle used for loss counting until a status message gives it.
        check_crc: verify non-zero E2E CRCs.
        drop_invalid: drop detections flagged with an invalid distance, azimuth or elevation.
        strict: raise DriverError on a malformed message instead of counting it.
    """

    def __init__(self, *, sensor_id: str = "radar", frame_id: str = "radar", object_frame_id: str = "base_link",
                 time_offset_ns: int = 0, time_source: str = "host", cycle_time_ms: float = 50.0,
                 check_crc: bool = False, drop_invalid: bool = True, strict: bool = False) -> None:
        if time_source not in ("host", "sensor"):
            raise DriverError(f"time_source must be 'host' or 'sensor', got {time_source!r}", field="time_source")
        if not cycle_time_ms > 0:
            raise DriverError(f"cycle_time_ms must be positive, got {cycle_time_ms}", field="cycle_time_ms")
        self.sensor_id = sensor_id
        self.frame_id = frame_id
        self.object_frame_id = object_frame_id
        self.time_offset_ns = int(time_offset_ns)
        self.time_source = time_source
        self.cycle_time_ms = float(cycle_time_ms)
        self.check_crc = check_crc
        self.drop_invalid = drop_invalid
        self.strict = strict
        self.detection_header: Ars548DetectionHeader | None = None
        self.status: Ars548Status | None = None
        self._drops = DropCounter()
        self._last: dict[int, tuple[int, int]] = {}  # method -> (counter, sensor stamp) of the newest message

    @property
    def counts(self) -> Counter[str]:
        """Counters: ``packets``, ``detection_lists``, ``object_lists``, ``status``, ``dropped.<reason>``,
        ``dropped_detections``, ``lost_messages``, ``reordered_messages``, ``duplicate_messages``,
        ``ignored.<method>``."""
        return self._drops.counts

    @property
    def last_error(self) -> str | None:
        """Why the most recent message was dropped."""
        return self._drops.last_error

    def _bad(self, reason: str, message: str) -> None:
        if self.strict:
            raise DriverError(message, source=self.sensor_id, field=reason)
        self._drops.drop(reason, message)

    # --- decoding ---------------------------------------------------------------------------------------------
    def decode(self, packets: Iterable[Packet]) -> list[Ars548Sample]:
        """Decode messages (one UDP payload each); returns a RadarScan per detection list and a RadarObjectList
        per object list."""
        out: list[Ars548Sample] = []
        for pkt in packets:
            sample = self._decode_one(pkt)
            if sample is not None:
                out.append(sample)
        return out

    def decode_packet(self, packet: Packet) -> list[Ars548Sample]:
        """Decode one message (see :meth:`decode`)."""
        return self.decode((packet,))

    def flush(self) -> list[Ars548Sample]:
        """Nothing is buffered: every message is complete in itself."""
        return []

    def _decode_one(self, pkt: Packet) -> Ars548Sample | None:
        data = pkt.data
        if len(data) < 8:
            self._bad("short", f"message of {len(data)} bytes, shorter than the 8-byte header")
            return None
        service, method, length = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big"), \
            int.from_bytes(data[4:8], "big")
        if service != layout.SERVICE_ID:
            self._bad("bad_service", f"service id {service}, expected {layout.SERVICE_ID}")
            return None
        sizes = {layout.DETECTION_LIST_METHOD: layout.DETECTION_LIST_SIZE,
                 layout.OBJECT_LIST_METHOD: layout.OBJECT_LIST_SIZE,
                 layout.SENSOR_STATUS_METHOD: layout.SENSOR_STATUS_SIZE}
        if method not in sizes:
            self.counts[f"ignored.{method}"] += 1
            return None
        if len(data) != sizes[method] or length != len(data) - 8:
            self._bad("bad_length", f"method {method}: {len(data)} bytes with length field {length}, expected "
                                    f"{sizes[method]} and {sizes[method] - 8}")
            return None
        if method == layout.SENSOR_STATUS_METHOD:
            self._status(data)
            return None
        head = np.frombuffer(data, layout.HEADER, count=1)[0]
        crc = int(head["crc"])
        if self.check_crc and crc and crc64_xz(data[24:]) != crc:
            self._bad("bad_crc", f"method {method}: E2E CRC mismatch")
            return None
        sync = int(head["sync_status"])
        nsec = int(head["timestamp_nanoseconds"])
        if sync not in (1, 2, 3) or nsec >= 1_000_000_000:
            self._bad("bad_stamp", f"method {method}: sync status {sync}, nanoseconds {nsec}")
            return None
        sensor_ns = int(head["timestamp_seconds"]) * 1_000_000_000 + nsec
        if method == layout.DETECTION_LIST_METHOD:
            sample: Ars548Sample | None = self._detections(data, pkt, sensor_ns, sync)
        else:
            sample = self._objects(data, pkt, sensor_ns)
        if sample is not None:
            self._continuity(method, int(head["counter"]), sensor_ns)
            self.counts["packets"] += 1
        return sample

    def _stamp(self, pkt: Packet, sensor_ns: int) -> int:
        return (pkt.stamp_ns if self.time_source == "host" else sensor_ns) + self.time_offset_ns

    def _continuity(self, method: int, counter: int, sensor_ns: int) -> None:
        counts = self.counts
        prev = self._last.get(method)
        if prev is None:
            self._last[method] = (counter, sensor_ns)
            return
        prev_counter, prev_ns = prev
        if counter and prev_counter:
            step = (counter - prev_counter) & 0xFFFFFFFF
            if step == 0:
                counts["duplicate_messages"] += 1
                return
            if step >= 0x80000000:
                counts["reordered_messages"] += 1
                return
            counts["lost_messages"] += step - 1
        else:
            dt_ms = (sensor_ns - prev_ns) / 1e6
            cycle = float(self.status.cycle_time_ms) if self.status and self.status.cycle_time_ms else \
                self.cycle_time_ms
            if dt_ms < 0:
                counts["reordered_messages"] += 1
                return
            if dt_ms == 0:
                counts["duplicate_messages"] += 1
                return
            if dt_ms > 1.5 * cycle:
                counts["lost_messages"] += max(0, round(dt_ms / cycle) - 1)
        self._last[method] = (counter, sensor_ns)

    def _status(self, data: bytes) -> None:
        s = np.frombuffer(data, layout.SENSOR_STATUS, count=1)[0]
        self.status = Ars548Status(
            int(s["timestamp_seconds"]) * 1_000_000_000 + int(s["timestamp_nanoseconds"]), int(s["sync_status"]),
            (int(s["sw_version_major"]), int(s["sw_version_minor"]), int(s["sw_version_patch"])),
            (_f(s["longitudinal"]), _f(s["lateral"]), _f(s["vertical"])), _f(s["yaw"]), _f(s["pitch"]),
            int(s["maximum_distance"]), int(s["cycle_time"]), int(s["time_slot"]), int(s["radar_status"]),
            int(s["voltage_status"]), int(s["temperature_status"]), int(s["blockage_status"]))
        self.counts["status"] += 1

    def _detections(self, data: bytes, pkt: Packet, sensor_ns: int, sync: int) -> RadarScan | None:
        msg = np.frombuffer(data, layout.DETECTION_LIST, count=1)[0]
        n = int(msg["number_of_detections"])
        if n > layout.MAX_DETECTIONS:
            self._bad("bad_count", f"{n} detections, at most {layout.MAX_DETECTIONS}")
            return None
        self.detection_header = Ars548DetectionHeader(
            sensor_ns, sync, (_f(msg["origin_x"]), _f(msg["origin_y"]), _f(msg["origin_z"])),
            (_f(msg["origin_x_std"]), _f(msg["origin_y_std"]), _f(msg["origin_z_std"])),
            _f(msg["origin_roll"]), _f(msg["origin_roll_std"]), _f(msg["origin_pitch"]), _f(msg["origin_pitch_std"]),
            _f(msg["origin_yaw"]), _f(msg["origin_yaw_std"]), _f(msg["ambiguity_free_velocity_min"]),
            _f(msg["ambiguity_free_velocity_max"]), _f(msg["alignment_azimuth_correction"]),
            _f(msg["alignment_elevation_correction"]), int(msg["alignment_status"]))
        det = msg["detections"][:n]
        floats = ("azimuth", "azimuth_std", "elevation", "elevation_std", "range", "range_std", "range_rate",
                  "range_rate_std")
        cols: dict[str, npt.NDArray[Any]] = {name: det[name].astype(np.float32) for name in floats}
        keep = np.ones(n, dtype=bool)
        for name in floats:
            keep &= np.isfinite(cols[name])
        keep &= cols["range"] >= 0
        if self.drop_invalid:
            keep &= (det["invalid_flags"] & INVALID_POSITION_FLAGS) == 0
        dropped = int(n - np.count_nonzero(keep))
        if dropped:
            self.counts["dropped_detections"] += dropped
        r = cols["range"][keep].astype(np.float64)
        az = cols["azimuth"][keep].astype(np.float64)
        el = cols["elevation"][keep].astype(np.float64)
        pos = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], axis=1)
        d = det[keep]
        fields: dict[str, npt.NDArray[Any]] = {
            "range": cols["range"][keep], "azimuth": cols["azimuth"][keep], "elevation": cols["elevation"][keep],
            "range_std": cols["range_std"][keep], "azimuth_std": cols["azimuth_std"][keep],
            "elevation_std": cols["elevation_std"][keep], "range_rate_std": cols["range_rate_std"][keep],
            "existence_probability": d["positive_predictive_value"].astype(np.float32) / 100.0,
            "positive_predictive_value": d["positive_predictive_value"].astype(np.uint8),
            "multi_target_probability": d["multi_target_probability"].astype(np.uint8),
            "ambiguity_flag": d["ambiguity_flag"].astype(np.uint8),
            "classification": d["classification"].astype(np.uint8),
            "invalid_flags": d["invalid_flags"].astype(np.uint8),
            "measurement_id": d["measurement_id"].astype(np.uint16),
            "object_id": d["object_id"].astype(np.uint16),
            "sort_index": d["sort_index"].astype(np.uint16),
        }
        self.counts["detection_lists"] += 1
        return RadarScan(self._stamp(pkt, sensor_ns), self.frame_id, self.sensor_id, pos,
                         cols["range_rate"][keep], d["rcs"].astype(np.float32), fields)

    def _objects(self, data: bytes, pkt: Packet, sensor_ns: int) -> RadarObjectList | None:
        msg = np.frombuffer(data, layout.OBJECT_LIST, count=1)[0]
        n = int(msg["number_of_objects"])
        if n > layout.MAX_OBJECTS:
            self._bad("bad_count", f"{n} objects, at most {layout.MAX_OBJECTS}")
            return None
        objs = msg["objects"][:n]
        names = layout.OBJECT.names or ()
        col = {name: objs[name].astype(np.float64 if layout.OBJECT[name].kind == "f" else np.int64).tolist()
               for name in names}
        floats = [name for name in names if layout.OBJECT[name].kind == "f"]
        finite = np.all([np.isfinite(objs[name]) for name in floats], axis=0) if n else np.ones(0, bool)
        objects = []
        for i in range(n):
            if not finite[i]:
                self.counts["dropped_objects"] += 1
                continue

            def v(name: str, i: int = i) -> Any:
                return col[name][i]

            def xy(prefix: str) -> tuple[tuple[float, float], tuple[float, float], float]:
                return ((v(f"{prefix}_x"), v(f"{prefix}_y")), (v(f"{prefix}_x_std"), v(f"{prefix}_y_std")),
                        v(f"{prefix}_covariance_xy"))

            objects.append(RadarObject(
                v("id"), v("age"), v("status_measurement"), v("status_movement"), v("position_reference"),
                (v("position_x"), v("position_y"), v("position_z")),
                (v("position_x_std"), v("position_y_std"), v("position_z_std")), v("position_covariance_xy"),
                v("orientation"), v("orientation_std"), v("existence_probability") / 100.0,
                MappingProxyType({c: v(f"classification_{c}") / 100.0 for c in layout.CLASSES}),
                *xy("absolute_velocity"), *xy("relative_velocity"), *xy("absolute_acceleration"),
                *xy("relative_acceleration"), v("orientation_rate"), v("orientation_rate_std"),
                v("shape_length"), v("shape_length_std"), v("shape_width"), v("shape_width_std")))
        self.counts["object_lists"] += 1
        return RadarObjectList(self._stamp(pkt, sensor_ns), self.object_frame_id, self.sensor_id, tuple(objects))
