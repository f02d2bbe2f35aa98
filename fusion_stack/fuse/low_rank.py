"""Tensor fusion (Zadeh et al. 2017, TFN) and low-rank multimodal fusion (Liu et al. 2018, LMF).

Tensor fusion ("Tensor Fusion Network for Multimodal Sentiment Analysis", EMNLP 2017) appends a 1 to
each modality's vector and takes the outer product of all of them,
``Z = [x_1; 1] (x) [x_2; 1] (x) ... (x) [x_M; 1]``, then a linear layer ``y = W vec(Z) + b``. Because of
the appended 1s, ``Z`` holds every unimodal term, every pairwise product, ..., up to the full M-way
product, so one linear layer models all orders of interaction. Its size ``prod_m (D_m + 1)`` grows
fast; LMF ("Efficient Low-rank Multimodal Fusion with Modality-Specific Factors", ACL 2018) factorises
the weight tensor into rank-``r`` modality factors ``W_m^(i)`` ((D_m + 1) x out) and computes
``y = sum_{i=1..r} lambda_i * prod_m (W_m^(i)^T [x_m; 1]) + b`` (``prod`` elementwise) without ever
building ``Z``: LMF with factors ``W_m^(i)`` equals TFN with weight
``W[o, j_1, ..., j_M] = sum_i lambda_i prod_m W_m^(i)[j_m, o]``.

Absent modalities: an absent ``x_m`` is replaced (``torch.where``) by zeros, so its factor is
``[0, ..., 0, 1]`` -- only the appended "1" term remains. In TFN this keeps exactly the block of ``Z``
whose index along modality m is the constant 1, i.e. the tensor fusion of the remaining modalities
(all their interactions, none involving m); in LMF modality m's factor reduces to its learned constant
row ``W_m^(i)[D_m, :]``, the same thing in factorised form. A sample with no modality present gets
the learned constant of the all-"1" entry. In the driving stack these fuse per-object embeddings
(camera appearance, LiDAR shape, radar velocity) where multiplicative interactions matter; use LMF when
``prod_m (D_m + 1)`` is large.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import FuserInputs, check_modalities, check_positive_int, prepare_inputs

__all__ = ["LowRankFusion", "TensorFusion"]


def _with_one(inputs: FuserInputs, modality: str, dim: int, lead: torch.Size) -> Tensor:
    """``[x_m; 1]`` with absent samples' ``x_m`` = 0 (already zeroed by ``prepare_inputs``)."""
    x = inputs.values.get(modality)
    if x is None:
        x = torch.zeros(*lead, dim, dtype=inputs.dtype, device=inputs.device)
    return torch.cat([x, torch.ones(*lead, 1, dtype=inputs.dtype, device=inputs.device)], dim=-1)


class TensorFusion(nn.Module):
    """TFN: ``y = W vec([x_1; 1] (x) ... (x) [x_M; 1]) + b``, outer product in declared modality order.

    Features ``(B, *S, D_m)`` -> ``(B, *S, out_dim)``; ``vec`` is row-major (the last modality varies
    fastest). ``self.linear`` has ``prod_m (D_m + 1)`` inputs: keep the sizes small or use
    :class:`LowRankFusion`. Absent modality -> its factor is ``[0, ..., 0, 1]`` (see the module doc).
    """

    def __init__(self, *, modalities: Sequence[str], in_dims: Sequence[int] | int, out_dim: int) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(out_dim, name="out_dim", who=who)
        self.fused_dim = math.prod(d + 1 for d in self.in_dims)
        self.linear = nn.Linear(self.fused_dim, self.out_dim)

    def fused_tensor(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """``vec([x_1; 1] (x) ... (x) [x_M; 1])`` as ``(B, *S, prod_m (D_m + 1))``."""
        inputs = prepare_inputs(
            features, present, modalities=self.modalities, in_dims=self.in_dims, who=type(self).__name__
        )
        lead = next(iter(inputs.values.values())).shape[:-1]
        z: Tensor | None = None
        for m, d in zip(self.modalities, self.in_dims):
            factor = _with_one(inputs, m, d, lead)
            z = factor if z is None else (z.unsqueeze(-1) * factor.unsqueeze(-2)).flatten(-2)
        assert z is not None
        return z

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse ``features[m]`` (B, *S, D_m) into (B, *S, out_dim)."""
        return self.linear(self.fused_tensor(features, present))


class LowRankFusion(nn.Module):
    """LMF: ``y = sum_i lambda_i prod_m (W_m^(i)^T [x_m; 1]) + b`` with ``rank`` factors per modality.

    Features ``(B, *S, D_m)`` -> ``(B, *S, out_dim)``. ``factors[m]`` is ``(rank, D_m + 1, out_dim)``
    (Xavier-normal initialised, as in Liu et al.), ``rank_weights`` ``(rank,)``, ``bias`` ``(out_dim,)``.
    Cost is linear in the modalities' sizes. Absent modality -> its factor is its "1" row only.
    """

    def __init__(self, *, modalities: Sequence[str], in_dims: Sequence[int] | int, out_dim: int, rank: int) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(out_dim, name="out_dim", who=who)
        self.rank = check_positive_int(rank, name="rank", who=who)
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(torch.empty(self.rank, d + 1, self.out_dim))
                for m, d in zip(self.modalities, self.in_dims)
            }
        )
        for factor in self.factors.values():
            for i in range(self.rank):
                nn.init.xavier_normal_(factor.data[i])
        self.rank_weights = nn.Parameter(torch.empty(1, self.rank))
        nn.init.xavier_normal_(self.rank_weights)
        self.bias = nn.Parameter(torch.zeros(self.out_dim))

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Fuse ``features[m]`` (B, *S, D_m) into (B, *S, out_dim)."""
        inputs = prepare_inputs(
            features, present, modalities=self.modalities, in_dims=self.in_dims, who=type(self).__name__
        )
        lead = next(iter(inputs.values.values())).shape[:-1]
        product: Tensor | None = None
        for m, d in zip(self.modalities, self.in_dims):
            factor = torch.einsum("...j,rjo->...ro", _with_one(inputs, m, d, lead), self.factors[m])
            product = factor if product is None else product * factor
        assert product is not None
        return torch.einsum("...ro,r->...o", product, self.rank_weights[0]) + self.bias
