"""Temporal synchronisation: group samples of several sensors around the stamps of a reference sensor.

A :class:`Synchronizer` takes samples one at a time (any object with ``sensor_id: str`` and ``stamp_ns: int``,
such as the typed samples of :mod:`fusion_stack.types`) and emits :class:`~fusion_stack.types.FrameSet` groups.
Each group is stamped with a reference sample's corrected stamp (e.g. the LiDAR's) and holds, for every other
sensor, the sample the policy picked, or names the sensor in ``FrameSet.missing``. Samples are never copied: a
group holds the very objects that were pushed.

Time
----
All times are integer nanoseconds. A sample's stamp is put on the reference clock with its sensor's offset,
``t = stamp_ns + offsets_ns[sensor]`` (the rig convention ``t_reference = t_sensor + time_offset_ns``, see
:meth:`Synchronizer.from_rig`); windows, timeouts and FrameSet stamps all use these corrected stamps.

The *clock* decides when waiting ends. Offline (``push(sample)``: a recording read as fast as possible) it is the
largest corrected stamp pushed so far (data time). Online (``push(sample, now_ns=...)`` from e.g. ROS callbacks,
and ``poll(now_ns)`` from a timer so that groups still come out when a sensor dies) it is the largest ``now_ns``
given: arrival time, on the reference clock. A synchronizer is offline or online from its first call on. The
clock never goes back. Offline, one sensor whose stamps jump forward moves the clock with them and makes waiting
groups time out; online, arrival latency counts against ``timeout_ns`` (with arrival = stamp + L, online with
timeout τ + L gives the same groups as offline with τ).

Policies
--------
``nearest`` (default)
    For each reference sample (stamp T) every other sensor contributes its sample nearest to T within its window
    (``|t - T| <= windows_ns[sensor]``; ties go to the earlier sample). A sensor is *decided* for T once it has a
    sample with ``t >= T`` (later samples of an in-order sensor cannot be nearer). The group is emitted as soon as
    every sensor is decided, or when the clock passes ``T + timeout_ns``, whichever is first; undecided sensors
    then contribute what they have, and sensors without a sample in the window are marked missing. Groups come
    out in reference order. With ``timeout_ns=None`` a group waits until every sensor is decided; when
    ``buffer_size`` reference samples wait, the oldest group is emitted at once (as if timed out). ``reuse=True``
    (default) lets one sample serve several references (a 12 Hz camera next to a 20 Hz LiDAR); with
    ``reuse=False`` each sample is used at most once and never after a later sample of its sensor was used:
    the choice is the nearest sample not yet used, greedily in reference order.
``latest`` (latest-value hold)
    Each reference sample is emitted at once with every other sensor's latest sample with ``t <= T`` and
    ``T - t <= window``; older ones (or none) are missing. Nothing waits. ``reuse=False``: at most once each.
    With ``timeout_ns``, a reference older than ``clock - timeout_ns`` on arrival is late, and a sample waits for
    a reference at most until the clock passes ``t + window + timeout_ns``.
``approximate_time``
    The ROS ``message_filters`` ApproximateTime algorithm (:mod:`fusion_stack.align.approximate_time`) over all
    ``sensors`` as topics: every group holds exactly one sample per sensor, each sample is used at most once and
    groups never cross. ``buffer_size`` is its ``queue_size``; options ``max_interval_ns``, ``age_penalty``
    (default 0.1, as in the C++ code) and ``inter_message_lower_bounds_ns`` (per sensor). The reference sensor only
    names whose stamp becomes the FrameSet stamp. Windows, timeouts and ``reuse`` do not apply.

Memory is bounded: per sensor at most ``buffer_size`` samples are held (for the reference sensor, waiting
references); nothing else grows with the stream but the counters. A synchronizer is not thread-safe: when ROS
callbacks run on several threads, guard ``push``/``poll`` with one lock.

The horizon (``nearest`` and ``latest``)
----------------------------------------
The *horizon* H is the earliest reference stamp that can still get a group: the stamp of the oldest waiting
reference, or, when none waits, the last reference stamp + 1, raised to ``clock - timeout_ns`` when a timeout is
set (a reference older than that arrives late). H never decreases. A held sample is released as soon as H makes
it useless (see ``superseded``, ``window_miss``, ``no_reference`` below).

Drop accounting
---------------
Every pushed sample of a known sensor is counted once in ``stats.received`` and ends up in exactly one place:
``emitted`` (used in at least one group; counted when first used), ``pending`` (held, not yet used), or one
reason of ``dropped``. At every moment, for every sensor, ``received == emitted + sum(dropped) + pending``;
after :meth:`Synchronizer.flush`, ``pending == 0``. A sample of an unknown sensor raises
:class:`~fusion_stack.align.errors.AlignmentError` and is not counted. The reasons, checked in this order:

``out_of_order``
    its corrected stamp is older than the last accepted sample of the same sensor (all policies). After a sensor's
    clock jumps back, its samples are out of order until they pass the old stamps (see :meth:`Synchronizer.reset`).
``duplicate_stamp``
    its corrected stamp equals that of the last accepted sample of the same sensor (all policies).
``late``
    it arrived after every group it could belong to was emitted. Reference sample (``nearest``, ``latest`` with a
    timeout): ``T + timeout_ns < clock`` on arrival. Other sensors (``nearest``, ``latest``): ``t + window < H``
    on arrival, i.e. every reference within its window has been emitted. Never for ``approximate_time``.
``buffer_overflow``
    evicted, oldest first, when a sensor's buffer already holds ``buffer_size`` samples (``nearest``/``latest``:
    non-reference sensors; waiting references are emitted instead, see above), or when an ``approximate_time``
    queue exceeds ``queue_size``.
``window_miss``
    never used, and ``t + window < H`` after the references have gone past it (the last reference stamp is
    ``>= t + window``): no remaining reference is within its window. ``approximate_time``: no set within
    ``max_interval_ns`` could start with it.
``no_reference``
    never used, and no reference will come for it: ``t + window < H`` only because the clock passed
    ``t + window + timeout_ns`` without a reference reaching its window (the reference sensor is silent), or it
    was still held at :meth:`Synchronizer.flush` (the stream ended).
``superseded``
    never used, still within reach (``t + window >= H``), but a later sample of the same sensor is at or before
    H, so it is nearer to every reference that can still come; with ``reuse=False`` also when a later sample was
    used. ``approximate_time``: passed over for a better candidate set, or skipped because the would-be pivot
    sensor had just overflowed.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from fusion_stack.align.approximate_time import ApproximateTime, ApproximateTimeDrop, MatchedSet
from fusion_stack.align.errors import AlignmentError
from fusion_stack.types import FrameSet, Sample

if TYPE_CHECKING:
    from fusion_stack.calibration.rig import Rig

__all__ = ["DROP_REASONS", "DropReason", "Stamped", "SyncPolicy", "SyncStats", "Synchronizer"]

SyncPolicy = Literal["nearest", "latest", "approximate_time"]
DropReason = Literal[
    "late", "out_of_order", "duplicate_stamp", "buffer_overflow", "superseded", "window_miss", "no_reference"
]
DROP_REASONS: tuple[DropReason, ...] = (
    "late", "out_of_order", "duplicate_stamp", "buffer_overflow", "superseded", "window_miss", "no_reference"
)
"""Every reason a sample can be dropped for; ``SyncStats.dropped[sensor]`` has one count per reason."""

_POLICIES: tuple[str, ...] = ("nearest", "latest", "approximate_time")
_NEG = -(1 << 63)  # before any int64 stamp
_OFFLINE, _ONLINE = 1, 2


class Stamped(Protocol):
    """What the synchronizer reads from a sample: its sensor and its stamp (ns, on the sensor's clock)."""

    @property
    def sensor_id(self) -> str: ...

    @property
    def stamp_ns(self) -> int: ...


@dataclass(frozen=True)
class SyncStats:
    """Counters of a :class:`Synchronizer`, per sensor (a snapshot; see the module doc for the definitions).

    received: samples pushed. emitted: samples used in at least one group. pending: held, not yet used.
    buffered: held in the synchronizer's buffers, used or not (memory; <= buffer_size).
    dropped: per sensor, one count per reason of :data:`DROP_REASONS`.
    groups: FrameSets emitted; incomplete_groups: those with at least one missing sensor.
    clock_ns: the synchronizer's clock (None before the first sample).
    """

    received: Mapping[str, int]
    emitted: Mapping[str, int]
    pending: Mapping[str, int]
    buffered: Mapping[str, int]
    dropped: Mapping[str, Mapping[str, int]]
    groups: int
    incomplete_groups: int
    clock_ns: int | None

    def dropped_total(self, sensor_id: str | None = None) -> int:
        """Samples dropped for any reason, of one sensor or of all."""
        sensors = self.dropped if sensor_id is None else {sensor_id: self.dropped[sensor_id]}
        return sum(sum(reasons.values()) for reasons in sensors.values())

    def unaccounted(self) -> dict[str, int]:
        """Per sensor, ``received - emitted - dropped - pending``: zero everywhere by construction."""
        return {s: self.received[s] - self.emitted[s] - sum(self.dropped[s].values()) - self.pending[s]
                for s in self.received}


class _Stream:
    """State of one sensor: offset, window, buffer of held entries ``[t, sample, used]``, counters."""

    __slots__ = ("dropped", "emitted", "held", "index", "last_t", "offset", "pending", "received", "sensor_id",
                 "waiting", "window")

    def __init__(self, sensor_id: str, index: int, offset: int, window: int) -> None:
        self.sensor_id = sensor_id
        self.index = index
        self.offset = offset
        self.window = window
        self.held: deque[list[Any]] = deque()
        self.last_t = _NEG
        self.received = 0
        self.emitted = 0
        self.pending = 0
        self.waiting = False
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)


def _int_ns(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise AlignmentError(f"{name} must be an int of nanoseconds, got {type(value).__name__} {value!r}",
                             field=name)
    return int(value)


def _per_sensor(value: Mapping[str, int] | int | None, name: str, known: Sequence[str], need: Sequence[str],
                default: int | None) -> dict[str, int]:
    """Expand an int or a mapping into one int per sensor of ``need`` (absent: ``default``, or an error when it is
    None); mapping keys must be ``known`` sensors."""
    if value is None or isinstance(value, numbers.Integral):
        if value is None and default is None:
            raise AlignmentError(f"{name} is required", field=name)
        v = _int_ns(default if value is None else value, name)
        return dict.fromkeys(need, v)
    if not isinstance(value, Mapping):
        raise AlignmentError(f"{name} must be an int or a mapping sensor id -> int, got {type(value).__name__}",
                             field=name)
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise AlignmentError(f"{name} names unknown sensors {unknown} (sensors: {', '.join(known)})", field=name)
    lacking = [s for s in need if s not in value]
    if lacking and default is None:
        raise AlignmentError(f"{name} lacks sensors {lacking}", field=name)
    return {s: _int_ns(value.get(s, default), f"{name}[{s}]") for s in need}


class Synchronizer:
    """Groups samples of ``sensors`` around the stamps of ``reference`` (see the module doc for the semantics).

    reference: the sensor whose stamps become FrameSet stamps (e.g. ``"LIDAR_TOP"``); must be in ``sensors``.
    sensors: every sensor expected in a group, reference included (``FrameSet.samples`` lists the reference
        first, then the others in this order).
    policy: ``"nearest"`` (default), ``"latest"`` or ``"approximate_time"``.
    windows_ns: ``nearest``/``latest``: largest ``|t - T|`` (ns) for a sample to join reference stamp T; one int
        for all sensors, or a mapping covering every non-reference sensor (a reference entry is ignored).
    offsets_ns: per sensor, added to its stamps to put them on the reference clock (ns; absent = 0).
    timeout_ns: ``nearest``: longest wait after T on the clock before a group is emitted without its undecided
        sensors (None = wait until decided, bounded by ``buffer_size``); ``nearest``/``latest``: a reference
        older than ``clock - timeout_ns`` on arrival is late. Online, include the arrival latency.
    buffer_size: per sensor, the most samples held (>= 1); ``approximate_time``: the queue size.
    reuse: ``nearest``/``latest``: may one sample serve several references (default True).
    max_interval_ns, age_penalty, inter_message_lower_bounds_ns: ``approximate_time`` only (see
        :class:`~fusion_stack.align.approximate_time.ApproximateTime`).
    """

    def __init__(
        self,
        *,
        reference: str,
        sensors: Sequence[str],
        policy: SyncPolicy = "nearest",
        windows_ns: Mapping[str, int] | int | None = None,
        offsets_ns: Mapping[str, int] | None = None,
        timeout_ns: int | None = None,
        buffer_size: int = 64,
        reuse: bool | None = None,
        max_interval_ns: int | None = None,
        age_penalty: float | None = None,
        inter_message_lower_bounds_ns: Mapping[str, int] | None = None,
    ) -> None:
        names = list(sensors) if not isinstance(sensors, str) else [sensors]
        if not names or any(not isinstance(s, str) or not s for s in names):
            raise AlignmentError(f"sensors must be non-empty sensor id strings, got {sensors!r}", field="sensors")
        if len(set(names)) != len(names):
            raise AlignmentError(f"sensors has duplicates: {names}", field="sensors")
        if reference not in names:
            raise AlignmentError(f"reference {reference!r} is not one of sensors {names}", field="reference")
        if len(names) < 2:
            raise AlignmentError("sensors must name the reference and at least one other sensor", field="sensors")
        if policy not in _POLICIES:
            raise AlignmentError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}", field="policy")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise AlignmentError(f"buffer_size must be an int >= 1, got {buffer_size!r}", field="buffer_size")
        others = [s for s in names if s != reference]
        approx = policy == "approximate_time"
        if approx:
            given = [n for n, v in (("windows_ns", windows_ns), ("timeout_ns", timeout_ns)) if v is not None]
            if reuse:
                given.append("reuse=True")
            if given:
                raise AlignmentError(f"{', '.join(given)} do not apply to policy 'approximate_time' (it uses "
                                     "max_interval_ns, age_penalty, inter_message_lower_bounds_ns)", field="policy")
            windows = dict.fromkeys(others, 0)
        else:
            given = [n for n, v in (("max_interval_ns", max_interval_ns), ("age_penalty", age_penalty),
                                    ("inter_message_lower_bounds_ns", inter_message_lower_bounds_ns))
                     if v is not None]
            if given:
                raise AlignmentError(f"{', '.join(given)} only apply to policy 'approximate_time'", field="policy")
            if windows_ns is None:
                raise AlignmentError(f"policy {policy!r} needs windows_ns: the largest |t - T| (ns) for a sample to "
                                     "join reference stamp T, one int or one per sensor", field="windows_ns")
            windows = _per_sensor(windows_ns, "windows_ns", names, others, None)
            if any(w < 0 for w in windows.values()):
                raise AlignmentError(f"windows_ns must be >= 0, got {windows}", field="windows_ns")
        offsets = _per_sensor(offsets_ns or {}, "offsets_ns", names, names, 0)
        if timeout_ns is not None:
            timeout_ns = _int_ns(timeout_ns, "timeout_ns")
            if timeout_ns < 0:
                raise AlignmentError(f"timeout_ns must be >= 0, got {timeout_ns}", field="timeout_ns")

        self._policy: SyncPolicy = policy
        self._names = tuple(names)
        self._streams = {s: _Stream(s, i, offsets[s], windows.get(s, 0)) for i, s in enumerate(names)}
        self._ref = self._streams[reference]
        self._others = [self._streams[s] for s in others]
        self._by_index = [self._streams[s] for s in names]
        self._timeout = timeout_ns
        self._timed = timeout_ns is not None and not approx  # the clock can time groups out
        self._timeout_or_0 = 0 if timeout_ns is None else timeout_ns
        self._buffer_size = buffer_size
        self._reuse = True if reuse is None else bool(reuse)
        self._clock = _NEG
        self._mode = 0
        self._h = _NEG  # the horizon
        self._n_waiting = 0
        self._groups = 0
        self._incomplete = 0
        self._matcher: ApproximateTime[Any] | None = None
        if approx:
            bounds = _per_sensor(inter_message_lower_bounds_ns or {}, "inter_message_lower_bounds_ns", names,
                                 names, 0)
            self._matcher = ApproximateTime(
                len(names), queue_size=buffer_size,
                max_interval_ns=None if max_interval_ns is None else _int_ns(max_interval_ns, "max_interval_ns"),
                age_penalty=0.1 if age_penalty is None else float(age_penalty),
                inter_message_lower_bounds_ns=[bounds[s] for s in names], on_drop=self._on_matcher_drop)
            self._accept = self._accept_approx
        elif policy == "latest":
            self._accept = self._accept_latest
        else:
            self._accept = self._accept_nearest

    @classmethod
    def from_rig(cls, rig: Rig, *, reference: str, sensors: Sequence[str] | None = None,
                 **options: Any) -> Synchronizer:
        """A synchronizer whose offsets are the rig's ``time_offset_ns``; ``sensors`` defaults to all the rig's.

        ``options`` are the constructor's (except ``offsets_ns``)."""
        if "offsets_ns" in options:
            raise AlignmentError("from_rig reads offsets_ns from the rig; do not pass them", field="offsets_ns")
        names = list(rig.sensor_ids if sensors is None else sensors)
        rig.require_sensors(names)
        offsets = {s: rig.sensor(s).time_offset_ns for s in names}
        return cls(reference=reference, sensors=names, offsets_ns=offsets, **options)

    # -- public properties -----------------------------------------------------------------------------------------

    @property
    def reference(self) -> str:
        """The reference sensor id."""
        return self._ref.sensor_id

    @property
    def sensors(self) -> tuple[str, ...]:
        """Every sensor of a group, reference included."""
        return self._names

    @property
    def policy(self) -> SyncPolicy:
        """The matching policy."""
        return self._policy

    @property
    def clock_ns(self) -> int | None:
        """The clock (largest corrected stamp offline, largest ``now_ns`` online); None before any sample."""
        return None if self._clock == _NEG else self._clock

    @property
    def stats(self) -> SyncStats:
        """A snapshot of the counters."""
        streams = self._streams.values()
        if self._matcher is not None:
            buffered = {s.sensor_id: self._matcher.queued(s.index) for s in streams}
        else:
            buffered = {s.sensor_id: len(s.held) for s in streams}
        return SyncStats(
            received=MappingProxyType({s.sensor_id: s.received for s in streams}),
            emitted=MappingProxyType({s.sensor_id: s.emitted for s in streams}),
            pending=MappingProxyType({s.sensor_id: s.pending for s in streams}),
            buffered=MappingProxyType(buffered),
            dropped=MappingProxyType({s.sensor_id: MappingProxyType(dict(s.dropped)) for s in streams}),
            groups=self._groups,
            incomplete_groups=self._incomplete,
            clock_ns=self.clock_ns,
        )

    # -- public methods --------------------------------------------------------------------------------------------

    def push(self, sample: Stamped, now_ns: int | None = None) -> list[FrameSet]:
        """Add one sample; return the groups it completes (oldest first; often none).

        now_ns: arrival time on the reference clock (online); None = offline (data time)."""
        try:
            sid = sample.sensor_id
            stamp = sample.stamp_ns
        except AttributeError as exc:
            raise AlignmentError(f"a sample needs sensor_id and stamp_ns, got {type(sample).__name__}",
                                 field="sample") from exc
        s = self._streams.get(sid)
        if s is None:
            raise AlignmentError(f"sample of unknown sensor {sid!r} (sensors: {', '.join(self._names)})",
                                 field="sensor_id")
        if type(stamp) is not int:
            stamp = _int_ns(stamp, "stamp_ns")
        t = stamp + s.offset
        if now_ns is None:
            now = t
            if self._mode != _OFFLINE:
                self._set_mode(_OFFLINE)
        else:
            now = now_ns if type(now_ns) is int else _int_ns(now_ns, "now_ns")
            if self._mode != _ONLINE:
                self._set_mode(_ONLINE)
        out: list[FrameSet] = []
        s.received += 1
        if now > self._clock:
            self._clock = now
            if self._timed:
                self._on_clock(out)
        last = s.last_t
        if t <= last:
            s.dropped["out_of_order" if t < last else "duplicate_stamp"] += 1
            return out
        s.last_t = t
        self._accept(s, t, sample, out)
        return out

    def poll(self, now_ns: int) -> list[FrameSet]:
        """Online: advance the clock to ``now_ns`` and return the groups whose timeout has passed (dead sensors)."""
        now = _int_ns(now_ns, "now_ns")
        if self._mode != _ONLINE:
            self._set_mode(_ONLINE)
        out: list[FrameSet] = []
        if now > self._clock:
            self._clock = now
            if self._timed:
                self._on_clock(out)
        return out

    def flush(self) -> list[FrameSet]:
        """End of stream: emit every waiting group (undecided sensors contribute what they have, else missing;
        ``approximate_time``: the pending candidate sets), then drop what is left (``superseded``/``window_miss``
        as usual, the rest ``no_reference``). Afterwards ``stats.pending`` is zero; pushing may continue."""
        out: list[FrameSet] = []
        if self._matcher is not None:
            for matched in self._matcher.flush():
                out.append(self._frameset_from(matched))
            for topic, _, _ in self._matcher.drain():
                s = self._by_index[topic]
                s.pending -= 1
                s.dropped["no_reference"] += 1
            return out
        held = self._ref.held
        while held:
            self._emit(held.popleft(), out)
            if held:
                self._begin(held[0][0])
        self._n_waiting = 0
        for s in self._others:
            s.waiting = False
        self._set_horizon(self._idle_horizon())
        for s in self._others:
            for entry in s.held:
                if not entry[2]:
                    s.pending -= 1
                    s.dropped["no_reference"] += 1
            s.held.clear()
        return out

    def reset(self) -> list[FrameSet]:
        """:meth:`flush`, then forget the clock, the mode and the last stamps (after a clock jump back: a rosbag
        loop, a simulation restart); the counters are kept."""
        out = self.flush()
        for s in self._streams.values():
            s.last_t = _NEG
        self._clock = _NEG
        self._mode = 0
        self._h = _NEG
        return out

    # -- common internals ------------------------------------------------------------------------------------------

    def _set_mode(self, mode: int) -> None:
        if self._mode:
            was, now = ("offline", "online") if self._mode == _OFFLINE else ("online", "offline")
            raise AlignmentError(f"this synchronizer runs {was} (first call); it cannot also run {now}: pass now_ns "
                                 "to every push (online) or to none (offline), or reset() in between",
                                 field="now_ns")
        self._mode = mode

    def _idle_horizon(self) -> int:
        """The horizon when no reference waits: after the last reference, and not older than clock - timeout."""
        h = self._ref.last_t + 1
        if self._timeout is not None and self._clock - self._timeout > h:
            h = self._clock - self._timeout
        return h

    def _set_horizon(self, h: int) -> None:
        if h > self._h:
            self._h = h
            for s in self._others:
                d = s.held
                if d and (d[0][0] + s.window < h or (len(d) > 1 and d[1][0] <= h)):
                    self._prune(s, h)

    def _prune(self, s: _Stream, h: int) -> None:
        """Release the samples of ``s`` that no reference at or after ``h`` can use."""
        d = s.held
        w = s.window
        while d:
            entry = d[0]
            if entry[0] + w < h:
                reason = "window_miss" if self._ref.last_t >= entry[0] + w else "no_reference"
            elif len(d) >= 2 and d[1][0] <= h:
                reason = "superseded"
            else:
                return
            d.popleft()
            if not entry[2]:
                s.pending -= 1
                s.dropped[reason] += 1

    def _hold(self, s: _Stream, t: int, sample: object) -> None:
        """Append to a non-reference buffer (evicting the oldest when full) and prune it."""
        d = s.held
        if len(d) >= self._buffer_size:
            entry = d.popleft()
            if not entry[2]:
                s.pending -= 1
                s.dropped["buffer_overflow"] += 1
        d.append([t, sample, False])
        s.pending += 1
        if len(d) >= 2 and d[1][0] <= self._h:
            self._prune(s, self._h)

    def _finish(self, stamp: int, samples: dict[str, Any], missing: list[str], out: list[FrameSet]) -> None:
        self._groups += 1
        if missing:
            self._incomplete += 1
        out.append(FrameSet(stamp, self._ref.sensor_id, cast(Mapping[str, Sample], samples), frozenset(missing)))

    # -- nearest ---------------------------------------------------------------------------------------------------

    def _begin(self, stamp: int) -> None:
        """The oldest waiting reference is now ``stamp``: move the horizon and find the undecided sensors."""
        self._set_horizon(stamp)
        n = 0
        for s in self._others:
            waiting = s.last_t < stamp
            s.waiting = waiting
            n += waiting
        self._n_waiting = n

    def _on_clock(self, out: list[FrameSet]) -> None:
        """The clock moved (a timeout is set): emit timed-out groups, move the idle horizon."""
        held = self._ref.held
        if held:
            if held[0][0] + self._timeout_or_0 < self._clock:
                self._close_ready(out)
        else:
            self._set_horizon(self._idle_horizon())

    def _close_ready(self, out: list[FrameSet]) -> None:
        """Emit, in order, the waiting groups that are decided or timed out."""
        held = self._ref.held
        timeout = self._timeout
        closed = False
        while held:
            if self._n_waiting and (timeout is None or held[0][0] + timeout >= self._clock):
                break
            self._emit(held.popleft(), out)
            closed = True
            if held:
                self._begin(held[0][0])
        if closed and not held:
            self._n_waiting = 0
            for s in self._others:
                s.waiting = False
            self._set_horizon(self._idle_horizon())

    def _accept_nearest(self, s: _Stream, t: int, sample: object, out: list[FrameSet]) -> None:
        ref = self._ref
        if s is ref:
            if self._timeout is not None and t + self._timeout < self._clock:
                s.dropped["late"] += 1
                self._set_horizon(self._idle_horizon())
                return
            held = s.held
            if len(held) >= self._buffer_size:  # too many waiting: emit the oldest now
                self._emit(held.popleft(), out)
                if held:
                    self._begin(held[0][0])
            held.append([t, sample, False])
            s.pending += 1
            if len(held) == 1:
                self._begin(t)
            if not self._n_waiting:
                self._close_ready(out)
            return
        h = self._h
        if t + s.window < h:
            s.dropped["late"] += 1
            return
        d = s.held  # as _hold, inlined on the hot path
        if len(d) >= self._buffer_size:
            entry = d.popleft()
            if not entry[2]:
                s.pending -= 1
                s.dropped["buffer_overflow"] += 1
        d.append([t, sample, False])
        s.pending += 1
        if len(d) >= 2 and d[1][0] <= h:
            self._prune(s, h)
        if s.waiting and t >= ref.held[0][0]:
            s.waiting = False
            self._n_waiting -= 1
            if not self._n_waiting:
                self._close_ready(out)

    def _emit(self, entry: list[Any], out: list[FrameSet]) -> None:
        """Emit the group of reference ``entry`` (``nearest``; the horizon is its stamp, buffers are pruned)."""
        stamp = entry[0]
        ref = self._ref
        ref.pending -= 1
        ref.emitted += 1
        samples: dict[str, Any] = {ref.sensor_id: entry[1]}
        missing: list[str] = []
        reuse = self._reuse
        for s in self._others:
            d = s.held
            if not d:
                missing.append(s.sensor_id)
                continue
            w = s.window
            first = d[0]
            dt0 = first[0] - stamp
            if dt0 < 0:
                dt0 = -dt0
            best = first if dt0 <= w else None
            second = False
            if len(d) > 1:
                nxt = d[1]
                dt1 = nxt[0] - stamp  # > 0 after pruning at the horizon
                if dt1 <= w and (best is None or dt1 < dt0):
                    best = nxt
                    second = True
            if best is None:
                missing.append(s.sensor_id)
                continue
            samples[s.sensor_id] = best[1]
            if not best[2]:
                best[2] = True
                s.emitted += 1
                s.pending -= 1
            if not reuse:
                if second:
                    d.popleft()  # older than a used sample: never usable again
                    s.pending -= 1
                    s.dropped["superseded"] += 1
                d.popleft()
        self._finish(stamp, samples, missing, out)

    # -- latest ----------------------------------------------------------------------------------------------------

    def _accept_latest(self, s: _Stream, t: int, sample: object, out: list[FrameSet]) -> None:
        if s is self._ref:
            if self._timeout is not None and t + self._timeout < self._clock:
                s.dropped["late"] += 1
            else:
                self._set_horizon(t)
                s.pending += 1
                self._emit_latest([t, sample, False], out)
            self._set_horizon(self._idle_horizon())
            return
        if t + s.window < self._h:
            s.dropped["late"] += 1
            return
        self._hold(s, t, sample)

    def _emit_latest(self, entry: list[Any], out: list[FrameSet]) -> None:
        stamp = entry[0]
        ref = self._ref
        ref.pending -= 1
        ref.emitted += 1
        samples: dict[str, Any] = {ref.sensor_id: entry[1]}
        missing: list[str] = []
        for s in self._others:
            d = s.held
            # Pruned at the horizon = stamp: d[0] is the last sample <= stamp, and within the window.
            if not d or d[0][0] > stamp:
                missing.append(s.sensor_id)
                continue
            best = d[0]
            samples[s.sensor_id] = best[1]
            if not best[2]:
                best[2] = True
                s.emitted += 1
                s.pending -= 1
            if not self._reuse:
                d.popleft()
        self._finish(stamp, samples, missing, out)

    # -- approximate_time ------------------------------------------------------------------------------------------

    def _accept_approx(self, s: _Stream, t: int, sample: object, out: list[FrameSet]) -> None:
        s.pending += 1
        for matched in cast(ApproximateTime[Any], self._matcher).add(s.index, t, sample):
            out.append(self._frameset_from(matched))

    def _on_matcher_drop(self, topic: int, stamp_ns: int, item: object, reason: ApproximateTimeDrop) -> None:
        s = self._by_index[topic]
        s.pending -= 1
        s.dropped[reason] += 1

    def _frameset_from(self, matched: MatchedSet[Any]) -> FrameSet:
        samples: dict[str, Any] = {}
        for s in (self._ref, *self._others):
            samples[s.sensor_id] = matched[s.index][1]
            s.emitted += 1
            s.pending -= 1
        self._groups += 1
        stamp = matched[self._ref.index][0]
        return FrameSet(stamp, self._ref.sensor_id, cast(Mapping[str, Sample], samples), frozenset())
