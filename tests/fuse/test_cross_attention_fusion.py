"""CrossAttentionFusion: the decoder block by recomputation, and its fallbacks for absent modalities."""

from __future__ import annotations

import pytest
import torch

from fusion_stack.fuse.cross_attention import CrossAttentionFusion
from fusion_stack.fuse.errors import FusionError

torch.set_num_threads(1)


def _fuser() -> CrossAttentionFusion:
    torch.manual_seed(0)
    return CrossAttentionFusion(
        modalities=("lidar", "camera", "radar"),
        in_dims=(4, 6, 3),
        query_modality="lidar",
        num_queries=5,
        dim=8,
        num_heads=2,
        ff_dim=16,
    )


def _features() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "lidar": torch.randn(3, 5, 4, generator=g),
        "camera": torch.randn(3, 7, 6, generator=g),
        "radar": torch.randn(3, 2, 3, generator=g),
    }


def _block(fuser: CrossAttentionFusion, queries: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    h = fuser.norm1(queries + cross)
    return fuser.norm2(h + fuser.ffn(h))


def test_output_equals_the_decoder_block_recomputed() -> None:
    fuser, features = _fuser(), _features()
    present = {"radar": torch.tensor([True, False, True])}
    out = fuser(features, present)
    assert out.shape == (3, 5, 8)
    q = fuser.projections["lidar"](features["lidar"])
    for b in range(3):
        kv = [fuser.projections["camera"](features["camera"][b]) + fuser.modality_embeddings["camera"]]
        if present["radar"][b]:
            kv.append(fuser.projections["radar"](features["radar"][b]) + fuser.modality_embeddings["radar"])
        attended = fuser.attention(q[b : b + 1], torch.cat(kv)[None]).output
        torch.testing.assert_close(out[b : b + 1], _block(fuser, q[b : b + 1], attended))


def test_absent_keys_fall_back_to_the_query_stream() -> None:
    fuser, features = _fuser(), _features()
    no_keys = fuser(
        features,
        {"camera": torch.tensor([False, True, False]), "radar": torch.tensor([False, False, False])},
    )
    q = fuser.projections["lidar"](features["lidar"])
    expected = _block(fuser, q, torch.zeros_like(q))
    torch.testing.assert_close(no_keys[[0, 2]], expected[[0, 2]])
    torch.testing.assert_close(fuser({"lidar": features["lidar"]}), expected)


def test_absent_query_modality_uses_the_learned_queries() -> None:
    fuser, features = _fuser(), _features()
    out = fuser(features, {"lidar": torch.tensor([False, True, False])})
    learned = fuser.learned_queries[None]
    for b in (0, 2):
        kv = torch.cat(
            [
                fuser.projections["camera"](features["camera"][b]) + fuser.modality_embeddings["camera"],
                fuser.projections["radar"](features["radar"][b]) + fuser.modality_embeddings["radar"],
            ]
        )[None]
        expected = _block(fuser, learned, fuser.attention(learned, kv).output)
        torch.testing.assert_close(out[b : b + 1], expected)
    nothing = fuser({"lidar": features["lidar"]}, {"lidar": torch.zeros(3, dtype=torch.bool)})
    torch.testing.assert_close(nothing, _block(fuser, learned, torch.zeros_like(learned)).expand(3, -1, -1))


def test_bad_declarations_and_query_counts_are_reported() -> None:
    fuser, features = _fuser(), _features()
    with pytest.raises(FusionError, match=r"num_queries=5.*\(3, 4, 4\)"):
        fuser({"lidar": features["lidar"][:, :4]})
    with pytest.raises(FusionError, match="query_modality"):
        CrossAttentionFusion(modalities=("a", "b"), in_dims=2, query_modality="c", num_queries=1, dim=4, num_heads=1)
    with pytest.raises(FusionError, match="at least one other"):
        CrossAttentionFusion(modalities=("a",), in_dims=2, query_modality="a", num_queries=1, dim=4, num_heads=1)
