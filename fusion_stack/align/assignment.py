"""Gated one-to-one assignment (Hungarian algorithm; Kuhn 1955, Munkres 1957) and association costs.

``gated_assignment`` solves the rectangular linear assignment problem with
:func:`scipy.optimize.linear_sum_assignment` (a shortest-augmenting-path solver, Crouse 2016) on a cost
matrix in which every pair whose cost exceeds the gate (or is ``+inf``) is replaced by one large finite value
``L``; pairs that received ``L`` are dropped from the solution. ``L`` exceeds the cost of any matching that
uses only allowed pairs, so the result is, among matchings that use allowed pairs only, one with the most
matches and, among those, the smallest total cost (the classic gating of multi-target tracking, Blackman &
Popoli 1999). Gated-out pairs therefore never block other matches, which setting them to ``inf``
(infeasible problem) or solving first and dropping afterwards (fewer matches) would.

Cost builders, all (N, M) float64 with rows from the first argument and columns from the second:

- :func:`centre_distance_cost`: Euclidean distance between centres; gate in metres.
- :func:`mahalanobis_cost`: squared Mahalanobis distance ``(a_i - b_j)' S_j^{-1} (a_i - b_j)``; for Gaussian
  innovations it is chi-square distributed with ``D`` degrees of freedom, so gate with
  :func:`chi_square_gate` (e.g. 9.21 for ``D = 2`` and 99 %).
- :func:`iou_cost`: ``1 - BEV IoU`` of (x, y, z, l, w, h, yaw) boxes; gate e.g. 0.9 (IoU >= 0.1).

In the driving stack, decision-level fusion associates per-sensor boxes with gated_assignment (camera and
lidar detections of the same frame with ``iou_cost``), and the tracker associates detections with predicted
tracks with ``mahalanobis_cost`` and a chi-square gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from fusion_stack.align._array_checks import FloatArray, describe, float_array, read_only
from fusion_stack.align.errors import AlignmentError
from fusion_stack.geometry.boxes import bev_iou

__all__ = [
    "Assignment",
    "centre_distance_cost",
    "chi_square_gate",
    "gated_assignment",
    "iou_cost",
    "mahalanobis_cost",
]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Assignment:
    """Result of :func:`gated_assignment` (frozen; its arrays are read-only).

    Attributes
    ----------
    matches:
        (K, 2) int64 ``(row, col)`` pairs, sorted by row.
    unmatched_rows:
        (N - K,) int64 rows without a match, ascending.
    unmatched_cols:
        (M - K,) int64 columns without a match, ascending.
    costs:
        (K,) float64 cost of each match (from the input matrix), all ``<= gate``.
    """

    matches: IntArray
    unmatched_rows: IntArray
    unmatched_cols: IntArray
    costs: FloatArray

    def __post_init__(self) -> None:
        read_only(self.matches, self.unmatched_rows, self.unmatched_cols, self.costs)

    @property
    def total_cost(self) -> float:
        """Sum of the matched costs."""
        return float(self.costs.sum())


def gated_assignment(cost: npt.ArrayLike, *, gate: float) -> Assignment:
    """Minimum-cost one-to-one matching of rows to columns of ``cost`` (N, M), never matching above ``gate``.

    ``cost`` is real; ``+inf`` entries mean "never match"; NaN and ``-inf`` are rejected. A pair may be
    matched iff its cost is ``<= gate``; ``gate=inf`` gives scipy's plain optimum (on finite entries).
    Returns the matching with the most allowed pairs and, among those, the least total cost (see the module
    docstring). Costs and gate share units (metres, squared Mahalanobis units, ``1 - IoU``, ...).
    """
    c = float_array(cost, name="cost", ndim=2, layout="(N, M)", allow_inf=True)
    if (c == -np.inf).any():
        raise AlignmentError(f"contains -inf; got {describe(c)}", field="cost")
    gate_f = float(gate)
    if np.isnan(gate_f):
        raise AlignmentError(f"expected a number (inf allowed), got {gate!r}", field="gate")
    n, m = c.shape
    allowed = np.isfinite(c) & (c <= gate_f)
    if not allowed.any():
        return _assignment(c, np.empty(0, np.int64), np.empty(0, np.int64))
    lo, hi = float(c[allowed].min()), float(c[allowed].max())
    # Any matching with one more allowed pair is cheaper than one with an L-entry instead:
    # L > hi + (min(N, M) - 1) (hi - lo) suffices.
    big = hi + min(n, m) * (hi - lo) + 1.0
    if not np.isfinite(big):
        span = f"[{lo:.3g}, {hi:.3g}]"
        raise AlignmentError(f"allowed costs span {span}, too wide to gate in float64", field="cost")
    rows, cols = linear_sum_assignment(np.where(allowed, c, big))
    keep = allowed[rows, cols]
    return _assignment(c, rows[keep].astype(np.int64), cols[keep].astype(np.int64))


def _assignment(c: FloatArray, rows: IntArray, cols: IntArray) -> Assignment:
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    n, m = c.shape
    return Assignment(
        matches=np.stack([rows, cols], axis=1).reshape(-1, 2).astype(np.int64),
        unmatched_rows=np.setdiff1d(np.arange(n, dtype=np.int64), rows),
        unmatched_cols=np.setdiff1d(np.arange(m, dtype=np.int64), cols),
        costs=c[rows, cols].astype(np.float64),
    )


def _point_sets(a: object, b: object, names: tuple[str, str]) -> tuple[FloatArray, FloatArray]:
    pa = float_array(a, name=names[0], ndim=2, layout="(N, D)")
    pb = float_array(b, name=names[1], ndim=2, layout="(M, D)")
    if pa.shape[1] != pb.shape[1] or pa.shape[1] < 1:
        raise AlignmentError(
            f"both sets need the same dimension D >= 1; got {names[0]} {describe(pa)} and {names[1]} "
            f"{describe(pb)}",
            field=names[1],
        )
    return pa, pb


def centre_distance_cost(centres_a: npt.ArrayLike, centres_b: npt.ArrayLike) -> FloatArray:
    """Euclidean distances (N, M) between centres ``centres_a`` (N, D) and ``centres_b`` (M, D)."""
    a, b = _point_sets(centres_a, centres_b, ("centres_a", "centres_b"))
    diff = a[:, None, :] - b[None, :, :]
    return np.sqrt(np.einsum("nmd,nmd->nm", diff, diff))


def mahalanobis_cost(
    means_a: npt.ArrayLike, means_b: npt.ArrayLike, covariances: npt.ArrayLike
) -> FloatArray:
    """Squared Mahalanobis distances ``(a_i - b_j)' S_j^{-1} (a_i - b_j)``, (N, M).

    ``means_a`` (N, D): e.g. measurements; ``means_b`` (M, D): e.g. predicted measurements of tracks;
    ``covariances``: (M, D, D) one symmetric positive-definite ``S_j`` per column (the innovation covariance
    of track ``j``), or one shared (D, D). For Gaussian innovations the values are chi-square with ``D``
    degrees of freedom: gate them with ``chi_square_gate(D)``.
    """
    a, b = _point_sets(means_a, means_b, ("means_a", "means_b"))
    m, d = b.shape
    cov = float_array(covariances, name="covariances", ndim=(2, 3), layout="(M, D, D) or (D, D)")
    if cov.shape[-2:] != (d, d) or (cov.ndim == 3 and cov.shape[0] != m):
        expected = f"({m}, {d}, {d}) or ({d}, {d})"
        raise AlignmentError(f"expected {expected}, got {describe(cov)}", field="covariances")
    stack = np.broadcast_to(cov, (m, d, d)) if cov.ndim == 2 else cov
    if not np.allclose(stack, np.swapaxes(stack, 1, 2), rtol=1e-8, atol=1e-12):
        raise AlignmentError(f"covariances must be symmetric; got {describe(cov)}", field="covariances")
    try:
        chol = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError as exc:
        eig_min = np.linalg.eigvalsh(stack).min(axis=1)
        bad = np.nonzero(eig_min <= 0)[0]
        raise AlignmentError(
            f"covariances must be positive definite; {describe(cov)} has non-positive eigenvalues at "
            f"index {bad.tolist()[:10]} (smallest {float(eig_min.min()):.3g})",
            field="covariances",
        ) from exc
    inv_chol = np.linalg.inv(chol)  # (M, D, D): L_j^{-1}, so S_j^{-1} = L_j^{-T} L_j^{-1}
    diff = a[:, None, :] - b[None, :, :]  # (N, M, D)
    whitened = np.einsum("mde,nme->nmd", inv_chol, diff)
    return np.einsum("nmd,nmd->nm", whitened, whitened)


def chi_square_gate(dim: int, *, probability: float = 0.99) -> float:
    """Gate for :func:`mahalanobis_cost`: the ``probability`` quantile of chi-square with ``dim`` dof.

    A true match falls inside the gate with that probability under a Gaussian innovation model
    (e.g. 9.21 for ``dim=2``, 11.34 for ``dim=3`` at 0.99).
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise AlignmentError(f"expected an integer >= 1, got {dim!r}", field="dim")
    p = float(probability)
    if not 0.0 < p < 1.0:
        raise AlignmentError(f"expected 0 < probability < 1, got {probability!r}", field="probability")
    return float(chi2.ppf(p, int(dim)))


def _boxes(value: object, name: str) -> FloatArray:
    boxes = float_array(value, name=name, ndim=2, layout="(N, 7) of (x, y, z, l, w, h, yaw)")
    if boxes.shape[1] != 7:
        expected = "(N, 7) boxes (x, y, z, l, w, h, yaw)"
        raise AlignmentError(f"expected {expected}, got {describe(boxes)}", field=name)
    bad = np.nonzero((boxes[:, 3] <= 0) | (boxes[:, 4] <= 0))[0]
    if bad.size:
        raise AlignmentError(
            f"boxes need positive length and width; rows {bad.tolist()[:10]} of {describe(boxes)} do not",
            field=name,
        )
    return boxes


def iou_cost(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """``1 - BEV IoU`` (N, M) in [0, 1] of boxes ``boxes_a`` (N, 7) and ``boxes_b`` (M, 7).

    Boxes are ``(x, y, z, l, w, h, yaw)`` in metres and radians, both sets in the same frame; the IoU is the
    rotated bird's-eye-view IoU of :func:`fusion_stack.geometry.boxes.bev_iou` (z and h are ignored).
    """
    a = _boxes(boxes_a, "boxes_a")
    b = _boxes(boxes_b, "boxes_b")
    return 1.0 - np.asarray(bev_iou(a, b), dtype=np.float64)
