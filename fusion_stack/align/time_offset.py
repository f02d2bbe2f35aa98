"""Time-offset estimation between two sensors from their data.

``estimate_offset_xcorr`` cross-correlates two rate signals (e.g. the angular rate from LiDAR odometry or camera
motion against an IMU gyro) on a common grid and refines the peak to sub-sample precision; ``estimate_offset_dtw``
aligns the two sequences with dynamic time warping (``fusion_stack.align.dtw``) and takes the median time
difference along the warping path, which tolerates non-constant delays. Both return the offset to ADD to the
second sensor's stamps to put them on the first sensor's clock (``t_a = t_b + offset_ns``), i.e. the value of
the second sensor's ``time_offset_ns`` in a rig whose clock is the first sensor's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion_stack.align.dtw import dtw
from fusion_stack.align.errors import AlignmentError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OffsetEstimate:
    """``offset_ns``: add to sensor b's stamps to reach sensor a's clock; ``score``: peak normalised
    correlation in [-1, 1] (xcorr) or the mean absolute residual along the path (dtw); ``method``."""

    offset_ns: int
    score: float
    method: str


def _signal(stamps: npt.ArrayLike, values: npt.ArrayLike, name: str) -> tuple[npt.NDArray[np.int64], FloatArray]:
    t = np.asarray(stamps)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        v = np.linalg.norm(v, axis=1)  # rate vectors -> magnitude (frame independent)
    if t.ndim != 1 or v.shape != t.shape or len(t) < 4 or not np.issubdtype(t.dtype, np.integer):
        raise AlignmentError(f"expected integer stamps (N,) and values (N,) or (N, D) with N >= 4, got stamps "
                             f"{t.shape} {t.dtype} and values {np.shape(values)}", field=name)
    if np.any(np.diff(t) <= 0):
        raise AlignmentError("stamps must be strictly increasing", field=name)
    if not np.all(np.isfinite(v)):
        raise AlignmentError("values contain NaN or Inf", field=name)
    return t.astype(np.int64), v


def _resample(t: npt.NDArray[np.int64], v: FloatArray, grid: npt.NDArray[np.int64]) -> FloatArray:
    out = np.interp(grid.astype(np.float64), t.astype(np.float64), v)
    out = out - out.mean()
    std = out.std()
    return out / std if std > 0 else out


def estimate_offset_xcorr(stamps_a: npt.ArrayLike, values_a: npt.ArrayLike, stamps_b: npt.ArrayLike,
                          values_b: npt.ArrayLike, *, max_offset_ns: int, resolution_ns: int = 1_000_000
                          ) -> OffsetEstimate:
    """Offset maximising the normalised cross-correlation of two rate signals within ``+-max_offset_ns``.

    Signals are resampled on a ``resolution_ns`` grid over their overlap; the peak is refined by a parabola
    through its neighbours (precision well below ``resolution_ns`` for smooth signals).
    """
    ta, va = _signal(stamps_a, values_a, "a")
    tb, vb = _signal(stamps_b, values_b, "b")
    start, stop = max(ta[0], tb[0]), min(ta[-1], tb[-1])
    if stop - start <= 2 * max_offset_ns:
        raise AlignmentError(f"the signals overlap for {(stop - start) / 1e9:.3f} s, less than twice the "
                             f"searched offset {max_offset_ns / 1e9:.3f} s", field="stamps")
    grid = np.arange(start, stop, resolution_ns, dtype=np.int64)
    a = _resample(ta, va, grid)
    b = _resample(tb, vb, grid)
    max_lag = int(max_offset_ns // resolution_ns)
    lags = np.arange(-max_lag, max_lag + 1)
    scores = np.empty(len(lags))
    for k, lag in enumerate(lags):
        # b shifted by `lag` samples: b'(t) = b(t - lag), i.e. offset = +lag
        if lag >= 0:
            x, y = a[lag:], b[: len(b) - lag]
        else:
            x, y = a[:lag], b[-lag:]
        xc, yc = x - x.mean(), y - y.mean()
        denom = float(np.sqrt(np.dot(xc, xc) * np.dot(yc, yc)))
        scores[k] = float(np.dot(xc, yc) / denom) if denom > 0 else 0.0  # Pearson over the overlap
    best = int(np.argmax(scores))
    frac = 0.0
    if 0 < best < len(lags) - 1:
        y0, y1, y2 = scores[best - 1], scores[best], scores[best + 1]
        denom = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return OffsetEstimate(round((lags[best] + frac) * resolution_ns), float(scores[best]), "xcorr")


def estimate_offset_dtw(stamps_a: npt.ArrayLike, values_a: npt.ArrayLike, stamps_b: npt.ArrayLike,
                        values_b: npt.ArrayLike, *, max_offset_ns: int, resolution_ns: int = 2_000_000
                        ) -> OffsetEstimate:
    """Offset as the median of ``t_a - t_b`` along the DTW path of the two resampled, normalised signals, with a
    Sakoe-Chiba window of ``max_offset_ns``. Robust to slowly varying delays; coarser than xcorr on clean data.
    """
    ta, va = _signal(stamps_a, values_a, "a")
    tb, vb = _signal(stamps_b, values_b, "b")
    start, stop = max(ta[0], tb[0]), min(ta[-1], tb[-1])
    if stop <= start:
        raise AlignmentError("the signals do not overlap in time", field="stamps")
    grid = np.arange(start, stop, resolution_ns, dtype=np.int64)
    a = _resample(ta, va, grid)
    b = _resample(tb, vb, grid)
    window = int(np.ceil(max_offset_ns / resolution_ns)) + 1
    result = dtw(a, b, window=window, metric="abs")
    path = result.path
    # ignore the ends of the path where the window clamps the alignment
    keep = (path[:, 0] > window) & (path[:, 0] < len(grid) - window)
    pairs = path[keep] if keep.sum() > 10 else path
    offset = float(np.median((pairs[:, 0] - pairs[:, 1]) * resolution_ns))
    residual = float(np.mean(np.abs(a[pairs[:, 0]] - b[pairs[:, 1]])))
    return OffsetEstimate(round(offset), residual, "dtw")
