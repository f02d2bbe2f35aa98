"""Mapping the monotonic clock to the system (wall) clock.

Capture events are timed on ``time.monotonic_ns`` (never jumps, but has an arbitrary epoch) and published on
the system clock (``time.time_ns``, nanoseconds since the Unix epoch, which NTP/PTP may step or slew).
:class:`MonotonicToSystem` keeps the offset between the two: it reads the clocks in pairs, keeps the pair read
in the shortest interval (the least uncertain), and re-measures every ``resync_s`` seconds so a corrected
system clock is followed; a step smaller than ``max_step_ns`` is slewed over the next resync interval, a
larger one (the system clock was set) is taken at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class MonotonicToSystem:
    """``to_system(monotonic_ns) -> system_ns`` (see the module docstring).

    ``monotonic`` and ``system`` are the clocks (injectable for tests); ``samples`` pairs are read per
    measurement.
    """

    def __init__(self, *, resync_s: float = 10.0, samples: int = 5, max_step_ns: int = 1_000_000,
                 monotonic: Callable[[], int] = time.monotonic_ns, system: Callable[[], int] = time.time_ns) -> None:
        self.resync_ns = int(resync_s * 1e9)
        self.samples = max(1, samples)
        self.max_step_ns = max_step_ns
        self._monotonic = monotonic
        self._system = system
        self.offset_ns = self.measure()
        self._target_ns = self.offset_ns
        self._measured_at = self._monotonic()
        self.resyncs = 0

    def measure(self) -> int:
        """``system - monotonic`` from the tightest of ``samples`` paired reads."""
        best: tuple[int, int] | None = None
        for _ in range(self.samples):
            a = self._monotonic()
            s = self._system()
            b = self._monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, s - (a + b) // 2)
        assert best is not None
        return best[1]

    def to_system(self, monotonic_ns: int) -> int:
        """The system time of a monotonic instant (resynchronising when due)."""
        now = self._monotonic()
        if now - self._measured_at >= self.resync_ns:
            target = self.measure()
            self.resyncs += 1
            if abs(target - self._target_ns) > self.max_step_ns:
                self.offset_ns = target  # the system clock was set: follow at once
            else:
                self.offset_ns = self.current_offset(now)
            self._target_ns = target
            self._measured_at = now
        return int(monotonic_ns) + self.current_offset(now)

    def current_offset(self, now_ns: int) -> int:
        """The offset in use at monotonic ``now_ns``: slewing linearly towards the last measurement."""
        if self.offset_ns == self._target_ns or self.resync_ns <= 0:
            return self._target_ns
        frac = min(1.0, max(0.0, (now_ns - self._measured_at) / self.resync_ns))
        return self.offset_ns + round((self._target_ns - self.offset_ns) * frac)

    def now(self) -> int:
        """The current system time through the mapping."""
        return self.to_system(self._monotonic())
