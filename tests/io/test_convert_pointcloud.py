"""sensor_msgs/PointCloud2 round trips over odd layouts, radar clouds and bad layouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_stack.io.convert_common import ConversionContext
from fusion_stack.io.convert_pointcloud import (
    decode_pointcloud2,
    fields_from_points,
    pointcloud2_from_msg,
    pointcloud_to_msg,
)
from fusion_stack.io.errors import RecordingError
from fusion_stack.types import PointCloud, RadarScan

RNG = np.random.default_rng(1)
MSG = "sensor_msgs/msg/PointCloud2"


def _cloud(n: int = 12) -> PointCloud:
    return PointCloud(1_600_000_000_000_000_001, "lidar", "lidar", RNG.normal(size=(n, 3)).astype(np.float32), {
        "intensity": RNG.random(n).astype(np.float32),
        "ring": RNG.integers(0, 32, n).astype(np.uint16),
        "label": RNG.integers(-100, 100, n).astype(np.int8),
        "time_offset_ns": RNG.integers(0, 100_000_000, n).astype(np.int64),
        "normal": RNG.normal(size=(n, 3)).astype(np.float64),
    })


def _cdr(msg: Any, typestore: Any) -> Any:
    return typestore.deserialize_cdr(typestore.serialize_cdr(msg, MSG), MSG)


def _assert_same(back: PointCloud | RadarScan, cloud: PointCloud | RadarScan, *, ignore: tuple[str, ...] = ()) -> None:
    assert type(back) is type(cloud)
    assert (back.stamp_ns, back.frame_id, back.sensor_id) == (cloud.stamp_ns, cloud.frame_id, cloud.sensor_id)
    np.testing.assert_array_equal(back.positions, cloud.positions)
    assert set(back.fields) - set(ignore) == set(cloud.fields)
    for k, v in cloud.fields.items():
        assert back.fields[k].dtype == v.dtype, k
        np.testing.assert_array_equal(back.fields[k], v)


@pytest.mark.parametrize(("point_padding", "row_padding", "bigendian"), [
    (0, 0, False), (7, 0, False), (0, 13, False), (5, 9, True), (0, 0, True)])
def test_round_trip_layouts(typestore: Any, ctx: Callable[..., ConversionContext], point_padding: int,
                            row_padding: int, bigendian: bool) -> None:
    cloud = _cloud()
    msg = _cdr(pointcloud_to_msg(cloud, typestore, is_bigendian=bigendian, point_padding=point_padding,
                                 row_padding=row_padding), typestore)
    assert msg.point_step == 3 * 4 + 4 + 2 + 1 + 4 + 24 + point_padding
    back = pointcloud2_from_msg(msg, ctx(MSG, sensor_id="lidar"))
    _assert_same(back, cloud)


def test_zero_copy_views(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    msg = _cdr(pointcloud_to_msg(_cloud(), typestore, point_padding=4), typestore)
    back = pointcloud2_from_msg(msg, ctx(MSG))
    assert np.shares_memory(back.positions, msg.data)
    assert np.shares_memory(back.fields["intensity"], msg.data)
    assert not back.positions.flags.writeable


def test_organised_cloud_with_missing_returns(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    pos = RNG.normal(size=(4 * 6, 3)).astype(np.float32)
    cloud = PointCloud(5, "os_sensor", "ouster", pos, {"intensity": np.arange(24, dtype=np.float32)})
    msg = pointcloud_to_msg(cloud, typestore, organized_width=6, row_padding=8)
    assert (msg.height, msg.width) == (4, 6)
    raw = msg.data.reshape(4, -1)
    nan = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)
    raw[1, 2 * 16: 2 * 16 + 4] = nan  # x of the point at row 1, column 2 (point_step 16)
    back = pointcloud2_from_msg(_cdr(msg, typestore), ctx(MSG))
    keep = np.arange(24) != 1 * 6 + 2
    np.testing.assert_array_equal(back.positions, pos[keep])
    np.testing.assert_array_equal(back.fields["intensity"], np.arange(24, dtype=np.float32)[keep])
    np.testing.assert_array_equal(back.fields["row"], (np.arange(24) // 6)[keep])
    np.testing.assert_array_equal(back.fields["column"], (np.arange(24) % 6)[keep])


def test_float64_positions_and_per_field_types(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    cloud = _cloud()
    msg = pointcloud_to_msg(cloud, typestore, field_dtypes={"x": np.float64, "y": np.float64, "z": np.float64,
                                                            "intensity": np.float64})
    back = pointcloud2_from_msg(_cdr(msg, typestore), ctx(MSG, sensor_id="lidar"))
    np.testing.assert_array_equal(back.positions, cloud.positions)
    np.testing.assert_array_equal(back.fields["intensity"], cloud.fields["intensity"].astype(np.float64))


@pytest.mark.parametrize(("velocity", "rcs"), [("radial_velocity", "rcs"), ("v_r", "RCS"), ("doppler", "rcs")])
def test_radar_cloud_becomes_radar_scan(typestore: Any, ctx: Callable[..., ConversionContext], velocity: str,
                                        rcs: str) -> None:
    n = 9
    cloud = PointCloud(3, "radar", "radar", RNG.normal(size=(n, 3)), {
        velocity: RNG.normal(size=n).astype(np.float32), rcs: RNG.normal(size=n).astype(np.float32),
        "snr": RNG.random(n).astype(np.float32)})
    back = pointcloud2_from_msg(_cdr(pointcloud_to_msg(cloud, typestore), typestore), ctx(MSG, sensor_id="radar"))
    assert isinstance(back, RadarScan) and set(back.fields) == {"snr"}
    np.testing.assert_array_equal(back.radial_velocity, cloud.fields[velocity])
    np.testing.assert_array_equal(back.rcs, cloud.fields[rcs])
    scan = RadarScan(3, "radar", "radar", cloud.positions, cloud.fields[velocity], cloud.fields[rcs],
                     {"snr": cloud.fields["snr"]})
    _assert_same(pointcloud2_from_msg(_cdr(pointcloud_to_msg(scan, typestore), typestore),
                                      ctx(MSG, sensor_id="radar")), scan)


def test_velocity_without_rcs_stays_a_point_cloud(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    cloud = PointCloud(3, "radar", "radar", np.zeros((2, 3)), {"velocity": np.ones(2, np.float32)})
    back = pointcloud2_from_msg(pointcloud_to_msg(cloud, typestore), ctx(MSG, sensor_id="radar"))
    assert isinstance(back, PointCloud) and "velocity" in back.fields


FIELDS = [("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]


@pytest.mark.parametrize(("fields", "point_step", "row_step", "size", "field"), [
    ([*FIELDS, ("intensity", 12, 7, 1)], 12, 24, 24, "fields.intensity"),  # a field past point_step
    ([*FIELDS, ("intensity", 12, 2, 3)], 14, 28, 28, "fields.intensity"),  # count reaches past point_step
    ([*FIELDS, ("t", 12, 9, 1)], 16, 32, 32, "fields.t.datatype"),  # unknown datatype
    (FIELDS, 12, 20, 20, "row_step"),  # row_step shorter than a row
    (FIELDS, 12, 24, 23, "data"),  # data shorter than height * row_step
    (FIELDS[:2], 12, 24, 24, "fields"),  # no z
    ([*FIELDS, ("x", 0, 7, 1)], 12, 24, 24, "fields.x"),  # duplicate
])
def test_bad_layouts(fields: list[tuple[str, int, int, int]], point_step: int, row_step: int, size: int,
                     field: str) -> None:
    def decode() -> None:
        pts = decode_pointcloud2(np.zeros(size, np.uint8), height=1, width=2, point_step=point_step,
                                 row_step=row_step, fields=fields, is_bigendian=False)
        fields_from_points(pts)

    with pytest.raises(RecordingError) as info:
        decode()
    assert info.value.field == field


_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.float32, np.float64]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_fields=st.integers(0, 4), kinds=st.lists(st.sampled_from(range(8)), min_size=4, max_size=4),
       counts=st.lists(st.integers(1, 3), min_size=4, max_size=4), xyz=st.sampled_from([np.float32, np.float64]),
       point_padding=st.integers(0, 9), row_padding=st.integers(0, 9), bigendian=st.booleans(),
       rows=st.integers(1, 3), width=st.integers(1, 5))
def test_random_layouts_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], n_fields: int,
                                   kinds: list[int], counts: list[int], xyz: type, point_padding: int,
                                   row_padding: int, bigendian: bool, rows: int, width: int) -> None:
    n = rows * width
    fields = {}
    for i in range(n_fields):
        dt = np.dtype(_DTYPES[kinds[i]])
        shape = (n,) if counts[i] == 1 else (n, counts[i])
        fields[f"f{i}"] = (RNG.normal(size=shape) * 50).astype(dt)
    cloud = PointCloud(1, "f", "s", RNG.normal(size=(n, 3)).astype(np.float32), fields)
    msg = pointcloud_to_msg(cloud, typestore, is_bigendian=bigendian, point_padding=point_padding,
                            row_padding=row_padding, organized_width=width if rows > 1 else None,
                            field_dtypes={"x": xyz, "y": xyz, "z": xyz})
    back = pointcloud2_from_msg(_cdr(msg, typestore), ctx(MSG, sensor_id="s"))
    _assert_same(back, cloud, ignore=("row", "column") if rows > 1 else ())
