"""Shared input checks of the fusers (fusion_stack.fuse.base): what is accepted and what each error says."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fusion_stack.errors import FusionStackError
from fusion_stack.fuse.base import FuserInputs, check_modalities, prepare_inputs
from fusion_stack.fuse.bottleneck import BottleneckFusion
from fusion_stack.fuse.cross_attention import CrossAttentionFusion
from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.simple import MeanFusion
from fusion_stack.fuse.structures import OneTower

torch.set_num_threads(1)

NAMES = ("camera", "lidar")
DIMS = (3, 2)


def _prepare(
    features: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor] | None = None,
    *,
    ndim: int | None = None,
    same_middle: bool = True,
) -> FuserInputs:
    return prepare_inputs(
        features, present, modalities=NAMES, in_dims=DIMS, who="Test", ndim=ndim, same_middle=same_middle
    )


def test_masks_for_given_missing_and_partial_modalities() -> None:
    camera = torch.tensor([[1.0, 2.0, 3.0], [float("nan")] * 3])
    inputs = _prepare({"camera": camera}, {"camera": torch.tensor([True, False])})
    assert inputs.batch_size == 2
    assert inputs.masks["camera"].tolist() == [True, False]
    assert inputs.masks["lidar"].tolist() == [False, False]  # not given -> absent
    assert "lidar" not in inputs.values
    torch.testing.assert_close(inputs.values["camera"], torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    assert inputs.count_present(NAMES).tolist() == [1.0, 0.0]
    assert inputs.any_present(NAMES).tolist() == [True, False]
    full = _prepare({"camera": camera, "lidar": torch.zeros(2, 2)}, {"camera": torch.tensor([True, False])})
    assert full.masks["lidar"].tolist() == [True, True]  # given, not in present -> present


@pytest.mark.parametrize(
    ("features", "present", "kw", "pattern"),
    [
        ({"sonar": torch.zeros(2, 3)}, None, {}, r"unknown modalities \['sonar'\]"),
        ({}, None, {}, "no modality given"),
        ({"camera": torch.zeros(2, 4)}, None, {}, r"features\['camera'\].*last axis must be 3.*\(2, 4\)"),
        ({"camera": torch.zeros(2, 3), "lidar": torch.zeros(3, 2)}, None, {}, r"batch size 3.*\(3, 2\)"),
        ({"camera": torch.zeros(2, 5, 3), "lidar": torch.zeros(2, 4, 2)}, None, {}, r"middle axes \(4,\)"),
        ({"camera": torch.zeros(2, 3)}, None, {"ndim": 3}, r"3 axes.*\(2, 3\)"),
        ({"camera": torch.zeros(2, 3, dtype=torch.long)}, None, {}, "floating point"),
        (
            {"camera": torch.zeros(2, 3)},
            {"camera": torch.ones(2)},
            {},
            r"present\['camera'\].*\(2,\) bool.*float",
        ),
        ({"camera": torch.zeros(2, 3)}, {"camera": torch.ones(3, dtype=torch.bool)}, {}, r"shape \(3,\)"),
        (
            {"camera": torch.zeros(2, 3)},
            {"radar": torch.ones(2, dtype=torch.bool)},
            {},
            r"unknown.*\['radar'\]",
        ),
    ],
)
def test_bad_inputs_are_reported(
    features: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor] | None,
    kw: dict[str, Any],
    pattern: str,
) -> None:
    with pytest.raises(FusionError, match=pattern) as info:
        _prepare(features, present, **kw)
    assert isinstance(info.value, FusionStackError)
    assert isinstance(info.value, ValueError)
    assert info.value.source == "Test"


def test_different_token_counts_are_allowed_when_asked() -> None:
    inputs = _prepare({"camera": torch.zeros(2, 5, 3), "lidar": torch.zeros(2, 4, 2)}, same_middle=False, ndim=3)
    assert inputs.values["camera"].shape == (2, 5, 3)


@pytest.mark.parametrize(
    ("modalities", "in_dims", "pattern"),
    [
        ((), 3, "at least one"),
        (("a", "a"), 3, "unique"),
        (("a.b",), 3, "without '.'"),
        ("camera", 3, "sequence of names"),
        (("a", "b"), (1, 2, 3), "one size per modality"),
        (("a", "b"), (1, 0), r"in_dims\['b'\].*int > 0"),
    ],
)
def test_bad_declarations_are_reported(modalities: object, in_dims: object, pattern: str) -> None:
    with pytest.raises(FusionError, match=pattern):
        check_modalities(modalities, in_dims, who="Test")  # type: ignore[arg-type]


def test_fuser_errors_name_the_fuser() -> None:
    fuser = MeanFusion(modalities=NAMES, in_dims=3)
    with pytest.raises(FusionError, match=r"^MeanFusion: features\['lidar'\]: last axis must be 3"):
        fuser({"camera": torch.zeros(2, 3), "lidar": torch.zeros(2, 2)})


def test_attention_fusers_check_heads_against_dim() -> None:
    with pytest.raises(FusionError, match="divisible"):
        BottleneckFusion(modalities=NAMES, in_dims=DIMS, dim=6, num_layers=1, num_heads=4)
    with pytest.raises(FusionError, match="divisible"):
        OneTower(modalities=NAMES, in_dims=DIMS, dim=6, num_layers=1, num_heads=4)
    with pytest.raises(FusionError, match="divisible"):
        CrossAttentionFusion(modalities=NAMES, in_dims=DIMS, query_modality="camera", num_queries=2, dim=6, num_heads=4)
