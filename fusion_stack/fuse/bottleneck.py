"""Attention bottleneck fusion (Nagrani et al. 2021, MBT: "Attention Bottlenecks for Multimodal Fusion").

Each modality has its own transformer layers; the modalities exchange information *only* through a
few shared bottleneck tokens ``z_fsn``. In a fusion layer every modality ``m`` runs its layer over its
own tokens plus the bottleneck tokens, ``[z_m', z_fsn,m'] = Layer_m([z_m; z_fsn])``, and the new
bottleneck tokens are the mean of the modalities' updates, ``z_fsn' = mean_m z_fsn,m'``. The first
``num_unimodal_layers`` layers run without bottleneck tokens (MBT's "fusion layer" ``L_f``). Squeezing
cross-modal exchange through a few tokens is cheaper than full joint attention and forces each modality
to pass on only what the others need -- here for fusing camera / LiDAR / radar token sets in a
perception head.

Readout (as in MBT): each modality gets a learned CLS token; the output is the mean over the modalities
present in the sample of their final, layer-normalised CLS tokens, ``(B, dim)``.

Absent modalities are skipped per sample: their updates are left out of the bottleneck mean and of the
readout (``torch.where``); a modality missing from ``features`` is not computed at all. With no modality
present the output is zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import (
    FuserInputs,
    check_heads,
    check_modalities,
    check_positive_int,
    prepare_inputs,
    where_present,
)
from fusion_stack.fuse.errors import FusionError

__all__ = ["BottleneckFusion"]


class BottleneckFusion(nn.Module):
    """MBT: per-modality transformer layers sharing ``num_bottlenecks`` tokens; (B, N_m, D_m) -> (B, dim).

    Each modality's tokens are projected to ``dim`` and a CLS token is prepended; token counts ``N_m``
    may differ between modalities. Layers are pre-norm ``nn.TransformerEncoderLayer`` (GELU, no dropout)
    with ``num_heads`` heads and ``ff_dim`` (default ``4 * dim``) hidden units.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        dim: int,
        num_layers: int,
        num_heads: int,
        num_bottlenecks: int = 4,
        num_unimodal_layers: int = 0,
        ff_dim: int | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(dim, name="dim", who=who)
        self.num_layers = check_positive_int(num_layers, name="num_layers", who=who)
        self.num_bottlenecks = check_positive_int(num_bottlenecks, name="num_bottlenecks", who=who)
        if isinstance(num_unimodal_layers, bool) or not 0 <= num_unimodal_layers < self.num_layers:
            raise FusionError(
                f"must be an int in [0, num_layers={self.num_layers}), got {num_unimodal_layers!r}",
                source=who,
                field="num_unimodal_layers",
            )
        self.num_unimodal_layers = num_unimodal_layers
        check_heads(self.out_dim, num_heads, who=who)
        hidden = 4 * dim if ff_dim is None else check_positive_int(ff_dim, name="ff_dim", who=who)
        self.projections = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in zip(self.modalities, self.in_dims)})
        self.cls_tokens = nn.ParameterDict({m: nn.Parameter(torch.randn(1, 1, dim) * 0.02) for m in self.modalities})
        self.bottleneck_tokens = nn.Parameter(torch.randn(1, self.num_bottlenecks, dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    m: nn.TransformerEncoderLayer(
                        dim,
                        num_heads,
                        hidden,
                        dropout=0.0,
                        activation="gelu",
                        batch_first=True,
                        norm_first=True,
                    )
                    for m in self.modalities
                }
            )
            for _ in range(self.num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward_streams(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> tuple[dict[str, Tensor], Tensor, FuserInputs]:
        """Run the layers: (final tokens per given modality, final bottleneck tokens, checked inputs).

        Each given modality's tokens are (B, 1 + N_m, dim), CLS first; the bottleneck tokens are
        (B, num_bottlenecks, dim); the checked inputs carry the masks. Tokens of samples where the
        modality is absent are computed from zeros and carry no meaning.
        """
        inputs = prepare_inputs(
            features,
            present,
            modalities=self.modalities,
            in_dims=self.in_dims,
            who=type(self).__name__,
            ndim=3,
            same_middle=False,
        )
        batch = inputs.batch_size
        given = [m for m in self.modalities if m in inputs.values]
        tokens = {
            m: torch.cat(
                [
                    self.cls_tokens[m].to(inputs.dtype).expand(batch, -1, -1),
                    self.projections[m](inputs.values[m]),
                ],
                dim=1,
            )
            for m in given
        }
        count = inputs.count_present(given).clamp(min=1.0).view(-1, 1, 1)
        anyone = inputs.any_present(given)
        shared = self.bottleneck_tokens.to(inputs.dtype).expand(batch, -1, -1)
        nb = self.num_bottlenecks
        for index, module in enumerate(self.layers):
            layer = cast(nn.ModuleDict, module)
            if index < self.num_unimodal_layers:
                tokens = {m: layer[m](tokens[m]) for m in given}
                continue
            update: Tensor | None = None
            for m in given:
                out = layer[m](torch.cat([tokens[m], shared], dim=1))
                tokens[m] = out[:, :-nb]
                contribution = where_present(inputs.masks[m], out[:, -nb:])
                update = contribution if update is None else update + contribution
            assert update is not None
            shared = where_present(anyone, update / count, shared)
        return tokens, shared, inputs

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse token features ``features[m]`` (B, N_m, D_m) into (B, dim)."""
        tokens, _, inputs = self.forward_streams(features, present)
        given = list(tokens)
        count = inputs.count_present(given).clamp(min=1.0).view(-1, 1)
        readout: Tensor | None = None
        for m in given:
            cls = where_present(inputs.masks[m], self.norm(tokens[m][:, 0]))
            readout = cls if readout is None else readout + cls
        assert readout is not None
        return readout / count
