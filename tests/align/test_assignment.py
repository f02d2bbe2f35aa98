"""Gated assignment and association costs: scipy optimum, gating, Mahalanobis by hand, BEV IoU, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment

from fusion_stack.align.assignment import (
    centre_distance_cost,
    chi_square_gate,
    gated_assignment,
    iou_cost,
    mahalanobis_cost,
)
from fusion_stack.align.errors import AlignmentError
from fusion_stack.geometry.boxes import bev_iou

costs = st.tuples(st.integers(0, 6), st.integers(0, 6)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.floats(-3, 10, allow_nan=False, width=32))
)


@settings(max_examples=60, deadline=None)
@given(cost=costs)
def test_infinite_gate_equals_scipy_optimum(cost: np.ndarray) -> None:
    result = gated_assignment(cost, gate=np.inf)
    rows, cols = linear_sum_assignment(cost)
    assert len(result.matches) == len(rows) == min(cost.shape)
    assert result.total_cost == pytest.approx(cost[rows, cols].sum(), abs=1e-9)
    np.testing.assert_array_equal(result.costs, cost[result.matches[:, 0], result.matches[:, 1]])
    assert result.matches.dtype == np.int64 and result.matches.shape == (len(rows), 2)


@settings(max_examples=80, deadline=None)
@given(cost=costs, gate=st.floats(-3, 10))
def test_never_matches_above_the_gate_and_is_maximal(cost: np.ndarray, gate: float) -> None:
    result = gated_assignment(cost, gate=gate)
    assert np.all(result.costs <= gate)
    n, m = cost.shape
    # a partition of rows and columns, each used at most once
    assert sorted([*result.matches[:, 0], *result.unmatched_rows]) == list(range(n))
    assert sorted([*result.matches[:, 1], *result.unmatched_cols]) == list(range(m))
    # maximal: no allowed pair is left with both ends unmatched
    left = cost[np.ix_(result.unmatched_rows, result.unmatched_cols)]
    assert not np.any(left <= gate)
    # maximum cardinality among matchings of allowed pairs (scipy on the 0/1 "is it gated?" matrix)
    allowed = cost <= gate
    if allowed.any():
        rows, cols = linear_sum_assignment(np.where(allowed, 0.0, 1.0))
        assert len(result.matches) == int(allowed[rows, cols].sum())


def brute_force(cost: np.ndarray, gate: float) -> tuple[int, float]:
    """(most matches, least total cost among those) over every matching of allowed pairs."""
    n, m = cost.shape
    best = (0, 0.0)
    for choice in itertools.product(range(-1, m), repeat=n):  # -1: row unmatched
        used = [c for c in choice if c >= 0]
        if len(used) != len(set(used)) or any(cost[r, c] > gate for r, c in enumerate(choice) if c >= 0):
            continue
        key = (len(used), sum(cost[r, c] for r, c in enumerate(choice) if c >= 0))
        if key[0] > best[0] or (key[0] == best[0] and key[1] < best[1]):
            best = key
    return best


small_costs = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.floats(0, 10, allow_nan=False, width=16))
)


@settings(max_examples=40, deadline=None)
@given(cost=small_costs, gate=st.floats(0, 10))
def test_gated_optimum_matches_brute_force(cost: np.ndarray, gate: float) -> None:
    result = gated_assignment(cost, gate=gate)
    count, total = brute_force(cost, gate)
    assert len(result.matches) == count
    assert result.total_cost == pytest.approx(total, abs=1e-9)


def test_a_gated_out_pair_does_not_block_other_matches() -> None:
    # The unconstrained optimum (0,0) + (1,1) = 7 uses the gated pair (1,1) = 6 > 5; dropping it afterwards
    # would leave one match. Gating first gives both allowed pairs (0,1) and (1,0).
    cost = np.array([[1.0, 4.0], [4.0, 6.0]])
    result = gated_assignment(cost, gate=5.0)
    np.testing.assert_array_equal(result.matches, [[0, 1], [1, 0]])
    assert result.unmatched_rows.size == 0 and result.unmatched_cols.size == 0
    np.testing.assert_array_equal(result.costs, [4.0, 4.0])
    assert not result.matches.flags.writeable


def test_inf_entries_and_empty_problems() -> None:
    cost = np.array([[np.inf, 1.0], [np.inf, 2.0], [0.5, np.inf]])
    result = gated_assignment(cost, gate=np.inf)
    np.testing.assert_array_equal(result.matches, [[0, 1], [2, 0]])
    np.testing.assert_array_equal(result.unmatched_rows, [1])
    everything_gated = gated_assignment(np.full((3, 2), 9.0), gate=1.0)
    assert everything_gated.matches.shape == (0, 2)
    np.testing.assert_array_equal(everything_gated.unmatched_rows, [0, 1, 2])
    np.testing.assert_array_equal(everything_gated.unmatched_cols, [0, 1])
    empty = gated_assignment(np.zeros((0, 4)), gate=1.0)
    assert empty.matches.shape == (0, 2) and empty.unmatched_cols.tolist() == [0, 1, 2, 3]


def test_centre_distance_cost() -> None:
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    b = np.array([[0.0, 3.0, 4.0]])
    np.testing.assert_allclose(centre_distance_cost(a, b), [[5.0], [np.sqrt(1 + 1 + 4)]])


def test_mahalanobis_cost_equals_the_formula_by_hand() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    factors = rng.standard_normal((5, 3, 3))
    covs = factors @ np.swapaxes(factors, 1, 2) + 0.5 * np.eye(3)
    out = mahalanobis_cost(a, b, covs)
    assert out.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            d = a[i] - b[j]
            assert out[i, j] == pytest.approx(d @ np.linalg.inv(covs[j]) @ d, rel=1e-10)
    shared = mahalanobis_cost(a, b, covs[2])
    np.testing.assert_allclose(shared, mahalanobis_cost(a, b, np.repeat(covs[2:3], 5, axis=0)))
    np.testing.assert_allclose(mahalanobis_cost(a, b, np.eye(3)), centre_distance_cost(a, b) ** 2)


def test_chi_square_gate_keeps_the_requested_fraction_of_true_matches() -> None:
    assert chi_square_gate(2) == pytest.approx(9.2103, abs=1e-4)
    assert chi_square_gate(3, probability=0.95) == pytest.approx(7.8147, abs=1e-4)
    rng = np.random.default_rng(1)
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    truth = np.zeros((1, 2))
    samples = rng.multivariate_normal(truth[0], cov, size=20_000)
    inside = np.mean(mahalanobis_cost(samples, truth, cov)[:, 0] <= chi_square_gate(2, probability=0.9))
    assert inside == pytest.approx(0.9, abs=0.01)


def test_iou_cost_uses_bev_iou() -> None:
    a = np.array([[0.0, 0.0, 0.0, 2.0, 2.0, 1.0, 0.0], [20.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.3]])
    b = np.array([[1.0, 0.0, 5.0, 2.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 2.0, 2.0, 1.0, np.pi / 2]])
    cost = iou_cost(a, b)
    assert cost.shape == (2, 2)
    assert cost[0, 0] == pytest.approx(1.0 - 2.0 / 6.0)  # half-overlapping squares; z and h ignored
    assert cost[0, 1] == pytest.approx(0.0, abs=1e-12)  # a square turned by 90 degrees is itself
    assert cost[1, 0] == pytest.approx(1.0) and cost[1, 1] == pytest.approx(1.0)
    np.testing.assert_allclose(cost, 1.0 - bev_iou(a, b))


def test_decision_level_association_of_camera_and_lidar_boxes() -> None:
    rng = np.random.default_rng(2)
    lidar = np.c_[rng.uniform(-40, 40, (6, 2)), np.zeros(6), np.tile([4.5, 1.9, 1.6], (6, 1)),
                  rng.uniform(-np.pi, np.pi, 6)]
    lidar[:, :2] += np.arange(6)[:, None] * 15.0  # well separated
    order = np.array([3, 0, 5, 1])  # the camera sees four of the six objects, in another order...
    camera = lidar[order] + np.r_[0.3, -0.2, 0.0, 0.0, 0.0, 0.0, 0.05]
    camera = np.vstack([camera, [200.0, 200.0, 0.0, 4.0, 2.0, 1.5, 0.0]])  # ...plus a false positive
    result = gated_assignment(iou_cost(camera, lidar), gate=0.7)
    np.testing.assert_array_equal(result.matches, np.c_[np.arange(4), order])
    np.testing.assert_array_equal(result.unmatched_rows, [4])
    np.testing.assert_array_equal(result.unmatched_cols, [2, 4])


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: gated_assignment(np.zeros(3), gate=1.0), "shape (3,)"),
        (lambda: gated_assignment(np.array([[0.0, np.nan]]), gate=1.0), "NaN"),
        (lambda: gated_assignment(np.array([[0.0, -np.inf]]), gate=1.0), "-inf"),
        (lambda: gated_assignment(np.zeros((2, 2)), gate=float("nan")), "nan"),
        (lambda: centre_distance_cost(np.zeros((2, 3)), np.zeros((2, 2))), "shape (2, 2)"),
        (lambda: mahalanobis_cost(np.zeros((2, 2)), np.zeros((3, 2)), np.zeros((2, 2, 2))),
         "shape (2, 2, 2)"),
        (lambda: mahalanobis_cost(np.zeros((2, 2)), np.zeros((1, 2)), -np.eye(2)), "positive definite"),
        (lambda: mahalanobis_cost(np.zeros((2, 2)), np.zeros((1, 2)), [[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
        (lambda: iou_cost(np.zeros((2, 6)), np.zeros((1, 7))), "shape (2, 6)"),
        (lambda: iou_cost(np.zeros((1, 7)), np.zeros((1, 7))), "positive length"),
        (lambda: chi_square_gate(0), "dim"),
        (lambda: chi_square_gate(2, probability=1.0), "probability"),
    ],
)
def test_bad_input_raises_with_what_came_in(call: object, shown: str) -> None:
    with pytest.raises(AlignmentError) as info:
        call()  # type: ignore[operator]
    assert shown in str(info.value)
