"""Entropic optimal transport by Sinkhorn iterations in the log domain, balanced or unbalanced.

Balanced (Cuturi 2013, "Sinkhorn Distances"): for a cost ``C`` (N, M) and marginals ``a`` (N,), ``b`` (M,)
with equal mass, find the plan ``P >= 0`` with ``P 1 = a``, ``P' 1 = b`` minimising
``<P, C> + epsilon KL(P | a b')``. The solution is ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon)`` and
the potentials are updated alternately, in the log domain so that nothing under- or overflows for small
``epsilon`` (Peyré & Cuturi 2019, "Computational Optimal Transport", sec. 4.4; Feydy et al. 2019)::

    f_i = -lam epsilon LSE_j(log b_j + (g_j - C_ij) / epsilon)
    g_j = -lam epsilon LSE_i(log a_i + (f_i - C_ij) / epsilon)

with ``lam = 1``. Unbalanced (Chizat, Peyré, Schmitzer & Vialard 2018, "Scaling algorithms for
unbalanced optimal transport problems", scaling iterations with KL proximal steps; Séjourné et al. 2019):
the hard marginal constraints are replaced by penalties ``tau KL(P 1 | a) + tau KL(P' 1 | b)``, which
changes only ``lam = tau / (tau + epsilon)``; mass may then be created or destroyed (the plan's total mass
differs from ``a``'s and ``b``'s), and as ``tau -> inf`` the balanced problem is recovered. The entropy is
taken relative to ``a b'`` (not to the counting measure), so results do not depend on how finely the
measures are sampled.

Stopping: balanced runs stop when the L1 error of the row marginal ``||P 1 - a||_1`` (the column marginal is
exact after each ``g`` update) is ``<= tol``; unbalanced runs stop when the potentials change by at most
``tol * epsilon`` (sup norm) in one iteration. Each iteration costs two log-sum-exp passes over ``C``.

As ``epsilon -> 0`` the plan approaches an optimal (unregularised) transport plan; with uniform marginals on
a square cost this is ``1/N`` times the permutation matrix that :func:`scipy.optimize.linear_sum_assignment`
finds. ``epsilon`` is in the units of the cost: scale the cost (e.g. divide by its median) before choosing it.

In the driving stack, soft association between sensors uses sinkhorn: matching lidar clusters to camera
detections or radar returns to tracks with a differentiable plan (``sinkhorn_torch``) inside learned
association and feature-fusion heads, and the unbalanced variant when objects may be missed by one sensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fusion_stack.align._array_checks import (
    FloatArray,
    describe,
    float_array,
    positive_float,
    positive_int,
    read_only,
)
from fusion_stack.align.errors import AlignmentError

if TYPE_CHECKING:  # torch is imported by sinkhorn_torch only, so NumPy users of this module do not pay for it
    import torch

__all__ = ["SinkhornResult", "SinkhornTorchResult", "sinkhorn", "sinkhorn_torch"]


@dataclass(frozen=True)
class SinkhornResult:
    """Result of :func:`sinkhorn` (frozen; its arrays are read-only).

    Attributes
    ----------
    plan:
        (N, M) float64 transport plan ``P``.
    cost:
        Transport cost ``<P, C> = sum_ij P_ij C_ij`` (without the entropy or marginal penalty terms).
    n_iters:
        Number of (f, g) update pairs performed.
    converged:
        Whether the stopping criterion was met within ``n_iters``.
    f, g:
        Dual potentials (N,), (M,) in cost units: ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon)``.
    """

    plan: FloatArray
    cost: float
    n_iters: int
    converged: bool
    f: FloatArray
    g: FloatArray

    def __post_init__(self) -> None:
        read_only(self.plan, self.f, self.g)


@dataclass(frozen=True)
class SinkhornTorchResult:
    """Result of :func:`sinkhorn_torch`; tensors carry gradients to the cost (and to ``a``, ``b``).

    ``plan`` is (N, M) or (B, N, M), ``cost`` a scalar or (B,), ``f`` (N,) or (B, N), ``g`` (M,) or (B, M);
    ``n_iters`` and ``converged`` refer to the whole batch (converged: every problem met the criterion).
    """

    plan: torch.Tensor
    cost: torch.Tensor
    n_iters: int
    converged: bool
    f: torch.Tensor
    g: torch.Tensor


def _options(
    epsilon: float, n_iters: int, tol: float, unbalanced_tau: float | None
) -> tuple[float, int, float, float | None]:
    eps = positive_float(epsilon, name="epsilon")
    iters = positive_int(n_iters, name="n_iters")
    tol_f = positive_float(tol, name="tol", allow_zero=True)
    tau = None
    if unbalanced_tau is not None:
        tau_f = float(unbalanced_tau)
        if not tau_f > 0:
            raise AlignmentError(f"expected a number > 0 (inf means balanced), got {unbalanced_tau!r}",
                                 field="unbalanced_tau")
        tau = None if np.isinf(tau_f) else tau_f
    return eps, iters, tol_f, tau


def _marginal(value: object, size: int, name: str, layout: str) -> FloatArray:
    if value is None:
        return np.full(size, 1.0 / size)
    arr = float_array(value, name=name, ndim=1, layout=layout)
    if arr.shape[0] != size:
        raise AlignmentError(f"expected {layout} with {size} entries to match the cost, got {describe(arr)}",
                             field=name)
    if (arr < 0).any() or arr.sum() <= 0:
        raise AlignmentError(f"expected non-negative weights with a positive sum, got {describe(arr)} "
                             f"with min {arr.min():.3g} and sum {arr.sum():.3g}", field=name)
    return arr


def _check_mass(mass_a: float, mass_b: float, *, rtol: float = 1e-8) -> None:
    if abs(mass_a - mass_b) > rtol * max(mass_a, mass_b):
        raise AlignmentError(
            f"balanced transport needs equal masses, got sum(a) = {mass_a:.9g} and sum(b) = {mass_b:.9g}; "
            "normalise them or pass unbalanced_tau",
            field="b",
        )


def _lse_rows(v: FloatArray, neg_scaled_cost: FloatArray, buf: FloatArray) -> FloatArray:
    """``LSE_j(v_j - C_ij / epsilon)`` for every row ``i``; ``buf`` is (N, M) scratch; ``-inf`` allowed."""
    np.add(neg_scaled_cost, v[None, :], out=buf)
    peak = buf.max(axis=1)
    peak[~np.isfinite(peak)] = 0.0
    buf -= peak[:, None]
    np.exp(buf, out=buf)
    with np.errstate(divide="ignore"):
        return np.log(buf.sum(axis=1)) + peak


def _lse_cols(u: FloatArray, neg_scaled_cost: FloatArray, buf: FloatArray) -> FloatArray:
    """``LSE_i(u_i - C_ij / epsilon)`` for every column ``j``."""
    np.add(neg_scaled_cost, u[:, None], out=buf)
    peak = buf.max(axis=0)
    peak[~np.isfinite(peak)] = 0.0
    buf -= peak[None, :]
    np.exp(buf, out=buf)
    with np.errstate(divide="ignore"):
        return np.log(buf.sum(axis=0)) + peak


def sinkhorn(
    cost: npt.ArrayLike,
    a: npt.ArrayLike | None = None,
    b: npt.ArrayLike | None = None,
    *,
    epsilon: float,
    n_iters: int = 1000,
    tol: float = 1e-6,
    unbalanced_tau: float | None = None,
) -> SinkhornResult:
    """Entropic OT plan between ``a`` (N,) and ``b`` (M,) for ``cost`` (N, M), log-domain Sinkhorn (NumPy).

    Parameters
    ----------
    cost:
        (N, M) real, finite cost matrix.
    a, b:
        Non-negative marginal weights (N,), (M,); ``None`` means uniform ``1/N`` (``1/M``). Balanced
        transport needs ``sum(a) == sum(b)`` (relative tolerance 1e-8; 1e-5 for float32 in torch).
        Zero weights are allowed (their rows/columns of the plan are zero).
    epsilon:
        Entropic regularisation (> 0, in cost units). Smaller is closer to exact OT but needs more iterations.
    n_iters:
        Maximum number of iterations.
    tol:
        Stopping tolerance (see the module docstring).
    unbalanced_tau:
        ``None`` (or ``inf``): balanced. Otherwise the KL marginal penalty ``tau > 0``: small ``tau`` lets
        the plan's marginals (and mass) deviate more from ``a`` and ``b``.
    """
    c = float_array(cost, name="cost", ndim=2, layout="(N, M)")
    n, m = c.shape
    if n < 1 or m < 1:
        raise AlignmentError(f"expected a non-empty (N, M) cost, got {describe(c)}", field="cost")
    eps, iters, tol_f, tau = _options(epsilon, n_iters, tol, unbalanced_tau)
    wa = _marginal(a, n, "a", "(N,)")
    wb = _marginal(b, m, "b", "(M,)")
    if tau is None:
        _check_mass(float(wa.sum()), float(wb.sum()))
    lam = 1.0 if tau is None else tau / (tau + eps)
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(wa), np.log(wb)
    neg = -c / eps
    buf = np.empty_like(neg)
    u, v = np.zeros(n), np.zeros(m)  # f / epsilon, g / epsilon
    converged = False
    done = 0
    for it in range(iters):
        lse_r = _lse_rows(log_b + v, neg, buf)
        if tau is None and it > 0 and float(np.abs(wa * np.exp(u + lse_r) - wa).sum()) <= tol_f:
            converged = True
            break
        u_new = -lam * lse_r
        v_new = -lam * _lse_cols(log_a + u_new, neg, buf)
        done = it + 1
        if tau is not None:
            finite = np.isfinite(u_new)
            change = max(
                float(np.max(np.abs(u_new - u), where=finite, initial=0.0)),
                float(np.max(np.abs(v_new - v), where=np.isfinite(v_new), initial=0.0)),
            )
            u, v = u_new, v_new
            if change <= tol_f:
                converged = True
                break
        else:
            u, v = u_new, v_new
    with np.errstate(divide="ignore"):
        plan = np.exp(neg + (log_a + u)[:, None] + (log_b + v)[None, :])
    return SinkhornResult(
        plan=plan, cost=float((plan * c).sum()), n_iters=done, converged=converged, f=eps * u, g=eps * v
    )


def _torch_marginal(
    value: object, batch: tuple[int, ...], size: int, like: torch.Tensor, name: str
) -> torch.Tensor:
    import torch
    if value is None:
        return torch.full((*batch, size), 1.0 / size, dtype=like.dtype, device=like.device)
    if not isinstance(value, torch.Tensor):
        raise AlignmentError(f"expected a torch.Tensor or None, got {describe(value)}", field=name)
    if value.shape not in ((size,), (*batch, size)) or not torch.is_floating_point(value):
        layouts = f"({size},)" if not batch else f"({size},) or ({batch[0]}, {size})"
        raise AlignmentError(f"expected a floating tensor {layouts} matching the cost, got {describe(value)}",
                             field=name)
    if not bool(torch.isfinite(value).all()) or bool((value < 0).any()):
        raise AlignmentError(f"expected finite non-negative weights, got {describe(value)}", field=name)
    if bool((value.sum(dim=-1) <= 0).any()):
        raise AlignmentError(f"weights must have a positive sum, got {describe(value)}", field=name)
    return value.to(like.dtype).expand(*batch, size)


def sinkhorn_torch(
    cost: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    epsilon: float,
    n_iters: int = 1000,
    tol: float = 1e-6,
    unbalanced_tau: float | None = None,
    check_every: int = 10,
) -> SinkhornTorchResult:
    """Differentiable log-domain Sinkhorn in torch, for one (N, M) or a batch (B, N, M) of costs.

    Same problem, parameters and stopping rule as :func:`sinkhorn`; ``a`` is (N,) or (B, N) and ``b`` (M,)
    or (B, M), ``None`` for uniform. Gradients flow by automatic differentiation through the unrolled
    iterations (to ``cost`` and to ``a``, ``b`` where they require grad; the gradient to a zero weight is
    not defined). The stopping test runs every ``check_every`` iterations (it synchronises with the device).
    The plan is computed in ``cost``'s dtype; float32 is fine for ``epsilon`` down to about 1e-3 x the
    cost scale thanks to the log domain.
    """
    import torch

    if not isinstance(cost, torch.Tensor):
        layout = "(N, M) or (B, N, M)"
        raise AlignmentError(f"expected a torch.Tensor {layout}, got {describe(cost)}", field="cost")
    if cost.ndim not in (2, 3) or not torch.is_floating_point(cost) or 0 in cost.shape:
        layout = "(N, M) or (B, N, M)"
        message = f"expected a non-empty floating tensor {layout}, got {describe(cost)}"
        raise AlignmentError(message, field="cost")
    if not bool(torch.isfinite(cost).all()):
        raise AlignmentError(f"contains NaN or inf; got {describe(cost)}", field="cost")
    eps, iters, tol_f, tau = _options(epsilon, n_iters, tol, unbalanced_tau)
    every = positive_int(check_every, name="check_every")
    batch = tuple(cost.shape[:-2])
    n, m = cost.shape[-2], cost.shape[-1]
    wa = _torch_marginal(a, batch, n, cost, "a")
    wb = _torch_marginal(b, batch, m, cost, "b")
    if tau is None:
        mass_a, mass_b = wa.detach().sum(dim=-1), wb.detach().sum(dim=-1)
        rtol = 1e-8 if cost.dtype == torch.float64 else 1e-5
        for ma, mb in zip(mass_a.reshape(-1).tolist(), mass_b.reshape(-1).tolist()):
            _check_mass(ma, mb, rtol=rtol)
    lam = 1.0 if tau is None else tau / (tau + eps)
    log_a, log_b = torch.log(wa), torch.log(wb)
    neg = -cost / eps
    u = torch.zeros_like(wa)  # f / epsilon
    v = torch.zeros_like(wb)  # g / epsilon
    converged = False
    done = 0
    for it in range(iters):
        lse_r = torch.logsumexp(neg + (log_b + v).unsqueeze(-2), dim=-1)
        if tau is None and it > 0 and it % every == 0:
            with torch.no_grad():
                err = (wa * torch.exp(u + lse_r) - wa).abs().sum(dim=-1).max()
            if float(err) <= tol_f:
                converged = True
                break
        u_new = -lam * lse_r
        v_new = -lam * torch.logsumexp(neg + (log_a + u_new).unsqueeze(-1), dim=-2)
        done = it + 1
        if tau is not None and (it + 1) % every == 0:
            with torch.no_grad():
                change = torch.maximum((u_new - u).abs().max(), (v_new - v).abs().max())
            u, v = u_new, v_new
            if float(change) <= tol_f:
                converged = True
                break
        else:
            u, v = u_new, v_new
    plan = torch.exp(neg + (log_a + u).unsqueeze(-1) + (log_b + v).unsqueeze(-2))
    return SinkhornTorchResult(
        plan=plan,
        cost=(plan * cost).sum(dim=(-2, -1)),
        n_iters=done,
        converged=converged,
        f=eps * u,
        g=eps * v,
    )
