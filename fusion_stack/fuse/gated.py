"""Gated fusion with learned per-modality gates (Gated Multimodal Unit, Arevalo et al. 2017).

The GMU ("Gated Multimodal Units for Information Fusion", ICLR workshop 2017) gives each modality a
hidden representation ``h_m = tanh(W_m x_m)`` and mixes them with gates computed from *all* inputs:
for two modalities ``z = sigmoid(W_z [x_1; x_2])``, ``h = z * h_1 + (1 - z) * h_2``. With M modalities
the gates become a softmax over modalities, ``g = softmax_m(W_z [x_1; ...; x_M; p])``, taken over the
modalities *present* in the sample only (``p`` are the 0/1 presence flags, so the gate network knows
which sensors are missing); for two present modalities this is exactly the sigmoid GMU, since
``softmax(a, b)_1 = sigmoid(a - b)``.

In the driving stack it is the feature-level fuser for per-object or per-cell embeddings where the
reliability of a sensor varies with conditions (camera at night, LiDAR in rain): the gates learn to
weight sensors per sample, and a dropped sensor's weight is redistributed over the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import check_modalities, check_positive_int, prepare_inputs

__all__ = ["GatedFusion"]


class GatedFusion(nn.Module):
    """Multi-modality GMU: ``y = sum_{m present} g_m * tanh(W_m x_m + b_m)``, ``g`` softmax over present m.

    Features ``(B, *S, D_m)`` (``S`` equal across modalities, may be empty) -> ``(B, *S, out_dim)``.
    ``per_feature_gates=True`` (as in the GMU) gives one gate per modality *and* output feature;
    ``False`` one scalar gate per modality. Absent modalities get weight exactly 0 (``torch.where``)
    and enter the gate network as zeros with presence flag 0. A sample with no modality present gets
    zeros. With a single present modality the output is that modality's ``tanh(W_m x_m + b_m)``.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        out_dim: int,
        per_feature_gates: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(out_dim, name="out_dim", who=who)
        self.per_feature_gates = bool(per_feature_gates)
        self.hidden = nn.ModuleDict({m: nn.Linear(d, self.out_dim) for m, d in zip(self.modalities, self.in_dims)})
        gates_per_modality = self.out_dim if self.per_feature_gates else 1
        n = len(self.modalities)
        self.gate = nn.Linear(sum(self.in_dims) + n, n * gates_per_modality)

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse ``features[m]`` (B, *S, D_m) into (B, *S, out_dim)."""
        inputs = prepare_inputs(
            features, present, modalities=self.modalities, in_dims=self.in_dims, who=type(self).__name__
        )
        lead = next(iter(inputs.values.values())).shape[:-1]  # (B, *S)
        xs = [
            inputs.values.get(m, torch.zeros(*lead, d, dtype=inputs.dtype, device=inputs.device))
            for m, d in zip(self.modalities, self.in_dims)
        ]
        mask = inputs.mask_stack(self.modalities)  # (B, M)
        flags = mask.to(inputs.dtype).view(mask.shape[0], *([1] * (len(lead) - 1)), -1).expand(*lead, -1)
        logits = self.gate(torch.cat([*xs, flags], dim=-1)).unflatten(-1, (len(self.modalities), -1))
        mask_b = mask.view(mask.shape[0], *([1] * (len(lead) - 1)), -1, 1)  # (B, 1.., M, 1)
        logits = torch.where(mask_b, logits, torch.finfo(logits.dtype).min)
        weights = torch.where(mask_b, torch.softmax(logits, dim=-2), 0.0)  # (B, *S, M, G)
        hidden = torch.stack([torch.tanh(self.hidden[m](x)) for m, x in zip(self.modalities, xs)], dim=-2)
        hidden = torch.where(mask_b, hidden, 0.0)
        return (weights * hidden).sum(dim=-2)
