"""Per-sensor health of a live pipeline: arrival rate, age of the last sample, rejected messages by reason,
synchronizer drops by reason, and a level (OK / WARN / ERROR / STALE) in the sense of ROS diagnostics.

:class:`SensorHealth` is fed by whoever receives messages (the ROS fusion node): ``arrived`` for every accepted
sample, ``rejected`` for every message that could not be used (:data:`REJECT_REASONS`); :meth:`SensorHealth.check_stamp`
classifies bad stamps. :meth:`SensorHealth.statuses` reports, at a given arrival time, one
:class:`SensorStatus` per sensor. A sensor is STALE when nothing arrived for ``stale_periods`` of its period (the
expected rate when given, else the rate measured before it went silent), and recovers with its next sample.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from fusion_stack.align.synchronizer import SyncStats
from fusion_stack.pipeline.errors import PipelineError

OK, WARN, ERROR, STALE = 0, 1, 2, 3
"""Levels, numbered as ``diagnostic_msgs/DiagnosticStatus``."""
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}
REJECT_REASONS = ("malformed", "bad_encoding", "zero_stamp", "future_stamp", "unknown_sensor", "conversion")
"""Why a received message was not used (counted per sensor)."""


@dataclass(frozen=True)
class SensorStatus:
    """One sensor's health: ``level`` (:data:`OK` ... :data:`STALE`), a one-line ``message`` and key/value
    ``values`` (rate_hz, age_s, received, rejected_<reason>, dropped_<reason>)."""

    sensor_id: str
    level: int
    message: str
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class _Track:
    def __init__(self, window: int) -> None:
        self.arrivals: deque[int] = deque(maxlen=window)
        self.last_stamp: int | None = None
        self.received = 0
        self.rejected: Counter[str] = Counter()
        self.last_reject: tuple[int, str] | None = None


class SensorHealth:
    """Health of ``sensor_ids`` (see the module docstring). ``expected_rates_hz``: per sensor (absent: measured);
    ``stale_periods``: silence, in periods, after which a sensor is STALE; ``max_future_ns``: a stamp later than
    the arrival time by more than this is ``future_stamp``; ``window``: arrivals kept for the rate."""

    def __init__(self, sensor_ids: Sequence[str], *, expected_rates_hz: Mapping[str, float] | None = None,
                 stale_periods: float = 1.5, max_future_ns: int = 500_000_000, window: int = 20) -> None:
        rates = dict(expected_rates_hz or {})
        unknown = sorted(set(rates) - set(sensor_ids))
        if unknown:
            raise PipelineError(f"expected rates given for unknown sensors {unknown}", field="expected_rates_hz")
        if any(r <= 0 for r in rates.values()):
            raise PipelineError(f"expected rates must be > 0 Hz, got {rates}", field="expected_rates_hz")
        self.expected_rates_hz = rates
        self.stale_periods = float(stale_periods)
        self.max_future_ns = int(max_future_ns)
        self._tracks = {s: _Track(window) for s in sensor_ids}

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """The sensors reported on."""
        return tuple(self._tracks)

    def check_stamp(self, stamp_ns: int, now_ns: int) -> str | None:
        """``zero_stamp`` or ``future_stamp`` when a message's header stamp cannot be used, else None."""
        if stamp_ns <= 0:
            return "zero_stamp"
        if stamp_ns - now_ns > self.max_future_ns:
            return "future_stamp"
        return None

    def arrived(self, sensor_id: str, stamp_ns: int, now_ns: int) -> None:
        """An accepted sample of ``sensor_id`` with header ``stamp_ns`` arrived at ``now_ns``."""
        t = self._tracks.get(sensor_id)
        if t is None:
            return
        t.arrivals.append(int(now_ns))
        t.last_stamp = int(stamp_ns)
        t.received += 1

    def rejected(self, sensor_id: str, reason: str, now_ns: int) -> None:
        """A message of ``sensor_id`` was not used for ``reason`` (one of :data:`REJECT_REASONS`)."""
        if reason not in REJECT_REASONS:
            raise PipelineError(f"reason must be one of {REJECT_REASONS}, got {reason!r}", field="reason")
        t = self._tracks.get(sensor_id)
        if t is None:
            return
        t.rejected[reason] += 1
        t.last_reject = (int(now_ns), reason)

    def rate_hz(self, sensor_id: str) -> float | None:
        """The measured arrival rate over the kept arrivals (None with fewer than two)."""
        a = self._tracks[sensor_id].arrivals
        if len(a) < 2 or a[-1] == a[0]:
            return None
        return (len(a) - 1) / ((a[-1] - a[0]) * 1e-9)

    def period_ns(self, sensor_id: str) -> int | None:
        """The sensor's period: from its expected rate, else its measured rate."""
        rate = self.expected_rates_hz.get(sensor_id) or self.rate_hz(sensor_id)
        return None if rate is None else int(1e9 / rate)

    def is_stale(self, sensor_id: str, now_ns: int) -> bool:
        """Nothing arrived for ``stale_periods`` periods (or ever, once a period is known)."""
        t = self._tracks[sensor_id]
        period = self.period_ns(sensor_id)
        if not t.arrivals:
            return True
        return period is not None and now_ns - t.arrivals[-1] > self.stale_periods * period

    def statuses(self, now_ns: int, *, sync_stats: SyncStats | None = None,
                 degraded: Sequence[str] = ()) -> list[SensorStatus]:
        """One status per sensor at arrival time ``now_ns``; ``sync_stats`` adds the synchronizer's drops;
        ``degraded`` names sensors the pipeline ran without in its last frame."""
        out = []
        for sid, t in self._tracks.items():
            rate = self.rate_hz(sid)
            values: dict[str, str] = {"received": str(t.received)}
            values["rate_hz"] = f"{rate:.2f}" if rate is not None else "unknown"
            values["age_s"] = f"{(now_ns - t.arrivals[-1]) * 1e-9:.3f}" if t.arrivals else "never"
            for reason, n in sorted(t.rejected.items()):
                values[f"rejected_{reason}"] = str(n)
            if sync_stats is not None and sid in sync_stats.dropped:
                for reason, n in sorted(sync_stats.dropped[sid].items()):
                    if n:
                        values[f"dropped_{reason}"] = str(n)
            recent_reject = t.last_reject is not None and (
                t.last_reject[0] >= (t.arrivals[-1] if t.arrivals else 0))
            if self.is_stale(sid, now_ns):
                level = STALE
                msg = ("no message received" if not t.arrivals
                       else f"silent for {(now_ns - t.arrivals[-1]) * 1e-9:.2f} s; fusion runs without it")
            elif recent_reject:
                assert t.last_reject is not None
                level = ERROR
                msg = f"last message rejected: {t.last_reject[1]}"
            elif sid in degraded:
                level = WARN
                msg = "missing from the last fused frame"
            else:
                level = OK
                msg = "ok"
            out.append(SensorStatus(sid, level, msg, MappingProxyType(values)))
        return out
