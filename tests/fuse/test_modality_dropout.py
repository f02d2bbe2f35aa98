"""Modality dropout: never drops all of a sample's modalities, is seeded, and hits the requested rate."""

from __future__ import annotations

import pytest
import torch

from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.modality_dropout import ModalityDropout, drop_modalities

torch.set_num_threads(1)

NAMES = ("camera", "lidar", "radar")


def _all_present(batch: int) -> dict[str, torch.Tensor]:
    return {m: torch.ones(batch, dtype=torch.bool) for m in NAMES}


def _mixed(batch: int) -> dict[str, torch.Tensor]:
    """Every presence pattern in turn (including none and single modalities)."""
    bits = torch.arange(batch) % 8
    return {m: (bits >> i) & 1 == 1 for i, m in enumerate(NAMES)}


def _stack(masks: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([masks[m] for m in NAMES], dim=1)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.6, 0.9])
def test_never_drops_all_and_never_adds(rate: float) -> None:
    present = _mixed(4000)
    dropped = drop_modalities(present, rate=rate, generator=torch.Generator().manual_seed(0))
    before, after = _stack(present), _stack(dropped)
    assert not (after & ~before).any()  # absent stays absent
    had_any = before.any(dim=1)
    assert after[had_any].any(dim=1).all()
    assert not after[~had_any].any()
    if rate == 0.0:
        assert torch.equal(before, after)


def test_reproducible_with_a_seed() -> None:
    present = _all_present(500)
    first = drop_modalities(present, rate=0.4, generator=torch.Generator().manual_seed(3))
    again = drop_modalities(present, rate=0.4, generator=torch.Generator().manual_seed(3))
    other = drop_modalities(present, rate=0.4, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(first[m], again[m]) for m in NAMES)
    assert not all(torch.equal(first[m], other[m]) for m in NAMES)
    module_a, module_b = ModalityDropout(rate=0.4, seed=9), ModalityDropout(rate=0.4, seed=9)
    for _ in range(3):  # the module's generator advances call by call, identically for one seed
        a, b = module_a(present), module_b(present)
        assert all(torch.equal(a[m], b[m]) for m in NAMES)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_hits_the_requested_rate(rate: float) -> None:
    n = 20000
    dropped = _stack(drop_modalities(_all_present(n), rate=rate, generator=torch.Generator().manual_seed(1)))
    measured = 1.0 - dropped.float().mean(dim=0)  # per modality
    tolerance = 4 * (rate * (1 - rate) / n) ** 0.5  # 4 sigma
    assert (measured - rate).abs().max() < tolerance, measured
    # with two present modalities the rate holds too, as long as it is <= 1/2
    two = {"camera": torch.ones(n, dtype=torch.bool), "lidar": torch.ones(n, dtype=torch.bool)}
    dropped_two = drop_modalities(two, rate=0.3, generator=torch.Generator().manual_seed(2))
    for m in two:
        assert abs((1.0 - dropped_two[m].float().mean()).item() - 0.3) < 4 * (0.21 / n) ** 0.5


def test_rate_above_the_bound_keeps_exactly_one() -> None:
    two = {"camera": torch.ones(2000, dtype=torch.bool), "lidar": torch.ones(2000, dtype=torch.bool)}
    dropped = _stack(
        {**drop_modalities(two, rate=0.8, generator=torch.Generator().manual_seed(0)), "radar": two["camera"]}
    )
    assert (dropped[:, :2].sum(dim=1) == 1).all()  # (k - 1) / k = 1/2 is the most that can be dropped
    assert abs(dropped[:, 0].float().mean().item() - 0.5) < 0.05  # and the survivor is chosen uniformly


def test_module_is_identity_in_eval_mode() -> None:
    module = ModalityDropout(rate=0.5, seed=0).eval()
    present = _all_present(10)
    out = module(present)
    assert all(torch.equal(out[m], present[m]) for m in NAMES)
    assert out["camera"] is not present["camera"]


def test_bad_arguments_are_reported() -> None:
    with pytest.raises(FusionError, match="rate"):
        drop_modalities(_all_present(2), rate=1.0, generator=torch.Generator())
    with pytest.raises(FusionError, match=r"present\['lidar'\]"):
        drop_modalities(
            {"camera": torch.ones(2, dtype=torch.bool), "lidar": torch.ones(3, dtype=torch.bool)},
            rate=0.1,
            generator=torch.Generator(),
        )
    with pytest.raises(FusionError, match="rate"):
        ModalityDropout(rate=-0.1, seed=0)
