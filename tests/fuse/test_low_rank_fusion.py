"""TensorFusion against explicit outer products; LowRankFusion against TensorFusion with the rebuilt weight."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from fusion_stack.fuse.low_rank import LowRankFusion, TensorFusion

torch.set_num_threads(1)

NAMES = ("camera", "lidar", "radar")
DIMS = (2, 3, 2)


def _features(batch: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {m: torch.randn(batch, d, generator=g, dtype=torch.float64) for m, d in zip(NAMES, DIMS)}


def _masks() -> dict[str, torch.Tensor]:
    bits = torch.arange(8)
    return {m: (bits >> i) & 1 == 1 for i, m in enumerate(NAMES)}


def test_fused_tensor_is_the_outer_product_with_appended_ones() -> None:
    fuser = TensorFusion(modalities=NAMES, in_dims=DIMS, out_dim=3).double()
    features = _features()
    z = fuser.fused_tensor(features)
    assert z.shape == (4, 3 * 4 * 3)
    for b in range(4):
        c, li, r = (np.append(features[m][b].numpy(), 1.0) for m in NAMES)
        expected = [c[i] * li[j] * r[k] for i in range(3) for j in range(4) for k in range(3)]
        np.testing.assert_allclose(z[b].numpy(), expected, rtol=1e-12)
    torch.testing.assert_close(fuser(features), fuser.linear(z))


def test_absent_modality_keeps_only_its_one_term() -> None:
    fuser = TensorFusion(modalities=NAMES, in_dims=DIMS, out_dim=3).double()
    features = _features()
    present = {"lidar": torch.tensor([False, True, False, True])}
    z = fuser.fused_tensor(features, present).view(4, 3, 4, 3)
    for b in (0, 2):
        # the lidar index is the appended 1 only: the block is the tensor fusion of camera and radar
        assert (z[b, :, :3, :] == 0).all()
        c, r = (torch.cat([features[m][b], torch.ones(1, dtype=torch.float64)]) for m in ("camera", "radar"))
        torch.testing.assert_close(z[b, :, 3, :], torch.outer(c, r))
    nothing = fuser.fused_tensor(
        {"camera": features["camera"]}, {"camera": torch.zeros(4, dtype=torch.bool)}
    )  # only the all-"1" entry is left
    expected = torch.zeros(4, 36, dtype=torch.float64)
    expected[:, -1] = 1.0
    torch.testing.assert_close(nothing, expected)


def test_low_rank_fusion_equals_tensor_fusion_with_the_rebuilt_weight() -> None:
    torch.manual_seed(0)
    lmf = LowRankFusion(modalities=NAMES, in_dims=DIMS, out_dim=5, rank=4).double()
    with torch.no_grad():
        lmf.bias.normal_()
    tfn = TensorFusion(modalities=NAMES, in_dims=DIMS, out_dim=5).double()
    f_c, f_l, f_r = (lmf.factors[m] for m in NAMES)  # (r, D_m + 1, out)
    weight = torch.einsum("r,rio,rjo,rko->oijk", lmf.rank_weights[0], f_c, f_l, f_r)
    with torch.no_grad():
        tfn.linear.weight.copy_(weight.reshape(5, -1))
        tfn.linear.bias.copy_(lmf.bias)
    features = {m: x.repeat(2, 1) for m, x in _features().items()}  # 8 samples
    masks = _masks()
    torch.testing.assert_close(lmf(features, masks), tfn(features, masks))
    for size in range(1, 4):
        for subset in itertools.combinations(NAMES, size):
            given = {m: features[m] for m in subset}
            torch.testing.assert_close(lmf(given), tfn(given))


def test_low_rank_fusion_handles_extra_axes() -> None:
    torch.manual_seed(1)
    lmf = LowRankFusion(modalities=NAMES, in_dims=DIMS, out_dim=5, rank=2)
    grid = {m: torch.randn(2, 3, 4, d) for m, d in zip(NAMES, DIMS)}  # BEV cells (H, W) channel last
    out = lmf(grid)
    assert out.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out[1, 2, 3], lmf({m: x[1:2, 2, 3] for m, x in grid.items()})[0])
