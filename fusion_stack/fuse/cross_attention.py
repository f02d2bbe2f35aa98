"""Cross-attention fusion: one modality's tokens query the other modalities' tokens.

The attention-based fusion of the survey (e.g. the multimodal transformer of Tsai et al. 2019, MulT;
TransFusion's LiDAR queries attending to image features, Bai et al. 2022; BEVFormer's learned BEV
queries, Li et al. 2022). In the driving stack: LiDAR-BEV cells (queries) gather camera / radar
evidence (keys and values), one decoder block: ``h = LN(q + CrossAttn(q, kv))``, ``y = LN(h + FFN(h))``,
with ``kv`` the concatenated tokens of all other modalities, each projected to ``dim`` plus a learned
modality embedding. Built on :class:`fusion_stack.align.cross_attention.CrossAttentionAligner`.

Absent modalities:

* a key modality absent for a sample: its tokens are padding for that sample (weight 0);
* all key modalities absent: the cross-modal term is dropped (``torch.where``), so the output is the
  query stream through the same norm / FFN: ``h = LN(q)``;
* the query modality absent: the sample uses ``num_queries`` learned query tokens instead (BEVFormer
  style), which still gather the other modalities; with nothing present at all the output is a learned
  constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from fusion_stack.align.cross_attention import CrossAttentionAligner
from fusion_stack.fuse.base import (
    check_heads,
    check_modalities,
    check_positive_int,
    prepare_inputs,
    where_present,
)
from fusion_stack.fuse.errors import FusionError

__all__ = ["CrossAttentionFusion"]


class CrossAttentionFusion(nn.Module):
    """Queries from ``query_modality`` (B, num_queries, D_q), keys/values from the others (B, N_m, D_m).

    Output ``(B, num_queries, dim)``. Token counts ``N_m`` may differ between key modalities; the query
    modality must have exactly ``num_queries`` tokens (also the number of learned fallback queries).
    ``ff_dim`` defaults to ``4 * dim``.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        query_modality: str,
        num_queries: int,
        dim: int,
        num_heads: int,
        ff_dim: int | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        if query_modality not in self.modalities:
            raise FusionError(
                f"{query_modality!r} is not one of the modalities {self.modalities!r}",
                source=who,
                field="query_modality",
            )
        if len(self.modalities) < 2:
            raise FusionError(
                f"needs the query modality and at least one other, got {self.modalities!r}",
                source=who,
                field="modalities",
            )
        self.query_modality = query_modality
        self.key_modalities = tuple(m for m in self.modalities if m != query_modality)
        self.num_queries = check_positive_int(num_queries, name="num_queries", who=who)
        self.out_dim = check_positive_int(dim, name="dim", who=who)
        check_heads(self.out_dim, num_heads, who=who)
        hidden = 4 * self.out_dim if ff_dim is None else check_positive_int(ff_dim, name="ff_dim", who=who)
        self.projections = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in zip(self.modalities, self.in_dims)})
        self.modality_embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(dim) * 0.02) for m in self.key_modalities}
        )
        self.learned_queries = nn.Parameter(torch.randn(self.num_queries, dim) * 0.02)
        self.attention = CrossAttentionAligner(query_dim=dim, key_dim=dim, embed_dim=dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse token features ``features[m]`` (B, N_m, D_m) into (B, num_queries, dim)."""
        who = type(self).__name__
        inputs = prepare_inputs(
            features,
            present,
            modalities=self.modalities,
            in_dims=self.in_dims,
            who=who,
            ndim=3,
            same_middle=False,
        )
        batch = inputs.batch_size
        fallback = self.learned_queries.to(inputs.dtype).expand(batch, -1, -1)
        x_query = inputs.values.get(self.query_modality)
        if x_query is None:
            queries = fallback
        else:
            if x_query.shape[1] != self.num_queries:
                raise FusionError(
                    f"must have num_queries={self.num_queries} tokens, got shape {tuple(x_query.shape)}",
                    source=who,
                    field=f"features[{self.query_modality!r}]",
                )
            queries = where_present(
                inputs.masks[self.query_modality], self.projections[self.query_modality](x_query), fallback
            )

        tokens, padding = [], []
        for m in self.key_modalities:
            x = inputs.values.get(m)
            if x is None:
                continue
            tokens.append(self.projections[m](x) + self.modality_embeddings[m])
            padding.append((~inputs.masks[m]).unsqueeze(1).expand(-1, x.shape[1]))
        if tokens:
            attended = self.attention(
                queries, torch.cat(tokens, dim=1), key_padding_mask=torch.cat(padding, dim=1)
            ).output
            cross = where_present(inputs.any_present(self.key_modalities), attended)
            h = self.norm1(queries + cross)
        else:
            h = self.norm1(queries)
        return self.norm2(h + self.ffn(h))
