"""TokenFusion: tokens scored below the threshold are substituted by the other modalities' projections."""

from __future__ import annotations

import pytest
import torch

from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.token_fusion import TokenFusion

torch.set_num_threads(1)

NAMES = ("camera", "lidar", "radar")


def _fuser(threshold: float) -> TokenFusion:
    torch.manual_seed(0)
    return TokenFusion(modalities=NAMES, in_dims=(5, 4, 3), dim=6, threshold=threshold)


def _features() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {m: torch.randn(2, 4, d, generator=g) for m, d in zip(NAMES, (5, 4, 3))}


def _embedded(fuser: TokenFusion, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {m: fuser.projections[m](x) for m, x in features.items()}


def test_nothing_substituted_below_a_zero_threshold() -> None:
    fuser = _fuser(0.0)
    features = {m: _features()[m] for m in ("camera", "lidar")}
    out, scores = fuser.forward_with_scores(features)
    e = _embedded(fuser, features)
    assert set(scores) == {"camera", "lidar"}
    assert scores["camera"].shape == (2, 4)
    kept = [e[m] * scores[m].unsqueeze(-1) for m in ("camera", "lidar")]
    torch.testing.assert_close(out, (kept[0] + kept[1]) / 2)


def test_everything_substituted_below_a_threshold_of_one() -> None:
    fuser = _fuser(1.0)
    features = _features()
    out = fuser(features)
    e = _embedded(fuser, features)
    streams = []
    for dst in NAMES:
        sources = [src for src in NAMES if src != dst]
        streams.append(sum(fuser.substitutes[f"{src}->{dst}"](e[src]) for src in sources) / len(sources))
    torch.testing.assert_close(out, sum(streams) / 3)


def test_only_low_scored_tokens_are_substituted() -> None:
    fuser = _fuser(0.5)
    features = {m: _features()[m] for m in ("camera", "lidar")}
    out, scores = fuser.forward_with_scores(features, {"lidar": torch.tensor([True, False])})
    e = _embedded(fuser, features)
    low = scores["camera"] < 0.5
    assert low.any()
    assert (~low).any()  # the seed gives a mix of kept and substituted tokens
    kept = e["camera"] * scores["camera"].unsqueeze(-1)
    substituted = fuser.substitutes["lidar->camera"](e["lidar"])
    camera_stream = torch.where(low.unsqueeze(-1), substituted, kept)
    lidar_low = scores["lidar"] < 0.5
    lidar_stream = torch.where(
        lidar_low.unsqueeze(-1),
        fuser.substitutes["camera->lidar"](e["camera"]),
        e["lidar"] * scores["lidar"].unsqueeze(-1),
    )
    torch.testing.assert_close(out[0], (camera_stream[0] + lidar_stream[0]) / 2)
    # sample 1 has no lidar: the camera stream is not substituted and is the output
    torch.testing.assert_close(out[1], kept[1])


def test_token_grids_must_be_aligned() -> None:
    fuser = _fuser(0.5)
    with pytest.raises(FusionError, match=r"middle axes \(3,\).*aligned"):
        fuser({"camera": torch.zeros(2, 4, 5), "lidar": torch.zeros(2, 3, 4)})
    with pytest.raises(FusionError, match="threshold"):
        TokenFusion(modalities=NAMES, in_dims=2, dim=4, threshold=1.5)
