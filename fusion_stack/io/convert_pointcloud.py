"""``sensor_msgs/PointCloud2`` <-> :class:`PointCloud` / :class:`RadarScan`.

Decoding builds one structured NumPy dtype from the message's fields (names, offsets, datatypes INT8..FLOAT64,
counts, ``point_step`` as the item size so padding is skipped, byte order from ``is_bigendian``) and views the
data buffer through it, rows ``row_step`` bytes apart: no copy is made for native-endian fields. ``x``, ``y``,
``z`` become ``positions`` (a zero-copy strided view when they are three consecutive native float32); every
other field becomes ``fields[name]`` ((N,) or (N, count)). Points with a non-finite x, y or z (organised
clouds mark missing returns with NaN) are dropped; organised clouds (``height > 1``) get the fields ``row`` and
``column`` (int32) so the image structure can be rebuilt. A field named ``time_offset_ns`` is returned as
int64.

Radar: a cloud with a radial-velocity field AND an RCS field becomes a :class:`RadarScan`. Recognised names,
first match wins: velocity ``radial_velocity``, ``velocity``, ``v_r``, ``vr``, ``doppler``, ``range_rate``
(m/s, positive = moving away); RCS ``rcs``, ``RCS``, ``rcs_dbsm`` (dBsm). The remaining fields (e.g. ``snr``)
go to ``RadarScan.fields``. A cloud with only one of the two stays a PointCloud (no value is made up).

Layout errors raise RecordingError naming the field: an unknown datatype, a field past ``point_step``,
``row_step`` shorter than a row, a data size other than ``height * row_step``, missing x/y/z.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fusion_stack.io.convert_common import ConversionContext, header_of
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.ros_messages import make_header, message_class
from fusion_stack.types import PointCloud, RadarScan, SampleError

#: PointField datatype constant -> NumPy type (sensor_msgs/PointField: INT8=1 ... FLOAT64=8)
POINTFIELD_TYPES: dict[int, type[np.generic]] = {
    1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32, 8: np.float64,
}
_DATATYPE_OF = {np.dtype(t).str[1:]: k for k, t in POINTFIELD_TYPES.items()}
VELOCITY_FIELD_NAMES = ("radial_velocity", "velocity", "v_r", "vr", "doppler", "range_rate")
RCS_FIELD_NAMES = ("rcs", "RCS", "rcs_dbsm")
_NATIVE_BIG = sys.byteorder == "big"


def _field_tuple(f: Any) -> tuple[str, int, int, int]:
    if isinstance(f, tuple):
        name, offset, datatype, count = f
    else:
        name, offset, datatype, count = f.name, f.offset, f.datatype, f.count
    return str(name), int(offset), int(datatype), int(count)


def pointcloud2_dtype(fields: Sequence[Any], *, point_step: int, is_bigendian: bool) -> np.dtype[Any]:
    """The structured dtype of one point: ``fields`` are PointField objects or (name, offset, datatype,
    count) tuples; the item size is ``point_step``."""
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    order: Literal["<", ">"] = ">" if is_bigendian else "<"
    if point_step <= 0:
        raise RecordingError(f"point_step must be positive, got {point_step}", field="point_step")
    for raw in fields:
        name, offset, datatype, count = _field_tuple(raw)
        where = f"fields.{name}"
        if name in names:
            raise RecordingError(f"field {name!r} appears twice", field=where)
        if datatype not in POINTFIELD_TYPES:
            raise RecordingError(f"field {name!r} has unknown datatype {datatype} (expected 1..8: INT8..FLOAT64)",
                                 field=f"{where}.datatype")
        if count < 1:
            raise RecordingError(f"field {name!r} has count {count}; expected >= 1", field=f"{where}.count")
        base = np.dtype(POINTFIELD_TYPES[datatype]).newbyteorder(order)
        end = offset + base.itemsize * count
        if offset < 0 or end > point_step:
            raise RecordingError(
                f"field {name!r} (offset {offset}, {count} x {base.name}) ends at byte {end}, past point_step "
                f"{point_step}", field=where)
        names.append(name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def decode_pointcloud2(data: Any, *, height: int, width: int, point_step: int, row_step: int,
                       fields: Sequence[Any], is_bigendian: bool) -> npt.NDArray[Any]:
    """The points as a structured (height, width) array viewing ``data`` (no copy)."""
    dtype = pointcloud2_dtype(fields, point_step=point_step, is_bigendian=is_bigendian)
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.dtype != np.uint8:
        buf = buf.view(np.uint8)
    if height < 0 or width < 0:
        raise RecordingError(f"height {height} and width {width} must not be negative", field="height")
    if row_step < width * point_step:
        raise RecordingError(f"row_step {row_step} is less than width {width} x point_step {point_step}",
                             field="row_step")
    if buf.size != height * row_step:
        raise RecordingError(f"data has {buf.size} bytes but height {height} x row_step {row_step} = "
                             f"{height * row_step}", field="data")
    if height * width == 0:
        return np.zeros((height, width), dtype=dtype)
    return np.ndarray((height, width), dtype=dtype, buffer=buf, strides=(row_step, point_step))


def _native(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _positions(points: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """(N, 3) positions; a strided view when x, y, z are consecutive native float32 (N = height * width)."""
    f = points.dtype.fields
    assert f is not None
    xs, ys, zs = f["x"], f["y"], f["z"]
    h, w = points.shape
    if (all(t[0] == np.dtype(np.float32) for t in (xs, ys, zs)) and ys[1] == xs[1] + 4 and zs[1] == xs[1] + 8
            and (h == 1 or points.strides[0] == w * points.strides[1])):
        x = points["x"].reshape(-1)  # a view: rows are contiguous
        return np.lib.stride_tricks.as_strided(x, shape=(h * w, 3), strides=(x.strides[0], 4), writeable=False)
    return np.stack([_native(points[n]).reshape(-1) for n in ("x", "y", "z")], axis=1)


def _check_xyz(points: npt.NDArray[Any]) -> None:
    names = points.dtype.names or ()
    missing = [n for n in ("x", "y", "z") if n not in names]
    if missing:
        raise RecordingError(f"a point cloud needs fields x, y, z; missing {missing} (has {list(names)})",
                             field="fields")


def _finite_rows(pos: npt.NDArray[Any]) -> npt.NDArray[np.bool_] | None:
    """The mask of points with finite x, y, z, or None when all are finite. Three 1-D passes: a per-row
    ``isfinite(pos).all(axis=1)`` over the strided (N, 3) view is several times slower."""
    finite = np.isfinite(pos[:, 0]) & np.isfinite(pos[:, 1]) & np.isfinite(pos[:, 2])
    return None if finite.all() else finite


def _other_fields(points: npt.NDArray[Any], keep: npt.NDArray[np.bool_] | None) -> dict[str, npt.NDArray[Any]]:
    """Every field but x, y, z as (M,) or (M, count) (views unless byte-swapped or filtered by ``keep``), plus
    ``row``/``column`` of organised clouds."""
    h, w = points.shape
    out: dict[str, npt.NDArray[Any]] = {}
    for name in points.dtype.names or ():
        if name in ("x", "y", "z"):
            continue
        a = _native(points[name]).reshape((h * w, *points.dtype[name].shape))
        if name == "time_offset_ns":
            a = a.astype(np.int64, copy=False)
        out[name] = a if keep is None else a[keep]
    if h > 1:
        rows, cols = np.divmod(np.arange(h * w, dtype=np.int32), np.int32(w))
        out["row"] = rows if keep is None else rows[keep]
        out["column"] = cols if keep is None else cols[keep]
    return out


def fields_from_points(points: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], dict[str, npt.NDArray[Any]]]:
    """(positions (M, 3), other fields) of a structured (H, W) point array, non-finite points dropped."""
    _check_xyz(points)
    pos = _positions(points)
    keep = _finite_rows(pos)
    return (pos if keep is None else pos[keep]), _other_fields(points, keep)


def _sample(pos: npt.NDArray[Any], fields: dict[str, npt.NDArray[Any]], stamp: int, frame: str,
            ctx: ConversionContext) -> PointCloud | RadarScan:
    vel = next((n for n in VELOCITY_FIELD_NAMES if n in fields), None)
    rcs = next((n for n in RCS_FIELD_NAMES if n in fields), None)
    if vel is not None and rcs is not None and fields[vel].ndim == 1 and fields[rcs].ndim == 1:
        vr, rc = fields.pop(vel), fields.pop(rcs)
        return RadarScan(stamp, frame, ctx.sensor_id, pos, vr, rc, fields)
    return PointCloud(stamp, frame, ctx.sensor_id, pos, fields)


def pointcloud2_from_msg(msg: Any, ctx: ConversionContext) -> PointCloud | RadarScan:
    """``sensor_msgs/PointCloud2`` -> PointCloud, or RadarScan for radar clouds (see the module docstring)."""
    stamp, frame = header_of(msg)
    points = decode_pointcloud2(msg.data, height=int(msg.height), width=int(msg.width),
                                point_step=int(msg.point_step), row_step=int(msg.row_step), fields=msg.fields,
                                is_bigendian=bool(msg.is_bigendian))
    stamp, frame = ctx.stamp(stamp), ctx.frame(frame)
    _check_xyz(points)
    if bool(msg.is_dense):
        # is_dense promises no invalid points: build the sample from the unfiltered views and let the sample's own
        # check (PointCloud and RadarScan reject non-finite positions) confirm it, instead of a second pass over
        # the points here. A cloud that breaks the promise takes the filtering path below: the same result.
        try:
            return _sample(_positions(points), _other_fields(points, None), stamp, frame, ctx)
        except SampleError:
            pass
    pos, fields = fields_from_points(points)
    return _sample(pos, fields, stamp, frame, ctx)


# --- encoding (writing recordings, tests) ---------------------------------------------------------------------
def _datatype(name: str, a: npt.NDArray[Any]) -> np.dtype[Any]:
    """The PointField-representable dtype a field is written with."""
    dt = a.dtype
    if dt == np.bool_:
        return np.dtype(np.uint8)
    if dt.kind in "iu" and dt.itemsize == 8:
        info = np.iinfo(np.int32)
        if a.size == 0 or (a.min() >= info.min and a.max() <= info.max):
            return np.dtype(np.int32)
        return np.dtype(np.float64)
    if dt.kind == "f" and dt.itemsize == 2:
        return np.dtype(np.float32)
    if dt.str[1:] not in _DATATYPE_OF:
        raise RecordingError(f"field {name!r} of dtype {dt} cannot be written as a PointField", field=name)
    return dt


def pointcloud_to_msg(cloud: PointCloud | RadarScan, typestore: Any, *, is_bigendian: bool = False,
                      point_padding: int = 0, row_padding: int = 0, organized_width: int | None = None,
                      field_dtypes: Mapping[str, npt.DTypeLike] | None = None) -> Any:
    """A ``sensor_msgs/msg/PointCloud2`` of ``cloud``.

    Layout options (defaults: packed little-endian, one row): ``point_padding`` bytes after each point,
    ``row_padding`` bytes after each row, ``organized_width`` to lay the N points out as (N / width, width),
    ``field_dtypes`` to write a field (``x``, ``y``, ``z`` included) with another PointField type. RadarScan
    velocity and RCS are written as ``radial_velocity`` and ``rcs``. int64 fields are written as INT32 when
    their values fit, else FLOAT64; bool fields as UINT8.
    """
    n = len(cloud)
    columns: dict[str, npt.NDArray[Any]] = {"x": cloud.positions[:, 0], "y": cloud.positions[:, 1],
                                            "z": cloud.positions[:, 2]}
    if isinstance(cloud, RadarScan):
        columns["radial_velocity"] = cloud.radial_velocity
        columns["rcs"] = cloud.rcs
    columns.update(cloud.fields)
    order: Literal["<", ">"] = ">" if is_bigendian else "<"
    names, formats, offsets, pfields = [], [], [], []
    offset = 0
    pf_cls = message_class(typestore, "sensor_msgs/msg/PointField")
    for name, a in columns.items():
        want = np.dtype(field_dtypes[name]) if field_dtypes and name in field_dtypes else _datatype(name, a)
        count = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
        base = want.newbyteorder(order)
        names.append(name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(offset)
        pfields.append(pf_cls(name=name, offset=offset, datatype=_DATATYPE_OF[want.str[1:]], count=count))
        offset += base.itemsize * count
    point_step = offset + int(point_padding)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    width = n if organized_width is None else int(organized_width)
    if width <= 0 and n:
        raise RecordingError(f"organized_width must be positive, got {width}", field="width")
    height = 1 if organized_width is None else (n // width if width else 0)
    if height * width != n:
        raise RecordingError(f"{n} points do not fill rows of width {width}", field="width")
    points = np.zeros(n, dtype=dtype)
    for name, a in columns.items():
        points[name] = a.reshape(points[name].shape)
    row_step = width * point_step + int(row_padding)
    data = np.zeros((height, row_step), dtype=np.uint8)
    data[:, : width * point_step] = points.view(np.uint8).reshape(height, width * point_step)
    cls = message_class(typestore, "sensor_msgs/msg/PointCloud2")
    return cls(header=make_header(typestore, cloud.stamp_ns, cloud.frame_id), height=height, width=width,
               fields=pfields, is_bigendian=bool(is_bigendian), point_step=point_step, row_step=row_step,
               data=data.reshape(-1), is_dense=True)
