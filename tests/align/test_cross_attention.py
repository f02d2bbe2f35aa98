"""CrossAttentionAligner: weights are a distribution over unpadded keys; output = weights @ values."""

from __future__ import annotations

import math

import pytest
import torch

from fusion_stack.align.cross_attention import CrossAttentionAligner
from fusion_stack.align.errors import AlignmentError

torch.set_num_threads(1)


def _inputs(
    b: int = 2, nq: int = 3, nk: int = 5, dq: int = 4, dk: int = 6, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, nq, dq, generator=g), torch.randn(b, nk, dk, generator=g)


def _padding() -> torch.Tensor:
    return torch.tensor([[False, False, True, False, True], [True, True, True, True, False]])


def test_weights_sum_to_one_and_masked_keys_get_zero() -> None:
    torch.manual_seed(0)
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=2)
    query, key = _inputs()
    result = aligner(query, key, key_padding_mask=_padding())
    assert result.output.shape == (2, 3, 8)
    assert result.weights.shape == (2, 2, 3, 5)
    torch.testing.assert_close(result.weights.sum(dim=-1), torch.ones(2, 2, 3))
    padded = _padding()[:, None, None, :].expand_as(result.weights)
    assert (result.weights[padded] == 0).all()
    assert (result.weights[~padded] > 0).all()
    unmasked = aligner(query, key).weights
    torch.testing.assert_close(unmasked.sum(dim=-1), torch.ones(2, 2, 3))


def test_single_head_identity_projections_give_softmax_attention() -> None:
    aligner = CrossAttentionAligner(query_dim=4, key_dim=4, embed_dim=4, num_heads=1)
    with torch.no_grad():
        for layer in (aligner.q_proj, aligner.k_proj, aligner.v_proj, aligner.out_proj):
            layer.weight.copy_(torch.eye(4))
            layer.bias.zero_()
    query, key = _inputs(dk=4)
    value = torch.randn(2, 5, 4)
    mask = _padding()
    result = aligner(query, key, value, key_padding_mask=mask)
    for b in range(2):
        valid = ~mask[b]
        scores = query[b] @ key[b, valid].T / math.sqrt(4)
        expected_weights = torch.softmax(scores, dim=-1)
        torch.testing.assert_close(result.weights[b, 0][:, valid], expected_weights)
        torch.testing.assert_close(result.output[b], expected_weights @ value[b, valid])
    torch.testing.assert_close(result.output, result.weights[:, 0] @ value)


def test_multi_head_output_equals_recomputation() -> None:
    torch.manual_seed(1)
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=4, value_dim=3)
    query, key = _inputs()
    value = torch.randn(2, 5, 3)
    result = aligner(query, key, value, key_padding_mask=_padding())
    v = aligner.v_proj(value).view(2, 5, 4, 2).transpose(1, 2)  # (B, H, Nk, dh)
    q = aligner.q_proj(query).view(2, 3, 4, 2).transpose(1, 2)
    k = aligner.k_proj(key).view(2, 5, 4, 2).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2) / math.sqrt(2)).masked_fill(_padding()[:, None, None, :], -math.inf)
    weights = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(result.weights, weights)
    heads = (weights @ v).transpose(1, 2).reshape(2, 3, 8)
    torch.testing.assert_close(result.output, aligner.out_proj(heads))


def test_matches_torch_multihead_attention_with_the_same_projections() -> None:
    torch.manual_seed(5)
    aligner = CrossAttentionAligner(query_dim=8, key_dim=6, embed_dim=8, num_heads=4, value_dim=3)
    mha = torch.nn.MultiheadAttention(8, 4, batch_first=True, kdim=6, vdim=3)
    with torch.no_grad():
        mha.q_proj_weight.copy_(aligner.q_proj.weight)
        mha.k_proj_weight.copy_(aligner.k_proj.weight)
        mha.v_proj_weight.copy_(aligner.v_proj.weight)
        mha.in_proj_bias.copy_(torch.cat([aligner.q_proj.bias, aligner.k_proj.bias, aligner.v_proj.bias]))
        mha.out_proj.weight.copy_(aligner.out_proj.weight)
        mha.out_proj.bias.copy_(aligner.out_proj.bias)
    query, key = _inputs(dq=8)
    value = torch.randn(2, 5, 3)
    pad = torch.tensor([[False, False, True, False, True], [True, False, True, True, False]])
    ours = aligner(query, key, value, key_padding_mask=pad)
    theirs, theirs_weights = mha(query, key, value, key_padding_mask=pad, average_attn_weights=False)
    torch.testing.assert_close(ours.output, theirs)
    torch.testing.assert_close(ours.weights, theirs_weights)


def test_padded_keys_with_nan_do_not_leak() -> None:
    torch.manual_seed(2)
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=2)
    query, key = _inputs()
    mask = _padding()
    garbage = key.clone()
    garbage[mask] = float("nan")
    clean = aligner(query, key, key_padding_mask=mask)
    dirty = aligner(query, garbage, key_padding_mask=mask)
    assert torch.isfinite(dirty.output).all()
    torch.testing.assert_close(clean.output, dirty.output, rtol=0, atol=0)
    torch.testing.assert_close(clean.weights, dirty.weights, rtol=0, atol=0)


def test_all_keys_padded_gives_zero_weights_and_bias_output() -> None:
    torch.manual_seed(3)
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=2)
    query, key = _inputs()
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1] = True
    query.requires_grad_()
    result = aligner(query, key, key_padding_mask=mask)
    assert (result.weights[1] == 0).all()
    torch.testing.assert_close(result.output[1], aligner.out_proj.bias.expand(3, 8))
    result.output.sum().backward()
    assert query.grad is not None
    assert torch.isfinite(query.grad).all()


def test_gradients_flow_to_query_key_and_value() -> None:
    torch.manual_seed(4)
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=2)
    query, key = (x.requires_grad_() for x in _inputs())
    aligner(query, key).output.square().sum().backward()
    for x in (query, key):
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0


def test_bad_inputs_are_reported() -> None:
    aligner = CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=8, num_heads=2)
    query, key = _inputs()
    with pytest.raises(AlignmentError, match=r"key.*\(2, 5, 5\)"):
        aligner(query, key[..., :5])
    with pytest.raises(AlignmentError, match=r"key_padding_mask.*\(2, 5\) bool.*\(2, 4\)"):
        aligner(query, key, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(AlignmentError, match="batch"):
        aligner(query[:1], key)
    with pytest.raises(AlignmentError, match="divisible"):
        CrossAttentionAligner(query_dim=4, key_dim=6, embed_dim=6, num_heads=4)
