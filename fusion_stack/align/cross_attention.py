"""Cross-attention alignment that returns its alignment weights (Vaswani et al. 2017; Bahdanau et al. 2015).

Attention is the *implicit*, soft form of alignment: each query token (e.g. a BEV cell, an object
query, a radar point) gets a distribution over key tokens of another modality (camera image patches,
LiDAR pillars), ``A = softmax(Q K^T / sqrt(d_h))``, and reads ``A V``. Unlike a fusion layer, this
module hands the weights back, ``(B, heads, Nq, Nk)``, so a user can see what attended to what, e.g.
to check that BEV cells attend to the camera pixels they project to, or to supervise the alignment.
:class:`fusion_stack.fuse.cross_attention.CrossAttentionFusion` is built on it.

Padding: ``key_padding_mask`` ``(B, Nk)`` is True where a key is padding (the convention of
``torch.nn.MultiheadAttention``); padded keys get weight exactly 0 and their key/value vectors are
replaced by zeros (``torch.where``) before projection, so garbage or NaN there cannot leak. A query
whose keys are all padded gets all-zero weights and an attended value of 0, so its output is the
output projection's bias.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from fusion_stack.align.errors import AlignmentError

__all__ = ["CrossAttentionAligner", "CrossAttentionResult"]


class CrossAttentionResult(NamedTuple):
    """Output of :class:`CrossAttentionAligner`.

    ``output`` (B, Nq, embed_dim): attended values after the output projection;
    ``weights`` (B, heads, Nq, Nk): the alignment weights, rows summing to 1 over unpadded keys.
    """

    output: Tensor
    weights: Tensor


def _check_tokens(x: object, *, name: str, dim: int, who: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise AlignmentError(f"must be a tensor, got {type(x).__name__}", source=who, field=name)
    if x.dim() != 3 or x.shape[-1] != dim or not x.is_floating_point():
        raise AlignmentError(
            f"must be floating (B, N, {dim}), got shape {tuple(x.shape)} dtype {x.dtype}",
            source=who,
            field=name,
        )
    return x


def _positive_int(value: object, *, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AlignmentError(f"must be an int > 0, got {value!r}", source=who, field=name)
    return value


class CrossAttentionAligner(nn.Module):
    """Multi-head cross-attention from query tokens to key/value tokens, returning the weights.

    ``query`` (B, Nq, query_dim), ``key`` (B, Nk, key_dim), ``value`` (B, Nk, value_dim) (default: the
    keys) -> :class:`CrossAttentionResult` with ``output`` (B, Nq, embed_dim) and ``weights``
    (B, num_heads, Nq, Nk). Per head ``h``: ``A_h = softmax(Q_h K_h^T / sqrt(embed_dim / num_heads))``,
    ``O_h = A_h V_h``; heads are concatenated and passed through ``out_proj``. No dropout, so the
    returned weights are exactly the ones applied.
    """

    def __init__(
        self,
        *,
        query_dim: int,
        key_dim: int,
        embed_dim: int,
        num_heads: int,
        value_dim: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.query_dim = _positive_int(query_dim, name="query_dim", who=who)
        self.key_dim = _positive_int(key_dim, name="key_dim", who=who)
        self.value_dim = (
            self.key_dim if value_dim is None else _positive_int(value_dim, name="value_dim", who=who)
        )
        self.embed_dim = _positive_int(embed_dim, name="embed_dim", who=who)
        self.num_heads = _positive_int(num_heads, name="num_heads", who=who)
        if self.embed_dim % self.num_heads:
            raise AlignmentError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}",
                source=who,
                field="num_heads",
            )
        self.head_dim = self.embed_dim // self.num_heads
        self.q_proj = nn.Linear(self.query_dim, self.embed_dim, bias=bias)
        self.k_proj = nn.Linear(self.key_dim, self.embed_dim, bias=bias)
        self.v_proj = nn.Linear(self.value_dim, self.embed_dim, bias=bias)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=bias)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
    ) -> CrossAttentionResult:
        """Attend from ``query`` (B, Nq, Dq) to ``key`` (B, Nk, Dk) / ``value`` (B, Nk, Dv).

        ``key_padding_mask`` (B, Nk) bool, True = padding (ignored).
        """
        who = type(self).__name__
        query = _check_tokens(query, name="query", dim=self.query_dim, who=who)
        key = _check_tokens(key, name="key", dim=self.key_dim, who=who)
        value = key if value is None else _check_tokens(value, name="value", dim=self.value_dim, who=who)
        batch, n_keys = key.shape[0], key.shape[1]
        if query.shape[0] != batch or value.shape[:2] != key.shape[:2]:
            raise AlignmentError(
                f"batch/key counts disagree: query {tuple(query.shape)}, key {tuple(key.shape)}, "
                f"value {tuple(value.shape)}",
                source=who,
            )
        if key_padding_mask is not None:
            if (
                not isinstance(key_padding_mask, Tensor)
                or key_padding_mask.dtype != torch.bool
                or key_padding_mask.shape != (batch, n_keys)
            ):
                got = (
                    f"shape {tuple(key_padding_mask.shape)} dtype {key_padding_mask.dtype}"
                    if isinstance(key_padding_mask, Tensor)
                    else type(key_padding_mask).__name__
                )
                raise AlignmentError(
                    f"must be a ({batch}, {n_keys}) bool tensor (True = padding), got {got}",
                    source=who,
                    field="key_padding_mask",
                )
            padded = key_padding_mask.unsqueeze(-1)
            key = torch.where(padded, 0.0, key)
            value = torch.where(padded, 0.0, value)

        q = self.q_proj(query).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        k = self.k_proj(key).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        v = self.v_proj(value).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, Nq, Nk)
        if key_padding_mask is None:
            weights = torch.softmax(scores, dim=-1)
        else:
            padded_keys = key_padding_mask[:, None, None, :]
            scores = torch.where(padded_keys, torch.finfo(scores.dtype).min, scores)
            weights = torch.where(padded_keys, 0.0, torch.softmax(scores, dim=-1))
        attended = (weights @ v).transpose(1, 2).flatten(-2)  # (B, Nq, E)
        return CrossAttentionResult(output=self.out_proj(attended), weights=weights)
