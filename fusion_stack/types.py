"""Frozen, typed sensor samples: the currency of fusion_stack.

Every sample carries ``stamp_ns`` (int, nanoseconds since the epoch of its clock), ``frame_id`` (the frame its
geometry is expressed in, REP-103 axes) and ``sensor_id`` (which sensor of the rig produced it). Arrays are
checked on construction (shape, dtype, finiteness where it matters) and stored as read-only views: a sample
never changes after it is made. Errors are :class:`SampleError` and show what came in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from fusion_stack.errors import FusionStackError
from fusion_stack.geometry.boxes import bev_polygons, box_corners
from fusion_stack.geometry.se3 import SE3


class SampleError(FusionStackError, ValueError):
    """A sample was built from values of the wrong shape, dtype or range."""


FloatArray: TypeAlias = npt.NDArray[Any]
"""An array stored as float32 (any real array is accepted on construction)."""


def _unset() -> npt.NDArray[Any]:
    """Default of optional per-box arrays: empty means "not given" (filled in on construction)."""
    return np.empty(0)

IMAGE_ENCODINGS: Mapping[str, tuple[int, tuple[type[np.generic], ...]]] = MappingProxyType(
    {
        # encoding: (channels, allowed dtypes)   (names as in sensor_msgs/image_encodings)
        "rgb8": (3, (np.uint8,)),
        "bgr8": (3, (np.uint8,)),
        "rgba8": (4, (np.uint8,)),
        "bgra8": (4, (np.uint8,)),
        "mono8": (1, (np.uint8,)),
        "mono16": (1, (np.uint16,)),
        "16UC1": (1, (np.uint16,)),
        "32FC1": (1, (np.float32,)),
    }
)


def _readonly(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    v = a.view()
    v.flags.writeable = False
    return v


def check_header(cls: str, stamp_ns: object, frame_id: object, sensor_id: object) -> int:
    """Validate a sample's ``stamp_ns`` (int ns), ``frame_id`` and ``sensor_id`` (non-empty strings) and return the
    stamp as an int; ``cls`` names the sample type in the message. Shared by every sample type."""
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
        raise SampleError(f"{cls}.stamp_ns must be an int of nanoseconds, got {type(stamp_ns).__name__} "
                          f"{stamp_ns!r}", field="stamp_ns")
    for name, value in (("frame_id", frame_id), ("sensor_id", sensor_id)):
        if not isinstance(value, str) or not value:
            raise SampleError(f"{cls}.{name} must be a non-empty string, got {value!r}", field=name)
    return int(stamp_ns)


def _float_array(cls: str, name: str, value: object, shape: tuple[int | None, ...], *,
                 finite: bool = True) -> FloatArray:
    """Check ``value`` is a real array of ``shape`` (None = any length) and return it as float32."""
    a = np.asarray(value)
    ok = a.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, a.shape))
    if not ok or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise SampleError(f"{cls}.{name} must be a real array of shape {want}, got shape {a.shape} "
                          f"dtype {a.dtype}", field=name)
    a = a.astype(np.float32, copy=False)
    # column by column: strided views (PointCloud2 fields) are checked without a gathering copy
    columns = [a] if a.ndim < 2 else [a[:, j] for j in range(a.shape[1])]
    if finite and not all(np.isfinite(c).all() for c in columns):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise SampleError(f"{cls}.{name} contains {bad} NaN/Inf values", field=name)
    return a


def _fields(cls: str, n: int, fields: Mapping[str, npt.ArrayLike]) -> Mapping[str, np.ndarray[Any, Any]]:
    out: dict[str, np.ndarray[Any, Any]] = {}
    for key, value in fields.items():
        a = np.asarray(value)
        if a.ndim < 1 or a.shape[0] != n or a.dtype == object:
            raise SampleError(f"{cls}.fields[{key!r}] must have one row per point ({n}), got shape {a.shape} "
                              f"dtype {a.dtype}", field=f"fields.{key}")
        out[str(key)] = _readonly(a)
    return MappingProxyType(out)


@dataclass(frozen=True)
class CameraImage:
    """An image: ``data`` (H, W, C) with C from ``encoding`` (mono encodings: (H, W) or (H, W, 1)).

    ``frame_id`` is the camera's optical frame (z forward, x right, y down).
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    data: npt.NDArray[Any]
    encoding: str = "rgb8"

    def __post_init__(self) -> None:
        check_header("CameraImage", self.stamp_ns, self.frame_id, self.sensor_id)
        if self.encoding not in IMAGE_ENCODINGS:
            raise SampleError(f"CameraImage.encoding {self.encoding!r} is not one of "
                              f"{', '.join(IMAGE_ENCODINGS)}", field="encoding")
        channels, dtypes = IMAGE_ENCODINGS[self.encoding]
        a = np.asarray(self.data)
        if a.ndim == 2 and channels == 1:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] != channels or a.dtype.type not in dtypes or 0 in a.shape:
            want = ", ".join(np.dtype(d).name for d in dtypes)
            raise SampleError(
                f"CameraImage.data for encoding {self.encoding!r} must be (H, W, {channels}) of {want}, "
                f"got shape {a.shape} dtype {a.dtype}",
                field="data",
            )
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        object.__setattr__(self, "data", _readonly(a))

    @property
    def height(self) -> int:
        """Rows in pixels."""
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        """Columns in pixels."""
        return int(self.data.shape[1])


@dataclass(frozen=True)
class PointCloud:
    """Points ``positions`` (N, 3) float32 in metres in ``frame_id``, with named per-point ``fields``.

    Common fields: ``intensity`` (N,), ``ring`` (N,) uint16, ``time_offset_ns`` (N,) int64 relative to
    ``stamp_ns`` (per-point time for deskewing). Any float positions are stored as float32.
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    positions: FloatArray
    fields: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_header("PointCloud", self.stamp_ns, self.frame_id, self.sensor_id)
        pos = _float_array("PointCloud", "positions", self.positions, (None, 3))
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        object.__setattr__(self, "positions", _readonly(pos))
        object.__setattr__(self, "fields", _fields("PointCloud", len(pos), self.fields))

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def transformed(self, src2dst: SE3, dst_frame: str) -> PointCloud:
        """The same points expressed in ``dst_frame`` (``src2dst`` maps ``frame_id`` into it)."""
        return PointCloud(self.stamp_ns, dst_frame, self.sensor_id,
                          src2dst.apply(self.positions).astype(np.float32), dict(self.fields))


@dataclass(frozen=True)
class RadarScan:
    """Radar detections: ``positions`` (N, 3) metres, ``radial_velocity`` (N,) m/s (positive = moving away),
    ``rcs`` (N,) dBsm, and optional per-detection quality ``fields`` (e.g. ``snr``, ``existence_probability``).
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    positions: FloatArray
    radial_velocity: FloatArray
    rcs: FloatArray
    fields: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_header("RadarScan", self.stamp_ns, self.frame_id, self.sensor_id)
        pos = _float_array("RadarScan", "positions", self.positions, (None, 3))
        n = len(pos)
        vr = _float_array("RadarScan", "radial_velocity", self.radial_velocity, (n,))
        rcs = _float_array("RadarScan", "rcs", self.rcs, (n,))
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        object.__setattr__(self, "positions", _readonly(pos))
        object.__setattr__(self, "radial_velocity", _readonly(vr))
        object.__setattr__(self, "rcs", _readonly(rcs))
        object.__setattr__(self, "fields", _fields("RadarScan", n, self.fields))

    def __len__(self) -> int:
        return int(self.positions.shape[0])


@dataclass(frozen=True)
class Boxes3D:
    """Gravity-aligned 3D boxes in ``frame_id``.

    centers (N, 3) m; sizes (N, 3) = (l, w, h) m, l along the heading; yaws (N,) rad about +z from +x;
    velocities (N, 3) m/s (NaN where unknown); labels (N,) int64 indexing ``class_names``; scores (N,) in [0, 1];
    track_ids (N,) int64 (-1 where unknown). ``sensor_id`` names the detector or annotation source.
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    centers: FloatArray
    sizes: FloatArray
    yaws: FloatArray
    labels: npt.NDArray[Any]
    class_names: tuple[str, ...]
    scores: FloatArray = field(default_factory=_unset)
    velocities: FloatArray = field(default_factory=_unset)
    track_ids: npt.NDArray[Any] = field(default_factory=_unset)

    def __post_init__(self) -> None:
        check_header("Boxes3D", self.stamp_ns, self.frame_id, self.sensor_id)
        c = _float_array("Boxes3D", "centers", self.centers, (None, 3))
        n = len(c)
        s = _float_array("Boxes3D", "sizes", self.sizes, (n, 3))
        if np.any(s <= 0):
            raise SampleError(f"Boxes3D.sizes must be positive, got {s[np.any(s <= 0, axis=1)].tolist()}",
                              field="sizes")
        y = _float_array("Boxes3D", "yaws", self.yaws, (n,))
        labels = np.asarray(self.labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise SampleError(f"Boxes3D.labels must be ({n},) integers, got shape {labels.shape} "
                              f"dtype {labels.dtype}", field="labels")
        names = tuple(self.class_names)
        if n and (labels.min() < 0 or labels.max() >= len(names)):
            raise SampleError(f"Boxes3D.labels must index class_names ({len(names)} names), got range "
                              f"[{labels.min()}, {labels.max()}]", field="labels")
        # empty arrays mean "not given" (the defaults are empty too when there are no boxes)
        given = {name: np.asarray(getattr(self, name)) for name in ("scores", "velocities", "track_ids")}
        given = {k: v for k, v in given.items() if v.size > 0}
        scores = (_float_array("Boxes3D", "scores", given["scores"], (n,)) if "scores" in given
                  else np.ones(n, np.float32))
        vel = (_float_array("Boxes3D", "velocities", given["velocities"], (n, 3), finite=False)
               if "velocities" in given else np.full((n, 3), np.nan, np.float32))
        tids = given.get("track_ids", np.full(n, -1, np.int64))
        if tids.shape != (n,) or not np.issubdtype(tids.dtype, np.integer):
            raise SampleError(f"Boxes3D.track_ids must be ({n},) integers, got shape {tids.shape} "
                              f"dtype {tids.dtype}", field="track_ids")
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        for name, arr in (("centers", c), ("sizes", s), ("yaws", y), ("labels", labels.astype(np.int64)),
                          ("scores", scores), ("velocities", vel), ("track_ids", tids.astype(np.int64))):
            object.__setattr__(self, name, _readonly(arr))
        object.__setattr__(self, "class_names", names)

    def __len__(self) -> int:
        return int(self.centers.shape[0])

    @classmethod
    def from_array(cls, boxes: npt.ArrayLike, labels: npt.ArrayLike, class_names: tuple[str, ...], *,
                   stamp_ns: int, frame_id: str, sensor_id: str, scores: npt.ArrayLike | None = None,
                   velocities: npt.ArrayLike | None = None) -> Boxes3D:
        """From an (N, 7) array of (x, y, z, l, w, h, yaw) (geometric centre) and labels (N,)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
        return cls(stamp_ns, frame_id, sensor_id, b[:, :3], b[:, 3:6], b[:, 6],
                   np.asarray(labels, dtype=np.int64).reshape(-1), class_names,
                   _unset() if scores is None else np.asarray(scores),
                   _unset() if velocities is None else np.asarray(velocities))

    def as_array(self) -> npt.NDArray[np.float64]:
        """(N, 7) float64 array of (x, y, z, l, w, h, yaw)."""
        return np.concatenate([self.centers, self.sizes, self.yaws[:, None]], axis=1).astype(np.float64)

    def corners(self) -> npt.NDArray[np.float64]:
        """(N, 8, 3) corners in metres in ``frame_id``: bottom face then top face, counter-clockwise."""
        return box_corners(self.as_array())

    def bev_polygons(self) -> npt.NDArray[np.float64]:
        """(N, 4, 2) bird's-eye-view rectangles in metres, counter-clockwise."""
        return bev_polygons(self.as_array())

    def label_names(self) -> tuple[str, ...]:
        """The class name of each box."""
        return tuple(self.class_names[i] for i in self.labels)

    def transformed(self, src2dst: SE3, dst_frame: str) -> Boxes3D:
        """The boxes expressed in ``dst_frame``; ``src2dst`` maps ``frame_id`` into it.

        Boxes stay gravity-aligned: the new yaw is the heading direction rotated into ``dst_frame`` and
        projected onto its x-y plane, which is exact when ``src2dst`` rotates about z only (ego, map, LiDAR
        frames) and an approximation otherwise.
        """
        heading = np.stack([np.cos(self.yaws), np.sin(self.yaws), np.zeros(len(self))], axis=1)
        h = src2dst.apply_rotation(heading)
        return Boxes3D(
            self.stamp_ns, dst_frame, self.sensor_id, src2dst.apply(self.centers), self.sizes,
            np.arctan2(h[:, 1], h[:, 0]), self.labels, self.class_names, self.scores,
            src2dst.apply_rotation(self.velocities.astype(np.float64)), self.track_ids,
        )

    def select(self, mask: npt.ArrayLike) -> Boxes3D:
        """The boxes where ``mask`` (N,) bool is True (or at the given integer indices)."""
        m = np.asarray(mask)
        return Boxes3D(self.stamp_ns, self.frame_id, self.sensor_id, self.centers[m], self.sizes[m],
                       self.yaws[m], self.labels[m], self.class_names, self.scores[m], self.velocities[m],
                       self.track_ids[m])


@dataclass(frozen=True)
class EgoPose:
    """The pose of ``child_frame_id`` (the vehicle, e.g. ``base_link``) in ``frame_id`` (e.g. ``map``/``odom``).

    ``pose`` is ``child2parent``. Optional twist in the child frame: ``linear_velocity`` (3,) m/s and
    ``angular_velocity`` (3,) rad/s.
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    child_frame_id: str
    pose: SE3
    linear_velocity: npt.NDArray[Any] | None = None
    angular_velocity: npt.NDArray[Any] | None = None

    def __post_init__(self) -> None:
        check_header("EgoPose", self.stamp_ns, self.frame_id, self.sensor_id)
        if not isinstance(self.child_frame_id, str) or not self.child_frame_id:
            raise SampleError(f"EgoPose.child_frame_id must be a non-empty string, got {self.child_frame_id!r}",
                              field="child_frame_id")
        if not isinstance(self.pose, SE3):
            raise SampleError(f"EgoPose.pose must be an SE3, got {type(self.pose).__name__}", field="pose")
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        for name in ("linear_velocity", "angular_velocity"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _readonly(
                    _float_array("EgoPose", name, v, (3,)).astype(np.float64)))


Sample: TypeAlias = CameraImage | PointCloud | RadarScan | Boxes3D | EgoPose


@dataclass(frozen=True)
class FrameSet:
    """Samples from several sensors grouped around one reference stamp.

    ``samples`` maps sensor id -> sample (each sample's ``sensor_id`` must equal its key); ``missing`` names the
    expected sensors that had no sample in the window (e.g. a dead camera): fusion degrades, it doesn't stop.
    """

    stamp_ns: int
    reference_sensor_id: str
    samples: Mapping[str, Sample]
    missing: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.stamp_ns, bool) or not isinstance(self.stamp_ns, (int, np.integer)):
            raise SampleError(f"FrameSet.stamp_ns must be an int of nanoseconds, got {self.stamp_ns!r}",
                              field="stamp_ns")
        for key, sample in self.samples.items():
            if getattr(sample, "sensor_id", None) != key:
                raise SampleError(f"FrameSet.samples[{key!r}] holds a sample of sensor "
                                  f"{getattr(sample, 'sensor_id', None)!r}", field=f"samples.{key}")
        missing = frozenset(self.missing)
        both = missing & set(self.samples)
        if both:
            raise SampleError(f"FrameSet: sensors {sorted(both)} are both present and marked missing",
                              field="missing")
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        object.__setattr__(self, "samples", MappingProxyType(dict(self.samples)))
        object.__setattr__(self, "missing", missing)

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensors present, sorted."""
        return tuple(sorted(self.samples))

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples[k] for k in self.sensor_ids)

    def get(self, sensor_id: str) -> Sample | None:
        """The sample of ``sensor_id``, or None when it is missing."""
        return self.samples.get(sensor_id)
