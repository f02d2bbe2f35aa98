"""Sensor health: rates, staleness within about one period, rejections, recovery."""

from __future__ import annotations

import pytest

from fusion_stack.pipeline.errors import PipelineError
from fusion_stack.pipeline.health import ERROR, OK, STALE, WARN, SensorHealth

MS = 1_000_000


def test_rate_staleness_and_recovery() -> None:
    h = SensorHealth(["cam", "lidar"], expected_rates_hz={"lidar": 20.0})
    for k in range(10):
        h.arrived("cam", k * 83 * MS, k * 83 * MS + 5 * MS)
        h.arrived("lidar", k * 50 * MS, k * 50 * MS + 2 * MS)
    now = 9 * 83 * MS + 5 * MS
    assert h.rate_hz("cam") == pytest.approx(1000 / 83)
    levels = {s.sensor_id: s.level for s in h.statuses(now)}
    assert levels["cam"] == OK
    # the camera goes silent: stale after 1.5 periods (125 ms), not before
    assert {s.sensor_id: s.level for s in h.statuses(now + 120 * MS)}["cam"] == OK
    st = {s.sensor_id: s for s in h.statuses(now + 130 * MS)}
    assert st["cam"].level == STALE and "silent" in st["cam"].message
    assert st["lidar"].level == STALE  # last lidar at 452 ms: silent for 261 ms > 75 ms
    h.arrived("cam", now + 400 * MS, now + 400 * MS)
    assert {s.sensor_id: s.level for s in h.statuses(now + 401 * MS)}["cam"] == OK


def test_rejections_and_degraded() -> None:
    h = SensorHealth(["cam"], expected_rates_hz={"cam": 10.0})
    h.arrived("cam", 1, 1)
    assert h.check_stamp(0, 10) == "zero_stamp"
    assert h.check_stamp(10 + 600 * MS, 10) == "future_stamp"
    assert h.check_stamp(5, 10) is None
    h.rejected("cam", "bad_encoding", 2)
    (s,) = h.statuses(3)
    assert s.level == ERROR and "bad_encoding" in s.message and s.values["rejected_bad_encoding"] == "1"
    h.arrived("cam", 4, 4)
    (s,) = h.statuses(5, degraded=["cam"])
    assert s.level == WARN
    with pytest.raises(PipelineError):
        h.rejected("cam", "because", 6)
    with pytest.raises(PipelineError):
        SensorHealth(["a"], expected_rates_hz={"b": 1.0})
