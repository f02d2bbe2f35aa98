"""Modality dropout: randomly drop whole modalities per sample while training a fuser.

Training with sensors randomly missing (Neverova et al. 2016, "ModDrop"; the sensor-dropout training of
robust camera-LiDAR fusion, e.g. Yu et al. 2022, "Benchmarking the Robustness of LiDAR-Camera Fusion")
teaches a fuser to cope with the failures it meets on the road -- a blinded camera, a LiDAR frame that
never arrived. The helper only edits the ``present`` masks of the :class:`~fusion_stack.fuse.base.Fuser`
call; the features stay as they are (fusers ignore absent samples' features).

Sampling, per sample with ``k`` present modalities: drops are independent Bernoulli(``q_k``) draws
*conditioned on keeping at least one modality*, with ``q_k`` chosen so that each present modality is
dropped with probability exactly ``rate``. This is possible only for ``rate <= (k - 1) / k`` (keeping
one of ``k`` means dropping at most ``k - 1``); above that bound the sample keeps exactly one modality,
chosen uniformly, so its rate is ``(k - 1) / k``. A sample with one present modality keeps it. Absent
modalities stay absent. The draw is exact and vectorised: the number of drops ``d`` is sampled from the
truncated binomial, then ``d`` of the sample's present modalities are chosen uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from fusion_stack.fuse.errors import FusionError

__all__ = ["ModalityDropout", "drop_modalities"]


def _drop_count_probabilities(k: int, rate: float) -> list[float]:
    """``P(d drops)``, ``d = 0..k-1``: Binomial(k, q) truncated to ``d < k``, with mean ``rate * k``."""
    target = rate * k
    if target >= k - 1:
        return [0.0] * (k - 1) + [1.0]

    def probabilities(q: float) -> list[float]:
        weights = [math.comb(k, d) * q**d * (1.0 - q) ** (k - d) for d in range(k)]
        total = sum(weights)
        return [w / total for w in weights]

    low, high = 0.0, 1.0
    for _ in range(100):  # bisection; the truncated mean increases with q
        q = 0.5 * (low + high)
        mean = sum(d * p for d, p in enumerate(probabilities(q)))
        if mean < target:
            low = q
        else:
            high = q
    return probabilities(0.5 * (low + high))


def drop_modalities(present: Mapping[str, Tensor], *, rate: float, generator: torch.Generator) -> dict[str, Tensor]:
    """New ``present`` masks with modalities dropped per sample (see the module doc); never drops all.

    ``present`` maps every modality to consider to a ``(B,)`` bool mask (use ``torch.ones(B, dtype=bool)``
    for "all present"); ``rate`` in [0, 1) is the per-(sample, modality) drop probability; ``generator``
    (on the masks' device) makes the draw reproducible. Inputs are not modified.
    """
    who = "drop_modalities"
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise FusionError(f"must be a number in [0, 1), got {rate!r}", source=who, field="rate")
    if not isinstance(present, Mapping) or not present:
        raise FusionError(f"must be a non-empty mapping name -> (B,) bool tensor, got {present!r}", source=who)
    names = list(present)
    first = present[names[0]]
    for name, mask in present.items():
        if (
            not isinstance(mask, Tensor)
            or mask.dtype != torch.bool
            or mask.dim() != 1
            or mask.shape != first.shape
            or mask.device != first.device
        ):
            got = f"shape {tuple(mask.shape)} dtype {mask.dtype}" if isinstance(mask, Tensor) else type(mask).__name__
            raise FusionError(
                f"must be a (B,) bool tensor like present[{names[0]!r}] (shape {tuple(first.shape)}), got {got}",
                source=who,
                field=f"present[{name!r}]",
            )
    masks = torch.stack([present[n] for n in names], dim=1)  # (B, M)
    batch, n_modalities = masks.shape
    counts = masks.sum(dim=1)  # (B,)
    drops = torch.zeros(batch, dtype=torch.long, device=masks.device)
    if rate > 0.0:
        for k in range(2, n_modalities + 1):
            probs = torch.tensor(_drop_count_probabilities(k, float(rate)), dtype=torch.float64)
            draw = torch.multinomial(probs.to(masks.device), batch, replacement=True, generator=generator)
            drops = torch.where(counts == k, draw, drops)
    # Rank the present modalities of each sample in a uniformly random order; drop the first `drops`.
    noise = torch.rand(batch, n_modalities, generator=generator, device=masks.device)
    noise = torch.where(masks, noise, 2.0)  # absent ones rank last
    ranks = noise.argsort(dim=1).argsort(dim=1)
    kept = masks & (ranks >= drops.unsqueeze(1))
    return {name: kept[:, i] for i, name in enumerate(names)}


class ModalityDropout(nn.Module):
    """:func:`drop_modalities` as a module with its own seeded CPU generator; identity in eval mode.

    ``forward(present)`` returns new masks while ``self.training``; the input masks (copied) otherwise.
    The generator lives on the CPU; masks on another device are drawn on the CPU and moved back.
    """

    def __init__(self, *, rate: float, seed: int) -> None:
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
            raise FusionError(f"must be a number in [0, 1), got {rate!r}", source=type(self).__name__, field="rate")
        self.rate = float(rate)
        self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, present: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Drop modalities from ``present`` (name -> (B,) bool) while training."""
        if not self.training or self.rate == 0.0:
            return {name: mask.clone() for name, mask in present.items()}
        device = next(iter(present.values())).device if present else torch.device("cpu")
        dropped = drop_modalities({n: m.cpu() for n, m in present.items()}, rate=self.rate, generator=self.generator)
        return {name: mask.to(device) for name, mask in dropped.items()}
