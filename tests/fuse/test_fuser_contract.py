"""The contract every fuser keeps, checked for all of them.

* every non-empty subset of modalities given in ``features`` works, and per-sample mixed masks in one
  batch (including a sample with nothing present) give finite outputs of the documented shape;
* a sample's output never depends on the features of a modality absent for it (random vs NaN garbage
  give identical outputs), and equals the output of that sample run alone with the absent modalities
  left out of ``features`` (masking == omission; no coupling between samples);
* gradients reach the present modalities' features, and exactly zero reaches absent ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import pytest
import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import Fuser
from fusion_stack.fuse.bottleneck import BottleneckFusion
from fusion_stack.fuse.cross_attention import CrossAttentionFusion
from fusion_stack.fuse.gated import GatedFusion
from fusion_stack.fuse.low_rank import LowRankFusion, TensorFusion
from fusion_stack.fuse.simple import ConcatFusion, MeanFusion, SumFusion
from fusion_stack.fuse.structures import OneTower, TwoLeg, TwoTower
from fusion_stack.fuse.token_fusion import TokenFusion

torch.set_num_threads(1)

MODALITIES = ("camera", "lidar", "radar")
DIMS = (5, 4, 3)
BATCH = 8  # all 2^3 presence patterns, one per sample

# Per-modality feature shapes after the batch axis.
Shapes = Mapping[str, tuple[int, ...]]
VECTOR: Shapes = {"camera": (5,), "lidar": (4,), "radar": (3,)}
GRID: Shapes = {"camera": (2, 3, 5), "lidar": (2, 3, 4), "radar": (2, 3, 3)}  # aligned (H, W) cells, channel last
TOKENS: Shapes = {"camera": (6, 5), "lidar": (4, 4), "radar": (2, 3)}  # different token counts
ALIGNED_TOKENS: Shapes = {"camera": (4, 5), "lidar": (4, 4), "radar": (4, 3)}


def _mlp(d_in: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, 8), nn.GELU(), nn.Linear(8, d_out))


# name -> (builder, feature shapes, output shape after the batch axis). Typing the builders as returning
# `Fuser` makes mypy check that every class satisfies the interface.
CASES: dict[str, tuple[Callable[[], Fuser], Shapes, tuple[int, ...]]] = {
    "concat_learned": (lambda: ConcatFusion(modalities=MODALITIES, in_dims=DIMS), VECTOR, (12,)),
    "concat_zero_grid": (
        lambda: ConcatFusion(modalities=MODALITIES, in_dims=DIMS, placeholder="zero"),
        GRID,
        (2, 3, 12),
    ),
    "sum": (lambda: SumFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6), VECTOR, (6,)),
    "mean_grid": (lambda: MeanFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6), GRID, (2, 3, 6)),
    "gated": (lambda: GatedFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6), VECTOR, (6,)),
    "gated_scalar_grid": (
        lambda: GatedFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6, per_feature_gates=False),
        GRID,
        (2, 3, 6),
    ),
    "tensor": (lambda: TensorFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6), VECTOR, (6,)),
    "low_rank": (lambda: LowRankFusion(modalities=MODALITIES, in_dims=DIMS, out_dim=6, rank=3), VECTOR, (6,)),
    "cross_attention": (
        lambda: CrossAttentionFusion(
            modalities=MODALITIES, in_dims=DIMS, query_modality="lidar", num_queries=4, dim=8, num_heads=2
        ),
        TOKENS,
        (4, 8),
    ),
    "bottleneck": (
        lambda: BottleneckFusion(modalities=MODALITIES, in_dims=DIMS, dim=8, num_layers=2, num_heads=2),
        TOKENS,
        (8,),
    ),
    "token_fusion": (
        lambda: TokenFusion(modalities=MODALITIES, in_dims=DIMS, dim=8, threshold=0.5),
        ALIGNED_TOKENS,
        (4, 8),
    ),
    "two_tower": (
        lambda: TwoTower(encoders={m: _mlp(d, 6) for m, d in zip(MODALITIES, DIMS)}, embed_dim=6),
        VECTOR,
        (6,),
    ),
    "two_leg": (
        lambda: TwoLeg(
            encoders={m: _mlp(d, 7) for m, d in zip(MODALITIES, DIMS)},
            fuser=LowRankFusion(modalities=MODALITIES, in_dims=7, out_dim=6, rank=2),
        ),
        VECTOR,
        (6,),
    ),
    "one_tower": (
        lambda: OneTower(modalities=MODALITIES, in_dims=DIMS, dim=8, num_layers=2, num_heads=2),
        TOKENS,
        (8,),
    ),
}


def _build(name: str) -> tuple[nn.Module, Shapes, tuple[int, ...]]:
    builder, shapes, out_shape = CASES[name]
    torch.manual_seed(0)
    fuser = builder()
    assert isinstance(fuser, nn.Module)
    assert fuser.modalities == MODALITIES
    assert fuser.out_dim == out_shape[-1]
    return fuser, shapes, out_shape


def _features(shapes: Shapes, batch: int = BATCH, seed: int = 1) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, *shape, generator=g) for m, shape in shapes.items()}


def _all_patterns() -> dict[str, Tensor]:
    """Sample b has modality i iff bit i of b is set: every subset, the empty one included."""
    bits = torch.arange(BATCH)
    return {m: (bits >> i) & 1 == 1 for i, m in enumerate(MODALITIES)}


def _with_garbage(features: dict[str, Tensor], present: dict[str, Tensor], fill: float | None) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(7)
    out = {}
    for m, x in features.items():
        junk = torch.full_like(x, fill) if fill is not None else 100 * torch.randn(x.shape, generator=g)
        keep = present[m].view(-1, *([1] * (x.dim() - 1)))
        out[m] = torch.where(keep, x, junk)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_every_subset_of_given_modalities(name: str) -> None:
    fuser, shapes, out_shape = _build(name)
    features = _features(shapes, batch=3)
    for size in range(1, len(MODALITIES) + 1):
        for subset in itertools.combinations(MODALITIES, size):
            out = fuser({m: features[m] for m in subset})
            assert out.shape == (3, *out_shape), (subset, out.shape)
            assert torch.isfinite(out).all(), subset


@pytest.mark.parametrize("name", list(CASES))
def test_absent_features_do_not_influence_the_output(name: str) -> None:
    fuser, shapes, out_shape = _build(name)
    features, present = _features(shapes), _all_patterns()
    with_random = fuser(_with_garbage(features, present, None), present)
    with_nan = fuser(_with_garbage(features, present, float("nan")), present)
    assert with_random.shape == (BATCH, *out_shape)
    assert torch.isfinite(with_nan).all()
    torch.testing.assert_close(with_random, with_nan, rtol=0, atol=0)
    # present=None means all present, same as all-True masks
    all_true = {m: torch.ones(BATCH, dtype=torch.bool) for m in MODALITIES}
    torch.testing.assert_close(fuser(features), fuser(features, all_true), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_masking_equals_omitting_sample_by_sample(name: str) -> None:
    fuser, shapes, _ = _build(name)
    features, present = _features(shapes), _all_patterns()
    batched = fuser(_with_garbage(features, present, float("nan")), present)
    for b in range(1, BATCH):  # sample 0 has nothing present; it cannot be run alone without a modality
        alone = {m: features[m][b : b + 1] for m in MODALITIES if present[m][b]}
        torch.testing.assert_close(batched[b : b + 1], fuser(alone), rtol=1e-5, atol=1e-5)
    nothing = fuser({"camera": features["camera"][:1]}, {"camera": torch.zeros(1, dtype=torch.bool)})
    torch.testing.assert_close(batched[:1], nothing, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_reach_present_modalities_only(name: str) -> None:
    fuser, shapes, _ = _build(name)
    present = _all_patterns()
    features = {m: x.requires_grad_() for m, x in _with_garbage(_features(shapes), present, float("nan")).items()}
    out = fuser(features, present)
    (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
    for m, x in features.items():
        assert x.grad is not None
        assert torch.isfinite(x.grad).all(), m
        per_sample = x.grad.flatten(1).abs().sum(dim=1)
        assert (per_sample[~present[m]] == 0).all(), m
        assert (per_sample[present[m]] > 0).all(), (m, per_sample)
    parameters = list(fuser.parameters())
    assert not parameters or any(p.grad is not None for p in parameters)  # a zero-placeholder concat has none
    assert all(torch.isfinite(p.grad).all() for p in parameters if p.grad is not None)
