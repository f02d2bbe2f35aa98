"""Contrastive losses against their formulas written out as loops, plus a small retrieval demonstration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusion_stack.align.contrastive import (
    SigLIPLoss,
    chunked_siglip_loss,
    cross_entropy_loss,
    info_nce_loss,
    margin_contrastive_loss,
    multitask_loss,
    reconstruction_loss,
    siglip_loss,
    supcon_loss,
)
from fusion_stack.align.errors import AlignmentError

torch.set_num_threads(1)


def _pair(n: int = 6, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(
        n, d, generator=g, dtype=torch.float64
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(sum(float(p) * float(q) for p, q in zip(u, v)))


# --- formulas


def _info_nce_loops(a: np.ndarray, b: np.ndarray, t: float, symmetric: bool) -> float:
    n = len(a)
    s = [[_dot(a[i], b[j]) / t for j in range(n)] for i in range(n)]
    l_ab = 0.0
    for i in range(n):
        l_ab += -math.log(math.exp(s[i][i]) / sum(math.exp(s[i][j]) for j in range(n)))
    l_ab /= n
    if not symmetric:
        return l_ab
    l_ba = 0.0
    for j in range(n):
        l_ba += -math.log(math.exp(s[j][j]) / sum(math.exp(s[i][j]) for i in range(n)))
    return 0.5 * (l_ab + l_ba / n)


@pytest.mark.parametrize(
    ("symmetric", "normalize", "t"), [(True, True, 0.1), (False, True, 0.5), (True, False, 2.0)]
)
def test_info_nce_equals_its_formula(symmetric: bool, normalize: bool, t: float) -> None:
    a, b = _pair()
    expected = _info_nce_loops(
        _unit(a.numpy()) if normalize else a.numpy(),
        _unit(b.numpy()) if normalize else b.numpy(),
        t,
        symmetric,
    )
    got = info_nce_loss(a, b, temperature=t, symmetric=symmetric, normalize=normalize)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_info_nce_accepts_a_learnable_temperature() -> None:
    a, b = _pair()
    log_scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    loss = info_nce_loss(a, b, temperature=torch.exp(-log_scale))
    assert loss.item() == pytest.approx(info_nce_loss(a, b, temperature=0.07).item(), rel=1e-10)
    loss.backward()
    assert log_scale.grad is not None
    assert torch.isfinite(log_scale.grad)
    assert log_scale.grad != 0


def _supcon_loops(z: np.ndarray, labels: list[int], t: float) -> float:
    n = len(z)
    losses = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(math.exp(_dot(z[i], z[a]) / t) for a in range(n) if a != i)
        total = sum(math.log(math.exp(_dot(z[i], z[p]) / t) / denominator) for p in positives)
        losses.append(-total / len(positives))
    return sum(losses) / len(losses)


def test_supcon_equals_its_formula() -> None:
    g = torch.Generator().manual_seed(1)
    features = torch.randn(7, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])  # labels 2 and 3 have no positive: not anchors
    expected = _supcon_loops(_unit(features.numpy()), labels.tolist(), 0.2)
    assert supcon_loss(features, labels, temperature=0.2).item() == pytest.approx(expected, rel=1e-10)


def test_supcon_with_views_equals_flattened_samples() -> None:
    g = torch.Generator().manual_seed(2)
    features = torch.randn(4, 2, 3, generator=g, dtype=torch.float64)  # (N, V, D)
    labels = torch.tensor([5, 6, 5, 7])
    flat_labels = [int(label) for label in labels for _ in range(2)]
    expected = _supcon_loops(_unit(features.reshape(8, 3).numpy()), flat_labels, 0.5)
    assert supcon_loss(features, labels, temperature=0.5).item() == pytest.approx(expected, rel=1e-10)


def test_supcon_without_any_positive_is_zero_and_differentiable() -> None:
    features = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    loss = supcon_loss(features, torch.arange(4))
    assert loss.item() == 0.0
    loss.backward()
    assert features.grad is not None
    assert torch.isfinite(features.grad).all()


def _siglip_loops(a: np.ndarray, b: np.ndarray, t: float, bias: float) -> float:
    n = len(a)
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = 1.0 if i == j else -1.0
            logit = t * _dot(a[i], b[j]) + bias
            total += math.log(1.0 / (1.0 + math.exp(-z * logit)))
    return -total / n


@pytest.mark.parametrize(("t", "bias"), [(10.0, -10.0), (3.0, 0.5)])
def test_siglip_equals_its_formula(t: float, bias: float) -> None:
    a, b = _pair(n=5, d=3)
    expected = _siglip_loops(_unit(a.numpy()), _unit(b.numpy()), t, bias)
    assert siglip_loss(a, b, temperature=t, bias=bias).item() == pytest.approx(expected, rel=1e-10)


def _margin_loops(a: np.ndarray, b: np.ndarray, same: list[bool], margin: float) -> float:
    total = 0.0
    for i in range(len(a)):
        d = math.sqrt(sum((float(p) - float(q)) ** 2 for p, q in zip(a[i], b[i])))
        total += 0.5 * d**2 if same[i] else 0.5 * max(0.0, margin - d) ** 2
    return total / len(a)


def test_margin_loss_equals_its_formula() -> None:
    a, b = _pair(n=8, d=2)
    b[3] = a[3] + 0.01  # a close non-matching pair: inside the margin
    same = torch.tensor([True, False, True, False, False, True, False, True])
    expected = _margin_loops(a.numpy(), b.numpy(), same.tolist(), 1.5)
    assert margin_contrastive_loss(a, b, same, margin=1.5).item() == pytest.approx(expected, rel=1e-10)


# --- chunked / gradients


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7, 50])
def test_chunked_siglip_equals_full_in_value_and_gradients(chunk_size: int) -> None:
    a0, b0 = _pair(n=7, d=5, seed=3)
    grads = []
    values = []
    for chunked in (False, True):
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        log_t = torch.tensor(math.log(10.0), dtype=torch.float64, requires_grad=True)
        bias = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
        if chunked:
            loss = chunked_siglip_loss(a, b, temperature=log_t.exp(), bias=bias, chunk_size=chunk_size)
        else:
            loss = siglip_loss(a, b, temperature=log_t.exp(), bias=bias)
        loss.backward()
        values.append(loss.detach())
        grads.append([x.grad for x in (a, b, log_t, bias)])
    torch.testing.assert_close(values[0], values[1], rtol=1e-12, atol=1e-12)
    for full, chunked_grad in zip(*grads):
        assert full is not None
        assert chunked_grad is not None
        torch.testing.assert_close(full, chunked_grad, rtol=1e-10, atol=1e-12)


def test_chunked_siglip_without_grad_equals_full() -> None:
    a, b = _pair(n=9, d=4)
    with torch.no_grad():
        full = siglip_loss(a, b, temperature=5.0, bias=-2.0)
        chunked = chunked_siglip_loss(a, b, temperature=5.0, bias=-2.0, chunk_size=2)
    torch.testing.assert_close(full, chunked)


def test_losses_have_finite_gradients_even_for_identical_pairs() -> None:
    a0, b0 = _pair(n=6, d=4)
    b0[0] = a0[0]  # d = 0 for the margin loss: sqrt's gradient must not produce NaN
    same = torch.tensor([True, False, True, False, True, False])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    losses = {
        "margin_same": lambda a, b: margin_contrastive_loss(a, b, same),
        "margin_diff": lambda a, b: margin_contrastive_loss(a, b, ~same),
        "info_nce": lambda a, b: info_nce_loss(a, b),
        "supcon": lambda a, b: supcon_loss(torch.stack([a, b], dim=1), labels),
        "siglip": lambda a, b: siglip_loss(a, b, temperature=10.0, bias=-10.0),
        "chunked": lambda a, b: chunked_siglip_loss(a, b, temperature=10.0, bias=-10.0, chunk_size=4),
    }
    for name, fn in losses.items():
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        loss = fn(a, b)
        loss.backward()
        assert torch.isfinite(loss), name
        assert a.grad is not None
        assert b.grad is not None
        assert torch.isfinite(a.grad).all(), name
        assert torch.isfinite(b.grad).all(), name
        assert a.grad.abs().sum() > 0, name


def test_siglip_temperature_and_bias_are_learnable_parameters() -> None:
    loss_fn = SigLIPLoss()
    names = dict(loss_fn.named_parameters())
    assert set(names) == {"log_temperature", "bias"}
    assert loss_fn.log_temperature.item() == pytest.approx(math.log(10.0))
    assert loss_fn.temperature.item() == pytest.approx(10.0)
    assert loss_fn.bias.item() == pytest.approx(-10.0)
    a, b = _pair(n=6, d=3)
    loss = loss_fn(a.float(), b.float())
    expected = siglip_loss(a.float(), b.float(), temperature=10.0, bias=-10.0)
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert loss_fn.log_temperature.grad is not None
    assert loss_fn.bias.grad is not None
    assert loss_fn.log_temperature.grad != 0
    assert loss_fn.bias.grad != 0
    before = (loss_fn.log_temperature.item(), loss_fn.bias.item())
    torch.optim.SGD(loss_fn.parameters(), lr=0.1).step()
    assert (loss_fn.log_temperature.item(), loss_fn.bias.item()) != before


def test_siglip_module_chunked_matches_unchunked() -> None:
    a, b = _pair(n=10, d=3)
    full = SigLIPLoss(init_temperature=5.0, init_bias=-1.0)(a.float(), b.float())
    chunked = SigLIPLoss(init_temperature=5.0, init_bias=-1.0, chunk_size=3)(a.float(), b.float())
    torch.testing.assert_close(full, chunked)


# --- input checks / helpers


def test_shape_mismatch_is_reported() -> None:
    a, b = _pair(n=4, d=3)
    with pytest.raises(AlignmentError, match=r"\(4, 3\) and \(3, 3\)"):
        info_nce_loss(a, b[:3])
    with pytest.raises(AlignmentError, match="temperature"):
        info_nce_loss(a, b, temperature=0.0)
    with pytest.raises(AlignmentError, match="same"):
        margin_contrastive_loss(a, b, torch.ones(3, dtype=torch.bool))
    with pytest.raises(AlignmentError, match="labels"):
        supcon_loss(a, torch.zeros(4))
    with pytest.raises(AlignmentError, match="chunk_size"):
        chunked_siglip_loss(a, b, temperature=1.0, bias=0.0, chunk_size=0)
    with pytest.raises(AlignmentError, match="init_temperature"):
        SigLIPLoss(init_temperature=-1.0)


def test_cross_entropy_and_reconstruction_helpers() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    expected = -(math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1))) + math.log(1 / (2 + math.e))) / 2
    assert cross_entropy_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(AlignmentError, match=r"shape \(2,\)"):
        cross_entropy_loss(logits, target[:1])

    prediction = torch.tensor([[1.0, 2.0], [3.0, float("nan")]])
    truth = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    assert reconstruction_loss(prediction, truth, mask=mask).item() == pytest.approx((1 + 4 + 9) / 3)
    assert reconstruction_loss(prediction[:1], truth[:1]).item() == pytest.approx(2.5)
    with pytest.raises(AlignmentError, match="mask"):
        reconstruction_loss(prediction, truth, mask=torch.ones(3, dtype=torch.bool))


def test_multitask_loss_weights_named_terms() -> None:
    terms = {"nce": torch.tensor(2.0), "cls": torch.tensor(3.0), "rec": torch.tensor(5.0)}
    assert multitask_loss(terms, weights={"cls": 0.5, "rec": 0.0}).item() == pytest.approx(3.5)
    assert multitask_loss(terms).item() == pytest.approx(10.0)
    with pytest.raises(AlignmentError, match="clss"):
        multitask_loss(terms, weights={"clss": 1.0})
    with pytest.raises(AlignmentError, match="scalar"):
        multitask_loss({"nce": torch.ones(2)})


# --- demonstration


def _top1(x: torch.Tensor, y: torch.Tensor) -> float:
    sim = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    return (sim.argmax(dim=1) == torch.arange(len(x))).float().mean().item()


def test_contrastive_training_improves_cross_modal_retrieval() -> None:
    """Two noisy views X = A z + e, Y = B z + e of a latent z; linear encoders trained with InfoNCE or
    SigLIP retrieve the matching Y for each X far better than untrained (random) encoders."""
    g = torch.Generator().manual_seed(0)
    latent_dim, x_dim, y_dim, embed_dim = 8, 24, 16, 8
    mix_x, mix_y = torch.randn(x_dim, latent_dim, generator=g), torch.randn(y_dim, latent_dim, generator=g)

    def views(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, latent_dim, generator=g)
        noise_x, noise_y = torch.randn(n, x_dim, generator=g), torch.randn(n, y_dim, generator=g)
        return z @ mix_x.T + 0.3 * noise_x, z @ mix_y.T + 0.3 * noise_y

    train_x, train_y = views(256)
    test_x, test_y = views(200)
    results = {}
    for method in ("random", "info_nce", "siglip"):
        torch.manual_seed(1)
        enc_x, enc_y = torch.nn.Linear(x_dim, embed_dim), torch.nn.Linear(y_dim, embed_dim)
        siglip = SigLIPLoss()
        params = [*enc_x.parameters(), *enc_y.parameters(), *siglip.parameters()]
        optimizer = torch.optim.Adam(params, lr=0.01)
        for _ in range(0 if method == "random" else 200):
            optimizer.zero_grad()
            a, b = enc_x(train_x), enc_y(train_y)
            loss = info_nce_loss(a, b, temperature=0.1) if method == "info_nce" else siglip(a, b)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            results[method] = _top1(enc_x(test_x), enc_y(test_y))
    assert results["random"] < 0.1, results
    assert results["info_nce"] > results["random"] + 0.5, results
    assert results["siglip"] > results["random"] + 0.5, results
