"""The ApproximateTime matching policy of ROS ``message_filters``, ported to Python with integer nanoseconds.

ApproximateTime groups one message per topic into *sets* without an epsilon: it finds the best match. Following
the ROS documentation (wiki page "message_filters/ApproximateTime") and its C++ implementation
(``message_filters/sync_policies/approximate_time.hpp``), the output has these properties:

1. every message is used at most once (some are dropped);
2. sets do not cross: for two sets S and T, either ``S_i <= T_i`` for every topic i or ``T_i <= S_i`` for every i;
3. sets are contiguous: on at least one topic no message was dropped between two consecutive sets;
4. sets are of minimal *size* (latest minus earliest stamp) among the sets contiguous to the previous one, given
   the pivot rule below, with later sets penalised by the factor ``1 + age_penalty``;
5. the output depends only on the stamps, not on the arrival order across topics (each topic must arrive in
   stamp order, and ``queue_size`` must be large enough to hold the messages that wait for slower topics).

The algorithm. Each topic has a queue. When every queue holds a message, the *pivot* is the topic whose head
message is the latest among the heads, and the heads form a *candidate* set. The search then moves the earliest
head past (it is kept aside, in case the candidate turns out to be the best) and compares the new heads with the
candidate: a set of smaller size (``(end - candidate_end) * (1 + age_penalty) < start - candidate_start``)
replaces it. The candidate is published when it is provably optimal: the pivot's own message was moved past, or
any later set would have to span ``[pivot time, current end]``, which is already too large. When a queue runs
empty before that, optional per-topic lower bounds on the gap between messages (``inter_message_lower_bounds_ns``)
give a virtual next message that may still prove optimality; otherwise the search waits for more messages.
Publishing removes the candidate's messages and puts the moved-past ones back. A candidate whose size would
exceed ``max_interval_ns`` is never formed (its earliest message is dropped instead). When a topic's queue
(waiting plus moved-past messages) exceeds ``queue_size``, its oldest message is dropped and the search restarts;
until that topic has had a message that cannot have been improved upon by the dropped one, it may not be a
pivot.

Differences from ROS: ``flush()`` (end of stream) publishes the pending candidate, which no later message can
improve once the stream has ended, and repeats while new candidates form; drops are reported with a reason
through ``on_drop``; the age-penalty product is truncated to whole nanoseconds as ``rclcpp::Duration`` does. The
C++ default ``age_penalty`` is 0.1 (the wiki says 0); we follow the code. ROS warns when a topic breaks its
inter-message lower bound; here the caller is responsible for passing true bounds (optimality may otherwise be
lost).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, Literal, TypeVar

from fusion_stack.align.errors import AlignmentError

__all__ = ["ApproximateTime", "ApproximateTimeDrop", "MatchedSet"]

ItemT = TypeVar("ItemT")

ApproximateTimeDrop = Literal["buffer_overflow", "window_miss", "superseded"]
"""Why the matcher discarded a message: ``buffer_overflow`` (its topic's queue exceeded ``queue_size``; the oldest
message goes), ``window_miss`` (no set within ``max_interval_ns`` can start with it), ``superseded`` (passed over
for a better candidate set, or it could not start a set because the would-be pivot topic just overflowed)."""

MatchedSet = tuple[tuple[int, ItemT], ...]
"""One published set: ``(stamp_ns, item)`` per topic, in topic order."""


class ApproximateTime(Generic[ItemT]):
    """Streaming ApproximateTime matcher over ``n_topics`` topics (numbered 0 .. n_topics - 1).

    ``add(topic, stamp_ns, item)`` feeds one message (stamps in ns, non-decreasing per topic is the caller's job)
    and returns the sets published by it; ``flush()`` publishes what the end of the stream makes final;
    ``drain()`` removes and returns every message still queued. ``on_drop(topic, stamp_ns, item, reason)`` is
    called for every message the algorithm discards.

    queue_size: per topic, the most messages held (waiting plus moved past); at least 1 (2 or more recommended).
    max_interval_ns: largest allowed set size (latest minus earliest stamp), None for no limit.
    age_penalty: later candidate sets are penalised by ``1 + age_penalty`` when sizes are compared; >= 0.
    inter_message_lower_bounds_ns: per topic, a known lower bound on the gap between consecutive stamps (0 = none);
        it lets sets be published earlier without changing them.
    """

    def __init__(
        self,
        n_topics: int,
        *,
        queue_size: int,
        max_interval_ns: int | None = None,
        age_penalty: float = 0.1,
        inter_message_lower_bounds_ns: Sequence[int] | None = None,
        on_drop: Callable[[int, int, ItemT, ApproximateTimeDrop], None] | None = None,
    ) -> None:
        if n_topics < 2:
            raise AlignmentError(f"ApproximateTime needs at least 2 topics, got {n_topics}", field="n_topics")
        if queue_size < 1:
            raise AlignmentError(f"queue_size must be >= 1, got {queue_size}", field="queue_size")
        if max_interval_ns is not None and max_interval_ns < 0:
            raise AlignmentError(f"max_interval_ns must be >= 0 or None, got {max_interval_ns}",
                                 field="max_interval_ns")
        if not age_penalty >= 0:
            raise AlignmentError(f"age_penalty must be >= 0, got {age_penalty}", field="age_penalty")
        bounds = [0] * n_topics if inter_message_lower_bounds_ns is None else [int(b) for b in
                                                                             inter_message_lower_bounds_ns]
        if len(bounds) != n_topics or any(b < 0 for b in bounds):
            raise AlignmentError(f"inter_message_lower_bounds_ns must be {n_topics} values >= 0, got {bounds}",
                                 field="inter_message_lower_bounds_ns")
        self._n = n_topics
        self._queue_size = queue_size
        self._max_interval = max_interval_ns
        self._factor = 1.0 + float(age_penalty)
        self._bounds = bounds
        self._on_drop = on_drop
        self._deques: list[deque[tuple[int, ItemT]]] = [deque() for _ in range(n_topics)]
        self._past: list[list[tuple[int, ItemT]]] = [[] for _ in range(n_topics)]
        self._non_empty = 0
        self._has_dropped = [False] * n_topics
        self._candidate: list[tuple[int, ItemT]] | None = None
        self._pivot: int | None = None
        self._pivot_time = 0
        self._cand_start = 0
        self._cand_end = 0
        self._out: list[MatchedSet[ItemT]] = []

    @property
    def n_topics(self) -> int:
        """Number of topics."""
        return self._n

    def queued(self, topic: int) -> int:
        """Messages of ``topic`` held (waiting plus moved past in the current search)."""
        return len(self._deques[topic]) + len(self._past[topic])

    def add(self, topic: int, stamp_ns: int, item: ItemT) -> list[MatchedSet[ItemT]]:
        """Feed one message; return the sets it completes (usually none or one), oldest first."""
        out: list[MatchedSet[ItemT]] = []
        self._out = out
        d = self._deques[topic]
        d.append((stamp_ns, item))
        if len(d) == 1:
            self._non_empty += 1
            if self._non_empty == self._n:
                self._process()
        if len(d) + len(self._past[topic]) > self._queue_size:
            # Cancel the search, put every moved-past message back, drop the oldest message of this topic.
            self._non_empty = 0
            self._recover_all()
            self._drop(topic, d.popleft(), "buffer_overflow")
            self._has_dropped[topic] = True
            if self._pivot is not None:
                self._candidate = None
                self._pivot = None
                self._process()
        return out

    def flush(self) -> list[MatchedSet[ItemT]]:
        """End of stream: publish the pending candidate (final, since no message can follow) while there is one."""
        out: list[MatchedSet[ItemT]] = []
        self._out = out
        while self._pivot is not None:
            self._publish()
            self._process()
        return out

    def drain(self) -> list[tuple[int, int, ItemT]]:
        """Remove and return every queued message as ``(topic, stamp_ns, item)``; the matcher starts afresh."""
        self._recover_all()
        left = [(i, t, item) for i, d in enumerate(self._deques) for t, item in d]
        for d in self._deques:
            d.clear()
        self._non_empty = 0
        self._candidate = None
        self._pivot = None
        self._has_dropped = [False] * self._n
        return left

    # -- internals -----------------------------------------------------------------------------------------------

    def _drop(self, topic: int, message: tuple[int, ItemT], reason: ApproximateTimeDrop) -> None:
        if self._on_drop is not None:
            self._on_drop(topic, message[0], message[1], reason)

    def _scaled(self, dt: int) -> int:
        """``dt * (1 + age_penalty)`` truncated towards zero, like ``rclcpp::Duration * double``."""
        return int(dt * self._factor)

    def _delete_front(self, topic: int, reason: ApproximateTimeDrop) -> None:
        d = self._deques[topic]
        self._drop(topic, d.popleft(), reason)
        if not d:
            self._non_empty -= 1

    def _move_to_past(self, topic: int) -> None:
        d = self._deques[topic]
        self._past[topic].append(d.popleft())
        if not d:
            self._non_empty -= 1

    def _make_candidate(self) -> None:
        self._candidate = [d[0] for d in self._deques]
        # Messages moved past for an earlier candidate are older than every head now: they can never be used.
        for topic, past in enumerate(self._past):
            for message in past:
                self._drop(topic, message, "superseded")
            past.clear()

    def _recover(self, topic: int, count: int) -> None:
        past, d = self._past[topic], self._deques[topic]
        for _ in range(count):
            d.appendleft(past.pop())
        if d:
            self._non_empty += 1

    def _recover_all(self) -> None:
        for topic in range(self._n):
            self._recover(topic, len(self._past[topic]))

    def _publish(self) -> None:
        candidate = self._candidate
        assert candidate is not None
        self._candidate = None
        self._pivot = None
        self._non_empty = 0
        for topic in range(self._n):
            past, d = self._past[topic], self._deques[topic]
            while past:
                d.appendleft(past.pop())
            d.popleft()  # the candidate's message of this topic
            if d:
                self._non_empty += 1
        self._out.append(tuple(candidate))

    @staticmethod
    def _bounds_of(times: Sequence[int]) -> tuple[int, int, int, int]:
        """(start index, start time, end index, end time): the earliest time (ties: lowest topic) and the latest
        time (ties: highest topic), as the C++ boundary search does."""
        si = ei = 0
        st = et = times[0]
        for i in range(1, len(times)):
            t = times[i]
            if t < st:
                si, st = i, t
            if t >= et:
                ei, et = i, t
        return si, st, ei, et

    def _virtual_times(self) -> list[int]:
        times = []
        for topic, d in enumerate(self._deques):
            if d:
                times.append(d[0][0])
            else:
                lower = self._past[topic][-1][0] + self._bounds[topic]
                times.append(lower if lower > self._pivot_time else self._pivot_time)
        return times

    def _process(self) -> None:
        n = self._n
        deques = self._deques
        while self._non_empty == n:
            si, st, ei, et = self._bounds_of([d[0][0] for d in deques])
            for topic in range(n):
                if topic != ei:
                    # No dropped message could have beaten the heads: this topic may be a pivot again.
                    self._has_dropped[topic] = False
            if self._pivot is None:
                if self._max_interval is not None and et - st > self._max_interval:
                    self._delete_front(si, "window_miss")
                    continue
                if self._has_dropped[ei]:
                    self._delete_front(si, "superseded")
                    continue
                self._make_candidate()
                self._cand_start, self._cand_end = st, et
                self._pivot, self._pivot_time = ei, et
                self._move_to_past(si)
            else:
                if self._scaled(et - self._cand_end) < st - self._cand_start:
                    self._make_candidate()  # a smaller set: the new candidate (same pivot)
                    self._cand_start, self._cand_end = st, et
                self._move_to_past(si)
            if si == self._pivot:
                self._publish()  # every candidate for this pivot has been seen
            elif self._scaled(et - self._cand_end) >= self._pivot_time - self._cand_start:
                self._publish()  # any later set spans [pivot time, et]: already too large
            elif self._non_empty < n:
                self._virtual_search()

    def _virtual_search(self) -> None:
        """A queue ran empty: try to prove the candidate optimal with the inter-message lower bounds."""
        moves = [0] * self._n
        while True:
            si, st, _, et = self._bounds_of(self._virtual_times())
            if self._scaled(et - self._cand_end) >= self._pivot_time - self._cand_start:
                self._publish()  # proved optimal; this also undoes the virtual moves
                return
            if self._scaled(et - self._cand_end) < st - self._cand_start:
                # An optimistic future set could beat the candidate: undo the moves and wait for messages.
                self._non_empty = 0
                for topic in range(self._n):
                    self._recover(topic, moves[topic])
                return
            self._move_to_past(si)  # st < pivot time here, so topic si has a real head
            moves[si] += 1
