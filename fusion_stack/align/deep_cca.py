"""Deep CCA loss (Andrew, Arora, Bilmes & Livescu 2013, "Deep Canonical Correlation Analysis", ICML).

Deep CCA trains two encoders ``f_1``, ``f_2`` so that their outputs ``H_1 = f_1(x_1)`` (N, d1) and
``H_2 = f_2(x_2)`` (N, d2) on a batch of paired samples are maximally correlated: the loss is minus the sum
of the top ``k`` canonical correlations of the batch, i.e. minus the sum of the top ``k`` singular values of
``T = S_11^{-1/2} S_12 S_22^{-1/2}`` with ``S_11 = H_1c' H_1c / (N - 1) + reg I`` (``H_1c`` centred; same
for ``S_22``) and ``S_12 = H_1c' H_2c / (N - 1)``. With ``k = min(d1, d2)`` this is the trace norm of ``T``
(the objective of Andrew et al.).

Implementation: the whitening uses Cholesky factors ``S = L L'`` (``L^{-1}`` whitens as well as
``S^{-1/2}`` and gives the same singular values) and the singular values come from ``eigvalsh`` of the
symmetric ``T T'`` (or ``T' T``, whichever is smaller). Only eigen*values* enter the loss, so autograd never
forms the ``1 / (lambda_i - lambda_j)`` terms of eigenvector derivatives, and gradients stay finite even
when eigenvalues repeat (e.g. several dead ReLU units, whose covariance block is ``reg I``).

In the driving stack, feature-level fusion pre-trains per-sensor encoders (camera crop and lidar/radar
point embeddings of the same object) with this loss so that their embeddings share a space before a
fusion head is trained; the same numbers at evaluation time are ``fusion_stack.align.cca.CCA``'s.
"""

from __future__ import annotations

import numpy as np
import torch

from fusion_stack.align._array_checks import describe, positive_float, positive_int
from fusion_stack.align.errors import AlignmentError

__all__ = ["canonical_correlations_torch", "deep_cca_loss"]


def _check_view(H: object, name: str) -> torch.Tensor:
    if not isinstance(H, torch.Tensor):
        raise AlignmentError(f"expected a torch.Tensor (N, d), got {describe(H)}", field=name)
    if H.ndim != 2 or not torch.is_floating_point(H):
        raise AlignmentError(f"expected a 2-D floating tensor (N, d), got {describe(H)}", field=name)
    if H.shape[0] < 2 or H.shape[1] < 1:
        raise AlignmentError(f"expected N >= 2 samples and d >= 1 features, got {describe(H)}", field=name)
    if not bool(torch.isfinite(H).all()):
        raise AlignmentError(f"contains NaN or inf; got {describe(H)}", field=name)
    return H


def canonical_correlations_torch(
    H1: torch.Tensor, H2: torch.Tensor, *, n_components: int | None = None, reg: float = 1e-3
) -> torch.Tensor:
    """The top ``k`` regularised canonical correlations (k,) of a batch, descending, differentiable.

    ``H1`` (N, d1) and ``H2`` (N, d2) are floating tensors on the same device with ``N >= 2``; ``k`` defaults
    to ``min(d1, d2)``. The computation runs in the promoted dtype of the two inputs; use float64 for
    comparisons with NumPy. See the module docstring for the formula.
    """
    h1 = _check_view(H1, "H1")
    h2 = _check_view(H2, "H2")
    if h1.shape[0] != h2.shape[0]:
        raise AlignmentError(
            f"H1 and H2 must hold the same samples (same N); got H1 {describe(h1)} and H2 {describe(h2)}",
            field="H2",
        )
    if h1.device != h2.device:
        raise AlignmentError(f"H1 is on {h1.device} but H2 on {h2.device}", field="H2")
    reg_f = positive_float(reg, name="reg")
    d1, d2 = h1.shape[1], h2.shape[1]
    k = min(d1, d2) if n_components is None else positive_int(n_components, name="n_components")
    if k > min(d1, d2):
        raise AlignmentError(f"n_components={k} exceeds min(d1, d2) = min({d1}, {d2})", field="n_components")
    dtype = torch.promote_types(h1.dtype, h2.dtype)
    h1, h2 = h1.to(dtype), h2.to(dtype)
    n = h1.shape[0]
    h1c = h1 - h1.mean(dim=0, keepdim=True)
    h2c = h2 - h2.mean(dim=0, keepdim=True)
    s11 = h1c.T @ h1c / (n - 1) + reg_f * torch.eye(d1, dtype=dtype, device=h1.device)
    s22 = h2c.T @ h2c / (n - 1) + reg_f * torch.eye(d2, dtype=dtype, device=h1.device)
    s12 = h1c.T @ h2c / (n - 1)
    l1 = torch.linalg.cholesky(s11)
    l2 = torch.linalg.cholesky(s22)
    # T = L1^{-1} S12 L2^{-T}
    left = torch.linalg.solve_triangular(l1, s12, upper=False)
    T = torch.linalg.solve_triangular(l2, left.T, upper=False).T
    gram = T @ T.T if d1 <= d2 else T.T @ T
    gram = 0.5 * (gram + gram.T)
    eigenvalues = torch.linalg.eigvalsh(gram)  # ascending
    top = torch.flip(eigenvalues, dims=(0,))[:k]
    eps = float(np.finfo(np.float32).eps if dtype != torch.float64 else np.finfo(np.float64).eps)
    return torch.sqrt(torch.clamp(top, min=eps))


def deep_cca_loss(
    H1: torch.Tensor, H2: torch.Tensor, *, n_components: int | None = None, reg: float = 1e-3
) -> torch.Tensor:
    """Deep CCA loss: ``-sum`` of the top ``n_components`` canonical correlations of ``H1``, ``H2``.

    ``H1`` (N, d1) and ``H2`` (N, d2): the two encoders' outputs on one batch of paired samples (N >= 2, and
    in practice N well above d1 + d2, or the correlations saturate at 1). ``n_components=None`` uses all
    ``min(d1, d2)`` (the trace-norm objective of Andrew et al. 2013). ``reg`` is the ridge added to each
    covariance (their ``r_1 = r_2``). Returns a scalar tensor in ``[-k, 0]`` with gradients to both inputs.
    Raises :class:`AlignmentError` for non-tensors, wrong shapes, non-float dtypes, NaN/inf or mismatched N.
    """
    return -canonical_correlations_torch(H1, H2, n_components=n_components, reg=reg).sum()
