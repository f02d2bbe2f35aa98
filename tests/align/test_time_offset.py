"""Time-offset estimation recovers a planted offset from angular-rate signals."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.time_offset import estimate_offset_dtw, estimate_offset_xcorr

S = 1_000_000_000


def _yaw_rate(t_s: np.ndarray) -> np.ndarray:
    """A car's yaw rate: a few turns of different lengths (smooth, non-periodic)."""
    return (0.3 * np.sin(0.7 * t_s) + 0.2 * np.sin(2.3 * t_s + 1.0) + 0.15 * np.tanh(3 * np.sin(0.31 * t_s))
            + 0.1 * np.sin(5.1 * t_s) ** 3)


def _streams(offset_ns: int, *, noise: float = 0.01, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # sensor a: IMU at 200 Hz with jitter; sensor b: LiDAR odometry at 10 Hz, its clock `offset_ns` behind
    ta = np.cumsum(rng.uniform(4.5e6, 5.5e6, 4000)).astype(np.int64) + 10 * S
    tb_true = np.arange(10 * S, 30 * S, 100_000_000, dtype=np.int64)
    tb = tb_true - offset_ns  # the same instants stamped by b's clock
    va = np.stack([rng.normal(0, noise, len(ta)), rng.normal(0, noise, len(ta)),
                   _yaw_rate(ta / S) + rng.normal(0, noise, len(ta))], 1)  # a 3-axis gyro
    vb = np.stack([np.zeros(len(tb)), np.zeros(len(tb)), _yaw_rate(tb_true / S)], 1)
    vb[:, 2] += rng.normal(0, noise, len(tb))
    return ta, va, tb, vb


@pytest.mark.parametrize("planted_ms", [37, -52, 0])
def test_cross_correlation_recovers_a_planted_offset(planted_ms: int) -> None:
    ta, va, tb, vb = _streams(planted_ms * 1_000_000)
    est = estimate_offset_xcorr(ta, va, tb, vb, max_offset_ns=200_000_000)
    assert abs(est.offset_ns - planted_ms * 1_000_000) < 3_000_000, est
    assert est.score > 0.9


def test_dtw_recovers_a_planted_offset() -> None:
    ta, va, tb, vb = _streams(37_000_000, seed=3)
    est = estimate_offset_dtw(ta, va, tb, vb, max_offset_ns=150_000_000)
    assert abs(est.offset_ns - 37_000_000) < 5_000_000, est


def test_bad_signals_are_rejected() -> None:
    ta, va, tb, vb = _streams(0)
    with pytest.raises(AlignmentError, match="strictly increasing"):
        estimate_offset_xcorr(ta[::-1], va, tb, vb, max_offset_ns=S // 10)
    with pytest.raises(AlignmentError, match="integer stamps"):
        estimate_offset_xcorr(ta.astype(float), va, tb, vb, max_offset_ns=S // 10)
    with pytest.raises(AlignmentError, match="overlap"):
        estimate_offset_xcorr(ta[:50], va[:50], tb, vb, max_offset_ns=S)
