"""Contrastive alignment losses, plus the cross-entropy / reconstruction helpers of multi-task heads.

Contrastive learning is the *implicit*, representation-level alignment of the survey's taxonomy: two
encoders (camera and LiDAR, say) are trained so that embeddings of the same scene / object / BEV cell
are close and those of different ones are far. In the driving stack these train a camera-LiDAR (or
radar) embedding for cross-modal retrieval, association and pre-training of the fusion encoders.

* :func:`margin_contrastive_loss` -- pairwise loss with a margin (Hadsell, Chopra & LeCun 2006,
  "Dimensionality Reduction by Learning an Invariant Mapping").
* :func:`info_nce_loss` -- InfoNCE (van den Oord, Li & Vinyals 2018, "Representation Learning with
  Contrastive Predictive Coding"), symmetric over both directions as in CLIP (Radford et al. 2021).
* :func:`supcon_loss` -- supervised contrastive loss (Khosla et al. 2020), positives = same label.
* :func:`siglip_loss`, :func:`chunked_siglip_loss`, :class:`SigLIPLoss` -- pairwise sigmoid loss (Zhai et
  al. 2023, "Sigmoid Loss for Language Image Pre-Training") with learnable temperature and bias; the
  chunked form never builds the ``n x n`` logit matrix at once.
* :func:`cross_entropy_loss`, :func:`reconstruction_loss`, :func:`multitask_loss` -- thin, checked
  helpers for heads that add classification / reconstruction terms to an alignment loss.

Embeddings are ``(N, D)`` with row ``i`` of ``a`` paired to row ``i`` of ``b``. Every loss returns a
scalar tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)
from torch.utils.checkpoint import checkpoint

from fusion_stack.align.errors import AlignmentError

__all__ = [
    "SigLIPLoss",
    "chunked_siglip_loss",
    "cross_entropy_loss",
    "info_nce_loss",
    "margin_contrastive_loss",
    "multitask_loss",
    "reconstruction_loss",
    "siglip_loss",
    "supcon_loss",
]


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"shape {tuple(x.shape)} dtype {x.dtype}"
    return type(x).__name__


def _paired(a: object, b: object, *, who: str) -> tuple[Tensor, Tensor]:
    """Check ``a``, ``b`` are floating (N, D) tensors of one shape."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point() or x.shape[0] == 0:
            raise AlignmentError(
                f"must be a floating (N, D) tensor with N >= 1, got {_describe(x)}", source=who, field=name
            )
    assert isinstance(a, Tensor)
    assert isinstance(b, Tensor)
    if a.shape != b.shape:
        raise AlignmentError(
            f"a and b must have one shape (N, D) (row i of a pairs with row i of b), got {tuple(a.shape)} "
            f"and {tuple(b.shape)}",
            source=who,
        )
    return a, b


def _scalar(value: object, *, name: str, who: str, positive: bool) -> Tensor | float:
    """A python number (checked > 0 when ``positive``) or a one-element tensor (learnable; not checked)."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise AlignmentError(
                f"must be a number or a one-element floating tensor, got {_describe(value)}",
                source=who,
                field=name,
            )
        return value.reshape(())
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AlignmentError(
            f"must be a finite number or a one-element tensor, got {value!r}", source=who, field=name
        )
    if positive and value <= 0:
        raise AlignmentError(f"must be > 0, got {value!r}", source=who, field=name)
    return float(value)


def margin_contrastive_loss(a: Tensor, b: Tensor, same: Tensor, *, margin: float = 1.0) -> Tensor:
    """Pairwise contrastive loss with a margin (Hadsell, Chopra & LeCun 2006), mean over pairs.

    ``a``, ``b`` (N, D) paired embeddings, ``same`` (N,) bool: True for a matching pair (same object
    seen by camera and LiDAR), False for a non-matching one. With ``d_i = ||a_i - b_i||_2``:
    ``L = mean_i [ same_i * d_i^2 / 2 + (1 - same_i) * max(0, margin - d_i)^2 / 2 ]``.
    Embeddings are not normalised. The gradient at ``d_i = 0`` is taken as 0 (no NaN).
    """
    who = "margin_contrastive_loss"
    a, b = _paired(a, b, who=who)
    if not isinstance(same, Tensor) or same.dtype != torch.bool or same.shape != (a.shape[0],):
        raise AlignmentError(
            f"must be a ({a.shape[0]},) bool tensor, got {_describe(same)}", source=who, field="same"
        )
    m = _scalar(margin, name="margin", who=who, positive=True)
    d2 = (a - b).pow(2).sum(dim=1)
    nonzero = d2 > 0
    d = torch.where(nonzero, torch.sqrt(torch.where(nonzero, d2, 1.0)), 0.0)
    per_pair = torch.where(same, 0.5 * d2, 0.5 * F.relu(m - d).pow(2))
    return per_pair.mean()


def info_nce_loss(
    a: Tensor,
    b: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    symmetric: bool = True,
    normalize: bool = True,
) -> Tensor:
    """InfoNCE / CLIP loss: cross-entropy of each row's matching partner among all ``N`` candidates.

    ``a``, ``b`` (N, D); with ``s_ij = <a_i, b_j> / temperature`` (cosine similarity if ``normalize``):
    ``L_ab = -1/N sum_i log( exp(s_ii) / sum_j exp(s_ij) )`` (van den Oord et al. 2018), and with
    ``symmetric`` the CLIP loss ``(L_ab + L_ba) / 2`` where ``L_ba`` uses the columns (Radford et al.
    2021). ``temperature`` is a number > 0 or a one-element tensor (e.g. ``exp(-log_scale)`` of a learned
    parameter; not checked). The other rows of the batch are the negatives.
    """
    who = "info_nce_loss"
    a, b = _paired(a, b, who=who)
    t = _scalar(temperature, name="temperature", who=who, positive=True)
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / t
    targets = torch.arange(a.shape[0], device=a.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, targets))
    return loss


def supcon_loss(
    features: Tensor, labels: Tensor, *, temperature: float | Tensor = 0.07, normalize: bool = True
) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, ``L^sup_out``), mean over anchors with a positive.

    ``features`` (N, D), or (N, V, D) for V views per sample (flattened to N*V samples, each view
    keeping its sample's label); ``labels`` (N,) integer class / instance ids (e.g. the track id of an
    object seen by several sensors). With ``s_ij = <z_i, z_j> / temperature``, ``A(i)`` all samples but
    ``i`` and ``P(i)`` those of ``A(i)`` with ``i``'s label:
    ``L = mean_{i: P(i) nonempty} -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{a in A(i)} exp(s_ia) )``.
    The paper's ``temperature / base_temperature`` factor is 1 here. With no anchor having a positive the
    loss is 0 (still attached to the graph).
    """
    who = "supcon_loss"
    if not isinstance(features, Tensor) or features.dim() not in (2, 3) or not features.is_floating_point():
        raise AlignmentError(
            f"must be a floating (N, D) or (N, V, D) tensor, got {_describe(features)}",
            source=who,
            field="features",
        )
    n = features.shape[0]
    if (
        not isinstance(labels, Tensor)
        or labels.shape != (n,)
        or labels.is_floating_point()
        or labels.is_complex()
        or labels.dtype == torch.bool
    ):
        raise AlignmentError(
            f"must be a ({n},) integer tensor, got {_describe(labels)}", source=who, field="labels"
        )
    t = _scalar(temperature, name="temperature", who=who, positive=True)
    if features.dim() == 3:
        labels = labels.repeat_interleave(features.shape[1])
        features = features.reshape(-1, features.shape[-1])
    if features.shape[0] < 2:  # a single sample has no positive and no negative
        return features.sum() * 0.0
    z = F.normalize(features, dim=1) if normalize else features
    logits = z @ z.T / t
    self_pair = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    logits = torch.where(self_pair, -torch.inf, logits)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_pair
    n_positive = positive.sum(dim=1)
    per_anchor = -torch.where(positive, log_prob, 0.0).sum(dim=1) / n_positive.clamp(min=1)
    has_positive = n_positive > 0
    total = torch.where(has_positive, per_anchor, 0.0).sum()
    return total / has_positive.sum().clamp(min=1)


def _siglip_block(a: Tensor, b_block: Tensor, scale: Tensor, bias: Tensor, start: int) -> Tensor:
    """``sum log sigmoid(z_ij (t <a_i, b_j> + bias))`` over all rows ``i`` and the block's columns ``j``."""
    logits = scale * (a @ b_block.T) + bias
    rows = torch.arange(a.shape[0], device=a.device)[:, None]
    cols = torch.arange(start, start + b_block.shape[0], device=a.device)[None, :]
    signs = torch.where(rows == cols, 1.0, -1.0).to(logits.dtype)
    return F.logsigmoid(signs * logits).sum()


def _siglip_inputs(
    a: Tensor, b: Tensor, temperature: float | Tensor, bias: float | Tensor, normalize: bool, who: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    a, b = _paired(a, b, who=who)
    t = _scalar(temperature, name="temperature", who=who, positive=True)
    c = _scalar(bias, name="bias", who=who, positive=False)
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    t_tensor = t if isinstance(t, Tensor) else a.new_tensor(t)
    c_tensor = c if isinstance(c, Tensor) else a.new_tensor(c)
    return a, b, t_tensor.to(a.dtype), c_tensor.to(a.dtype)


def siglip_loss(
    a: Tensor, b: Tensor, *, temperature: float | Tensor, bias: float | Tensor, normalize: bool = True
) -> Tensor:
    """SigLIP pairwise sigmoid loss (Zhai et al. 2023): every pair is an independent binary problem.

    ``a``, ``b`` (N, D); ``logits_ij = t <a_i, b_j> + bias`` (cosine similarity if ``normalize``),
    ``z_ij = +1`` if ``i == j`` else ``-1``, and ``L = -1/N sum_ij log sigmoid(z_ij logits_ij)`` (the
    paper's normalisation by the batch size). ``temperature`` is the paper's ``t``, a *multiplier*
    of the logits (an inverse temperature in InfoNCE terms), learned as ``t = exp(t')``;
    ``temperature`` and ``bias`` may be one-element tensors to learn them (see :class:`SigLIPLoss`).
    No softmax over the batch, so no all-to-all normalisation: see :func:`chunked_siglip_loss`.
    """
    a, b, t, c = _siglip_inputs(a, b, temperature, bias, normalize, "siglip_loss")
    return -_siglip_block(a, b, t, c, 0) / a.shape[0]


def chunked_siglip_loss(
    a: Tensor,
    b: Tensor,
    *,
    temperature: float | Tensor,
    bias: float | Tensor,
    chunk_size: int,
    normalize: bool = True,
) -> Tensor:
    """:func:`siglip_loss` computed over column blocks of ``chunk_size`` ``b`` rows at a time.

    Equal to :func:`siglip_loss` in value and gradients (up to float rounding), but the largest
    intermediate is ``N x chunk_size`` instead of ``N x N``: each block is evaluated under activation
    checkpointing, so the backward pass recomputes it instead of keeping it. This is the single-device
    analogue of the paper's chunked implementation (which walks the negatives across devices); use it
    for large batches of BEV-cell or point embeddings.
    """
    who = "chunked_siglip_loss"
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise AlignmentError(f"must be an int > 0, got {chunk_size!r}", source=who, field="chunk_size")
    a, b, t, c = _siglip_inputs(a, b, temperature, bias, normalize, who)
    total = a.new_zeros(())
    needs_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (a, b, t, c))
    for start in range(0, b.shape[0], chunk_size):
        block = b[start : start + chunk_size]
        if needs_grad:
            term = checkpoint(_siglip_block, a, block, t, c, start, use_reentrant=False)
        else:
            term = _siglip_block(a, block, t, c, start)
        total = total + term
    return -total / a.shape[0]


class SigLIPLoss(nn.Module):
    """SigLIP loss with a learnable temperature ``t = exp(t')`` and bias ``b`` (Zhai et al. 2023).

    Parameters ``log_temperature`` (``t'``, initialised to ``log(init_temperature)``) and ``bias``
    (initialised to ``init_bias``); the paper's defaults ``t = 10``, ``b = -10`` start the model from the
    prior that most pairs are negatives. ``forward(a, b)`` with ``a``, ``b`` (N, D) returns the scalar
    loss; with ``chunk_size`` it uses :func:`chunked_siglip_loss`.
    """

    def __init__(
        self,
        *,
        init_temperature: float = 10.0,
        init_bias: float = -10.0,
        chunk_size: int | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        t0 = _scalar(init_temperature, name="init_temperature", who=who, positive=True)
        b0 = _scalar(init_bias, name="init_bias", who=who, positive=False)
        if isinstance(t0, Tensor) or isinstance(b0, Tensor):
            raise AlignmentError("init_temperature and init_bias must be numbers", source=who)
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0
        ):
            raise AlignmentError(
                f"must be None or an int > 0, got {chunk_size!r}", source=who, field="chunk_size"
            )
        self.log_temperature = nn.Parameter(torch.tensor(math.log(t0)))
        self.bias = nn.Parameter(torch.tensor(b0))
        self.chunk_size = chunk_size
        self.normalize = bool(normalize)

    @property
    def temperature(self) -> Tensor:
        """``t = exp(t')``, the logit multiplier."""
        return self.log_temperature.exp()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """The SigLIP loss of paired embeddings ``a``, ``b`` (N, D)."""
        if self.chunk_size is None:
            return siglip_loss(a, b, temperature=self.temperature, bias=self.bias, normalize=self.normalize)
        return chunked_siglip_loss(
            a,
            b,
            temperature=self.temperature,
            bias=self.bias,
            chunk_size=self.chunk_size,
            normalize=self.normalize,
        )


def cross_entropy_loss(
    logits: Tensor, target: Tensor, *, label_smoothing: float = 0.0, ignore_index: int = -100
) -> Tensor:
    """Mean cross-entropy of a classification head: ``logits`` (B, C) or (B, C, *S), target (B,) or (B, *S).

    ``target`` holds class indices (``ignore_index`` entries are skipped); a checked wrapper of
    :func:`torch.nn.functional.cross_entropy`, e.g. for a semantic-class head next to a contrastive term.
    """
    who = "cross_entropy_loss"
    if not isinstance(logits, Tensor) or logits.dim() < 2 or not logits.is_floating_point():
        raise AlignmentError(
            f"must be floating (B, C) or (B, C, *S), got {_describe(logits)}", source=who, field="logits"
        )
    expected = (logits.shape[0], *logits.shape[2:])
    if not isinstance(target, Tensor) or target.shape != expected or target.dtype != torch.long:
        raise AlignmentError(
            f"must be an int64 tensor of shape {expected} for logits of shape {tuple(logits.shape)}, "
            f"got {_describe(target)}",
            source=who,
            field="target",
        )
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, int | float)
        or not 0.0 <= label_smoothing <= 1.0
    ):
        raise AlignmentError(
            f"must be in [0, 1], got {label_smoothing!r}", source=who, field="label_smoothing"
        )
    return F.cross_entropy(logits, target, label_smoothing=float(label_smoothing), ignore_index=ignore_index)


def reconstruction_loss(prediction: Tensor, target: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Mean squared error ``mean (prediction - target)^2``, over the elements where ``mask`` is True.

    ``prediction`` and ``target`` of one shape; ``mask`` bool, broadcastable to it (e.g. (B, N, 1) for
    the masked tokens of a masked-modelling pre-training head, or the cells a sensor observed). Masked-out
    elements are excluded with ``torch.where`` (NaN there cannot leak); with nothing selected the loss is 0.
    """
    who = "reconstruction_loss"
    if not isinstance(prediction, Tensor) or not prediction.is_floating_point():
        raise AlignmentError(
            f"must be a floating tensor, got {_describe(prediction)}", source=who, field="prediction"
        )
    if not isinstance(target, Tensor) or target.shape != prediction.shape:
        raise AlignmentError(
            f"must have the prediction's shape {tuple(prediction.shape)}, got {_describe(target)}",
            source=who,
            field="target",
        )
    if mask is None:
        return F.mse_loss(prediction, target)
    try:
        ok = isinstance(mask, Tensor) and mask.dtype == torch.bool
        full = torch.broadcast_to(mask, prediction.shape) if ok else None
    except RuntimeError:
        full = None
    if full is None:
        raise AlignmentError(
            f"must be a bool tensor broadcastable to {tuple(prediction.shape)}, got {_describe(mask)}",
            source=who,
            field="mask",
        )
    squared = torch.where(full, (prediction - target).pow(2), 0.0)
    return squared.sum() / full.sum().clamp(min=1)


def multitask_loss(losses: Mapping[str, Tensor], *, weights: Mapping[str, float] | None = None) -> Tensor:
    """Weighted sum ``sum_name weights[name] * losses[name]`` of named scalar loss terms.

    For multi-task heads that train an alignment loss together with, e.g., a detection classification
    and a reconstruction term: ``multitask_loss({"nce": l1, "cls": l2}, weights={"cls": 0.5})``.
    A term without a weight gets 1; a weight without a term is an error (likely a typo).
    """
    who = "multitask_loss"
    if not isinstance(losses, Mapping) or not losses:
        raise AlignmentError(
            f"must be a non-empty mapping name -> scalar tensor, got {losses!r}", source=who, field="losses"
        )
    weights = {} if weights is None else weights
    unknown = [name for name in weights if name not in losses]
    if unknown:
        raise AlignmentError(
            f"weights for unknown terms {unknown!r}; terms: {list(losses)!r}", source=who, field="weights"
        )
    total: Tensor | None = None
    for name, value in losses.items():
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise AlignmentError(
                f"must be a scalar tensor, got {_describe(value)}", source=who, field=f"losses[{name!r}]"
            )
        w = weights.get(name, 1.0)
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise AlignmentError(
                f"must be a finite number, got {w!r}", source=who, field=f"weights[{name!r}]"
            )
        term = float(w) * value.reshape(())
        total = term if total is None else total + term
    assert total is not None
    return total
