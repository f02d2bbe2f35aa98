"""GatedFusion against the GMU definition (Arevalo et al. 2017)."""

from __future__ import annotations

import math

import torch

from fusion_stack.fuse.gated import GatedFusion

torch.set_num_threads(1)


def test_two_present_modalities_follow_the_sigmoid_gmu() -> None:
    torch.manual_seed(0)
    fuser = GatedFusion(modalities=("camera", "lidar"), in_dims=(3, 2), out_dim=4)
    camera, lidar = torch.randn(5, 3), torch.randn(5, 2)
    out = fuser({"camera": camera, "lidar": lidar})
    h_camera = torch.tanh(fuser.hidden["camera"](camera))
    h_lidar = torch.tanh(fuser.hidden["lidar"](lidar))
    logits = fuser.gate(torch.cat([camera, lidar, torch.ones(5, 2)], dim=1)).view(5, 2, 4)
    z = torch.sigmoid(logits[:, 0] - logits[:, 1])  # GMU: z = sigmoid(W_z [x_v; x_t])
    torch.testing.assert_close(out, z * h_camera + (1 - z) * h_lidar)


def test_single_present_modality_gets_weight_one() -> None:
    torch.manual_seed(1)
    fuser = GatedFusion(modalities=("camera", "lidar", "radar"), in_dims=(3, 2, 2), out_dim=4)
    features = {"camera": torch.randn(4, 3), "lidar": torch.randn(4, 2), "radar": torch.randn(4, 2)}
    present = {"camera": torch.zeros(4, dtype=torch.bool), "radar": torch.zeros(4, dtype=torch.bool)}
    out = fuser(features, present)
    torch.testing.assert_close(out, torch.tanh(fuser.hidden["lidar"](features["lidar"])))


def test_gates_sum_to_one_over_present_modalities() -> None:
    torch.manual_seed(2)
    fuser = GatedFusion(modalities=("camera", "lidar", "radar"), in_dims=2, out_dim=3, per_feature_gates=False)
    with torch.no_grad():  # every h_m = tanh(atanh(0.5)) = 0.5, so the output is 0.5 * (sum of the gates)
        for layer in fuser.hidden.values():
            assert isinstance(layer, torch.nn.Linear)
            layer.weight.zero_()
            layer.bias.fill_(math.atanh(0.5))
    features = {m: torch.randn(8, 2) for m in ("camera", "lidar", "radar")}
    bits = torch.arange(8)
    present = {m: (bits >> i) & 1 == 1 for i, m in enumerate(("camera", "lidar", "radar"))}
    out = fuser(features, present)
    expected = torch.full((8, 3), 0.5)
    expected[0] = 0.0  # nothing present
    torch.testing.assert_close(out, expected)
