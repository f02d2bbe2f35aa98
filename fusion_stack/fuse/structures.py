"""The three structural compositions of multimodal models as thin :class:`~fusion_stack.fuse.base.Fuser`
wrappers.

From the alignment-and-fusion survey's taxonomy of model structures (see ``docs/alignment_and_fusion.md``):

* :class:`TwoTower` -- separate encoders, combined only by a simple operation (sum, mean, concat);
  the modalities meet in a shared embedding space, as in CLIP (Radford et al. 2021). In the stack:
  training a camera-LiDAR embedding with :mod:`fusion_stack.align.contrastive`, then retrieval
  or cheap late fusion of the embeddings (:meth:`TwoTower.encode` gives them).
* :class:`TwoLeg` -- separate encoders followed by a fusion network (any Fuser): the usual BEV
  feature-level fusion, e.g. camera and LiDAR BEV encoders + a gated or attention fuser.
* :class:`OneTower` -- one joint encoder over the concatenated tokens of all modalities (single-stream
  transformers, e.g. ViLT, Kim et al. 2021): the most interaction, the most compute.

Encoders are any ``nn.Module`` mapping ``(B, ..., D_in)`` to ``(B, ..., D_out)`` per sample; they run on
the features with absent samples zeroed (``torch.where``) and their outputs for absent samples are
masked again by the fuser, so absent features never reach the output. Encoders must not mix samples
(no BatchNorm in training mode), or one sample's garbage could change another's output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from fusion_stack.fuse.base import (
    Fuser,
    build_masks,
    check_heads,
    check_modalities,
    check_positive_int,
    prepare_inputs,
    where_present,
)
from fusion_stack.fuse.errors import FusionError
from fusion_stack.fuse.simple import ConcatFusion, MeanFusion, SumFusion

__all__ = ["OneTower", "TwoLeg", "TwoTower"]


def _check_encoders(encoders: Mapping[str, nn.Module], *, who: str) -> tuple[str, ...]:
    if not isinstance(encoders, Mapping) or not encoders:
        raise FusionError(
            f"must be a non-empty mapping name -> nn.Module, got {encoders!r}", source=who, field="encoders"
        )
    for name, encoder in encoders.items():
        if not isinstance(encoder, nn.Module):
            raise FusionError(
                f"must be an nn.Module, got {type(encoder).__name__}", source=who, field=f"encoders[{name!r}]"
            )
    names, _ = check_modalities(list(encoders), 1, who=who)
    return names


def _encode(
    encoders: nn.ModuleDict,
    modalities: tuple[str, ...],
    features: Mapping[str, Tensor],
    present: Mapping[str, Tensor] | None,
    who: str,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Run each given modality's encoder on its features with absent samples zeroed; also the masks."""
    if not isinstance(features, Mapping):
        raise FusionError(f"features must be a mapping name -> tensor, got {type(features).__name__}", source=who)
    unknown = [name for name in features if name not in modalities]
    if unknown:
        raise FusionError(f"unknown modalities {unknown!r}; declared: {modalities!r}", source=who, field="features")
    batch: int | None = None
    device = torch.device("cpu")
    for name, x in features.items():
        if not isinstance(x, Tensor) or x.dim() < 1 or (batch is not None and x.shape[0] != batch):
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise FusionError(
                f"must be a batch-first tensor with the batch size of the others ({batch}), got {got}",
                source=who,
                field=f"features[{name!r}]",
            )
        batch, device = x.shape[0], x.device
    if batch is None:
        raise FusionError(
            f"no modality given; at least one of {modalities!r} is needed to know the batch size",
            source=who,
            field="features",
        )
    masks = build_masks(present, modalities=modalities, given=tuple(features), batch_size=batch, device=device, who=who)
    encoded = {}
    for m in modalities:
        if m in features:
            x = where_present(masks[m], features[m])
            encoded[m] = where_present(masks[m], encoders[m](x))
    return encoded, masks


class TwoTower(nn.Module):
    """Separate encoders, then a simple combination: ``"mean"`` / ``"sum"`` over present, or ``"concat"``.

    ``encoders[m]`` maps modality ``m``'s features to ``(B, embed_dim)`` (or ``(B, *S, embed_dim)`` with
    equal ``S``). Output: ``(B, embed_dim)`` for mean / sum, ``(B, M * embed_dim)`` for concat (absent ->
    learned placeholder, see :class:`~fusion_stack.fuse.simple.ConcatFusion`).
    """

    def __init__(
        self,
        *,
        encoders: Mapping[str, nn.Module],
        embed_dim: int,
        combination: Literal["mean", "sum", "concat"] = "mean",
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities = _check_encoders(encoders, who=who)
        self.embed_dim = check_positive_int(embed_dim, name="embed_dim", who=who)
        self.encoders = nn.ModuleDict(dict(encoders))
        self.combination: Fuser
        if combination == "mean":
            self.combination = MeanFusion(modalities=self.modalities, in_dims=embed_dim)
        elif combination == "sum":
            self.combination = SumFusion(modalities=self.modalities, in_dims=embed_dim)
        elif combination == "concat":
            self.combination = ConcatFusion(modalities=self.modalities, in_dims=embed_dim)
        else:
            raise FusionError(
                f"must be 'mean', 'sum' or 'concat', got {combination!r}", source=who, field="combination"
            )
        self.out_dim = self.combination.out_dim

    def encode(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Each given modality's embedding ``(B, embed_dim)``, zeros for absent samples."""
        return _encode(self.encoders, self.modalities, features, present, type(self).__name__)[0]

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Encode each modality and combine the embeddings."""
        encoded, masks = _encode(self.encoders, self.modalities, features, present, type(self).__name__)
        return self.combination(encoded, {m: masks[m] for m in encoded})


class TwoLeg(nn.Module):
    """Separate encoders, then a fusion network: ``fuser({m: encoders[m](x_m)}, present)``.

    ``fuser`` is any :class:`~fusion_stack.fuse.base.Fuser` (an ``nn.Module``) declared with the same
    modalities and the encoders' output sizes; the output is the fuser's.
    """

    def __init__(self, *, encoders: Mapping[str, nn.Module], fuser: Fuser) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities = _check_encoders(encoders, who=who)
        if not isinstance(fuser, nn.Module) or set(getattr(fuser, "modalities", ())) != set(self.modalities):
            raise FusionError(
                f"must be a fuser module over the encoders' modalities {self.modalities!r}, got "
                f"{type(fuser).__name__} over {getattr(fuser, 'modalities', None)!r}",
                source=who,
                field="fuser",
            )
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fuser = fuser
        self.out_dim = fuser.out_dim

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Encode each modality and fuse the encodings."""
        encoded, masks = _encode(self.encoders, self.modalities, features, present, type(self).__name__)
        return self.fuser(encoded, {m: masks[m] for m in encoded})


class OneTower(nn.Module):
    """One joint transformer encoder over all modalities' tokens; tokens (B, N_m, D_m) -> CLS (B, dim).

    Each modality's tokens are projected to ``dim`` and tagged with a learned modality embedding; a
    learned CLS token is prepended to the concatenation and the CLS output (after a final LayerNorm) is
    the result. Tokens of a modality absent for a sample are key padding for that sample, so they get
    attention weight 0; the CLS token is never padding, so a sample with nothing present still gets a
    (learned, constant) output. Layers are pre-norm ``nn.TransformerEncoderLayer`` (GELU, no dropout).
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        in_dims: Sequence[int] | int,
        dim: int,
        num_layers: int,
        num_heads: int,
        ff_dim: int | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.modalities, self.in_dims = check_modalities(modalities, in_dims, who=who)
        self.out_dim = check_positive_int(dim, name="dim", who=who)
        check_positive_int(num_layers, name="num_layers", who=who)
        check_heads(self.out_dim, num_heads, who=who)
        hidden = 4 * dim if ff_dim is None else check_positive_int(ff_dim, name="ff_dim", who=who)
        self.projections = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in zip(self.modalities, self.in_dims)})
        self.modality_embeddings = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in self.modalities})
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, hidden, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Jointly encode token features ``features[m]`` (B, N_m, D_m) into (B, dim)."""
        inputs = prepare_inputs(
            features,
            present,
            modalities=self.modalities,
            in_dims=self.in_dims,
            who=type(self).__name__,
            ndim=3,
            same_middle=False,
        )
        batch = inputs.batch_size
        tokens = [self.cls_token.to(inputs.dtype).expand(batch, -1, -1)]
        padding = [torch.zeros(batch, 1, dtype=torch.bool, device=inputs.device)]
        for m in self.modalities:
            x = inputs.values.get(m)
            if x is None:
                continue
            tokens.append(self.projections[m](x) + self.modality_embeddings[m])
            padding.append((~inputs.masks[m]).unsqueeze(1).expand(-1, x.shape[1]))
        encoded = self.encoder(torch.cat(tokens, dim=1), src_key_padding_mask=torch.cat(padding, dim=1))
        return self.norm(encoded[:, 0])
