"""Early concatenation and sum / mean fusion over the modalities a sample has.

The baselines of feature-level fusion (early fusion in the survey's taxonomy; e.g. Baltrušaitis, Ahuja &
Morency 2019, "Multimodal Machine Learning: A Survey and Taxonomy"): concatenating camera / LiDAR /
radar BEV features channel-wise (as BEVFusion's fuser does before its convolution, Liu et al. 2023), or
summing / averaging per-modality embeddings that already live in one space (late fusion of aligned
embeddings). Features are ``(B, *S, D_m)``: ``S`` may be empty (one vector per sample) or any
aligned middle axes, e.g. ``(H, W)`` BEV cells in channel-last layout or ``N`` tokens; ``S`` must be
the same for all modalities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import check_modalities, check_positive_int, prepare_inputs, where_present
from fusion_stack.fuse.errors import FusionError

__all__ = ["ConcatFusion", "MeanFusion", "SumFusion"]


class ConcatFusion(nn.Module):
    """Early fusion: concatenate the modalities' features along the last axis, in declared order.

    ``(B, *S, D_m)`` per modality -> ``(B, *S, sum_m D_m)``. Where a modality is absent its slot is
    filled with a placeholder vector, so the layout of the output never changes:

    * ``placeholder="learned"`` (default): a trainable ``(D_m,)`` vector per modality, initialised to
      zero; the downstream network can learn to recognise "this sensor is missing" from it.
    * ``placeholder="zero"``: a fixed zero vector, i.e. the classic zero-imputation; the network cannot
      tell an absent sensor from an all-zero reading.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        placeholder: Literal["learned", "zero"] = "learned",
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        if placeholder not in ("learned", "zero"):
            raise FusionError(f"must be 'learned' or 'zero', got {placeholder!r}", source=who, field="placeholder")
        self.placeholder = placeholder
        self.out_dim = sum(self.in_dims)
        self.placeholders = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(d)) for m, d in zip(self.modalities, self.in_dims)}
            if placeholder == "learned"
            else {}
        )

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse ``features[m]`` (B, *S, D_m) into (B, *S, sum D_m); absent -> placeholder."""
        inputs = prepare_inputs(
            features, present, modalities=self.modalities, in_dims=self.in_dims, who=type(self).__name__
        )
        template = next(iter(inputs.values.values()))
        lead = template.shape[:-1]
        parts = []
        for m, d in zip(self.modalities, self.in_dims):
            if self.placeholder == "learned":
                fill = self.placeholders[m].to(dtype=inputs.dtype)
            else:
                fill = torch.zeros(d, dtype=inputs.dtype, device=inputs.device)
            x = inputs.values.get(m)
            parts.append(fill.expand(*lead, d) if x is None else where_present(inputs.masks[m], x, fill))
        return torch.cat(parts, dim=-1)


class _ReducedFusion(nn.Module):
    """Shared body of :class:`SumFusion` and :class:`MeanFusion`."""

    _mean: bool = False

    def __init__(self, *, modalities: Sequence[str], in_dims: Sequence[int] | int, out_dim: int | None = None) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        if out_dim is None:
            if len(set(self.in_dims)) != 1:
                raise FusionError(
                    f"modalities have different sizes {dict(zip(self.modalities, self.in_dims))}; "
                    "give out_dim to project each to it",
                    source=who,
                    field="out_dim",
                )
            self.out_dim = self.in_dims[0]
            self.projections: nn.ModuleDict | None = None
        else:
            self.out_dim = check_positive_int(out_dim, name="out_dim", who=who)
            self.projections = nn.ModuleDict(
                {m: nn.Linear(d, self.out_dim) for m, d in zip(self.modalities, self.in_dims)}
            )

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse ``features[m]`` (B, *S, D_m) into (B, *S, out_dim)."""
        inputs = prepare_inputs(
            features, present, modalities=self.modalities, in_dims=self.in_dims, who=type(self).__name__
        )
        total: Tensor | None = None
        for m, x in inputs.values.items():
            y = x if self.projections is None else self.projections[m](x)
            y = where_present(inputs.masks[m], y)
            total = y if total is None else total + y
        assert total is not None
        if not self._mean:
            return total
        count = inputs.count_present(self.modalities).clamp(min=1.0)
        return total / count.view(-1, *([1] * (total.dim() - 1)))


class SumFusion(_ReducedFusion):
    """Sum of the present modalities' features: ``y_b = sum_{m present in b} P_m x_{m,b}``.

    ``(B, *S, D_m)`` -> ``(B, *S, out_dim)``. Without ``out_dim`` all modalities must have one size and
    are summed as they are; with it each gets its own linear projection ``P_m`` first. A sample with no
    modality present gets zeros. Use for embeddings that already share a space (e.g. after a two-tower
    alignment); the sum's scale grows with the number of sensors, see :class:`MeanFusion`.
    """


class MeanFusion(_ReducedFusion):
    """Mean over the present modalities: ``y_b = sum_{m present in b} P_m x_{m,b} / #present_b``.

    Same options as :class:`SumFusion`; dividing by the number of present modalities keeps the scale
    when a sensor drops out. A sample with no modality present gets zeros.
    """

    _mean = True
