"""The fuser interface and the input checks every fuser shares.

A *fuser* turns per-modality features of one batch into one fused tensor (feature-level fusion of
camera / LiDAR / radar features in the perception heads). All fusers in :mod:`fusion_stack.fuse`
share one call signature, :class:`Fuser`::

    fused = fuser(features, present)

* ``features`` maps a modality name (declared when the fuser is built) to its features, batch first.
  A declared modality that is missing from ``features`` is absent for the whole batch.
* ``present`` maps a modality name to a ``(B,)`` bool tensor saying which samples have that modality
  (a failed sensor, a dropped message, :mod:`fusion_stack.fuse.modality_dropout`). ``None``, or a
  name missing from ``present``, means every sample has it.

The contract every fuser keeps: the output for a sample never depends on the features of a
modality that is absent for that sample, whatever they contain (zeros, stale data, NaN). To keep it,
:func:`prepare_inputs` replaces absent samples' features with zeros via :func:`torch.where` before
any arithmetic (multiplying by a 0/1 mask would let ``0 * NaN = NaN`` through), and each fuser then
masks its per-modality terms with ``torch.where`` as well. Fusers use no batch-coupled layers
(no BatchNorm), so samples do not influence each other either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from fusion_stack.fuse.errors import FusionError

__all__ = [
    "Fuser",
    "FuserInputs",
    "build_masks",
    "check_heads",
    "check_modalities",
    "check_positive_int",
    "expand_mask",
    "prepare_inputs",
    "where_present",
]


class Fuser(Protocol):
    """What every fuser in :mod:`fusion_stack.fuse` is: an ``nn.Module`` with this signature.

    ``modalities`` is the declared modality order; ``out_dim`` the size of the output's last axis.
    """

    @property
    def modalities(self) -> tuple[str, ...]: ...

    @property
    def out_dim(self) -> int: ...

    def forward(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor: ...

    def __call__(self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor: ...


@dataclass(frozen=True)
class FuserInputs:
    """Checked inputs of one fuser call.

    ``values`` holds the modalities given in ``features`` only, with absent samples' rows replaced by
    zeros (``torch.where``); ``masks`` holds a ``(B,)`` bool mask for every declared modality (all
    False for one not given).
    """

    values: dict[str, Tensor]
    masks: dict[str, Tensor]
    batch_size: int
    device: torch.device
    dtype: torch.dtype

    def mask_stack(self, modalities: Sequence[str]) -> Tensor:
        """The masks of ``modalities`` stacked as ``(B, M)`` bool."""
        return torch.stack([self.masks[m] for m in modalities], dim=1)

    def any_present(self, modalities: Sequence[str]) -> Tensor:
        """``(B,)`` bool: whether a sample has at least one of ``modalities``."""
        if not modalities:
            return torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        return self.mask_stack(modalities).any(dim=1)

    def count_present(self, modalities: Sequence[str]) -> Tensor:
        """``(B,)`` in the input dtype: how many of ``modalities`` each sample has."""
        return self.mask_stack(modalities).to(self.dtype).sum(dim=1)


def expand_mask(mask: Tensor, like: Tensor) -> Tensor:
    """A ``(B,)`` mask viewed as ``(B, 1, ..., 1)`` so that it broadcasts against ``like`` (B, ...)."""
    return mask.view(mask.shape[0], *([1] * (like.dim() - 1)))


def where_present(mask: Tensor, x: Tensor, fill: Tensor | float = 0.0) -> Tensor:
    """``x`` for samples whose ``(B,)`` mask is True, ``fill`` (broadcast) elsewhere, via ``torch.where``.

    A number ``fill`` takes ``x``'s dtype (so integer inputs stay integer).
    """
    if not isinstance(fill, Tensor):
        fill = x.new_full((), fill)
    return torch.where(expand_mask(mask, x), x, fill)


def check_positive_int(value: object, *, name: str, who: str) -> int:
    """``value`` if it is an int > 0 (not a bool); FusionError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FusionError(f"must be an int > 0, got {value!r}", source=who, field=name)
    return value


def check_heads(dim: int, num_heads: int, *, who: str) -> int:
    """``num_heads`` if it is an int > 0 dividing ``dim`` (attention fusers); FusionError otherwise."""
    check_positive_int(num_heads, name="num_heads", who=who)
    if dim % num_heads:
        raise FusionError(f"dim {dim} is not divisible by num_heads {num_heads}", source=who, field="num_heads")
    return num_heads


def check_modalities(
    modalities: Sequence[str], in_dims: Sequence[int] | int, *, who: str
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Check declared modality names and their feature sizes; returns both as tuples.

    Names must be unique, non-empty and free of ``'.'`` (they become ``nn.ModuleDict`` keys).
    ``in_dims`` is one int per modality, or one int for all.
    """
    if isinstance(modalities, str) or not isinstance(modalities, Sequence):
        raise FusionError(f"must be a sequence of names, got {modalities!r}", source=who, field="modalities")
    names = tuple(modalities)
    if not names:
        raise FusionError("at least one modality is needed, got none", source=who, field="modalities")
    for name in names:
        if not isinstance(name, str) or not name or "." in name:
            raise FusionError(
                f"names must be non-empty strings without '.', got {name!r} in {names!r}",
                source=who,
                field="modalities",
            )
    if len(set(names)) != len(names):
        raise FusionError(f"names must be unique, got {names!r}", source=who, field="modalities")
    if isinstance(in_dims, int) and not isinstance(in_dims, bool):
        dims: tuple[object, ...] = (in_dims,) * len(names)
    elif isinstance(in_dims, Sequence):
        dims = tuple(in_dims)
    else:
        raise FusionError(f"must be an int or a sequence of ints, got {in_dims!r}", source=who, field="in_dims")
    if len(dims) != len(names):
        raise FusionError(
            f"one size per modality is needed: {len(names)} modalities {names!r}, {len(dims)} sizes {dims!r}",
            source=who,
            field="in_dims",
        )
    checked = tuple(check_positive_int(d, name=f"in_dims[{m!r}]", who=who) for m, d in zip(names, dims))
    return names, checked


def prepare_inputs(
    features: Mapping[str, Tensor],
    present: Mapping[str, Tensor] | None,
    *,
    modalities: Sequence[str],
    in_dims: Sequence[int],
    who: str,
    ndim: int | None = None,
    same_middle: bool = True,
) -> FuserInputs:
    """Check a fuser call's inputs and zero absent samples' features (via ``torch.where``).

    Each ``features[m]`` is ``(B, *S, in_dims[m])`` with floating dtype; ``ndim`` fixes its number of
    axes (3 for token fusers: ``(B, N, D)``), ``None`` allows any >= 2. With ``same_middle`` the middle
    axes ``S`` (tokens, BEV cells) must be equal across modalities. ``present[m]`` is ``(B,)`` bool.
    At least one declared modality must be given (to know the batch size).
    """
    if not isinstance(features, Mapping):
        raise FusionError(f"features must be a mapping name -> tensor, got {type(features).__name__}", source=who)
    declared = tuple(modalities)
    dims = dict(zip(declared, in_dims))
    unknown = [name for name in features if name not in dims]
    if unknown:
        raise FusionError(f"unknown modalities {unknown!r}; declared: {declared!r}", source=who, field="features")
    if not features:
        raise FusionError(
            f"no modality given; at least one of {declared!r} is needed to know the batch size",
            source=who,
            field="features",
        )
    first_name = next(iter(features))
    first: Tensor | None = None
    for name, x in features.items():
        field = f"features[{name!r}]"
        if not isinstance(x, Tensor):
            raise FusionError(f"must be a tensor, got {type(x).__name__}", source=who, field=field)
        if not x.is_floating_point():
            raise FusionError(f"must be floating point, got {x.dtype}", source=who, field=field)
        if ndim is not None and x.dim() != ndim:
            raise FusionError(
                f"must have {ndim} axes (batch first, features last), got shape {tuple(x.shape)}",
                source=who,
                field=field,
            )
        if x.dim() < 2:
            raise FusionError(
                f"must be (B, ..., D) with at least 2 axes, got shape {tuple(x.shape)}",
                source=who,
                field=field,
            )
        if x.shape[-1] != dims[name]:
            raise FusionError(
                f"last axis must be {dims[name]} (declared), got shape {tuple(x.shape)}",
                source=who,
                field=field,
            )
        if first is None:
            first = x
            continue
        if x.shape[0] != first.shape[0]:
            raise FusionError(
                f"batch size {x.shape[0]} (shape {tuple(x.shape)}) differs from {first_name!r}'s "
                f"{first.shape[0]} (shape {tuple(first.shape)})",
                source=who,
                field=field,
            )
        if same_middle and x.shape[1:-1] != first.shape[1:-1]:
            raise FusionError(
                f"middle axes {tuple(x.shape[1:-1])} (shape {tuple(x.shape)}) differ from {first_name!r}'s "
                f"{tuple(first.shape[1:-1])} (shape {tuple(first.shape)}); they must be aligned",
                source=who,
                field=field,
            )
        if x.dtype != first.dtype or x.device != first.device:
            raise FusionError(
                f"dtype/device {x.dtype}/{x.device} differ from {first_name!r}'s {first.dtype}/{first.device}",
                source=who,
                field=field,
            )
    assert first is not None
    batch = first.shape[0]
    masks = build_masks(
        present, modalities=declared, given=tuple(features), batch_size=batch, device=first.device, who=who
    )
    values = {name: where_present(masks[name], x) for name, x in features.items()}
    return FuserInputs(values=values, masks=masks, batch_size=batch, device=first.device, dtype=first.dtype)


def build_masks(
    present: Mapping[str, Tensor] | None,
    *,
    modalities: Sequence[str],
    given: Sequence[str],
    batch_size: int,
    device: torch.device,
    who: str,
) -> dict[str, Tensor]:
    """A ``(B,)`` bool mask for every declared modality from a fuser call's ``present``.

    Not in ``given`` (the modalities in ``features``) -> all False; given but not in ``present`` (or
    ``present`` None) -> all True; else ``present[m]``, checked to be ``(batch_size,)`` bool on ``device``.
    """
    declared = tuple(modalities)
    batch = batch_size
    if present is None:
        present = {}
    if not isinstance(present, Mapping):
        raise FusionError(
            f"present must be None or a mapping name -> (B,) bool tensor, got {type(present).__name__}",
            source=who,
        )
    unknown = [name for name in present if name not in declared]
    if unknown:
        raise FusionError(f"unknown modalities {unknown!r}; declared: {declared!r}", source=who, field="present")
    masks: dict[str, Tensor] = {}
    for name in declared:
        mask = present.get(name)
        if mask is not None:
            field = f"present[{name!r}]"
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != (batch,):
                what = (
                    f"shape {tuple(mask.shape)} dtype {mask.dtype}" if isinstance(mask, Tensor) else type(mask).__name__
                )
                raise FusionError(f"must be a ({batch},) bool tensor, got {what}", source=who, field=field)
            if mask.device != device:
                raise FusionError(f"is on {mask.device}, features are on {device}", source=who, field=field)
        if name not in given:
            masks[name] = torch.zeros(batch, dtype=torch.bool, device=device)
        elif mask is None:
            masks[name] = torch.ones(batch, dtype=torch.bool, device=device)
        else:
            masks[name] = mask
    return masks
