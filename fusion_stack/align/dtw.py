"""Dynamic time warping (Sakoe & Chiba 1978), with a Sakoe-Chiba band and subsequence search (Müller 2007).

DTW aligns two sequences ``x`` (N, D) and ``y`` (M, D) by a monotone warping path ``(i_0, j_0) = (0, 0), ...,
(i_{K-1}, j_{K-1}) = (N - 1, M - 1)`` whose steps are ``(1, 0)``, ``(0, 1)`` or ``(1, 1)``, minimising the sum
of local costs ``c(x_i, y_j)`` along the path. The accumulated cost matrix obeys the recursion (symmetric
step pattern without weights, Sakoe & Chiba 1978)::

    C[i, j] = c(x_i, y_j) + min(C[i - 1, j - 1], C[i - 1, j], C[i, j - 1])

With ``window=w`` only cells with ``|i - j| <= w`` are allowed (Sakoe-Chiba band); cells outside hold ``inf``.
With ``subsequence=True`` (Müller 2007, "Information Retrieval for Music and Motion", ch. 4) the query
``x`` may start and end anywhere in the long sequence ``y``: ``C[0, j] = c(x_0, y_j)`` and the path ends at
``argmin_j C[N - 1, j]``.

The recursion and the backtracking are compiled with numba (``cache=True``; the first call in a fresh
environment compiles for about a second, later processes load the cache). Time is O(N M) (O(N w) cells are
computed with a band) and memory O(N M): the full accumulated matrix is returned.

In the driving stack, time-offset estimation between sensors uses dtw: e.g. the yaw rate integrated from an
IMU against the yaw increments of lidar odometry, or wheel speed against GNSS speed; the median of
``path[:, 1] - path[:, 0]`` (in samples) over a drive is a robust estimate of the clock offset, and
subsequence mode finds where a short recorded manoeuvre occurs in a long log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from fusion_stack.align._array_checks import FloatArray, describe, float_array, read_only
from fusion_stack.align.errors import AlignmentError

__all__ = ["DTWMetric", "DTWResult", "dtw"]

DTWMetric = Literal["euclidean", "sqeuclidean", "abs"]
_METRICS: dict[str, int] = {"euclidean": 0, "sqeuclidean": 1, "abs": 2}


@dataclass(frozen=True)
class DTWResult:
    """Result of :func:`dtw` (frozen; its arrays are read-only).

    Attributes
    ----------
    distance:
        Accumulated cost of the optimal path (sum of local costs along it; not normalised by its length).
    path:
        (K, 2) int64 pairs ``(i, j)`` of matched indices into ``x`` and ``y``, from start to end, monotone.
    cost:
        (N, M) float64 accumulated cost matrix; ``inf`` outside the window.
    start, end:
        First and last matched index of ``y`` (inclusive): ``y[start:end + 1]`` is the matched span. They are
        ``0`` and ``M - 1`` unless ``subsequence=True``.
    """

    distance: float
    path: npt.NDArray[np.int64]
    cost: FloatArray
    start: int
    end: int

    def __post_init__(self) -> None:
        read_only(self.path, self.cost)


@numba.njit(cache=True)
def _accumulate(
    x: FloatArray, y: FloatArray, metric: int, window: int, subsequence: bool
) -> FloatArray:  # pragma: no cover - compiled
    n, m, dims = x.shape[0], y.shape[0], x.shape[1]
    acc = np.full((n, m), np.inf)
    for i in range(n):
        lo, hi = 0, m
        if window >= 0:
            lo = max(0, i - window)
            hi = min(m, i + window + 1)
        for j in range(lo, hi):
            local = 0.0
            for d in range(dims):
                diff = x[i, d] - y[j, d]
                local += abs(diff) if metric == 2 else diff * diff
            if metric == 0:
                local = np.sqrt(local)
            if i == 0:
                best = 0.0 if (j == 0 or subsequence) else acc[0, j - 1]
            elif j == 0:
                best = acc[i - 1, 0]
            else:
                best = min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
            acc[i, j] = local + best
    return acc


@numba.njit(cache=True)
def _backtrack(acc: FloatArray, end: int, subsequence: bool) -> npt.NDArray[np.int64]:  # pragma: no cover
    n = acc.shape[0]
    buf = np.empty((n + acc.shape[1], 2), dtype=np.int64)
    i, j, k = n - 1, end, 0
    while True:
        buf[k, 0] = i
        buf[k, 1] = j
        k += 1
        if i == 0 and (j == 0 or subsequence):
            break
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
            if diag <= up and diag <= left:  # ties prefer the diagonal, then the step in x
                i -= 1
                j -= 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
    return buf[:k][::-1].copy()


def _sequence(value: object, name: str) -> FloatArray:
    arr = float_array(value, name=name, ndim=(1, 2), layout="(N,) or (N, D)")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise AlignmentError(f"expected a non-empty sequence, got {describe(value)}", field=name)
    return arr


def dtw(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    window: int | None = None,
    subsequence: bool = False,
    metric: DTWMetric = "euclidean",
) -> DTWResult:
    """Dynamic time warping between ``x`` (N,) or (N, D) and ``y`` (M,) or (M, D).

    Parameters
    ----------
    x, y:
        Real, finite sequences with the same number of channels ``D`` (1-D input means ``D = 1``). Time runs
        along the first axis; samples are assumed equally spaced (resample first otherwise).
    window:
        Sakoe-Chiba band half-width ``w >= 0`` (in samples): only ``|i - j| <= w`` may be matched. It must be
        at least ``|N - M|`` or no path exists (AlignmentError). ``None``: unconstrained.
    subsequence:
        Find the best match of the (short) query ``x`` anywhere inside the (long) ``y``: free start and end in
        ``y``; the result's ``start``/``end`` give the span. Not combinable with ``window``.
    metric:
        Local cost: ``"euclidean"`` ``||x_i - y_j||_2`` (default), ``"sqeuclidean"`` ``||x_i - y_j||_2^2``, or
        ``"abs"`` ``||x_i - y_j||_1`` (``|x_i - y_j|`` for 1-D).

    Returns
    -------
    DTWResult
        ``distance``, ``path`` (K, 2) int64, ``cost`` (N, M), ``start``, ``end``.
    """
    xs = _sequence(x, "x")
    ys = _sequence(y, "y")
    if xs.shape[1] != ys.shape[1]:
        raise AlignmentError(
            f"x and y must have the same number of channels; got x {describe(x)} and y {describe(y)}",
            field="y",
        )
    if metric not in _METRICS:
        raise AlignmentError(f"expected one of {tuple(_METRICS)}, got {metric!r}", field="metric")
    n, m = xs.shape[0], ys.shape[0]
    band = -1
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
            raise AlignmentError(f"expected an integer >= 0 or None, got {window!r}", field="window")
        if subsequence:
            raise AlignmentError("a Sakoe-Chiba window cannot be used with subsequence=True", field="window")
        if window < abs(n - m):
            raise AlignmentError(
                f"window={window} is narrower than |N - M| = |{n} - {m}|; no warping path fits in the band",
                field="window",
            )
        band = int(window)
    acc = _accumulate(xs, ys, _METRICS[metric], band, bool(subsequence))
    end = int(np.argmin(acc[-1])) if subsequence else m - 1
    path = _backtrack(acc, end, bool(subsequence))
    return DTWResult(
        distance=float(acc[-1, end]), path=path, cost=acc, start=int(path[0, 1]), end=int(path[-1, 1])
    )
