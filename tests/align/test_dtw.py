"""DTW: plain-Python and brute-force references, planted warps, windows, subsequences, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fusion_stack.align.dtw import dtw
from fusion_stack.align.errors import AlignmentError


def local_cost(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    d = np.atleast_1d(a - b)
    if metric == "euclidean":
        return math.sqrt(float(d @ d))
    if metric == "sqeuclidean":
        return float(d @ d)
    return float(np.abs(d).sum())


def reference_dp(x: np.ndarray, y: np.ndarray, metric: str, window: int | None = None) -> np.ndarray:
    """Textbook DTW recursion with an (N + 1, M + 1) inf-padded table, in plain Python."""
    n, m = len(x), len(y)
    table = [[math.inf] * (m + 1) for _ in range(n + 1)]
    table[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if window is not None and abs(i - j) > window:
                continue
            prev = min(table[i - 1][j - 1], table[i - 1][j], table[i][j - 1])
            table[i][j] = local_cost(x[i - 1], y[j - 1], metric) + prev
    return np.array(table)[1:, 1:]


def all_paths(n: int, m: int) -> list[list[tuple[int, int]]]:
    """Every warping path from (0, 0) to (n - 1, m - 1) (brute force, tiny n and m only)."""
    if (n, m) == (1, 1):
        return [[(0, 0)]]
    out = []
    for di, dj in ((1, 0), (0, 1), (1, 1)):
        pi, pj = n - di, m - dj
        if pi >= 1 and pj >= 1:
            out += [[*p, (n - 1, m - 1)] for p in all_paths(pi, pj)]
    return out


def check_path(path: np.ndarray, n: int, m: int) -> None:
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = {tuple(s) for s in np.diff(path, axis=0)}
    assert steps <= {(1, 0), (0, 1), (1, 1)}


sequences = st.integers(1, 7).flatmap(
    lambda d: st.tuples(
        arrays(np.float64, st.tuples(st.integers(1, 8), st.just(d)), elements=st.floats(-5, 5, width=32)),
        arrays(np.float64, st.tuples(st.integers(1, 8), st.just(d)), elements=st.floats(-5, 5, width=32)),
    )
)


@settings(max_examples=60, deadline=None)
@given(pair=sequences, metric=st.sampled_from(["euclidean", "sqeuclidean", "abs"]))
def test_equals_plain_python_dynamic_programme(pair: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    x, y = pair
    result = dtw(x, y, metric=metric)  # type: ignore[arg-type]
    ref = reference_dp(x, y, metric)
    np.testing.assert_allclose(result.cost, ref, rtol=1e-12, atol=1e-12)
    assert result.distance == pytest.approx(ref[-1, -1], rel=1e-12, abs=1e-12)
    check_path(result.path, len(x), len(y))
    along = sum(local_cost(x[i], y[j], metric) for i, j in result.path)
    assert along == pytest.approx(result.distance, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("n", "m"), [(1, 4), (3, 3), (4, 2), (4, 5)])
def test_distance_is_the_minimum_over_all_warping_paths(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 10 + m)
    x, y = rng.standard_normal(n), rng.standard_normal(m)
    brute = min(sum(abs(x[i] - y[j]) for i, j in p) for p in all_paths(n, m))
    assert dtw(x, y, metric="abs").distance == pytest.approx(brute, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 9),
    extra=st.integers(0, 3),
    slack=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_window_is_respected_and_matches_banded_reference(n: int, extra: int, slack: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((n + extra, 2))
    window = extra + slack
    result = dtw(x, y, window=window)
    ref = reference_dp(x, y, "euclidean", window=window)
    np.testing.assert_allclose(result.cost, ref, rtol=1e-12)
    assert np.all(np.abs(result.path[:, 0] - result.path[:, 1]) <= window)
    check_path(result.path, n, n + extra)
    assert result.distance >= dtw(x, y).distance - 1e-12  # a constraint can only cost more


def test_recovers_a_planted_warp() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.uniform(0.1, 1.0, size=40))  # strictly increasing: every value distinct
    steps = rng.integers(0, 2, size=70)  # 0: repeat the sample (y lingers), 1: advance
    warp = np.minimum(np.concatenate([[0], np.cumsum(steps)]), len(x) - 1)
    warp = np.concatenate([warp, np.arange(warp[-1] + 1, len(x))])  # finish at the last sample
    y = x[warp]
    result = dtw(x, y)
    assert result.distance == 0.0
    np.testing.assert_array_equal(result.path, np.stack([warp, np.arange(len(y))], axis=1))
    swapped = dtw(y, x)  # transposed problem: transposed path
    np.testing.assert_array_equal(swapped.path, result.path[:, ::-1])


def test_estimates_a_time_offset_between_two_sensors() -> None:
    t = np.arange(300)
    rng = np.random.default_rng(1)
    signal = np.convolve(rng.standard_normal(330), np.ones(9) / 9, mode="same")  # smooth yaw-rate-like
    imu = signal[15:315]
    odometry = signal[8:308] + 0.01 * rng.standard_normal(len(t))  # lags the IMU by 7 samples
    result = dtw(imu, odometry, window=20)
    offset = np.median(result.path[:, 1] - result.path[:, 0])
    assert offset == 7


def test_subsequence_finds_a_planted_pattern() -> None:
    rng = np.random.default_rng(2)
    query = np.sin(np.linspace(0, 3 * np.pi, 30))[:, None] * [1.0, -0.5]
    haystack = rng.normal(0.0, 1.0, size=(200, 2))
    stretched = query[np.repeat(np.arange(30), 2)[::3]]  # replayed 1.5x faster: 20 samples
    haystack[120:140] = stretched
    result = dtw(query, haystack, subsequence=True)
    assert result.start == 120 and result.end == 139
    assert result.distance == pytest.approx(dtw(query, stretched).distance)
    assert result.path[0, 0] == 0 and result.path[-1, 0] == 29
    full = dtw(query, haystack)
    assert (full.start, full.end) == (0, 199) and full.distance > result.distance


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "shown"),
    [
        (np.zeros((3, 2, 1)), np.zeros(4), {}, "shape (3, 2, 1)"),
        (np.zeros((3, 2)), np.zeros((4, 3)), {}, "shape (4, 3)"),
        (np.array([0.0, np.nan]), np.zeros(4), {}, "NaN"),
        (np.array([0.0, np.inf]), np.zeros(4), {}, "shape (2,) dtype float64"),
        (np.zeros(0), np.zeros(4), {}, "shape (0,)"),
        (np.array(["a", "b"]), np.zeros(4), {}, "<U1"),
        (np.zeros(3), np.zeros(8), {"window": 2}, "|3 - 8|"),
        (np.zeros(3), np.zeros(8), {"window": -1}, "-1"),
        (np.zeros(3), np.zeros(8), {"window": 6, "subsequence": True}, "subsequence"),
        (np.zeros(3), np.zeros(8), {"metric": "cosine"}, "'cosine'"),
    ],
)
def test_bad_input_raises_with_what_came_in(
    x: np.ndarray, y: np.ndarray, kwargs: dict[str, object], shown: str
) -> None:
    with pytest.raises(AlignmentError) as info:
        dtw(x, y, **kwargs)  # type: ignore[arg-type]
    assert shown in str(info.value)


def test_accepts_lists_and_integers() -> None:
    result = dtw([0, 1, 2, 3], [0, 0, 1, 2, 2, 3])
    assert result.distance == 0.0
    assert result.cost.shape == (4, 6) and result.cost.dtype == np.float64
    assert not result.cost.flags.writeable and not result.path.flags.writeable
    assert [tuple(p) for p in result.path] == [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4), (3, 5)]


def test_brute_force_enumerates_every_path() -> None:
    """The reference itself: Delannoy numbers count the warping paths."""
    assert [len(all_paths(k, k)) for k in (1, 2, 3, 4)] == [1, 3, 13, 63]
    assert len({tuple(p) for p in all_paths(3, 4)}) == len(all_paths(3, 4)) == 25
    for p in all_paths(3, 4):
        check_path(np.array(p, dtype=np.int64), 3, 4)
