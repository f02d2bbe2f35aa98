"""Deep CCA loss: equals -sum of NumPy CCA correlations, finite gradients, trains, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_stack.align.cca import CCA
from fusion_stack.align.deep_cca import canonical_correlations_torch, deep_cca_loss
from fusion_stack.align.errors import AlignmentError


def batch(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    H1 = rng.standard_normal((n, 6))
    H2 = H1[:, :3] @ rng.standard_normal((3, 5)) + rng.standard_normal((n, 5))
    return H1, H2


@pytest.mark.parametrize(("n_components", "k"), [(2, 2), (None, 5)])
def test_loss_equals_minus_sum_of_numpy_cca_correlations(n_components: int | None, k: int) -> None:
    H1, H2 = batch()
    reg = 1e-3
    loss = deep_cca_loss(torch.tensor(H1), torch.tensor(H2), n_components=n_components, reg=reg)
    ref = CCA(k, reg=reg).fit(H1, H2).correlations_
    assert ref is not None
    assert loss.shape == ()
    assert loss.item() == pytest.approx(-ref.sum(), abs=1e-9)
    t1, t2 = torch.tensor(H1), torch.tensor(H2)
    corr = canonical_correlations_torch(t1, t2, n_components=n_components, reg=reg)
    np.testing.assert_allclose(corr.numpy(), ref, atol=1e-9)


def test_gradients_are_finite_and_correct() -> None:
    H1, H2 = batch(n=64, seed=1)
    h1 = torch.tensor(H1, requires_grad=True)
    h2 = torch.tensor(H2, requires_grad=True)
    deep_cca_loss(h1, h2, n_components=3).backward()
    assert h1.grad is not None and h2.grad is not None
    assert torch.isfinite(h1.grad).all() and torch.isfinite(h2.grad).all()
    small1 = torch.tensor(H1[:12, :3], requires_grad=True)
    small2 = torch.tensor(H2[:12, :2], requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: deep_cca_loss(a, b, reg=1e-2), (small1, small2))


def test_gradients_stay_finite_with_dead_units_and_float32() -> None:
    """Constant (dead ReLU) outputs make covariance eigenvalues repeat; eigenvector-based losses give NaN."""
    H1, H2 = batch(n=128, seed=2)
    H1[:, 3:] = 0.0
    h1 = torch.tensor(H1, dtype=torch.float32, requires_grad=True)
    h2 = torch.tensor(H2, dtype=torch.float32, requires_grad=True)
    loss = deep_cca_loss(h1, h2)
    loss.backward()
    assert loss.dtype == torch.float32
    assert h1.grad is not None and torch.isfinite(h1.grad).all()
    assert h2.grad is not None and torch.isfinite(h2.grad).all()


def test_minimising_the_loss_aligns_two_encoders() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    z = rng.standard_normal((512, 2))
    view1 = np.c_[z, rng.standard_normal((512, 6))] @ rng.standard_normal((8, 8))
    view2 = np.c_[np.tanh(z), rng.standard_normal((512, 4))] @ rng.standard_normal((6, 6))
    x1 = torch.tensor(view1, dtype=torch.float32)
    x2 = torch.tensor(view2, dtype=torch.float32)
    f1 = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    f2 = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam([*f1.parameters(), *f2.parameters()], lr=1e-2)
    first = deep_cca_loss(f1(x1), f2(x2)).item()
    for _ in range(150):
        opt.zero_grad()
        loss = deep_cca_loss(f1(x1), f2(x2))
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.5
    assert loss.item() < -1.6  # two of at most 2 correlations


@pytest.mark.parametrize(
    ("H1", "H2", "shown"),
    [
        (np.zeros((10, 2)), torch.zeros(10, 2), "ndarray of shape (10, 2)"),
        (torch.zeros(10), torch.zeros(10, 2), "shape (10,)"),
        (torch.zeros(10, 2, dtype=torch.int64), torch.zeros(10, 2), "torch.int64"),
        (torch.full((10, 2), float("nan")), torch.zeros(10, 2), "shape (10, 2) dtype torch.float32"),
        (torch.zeros(10, 2), torch.zeros(9, 2), "shape (9, 2)"),
        (torch.zeros(1, 2), torch.zeros(1, 2), "shape (1, 2)"),
    ],
)
def test_bad_input_raises_with_what_came_in(H1: object, H2: object, shown: str) -> None:
    with pytest.raises(AlignmentError) as info:
        deep_cca_loss(H1, H2)  # type: ignore[arg-type]
    assert shown in str(info.value)


def test_bad_options_raise() -> None:
    h1, h2 = torch.randn(20, 3), torch.randn(20, 2)
    with pytest.raises(AlignmentError, match=r"min\(3, 2\)"):
        deep_cca_loss(h1, h2, n_components=3)
    with pytest.raises(AlignmentError, match="reg"):
        deep_cca_loss(h1, h2, reg=0.0)
