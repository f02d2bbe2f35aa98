"""Token substitution fusion in the style of TokenFusion (Wang et al. 2022, "Multimodal Token Fusion for
Vision Transformers", CVPR).

For modalities on one aligned token grid (BEV cells of camera-BEV and LiDAR-BEV features, or
pixel-aligned RGB / depth patches), a small scorer rates each token of each modality, ``s_m(n) in (0, 1)``.
Tokens judged uninformative (``s_m(n) < threshold``) are *substituted* by the projected tokens of the
other modalities at the same grid position (TokenFusion's eq. 4,
``e_m <- e_m * 1[s_m >= theta] + Proj(e_m') * 1[s_m < theta]``); with more than two modalities the
substitute is the mean of ``Proj_{m'->m}(e_m')`` over the other modalities present. Kept tokens are
multiplied by their score, TokenFusion's soft masking, which is what trains the scorer; pair it with the
paper's L1 sparsity term on the scores (``lambda * mean |s_m|`` over present samples, from
:meth:`TokenFusion.forward_with_scores`) so that uninformative tokens are pushed below ``threshold``
(the paper uses ``2e-2``).

The fused output is the mean over present modalities of their substituted token streams, ``(B, N, dim)``.
Absent modalities: a modality absent for a sample is never a substitution source and its stream is left
out of the mean; if a sample has no other modality, nothing is substituted. With nothing present the
output is zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import check_modalities, check_positive_int, prepare_inputs, where_present
from fusion_stack.fuse.errors import FusionError

__all__ = ["TokenFusion"]


class TokenFusion(nn.Module):
    """Score tokens, substitute those below ``threshold`` by other modalities' projected tokens.

    Features ``(B, N, D_m)`` on one aligned grid (same ``N``) -> ``(B, N, dim)``. Each modality is first
    projected to ``dim``; ``substitutes["a->b"]`` is the ``dim x dim`` projection of modality ``a``'s
    tokens into ``b``'s stream; ``scorers[m]`` is ``Linear(dim, dim) - GELU - Linear(dim, 1) - sigmoid``.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        dim: int,
        threshold: float = 0.02,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(dim, name="dim", who=who)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise FusionError(f"must be a number in [0, 1], got {threshold!r}", source=who, field="threshold")
        self.threshold = float(threshold)
        self.projections = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in zip(self.modalities, self.in_dims)})
        self.scorers = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1)) for m in self.modalities}
        )
        self.substitutes = nn.ModuleDict(
            {f"{src}->{dst}": nn.Linear(dim, dim) for dst in self.modalities for src in self.modalities if src != dst}
        )

    def forward_with_scores(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The fused tokens (B, N, dim) and each given modality's token scores (B, N) in (0, 1).

        Scores of absent samples are returned as computed on zeroed features; mask them with ``present``
        before a sparsity loss.
        """
        inputs = prepare_inputs(
            features,
            present,
            modalities=self.modalities,
            in_dims=self.in_dims,
            who=type(self).__name__,
            ndim=3,
        )
        given = [m for m in self.modalities if m in inputs.values]
        embedded = {m: self.projections[m](inputs.values[m]) for m in given}
        scores = {m: torch.sigmoid(self.scorers[m](embedded[m])).squeeze(-1) for m in given}
        fused: Tensor | None = None
        for dst in given:
            sources = [src for src in given if src != dst]
            stream = embedded[dst] * scores[dst].unsqueeze(-1)
            if sources:
                total: Tensor | None = None
                for src in sources:
                    term = where_present(inputs.masks[src], self.substitutes[f"{src}->{dst}"](embedded[src]))
                    total = term if total is None else total + term
                assert total is not None
                n_sources = inputs.count_present(sources).clamp(min=1.0).view(-1, 1, 1)
                substitute = total / n_sources
                replace = (scores[dst] < self.threshold) & inputs.any_present(sources).unsqueeze(1)  # (B, N)
                stream = torch.where(replace.unsqueeze(-1), substitute, stream)
            stream = where_present(inputs.masks[dst], stream)
            fused = stream if fused is None else fused + stream
        assert fused is not None
        count = inputs.count_present(given).clamp(min=1.0).view(-1, 1, 1)
        return fused / count, scores

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse token features ``features[m]`` (B, N, D_m) on one grid into (B, N, dim)."""
        return self.forward_with_scores(features, present)[0]
