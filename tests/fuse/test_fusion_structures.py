"""TwoTower, TwoLeg and OneTower compose encoders and fusers as documented."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.gated import GatedFusion
from fusion_stack.fuse.structures import OneTower, TwoLeg, TwoTower

torch.set_num_threads(1)


def _encoders() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {"camera": nn.Linear(5, 4), "lidar": nn.Sequential(nn.Linear(3, 4), nn.Tanh())}


def _features() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"camera": torch.randn(3, 5, generator=g), "lidar": torch.randn(3, 3, generator=g)}


def test_two_tower_encodes_separately_and_combines_simply() -> None:
    encoders, features = _encoders(), _features()
    present = {"lidar": torch.tensor([True, False, True])}
    tower = TwoTower(encoders=encoders, embed_dim=4)
    embeddings = tower.encode(features, present)
    camera, lidar = encoders["camera"](features["camera"]), encoders["lidar"](features["lidar"])
    torch.testing.assert_close(embeddings["camera"], camera)
    torch.testing.assert_close(embeddings["lidar"][[0, 2]], lidar[[0, 2]])
    assert (embeddings["lidar"][1] == 0).all()
    out = tower(features, present)
    torch.testing.assert_close(out[[0, 2]], (camera[[0, 2]] + lidar[[0, 2]]) / 2)
    torch.testing.assert_close(out[1], camera[1])
    concat = TwoTower(encoders=encoders, embed_dim=4, combination="concat")
    assert concat.out_dim == 8
    torch.testing.assert_close(concat(features)[:, :4], camera)


def test_two_leg_feeds_encodings_to_the_fuser() -> None:
    encoders, features = _encoders(), _features()
    fuser = GatedFusion(modalities=("camera", "lidar"), in_dims=4, out_dim=6)
    leg = TwoLeg(encoders=encoders, fuser=fuser)
    present = {"camera": torch.tensor([True, True, False])}
    encoded = {m: encoders[m](x) for m, x in features.items()}
    torch.testing.assert_close(leg(features, present), fuser(encoded, present))
    assert leg.out_dim == 6
    assert any(p is fuser.gate.weight for p in leg.parameters())
    with pytest.raises(FusionError, match="fuser"):
        TwoLeg(encoders=encoders, fuser=GatedFusion(modalities=("camera", "radar"), in_dims=4, out_dim=6))


def test_one_tower_ignores_tokens_of_absent_modalities() -> None:
    torch.manual_seed(2)
    tower = OneTower(modalities=("camera", "lidar"), in_dims=(5, 3), dim=8, num_layers=1, num_heads=2)
    tokens = {"camera": torch.randn(2, 4, 5), "lidar": torch.randn(2, 6, 3)}
    out = tower(tokens, {"lidar": torch.tensor([False, True])})
    assert out.shape == (2, 8)
    torch.testing.assert_close(out[:1], tower({"camera": tokens["camera"][:1]}), rtol=1e-5, atol=1e-5)
    joint = tower({m: x[1:] for m, x in tokens.items()})
    torch.testing.assert_close(out[1:], joint, rtol=1e-5, atol=1e-5)


def test_bad_encoders_are_reported() -> None:
    with pytest.raises(FusionError, match="encoders"):
        TwoTower(encoders={}, embed_dim=4)
    with pytest.raises(FusionError, match=r"encoders\['camera'\]"):
        TwoTower(encoders={"camera": lambda x: x}, embed_dim=4)  # type: ignore[dict-item]
    with pytest.raises(FusionError, match="combination"):
        TwoTower(encoders=_encoders(), embed_dim=4, combination="max")  # type: ignore[arg-type]
    tower = TwoTower(encoders=_encoders(), embed_dim=4)
    with pytest.raises(FusionError, match=r"unknown modalities \['radar'\]"):
        tower({"radar": torch.zeros(2, 3)})
