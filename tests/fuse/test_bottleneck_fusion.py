"""BottleneckFusion (MBT): modalities exchange information only through the bottleneck tokens."""

from __future__ import annotations

import pytest
import torch

from fusion_stack.fuse.bottleneck import BottleneckFusion
from fusion_stack.fuse.errors import FusionError

torch.set_num_threads(1)


def _fuser(num_layers: int, num_unimodal_layers: int = 0) -> BottleneckFusion:
    torch.manual_seed(0)
    return BottleneckFusion(
        modalities=("camera", "lidar"),
        in_dims=(6, 4),
        dim=8,
        num_layers=num_layers,
        num_heads=2,
        num_bottlenecks=2,
        num_unimodal_layers=num_unimodal_layers,
    )


def _features(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"camera": torch.randn(2, 5, 6, generator=g), "lidar": torch.randn(2, 3, 4, generator=g)}


def _lidar_stream(fuser: BottleneckFusion, camera_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    features = {"camera": _features(camera_seed)["camera"], "lidar": _features(0)["lidar"]}
    tokens, bottleneck, _ = fuser.forward_streams(features)
    return tokens["lidar"], bottleneck


@pytest.mark.parametrize(
    ("num_layers", "num_unimodal_layers", "lidar_sees_camera"),
    [(1, 0, False), (2, 1, False), (2, 0, True), (3, 1, True)],
)
def test_information_crosses_only_through_the_bottleneck(
    num_layers: int, num_unimodal_layers: int, lidar_sees_camera: bool
) -> None:
    """In the first fusion layer the bottleneck tokens are still the learned initial ones, so camera
    information reaches the lidar stream one fusion layer later, through the bottleneck only."""
    fuser = _fuser(num_layers, num_unimodal_layers)
    lidar_a, bottleneck_a = _lidar_stream(fuser, camera_seed=1)
    lidar_b, bottleneck_b = _lidar_stream(fuser, camera_seed=2)
    assert not torch.allclose(bottleneck_a, bottleneck_b)  # the bottleneck always carries camera information
    assert torch.equal(lidar_a, lidar_b) != lidar_sees_camera


def test_bottleneck_update_is_the_mean_of_the_present_modalities_updates() -> None:
    fuser = _fuser(1)
    features = _features(3)
    _, bottleneck, _ = fuser.forward_streams(features, {"lidar": torch.tensor([True, False])})
    layer = fuser.layers[0]
    assert isinstance(layer, torch.nn.ModuleDict)
    init = fuser.bottleneck_tokens.expand(2, -1, -1)
    updates = {
        m: layer[m](
            torch.cat([torch.cat([fuser.cls_tokens[m].expand(2, -1, -1), fuser.projections[m](x)], 1), init], 1)
        )[:, -2:]
        for m, x in features.items()
    }
    torch.testing.assert_close(bottleneck[0], (updates["camera"][0] + updates["lidar"][0]) / 2)
    torch.testing.assert_close(bottleneck[1], updates["camera"][1])


def test_readout_is_the_mean_of_present_cls_tokens() -> None:
    fuser = _fuser(2)
    features = _features(4)
    tokens, _, _ = fuser.forward_streams(features)
    out = fuser(features)
    expected = (fuser.norm(tokens["camera"][:, 0]) + fuser.norm(tokens["lidar"][:, 0])) / 2
    torch.testing.assert_close(out, expected)


def test_bad_layer_counts_are_reported() -> None:
    with pytest.raises(FusionError, match="num_unimodal_layers"):
        _fuser(2, 2)
