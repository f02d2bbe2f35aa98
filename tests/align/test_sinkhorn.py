"""Sinkhorn: marginals, epsilon -> 0 limit, unbalanced mass, torch agreement and gradients, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.sinkhorn import sinkhorn, sinkhorn_torch


def problem(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cost = rng.random((n, m))
    a = rng.uniform(0.5, 2.0, n)
    b = rng.uniform(0.5, 2.0, m)
    return cost, a / a.sum(), b / b.sum()


def test_balanced_plan_has_the_requested_marginals() -> None:
    cost, a, b = problem(30, 45, seed=0)
    result = sinkhorn(cost, a, b, epsilon=0.05, tol=1e-9)
    assert result.converged and 1 < result.n_iters < 1000
    np.testing.assert_allclose(result.plan.sum(axis=1), a, atol=1e-9)
    np.testing.assert_allclose(result.plan.sum(axis=0), b, atol=1e-12)
    assert result.plan.min() >= 0.0
    assert result.cost == pytest.approx(float((result.plan * cost).sum()))
    # the dual potentials reproduce the plan
    rebuilt = a[:, None] * b[None, :] * np.exp((result.f[:, None] + result.g[None, :] - cost) / 0.05)
    np.testing.assert_allclose(rebuilt, result.plan)


def test_uniform_marginals_by_default() -> None:
    cost, _, _ = problem(5, 8, seed=1)
    result = sinkhorn(cost, epsilon=0.1, tol=1e-10)
    np.testing.assert_allclose(result.plan.sum(axis=1), np.full(5, 1 / 5), atol=1e-10)
    np.testing.assert_allclose(result.plan.sum(axis=0), np.full(8, 1 / 8), atol=1e-12)


def test_approaches_the_hungarian_solution_as_epsilon_shrinks() -> None:
    rng = np.random.default_rng(0)
    n = 12
    points = rng.random((n, 2))
    perm = rng.permutation(n)
    targets = points[perm] + 0.02 * rng.standard_normal((n, 2))
    cost = np.linalg.norm(points[:, None, :] - targets[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    np.testing.assert_array_equal(cols, np.argsort(perm))  # the planted matching is the optimum
    optimum = cost[rows, cols].sum() / n
    exact_plan = np.zeros((n, n))
    exact_plan[rows, cols] = 1.0 / n
    gaps, plan_errors = [], []
    for eps in (1e-1, 1e-2, 1e-3):
        # Sinkhorn slows down as epsilon shrinks: a capped iteration count, not convergence, is the point here
        result = sinkhorn(cost, epsilon=eps, n_iters=3000, tol=1e-7)
        gaps.append(result.cost - optimum)
        plan_errors.append(np.abs(result.plan - exact_plan).sum())
    assert gaps[0] > gaps[1] > gaps[2] > -1e-9
    assert gaps[2] < 1e-6
    assert plan_errors[0] > plan_errors[1] > plan_errors[2]
    assert plan_errors[2] < 1e-3
    np.testing.assert_array_equal(np.argmax(result.plan, axis=1), cols)


def test_unbalanced_relaxes_the_marginals() -> None:
    cost, a, b = problem(20, 25, seed=3)
    errors = []
    for tau in (0.01, 0.1, 1.0, 10.0):
        result = sinkhorn(cost, a, b, epsilon=0.05, unbalanced_tau=tau, n_iters=5000, tol=1e-10)
        assert result.converged
        errors.append(np.abs(result.plan.sum(1) - a).sum() + np.abs(result.plan.sum(0) - b).sum())
    assert errors[0] > errors[1] > errors[2] > errors[3] > 0  # a stronger penalty keeps marginals closer
    balanced = sinkhorn(cost, a, b, epsilon=0.05, tol=1e-12).plan
    huge_tau = sinkhorn(cost, a, b, epsilon=0.05, unbalanced_tau=1e6, n_iters=5000, tol=1e-12).plan
    np.testing.assert_allclose(huge_tau, balanced, atol=1e-6)  # tau -> inf: the balanced plan


def test_unbalanced_mass_changes_with_tau() -> None:
    cost, a, b = problem(20, 25, seed=4)
    b = 3.0 * b  # three times as much mass on the right: impossible for balanced transport
    with pytest.raises(AlignmentError, match="unbalanced_tau"):
        sinkhorn(cost, a, b, epsilon=0.05)
    masses = [
        sinkhorn(cost, a, b, epsilon=0.05, unbalanced_tau=tau, n_iters=20_000, tol=1e-10).plan.sum()
        for tau in (0.01, 0.1, 1.0, 100.0)
    ]
    assert masses[0] < masses[1] < masses[2] < masses[3]
    # for large tau the mass tends to the one minimising KL(m a | a) + KL(m' b | b): sqrt(|a| |b|)
    assert masses[3] == pytest.approx(np.sqrt(3.0), rel=0.01)


@pytest.mark.parametrize("tau", [None, 0.5])
def test_torch_matches_numpy(tau: float | None) -> None:
    cost, a, b = problem(9, 7, seed=4)
    ref = sinkhorn(cost, a, b, epsilon=0.05, tol=1e-12, n_iters=3000, unbalanced_tau=tau)
    out = sinkhorn_torch(torch.tensor(cost), torch.tensor(a), torch.tensor(b), epsilon=0.05, tol=1e-12,
                         n_iters=3000, unbalanced_tau=tau, check_every=1)
    assert out.converged
    np.testing.assert_allclose(out.plan.numpy(), ref.plan, atol=1e-12)
    assert out.cost.item() == pytest.approx(ref.cost, abs=1e-12)
    assert out.n_iters == ref.n_iters


def test_torch_batches_match_single_problems() -> None:
    problems = [problem(6, 5, seed=s) for s in range(3)]
    cost = torch.tensor(np.stack([p[0] for p in problems]))
    a = torch.tensor(np.stack([p[1] for p in problems]))
    out = sinkhorn_torch(cost, a, None, epsilon=0.1, tol=1e-10)
    assert out.plan.shape == (3, 6, 5) and out.cost.shape == (3,)
    for i, (c, ai, _) in enumerate(problems):
        ref = sinkhorn(c, ai, None, epsilon=0.1, tol=1e-12)
        np.testing.assert_allclose(out.plan[i].numpy(), ref.plan, atol=1e-9)


def test_torch_gradients_are_finite_and_correct() -> None:
    cost, a, b = problem(40, 30, seed=5)
    c = torch.tensor(cost, dtype=torch.float32, requires_grad=True)
    out = sinkhorn_torch(c, epsilon=0.01, n_iters=500)
    out.cost.backward()
    assert c.grad is not None and torch.isfinite(c.grad).all()
    small = torch.tensor(cost[:3, :4], requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda cm: sinkhorn_torch(cm, epsilon=0.2, n_iters=30, tol=0.0).plan, (small,)
    )
    wa = torch.tensor(a[:3], requires_grad=True)  # marginals may move freely only when unbalanced
    wb = torch.tensor(b[:4], requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda cm, x, y: sinkhorn_torch(cm, x, y, epsilon=0.2, n_iters=30, unbalanced_tau=1.0, tol=0.0).cost,
        (small, wa, wb),
    )


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"cost": np.zeros(4)}, "shape (4,)"),
        ({"cost": np.array([[0.0, np.nan]])}, "NaN"),
        ({"cost": np.zeros((2, 3)), "a": np.ones(3) / 3}, "shape (3,)"),
        ({"cost": np.zeros((2, 3)), "a": np.array([1.5, -0.5])}, "min -0.5"),
        ({"cost": np.zeros((2, 3)), "epsilon": 0.0}, "epsilon"),
        ({"cost": np.zeros((2, 3)), "unbalanced_tau": -1.0}, "unbalanced_tau"),
    ],
)
def test_bad_input_raises_with_what_came_in(kwargs: dict[str, object], shown: str) -> None:
    kwargs = {"epsilon": 0.1, **kwargs}
    with pytest.raises(AlignmentError) as info:
        sinkhorn(**kwargs)  # type: ignore[arg-type]
    assert shown in str(info.value)


def test_torch_bad_input_raises_with_what_came_in() -> None:
    with pytest.raises(AlignmentError, match=r"ndarray of shape \(2, 2\)"):
        sinkhorn_torch(np.zeros((2, 2)), epsilon=0.1)  # type: ignore[arg-type]
    with pytest.raises(AlignmentError, match=r"shape \(2, 2, 2, 2\)"):
        sinkhorn_torch(torch.zeros(2, 2, 2, 2), epsilon=0.1)
    with pytest.raises(AlignmentError, match=r"shape \(3,\)"):
        sinkhorn_torch(torch.zeros(2, 2), torch.ones(3) / 3, epsilon=0.1)
    with pytest.raises(AlignmentError, match="equal masses"):
        sinkhorn_torch(torch.zeros(2, 2), torch.ones(2), epsilon=0.1)
