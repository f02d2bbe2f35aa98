"""Tests of the ApproximateTime port: the documented examples of ROS message_filters (the diagrams of its test
suite, in seconds), and properties: each message used at most once, sets never cross, one message per topic,
sizes within max_interval, output independent of the arrival order across topics, drop accounting."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_stack.align.approximate_time import ApproximateTime
from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.synchronizer import Synchronizer
from fusion_stack.types import FrameSet

S = 1_000_000_000  # the ROS examples count in seconds
_seq = itertools.count()


@dataclass(frozen=True, eq=False)
class Tick:
    sensor_id: str
    stamp_ns: int
    seq: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "seq", next(_seq))


def match(inputs: list[tuple[int, int]], queue_size: int, n_topics: int = 2, **options: Any) -> list[tuple[int, ...]]:
    """Feed (time in s, topic) messages; return the published sets as stamps in s (push, then flush nothing)."""
    matcher: ApproximateTime[int] = ApproximateTime(n_topics, queue_size=queue_size, **options)
    out = []
    for t, topic in inputs:
        for matched in matcher.add(topic, t * S, t):
            assert [stamp for stamp, _ in matched] == [item * S for _, item in matched]
            out.append(tuple(item for _, item in matched))
    return out


# The cases of message_filters' test_approximate_time_policy: (input (time, topic), queue size, expected sets).
ROS_CASES = {
    # A: a..b..c   B: A..B..C   -> aA bB cC
    "exact_match": ([(0, 0), (0, 1), (3, 0), (3, 1), (6, 0), (6, 1)], 10, [(0, 0), (3, 3), (6, 6)]),
    # A: a..b..c.  B: .A..B..C  -> aA bB (cC waits for proof)
    "perfect_match": ([(0, 0), (1, 1), (3, 0), (4, 1), (6, 0), (7, 1)], 10, [(0, 1), (3, 4)]),
    # A: a.xb..c.  B: .A...B.C  -> aA cB
    "imperfect_match": ([(0, 0), (1, 1), (2, 0), (3, 0), (5, 1), (6, 0), (7, 1)], 10, [(0, 1), (6, 5)]),
    # A: a...........b....c.  B: .......A.......B..C  -> bA cC
    "acceleration": ([(0, 0), (7, 1), (12, 0), (15, 1), (17, 0), (18, 1)], 10, [(12, 7), (17, 18)]),
    # queue size 1 is too small: A: a...b...c.d..e.  B: .A.B...C...D..E  -> bB dD
    "dropped_messages_q1": ([(0, 0), (1, 1), (3, 1), (4, 0), (7, 1), (8, 0), (10, 0), (11, 1), (13, 0), (14, 1)], 1,
                            [(4, 3), (10, 11)]),
    # queue size 2 is just enough -> aA bB cC dD
    "dropped_messages_q2": ([(0, 0), (1, 1), (3, 1), (4, 0), (7, 1), (8, 0), (10, 0), (11, 1), (13, 0), (14, 1)], 2,
                            [(0, 1), (4, 3), (8, 7), (10, 11)]),
    # queue size 5: A: abcdefghiklmnp.  B: ...j......o....  -> lo
    "long_queue": ([*((t, 0) for t in range(9)), (3, 1), (9, 0), (10, 0), (11, 0), (12, 0), (10, 1), (13, 0)], 5,
                   [(10, 10)]),
    # A: a..b  B: .A.B  -> aA then bB, both on the last message
    "double_publish": ([(0, 0), (1, 1), (3, 1), (3, 0)], 10, [(0, 1), (3, 3)]),
}


@pytest.mark.parametrize("name", sorted(ROS_CASES))
def test_ros_examples_two_topics(name: str) -> None:
    inputs, queue_size, want = ROS_CASES[name]
    assert match(inputs, queue_size) == want


def test_ros_example_four_topics() -> None:
    # A: a....e..i.m..n.  B: .b....g..j....o  C: ..c...h...k....  D: ...d.f.....l...  -> abcd egfh mjkl
    inputs = [(0, 0), (1, 1), (2, 2), (3, 3), (5, 0), (5, 3), (6, 1), (6, 2), (8, 0), (9, 1), (10, 2), (11, 3),
              (10, 0), (13, 0), (14, 1)]
    assert match(inputs, 10, n_topics=4) == [(0, 1, 2, 3), (5, 6, 6, 5), (10, 9, 10, 11)]


def test_ros_example_early_publish() -> None:
    # A: a......e  B: .b  C: ..c  D: ...d  -> abcd is provably optimal once e arrives
    assert match([(0, 0), (1, 1), (2, 2), (3, 3), (7, 0)], 10, n_topics=4) == [(0, 1, 2, 3)]


@pytest.mark.parametrize(("bound_s", "want"), [(1.5, [(0, 1), (3, 4)]), (2.0, [(0, 1), (3, 4), (6, 7)])])
def test_ros_example_rate_bound(bound_s: float, want: list[tuple[int, int]]) -> None:
    # A: a..b..c.  B: .A..B..C with a lower bound on A's period: with 2 s, cC is proven optimal at once
    inputs = [(0, 0), (1, 1), (3, 0), (4, 1), (6, 0), (7, 1)]
    assert match(inputs, 10, inter_message_lower_bounds_ns=[int(bound_s * S), 0]) == want


def test_flush_publishes_the_pending_candidate() -> None:
    matcher: ApproximateTime[str] = ApproximateTime(2, queue_size=10)
    assert matcher.add(0, 0, "a") == []
    assert matcher.add(1, 1, "A") == []
    assert matcher.add(0, 3, "b") == [((0, "a"), (1, "A"))]
    assert matcher.add(1, 4, "B") == []  # bB is the candidate; a later A message could still beat it
    assert matcher.flush() == [((3, "b"), (4, "B"))]
    assert matcher.drain() == []


def test_max_interval_drops_messages_that_cannot_start_a_set() -> None:
    drops: list[tuple[int, int, str]] = []
    matcher: ApproximateTime[int] = ApproximateTime(
        2, queue_size=10, max_interval_ns=2, on_drop=lambda topic, t, item, why: drops.append((topic, t, why)))
    out = []
    for t, topic in [(0, 0), (10, 1), (11, 0), (30, 0), (31, 1)]:
        out += matcher.add(topic, t, t)
    out += matcher.flush()
    assert [tuple(t for t, _ in m) for m in out] == [(11, 10), (30, 31)]
    assert (0, 0, "window_miss") in drops


def test_synchronizer_policy_reproduces_the_ros_examples() -> None:
    for inputs, queue_size, want in ROS_CASES.values():
        sync = Synchronizer(reference="B", sensors=["A", "B"], policy="approximate_time", buffer_size=queue_size)
        groups: list[FrameSet] = []
        for t, topic in inputs:
            groups += sync.push(Tick("AB"[topic], t * S))
        assert [(g.samples["A"].stamp_ns // S, g.samples["B"].stamp_ns // S) for g in groups] == want
        assert all(g.stamp_ns == g.samples["B"].stamp_ns and not g.missing for g in groups)
        sync.flush()
        stats = sync.stats
        assert all(v == 0 for v in stats.unaccounted().values()) and not any(stats.pending.values())


@pytest.mark.parametrize(("kwargs", "match_"), [
    ({"windows_ns": 5}, "windows_ns"),
    ({"timeout_ns": 5}, "timeout_ns"),
    ({"reuse": True}, "reuse"),
])
def test_synchronizer_rejects_options_that_do_not_apply(kwargs: dict[str, Any], match_: str) -> None:
    with pytest.raises(AlignmentError, match=match_):
        Synchronizer(reference="A", sensors=["A", "B"], policy="approximate_time", **kwargs)


@pytest.mark.parametrize(("kwargs", "match_"), [
    ({"n_topics": 1, "queue_size": 2}, "2 topics"),
    ({"n_topics": 2, "queue_size": 0}, "queue_size"),
    ({"n_topics": 2, "queue_size": 2, "age_penalty": -1.0}, "age_penalty"),
    ({"n_topics": 2, "queue_size": 2, "max_interval_ns": -1}, "max_interval_ns"),
    ({"n_topics": 2, "queue_size": 2, "inter_message_lower_bounds_ns": [1]}, "lower_bounds"),
])
def test_matcher_validates_options(kwargs: dict[str, Any], match_: str) -> None:
    with pytest.raises(AlignmentError, match=match_):
        ApproximateTime(**kwargs)


# -- properties ------------------------------------------------------------------------------------------------------


@st.composite
def topic_streams(draw: st.DrawFn) -> list[list[int]]:
    """2-4 topics of strictly increasing stamps (own period, jitter, losses)."""
    streams = []
    for _ in range(draw(st.integers(2, 4))):
        period = draw(st.integers(2, 15))
        t = draw(st.integers(0, 10))
        stamps = []
        for _ in range(draw(st.integers(0, 14))):
            t += period + draw(st.integers(-1, 1))
            if draw(st.integers(0, 7)):
                stamps.append(t)
        streams.append(sorted(set(stamps)))
    return streams


def interleave(streams: list[list[int]], order: list[int]) -> list[tuple[int, int]]:
    """Messages (topic, stamp) with the topics interleaved by ``order`` (per-topic order kept)."""
    cursors = [0] * len(streams)
    out = []
    for topic in order:
        if cursors[topic] < len(streams[topic]):
            out.append((topic, streams[topic][cursors[topic]]))
            cursors[topic] += 1
    for topic, stamps in enumerate(streams):
        out += [(topic, t) for t in stamps[cursors[topic]:]]
    return out


def run_sync(streams: list[list[int]], messages: list[tuple[int, int]], **options: Any) -> list[tuple[int, ...]]:
    names = [f"T{i}" for i in range(len(streams))]
    sync = Synchronizer(reference=names[-1], sensors=names, policy="approximate_time", **options)
    groups: list[FrameSet] = []
    for topic, t in messages:
        groups += sync.push(Tick(names[topic], t))
        stats = sync.stats
        assert all(v == 0 for v in stats.unaccounted().values())
        assert all(stats.buffered[s] <= options.get("buffer_size", 64) for s in names)
    groups += sync.flush()
    stats = sync.stats
    assert all(v == 0 for v in stats.unaccounted().values()) and not any(stats.pending.values())
    assert all(stats.emitted[s] == len(groups) for s in names)
    assert stats.groups == len(groups) and stats.incomplete_groups == 0
    return [tuple(g.samples[s].stamp_ns for s in names) for g in groups]


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(streams=topic_streams(), order=st.lists(st.integers(0, 3), max_size=80),
       max_interval=st.one_of(st.none(), st.integers(0, 12)), age_penalty=st.sampled_from([0.0, 0.1, 1.0]),
       queue_size=st.integers(1, 6))
def test_sets_are_disjoint_ordered_complete_and_within_max_interval(
        streams: list[list[int]], order: list[int], max_interval: int | None, age_penalty: float,
        queue_size: int) -> None:
    order = [o % len(streams) for o in order]
    sets = run_sync(streams, interleave(streams, order), max_interval_ns=max_interval, age_penalty=age_penalty,
                    buffer_size=queue_size)
    for topic in range(len(streams)):
        used = [s[topic] for s in sets]
        assert len(used) == len(set(used))  # each message at most once
        assert set(used) <= set(streams[topic])
    for a, b in itertools.combinations(sets, 2):  # sets never cross
        assert all(x <= y for x, y in zip(a, b)) or all(y <= x for x, y in zip(a, b))
    if max_interval is not None:
        assert all(max(s) - min(s) <= max_interval for s in sets)


@PROPS
@given(streams=topic_streams(), order_a=st.lists(st.integers(0, 3), max_size=80),
       order_b=st.lists(st.integers(0, 3), max_size=80), max_interval=st.one_of(st.none(), st.integers(0, 12)),
       age_penalty=st.sampled_from([0.0, 0.1, 1.0]))
def test_output_depends_on_stamps_not_on_arrival_order(
        streams: list[list[int]], order_a: list[int], order_b: list[int], max_interval: int | None,
        age_penalty: float) -> None:
    n = len(streams)
    options = {"max_interval_ns": max_interval, "age_penalty": age_penalty, "buffer_size": 1000}
    a = run_sync(streams, interleave(streams, [o % n for o in order_a]), **options)
    b = run_sync(streams, interleave(streams, [o % n for o in order_b]), **options)
    assert a == b


@PROPS
@given(streams=topic_streams(), age_penalty=st.sampled_from([0.0, 0.1]))
def test_inter_message_lower_bounds_do_not_change_the_sets(streams: list[list[int]], age_penalty: float) -> None:
    bounds = {f"T{i}": min((b - a for a, b in itertools.pairwise(s)), default=0) for i, s in enumerate(streams)}
    messages = interleave(streams, [])
    plain = run_sync(streams, messages, age_penalty=age_penalty, buffer_size=1000)
    bounded = run_sync(streams, messages, age_penalty=age_penalty, buffer_size=1000,
                       inter_message_lower_bounds_ns=bounds)
    assert plain == bounded
