"""ConcatFusion, SumFusion, MeanFusion against their definitions."""

from __future__ import annotations

import pytest
import torch

from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.simple import ConcatFusion, MeanFusion, SumFusion

torch.set_num_threads(1)

NAMES = ("camera", "lidar", "radar")


def _features() -> dict[str, torch.Tensor]:
    return {
        "camera": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "lidar": torch.tensor([[10.0, 20.0], [30.0, 40.0]]),
        "radar": torch.tensor([[100.0, 200.0], [300.0, 400.0]]),
    }


def test_concat_is_in_declared_order_with_placeholders_for_absent() -> None:
    fuser = ConcatFusion(modalities=NAMES, in_dims=2)
    with torch.no_grad():
        fuser.placeholders["lidar"].copy_(torch.tensor([-1.0, -2.0]))
        fuser.placeholders["radar"].copy_(torch.tensor([-3.0, -4.0]))
    features = _features()
    present = {"lidar": torch.tensor([True, False])}
    out = fuser({"radar": features["radar"], "lidar": features["lidar"]}, present)  # dict order does not matter
    expected = torch.tensor(
        [[0.0, 0.0, 10.0, 20.0, 100.0, 200.0], [0.0, 0.0, -1.0, -2.0, 300.0, 400.0]]
    )  # camera not given -> its placeholder (initialised to zero)
    torch.testing.assert_close(out, expected)
    assert fuser.out_dim == 6


def test_learned_placeholder_is_trained_only_by_absent_samples() -> None:
    fuser = ConcatFusion(modalities=NAMES, in_dims=2)
    out = fuser(_features(), {"camera": torch.tensor([False, True]), "lidar": torch.tensor([True, True])})
    out.sum().backward()
    assert fuser.placeholders["camera"].grad is not None
    torch.testing.assert_close(fuser.placeholders["camera"].grad, torch.ones(2))  # one absent sample
    assert fuser.placeholders["lidar"].grad is not None
    assert (fuser.placeholders["lidar"].grad == 0).all()


def test_zero_placeholder_has_no_parameters() -> None:
    fuser = ConcatFusion(modalities=NAMES, in_dims=(2, 1, 3), placeholder="zero")
    assert list(fuser.parameters()) == []
    out = fuser({"lidar": torch.ones(2, 1)})
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]] * 2))


def test_sum_and_mean_over_present_modalities() -> None:
    features = _features()
    present = {"camera": torch.tensor([True, False]), "radar": torch.tensor([False, False])}
    total = SumFusion(modalities=NAMES, in_dims=2)(features, present)
    torch.testing.assert_close(total, torch.tensor([[11.0, 22.0], [30.0, 40.0]]))
    mean = MeanFusion(modalities=NAMES, in_dims=2)(features, present)
    torch.testing.assert_close(mean, torch.tensor([[5.5, 11.0], [30.0, 40.0]]))
    nothing = MeanFusion(modalities=NAMES, in_dims=2)(
        {"camera": features["camera"]}, {"camera": torch.tensor([False, False])}
    )
    torch.testing.assert_close(nothing, torch.zeros(2, 2))


def test_mean_with_projections_averages_projected_features() -> None:
    torch.manual_seed(0)
    fuser = MeanFusion(modalities=("camera", "lidar"), in_dims=(3, 2), out_dim=4)
    camera, lidar = torch.randn(2, 3), torch.randn(2, 2)
    out = fuser({"camera": camera, "lidar": lidar}, {"lidar": torch.tensor([True, False])})
    p_camera, p_lidar = fuser.projections["camera"](camera), fuser.projections["lidar"](lidar)  # type: ignore[index]
    torch.testing.assert_close(out[0], (p_camera[0] + p_lidar[0]) / 2)
    torch.testing.assert_close(out[1], p_camera[1])


def test_unequal_sizes_need_out_dim() -> None:
    with pytest.raises(FusionError, match=r"different sizes.*out_dim"):
        SumFusion(modalities=("camera", "lidar"), in_dims=(3, 2))
    with pytest.raises(FusionError, match="placeholder"):
        ConcatFusion(modalities=NAMES, in_dims=2, placeholder="mean")  # type: ignore[arg-type]
