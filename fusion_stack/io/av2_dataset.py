"""Argoverse 2 sensor-dataset logs (``<log>/``) -> frames of typed samples with ground truth.

Read with ``pyarrow`` (Feather files):

* ``sensors/lidar/<stamp_ns>.feather`` (x, y, z half floats in the ego-vehicle frame, intensity, laser_number,
  offset_ns): one PointCloud per sweep in ``base_link`` (the AV2 ``egovehicle`` frame) under sensor id ``lidar``
  with fields ``intensity`` (uint8), ``laser_number`` (uint8) and ``time_offset_ns`` (int64, from offset_ns).
* ``annotations.feather``: the cuboids at each sweep stamp (centre, l/w/h, rotation quaternion in the ego
  frame) as Boxes3D in ``base_link`` under ``ground_truth``; labels index :data:`AV2_CATEGORIES` (the av2-api
  ``AnnotationCategories``); ``track_ids`` are the top 63 bits of each ``track_uuid`` (stable across files).
* ``city_SE3_egovehicle.feather``: EgoPose samples (``map`` = the AV2 city frame -> ``base_link``).
* ``calibration/egovehicle_SE3_sensor.feather`` + ``intrinsics.feather``: the Rig. Cameras are rad-tan
  (k1, k2, 0, 0, k3) in optical frames ``<name>_optical``; ``up_lidar``/``down_lidar`` in their own frames;
  the sweep sensor ``lidar`` sits in ``base_link`` (AV2 sweeps are already motion-compensated into it).

The stream (iteration) holds each sweep, its boxes and the ego pose at its stamp, plus every other ego pose
within ``pose_margin_ns`` of the first and last sweep, in time order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.feather as feather  # type: ignore[import-untyped, unused-ignore]

from fusion_stack.calibration.camera_models import RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.dataset_reader import EGO_POSE_ID, GROUND_TRUTH_ID
from fusion_stack.io.errors import RecordingError
from fusion_stack.types import Boxes3D, EgoPose, FrameSet, PointCloud, Sample, SampleError

AV2_CATEGORIES = (
    "ANIMAL", "ARTICULATED_BUS", "BICYCLE", "BICYCLIST", "BOLLARD", "BOX_TRUCK", "BUS", "CONSTRUCTION_BARREL",
    "CONSTRUCTION_CONE", "DOG", "LARGE_VEHICLE", "MESSAGE_BOARD_TRAILER", "MOBILE_PEDESTRIAN_CROSSING_SIGN",
    "MOTORCYCLE", "MOTORCYCLIST", "OFFICIAL_SIGNALER", "PEDESTRIAN", "RAILED_VEHICLE", "REGULAR_VEHICLE",
    "SCHOOL_BUS", "SIGN", "STOP_SIGN", "STROLLER", "TRAFFIC_LIGHT_TRAILER", "TRUCK", "TRUCK_CAB",
    "VEHICULAR_TRAILER", "WHEELCHAIR", "WHEELED_DEVICE", "WHEELED_RIDER",
)
EGO_FRAME = "base_link"
CITY_FRAME = "map"
LIDAR_ID = "lidar"


def _read(path: Path, columns: tuple[str, ...]) -> pa.Table:
    try:
        table = feather.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise RecordingError(f"cannot read Feather file: {err}", source=str(path)) from err
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise RecordingError(f"missing columns {missing} (has {table.column_names})", source=str(path),
                             field=missing[0])
    return table


def _col(table: pa.Table, name: str, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    return np.asarray(table.column(name).to_numpy(), dtype=dtype)


def _poses(table: pa.Table, source: str) -> list[SE3]:
    q = np.stack([_col(table, c, np.float64) for c in ("qx", "qy", "qz", "qw")], axis=1)
    t = np.stack([_col(table, c, np.float64) for c in ("tx_m", "ty_m", "tz_m")], axis=1)
    out = []
    for i in range(len(q)):
        try:
            out.append(SE3.from_quaternion(q[i], t[i]))
        except GeometryError as err:
            raise RecordingError(err.reason, source=source, field=f"row {i}: qw, qx, qy, qz") from err
    return out


def track_id_of(track_uuid: str) -> int:
    """A stable non-negative int64 id of an AV2 track uuid (its top 63 bits)."""
    return uuid.UUID(track_uuid).int >> 65


class Av2SensorLog:
    """One Argoverse 2 sensor log (see the module docstring). Implements ``DatasetReader``."""

    def __init__(self, log_dir: str | os.PathLike[str], *, pose_margin_ns: int = 200_000_000) -> None:
        self.log_dir = Path(log_dir)
        lidar_dir = self.log_dir / "sensors" / "lidar"
        if not lidar_dir.is_dir():
            raise RecordingError("not an AV2 sensor log: no sensors/lidar/ directory", source=str(self.log_dir),
                                 field="sensors/lidar")
        try:
            self.sweep_stamps: tuple[int, ...] = tuple(sorted(int(p.stem) for p in lidar_dir.glob("*.feather")))
        except ValueError as err:
            raise RecordingError(f"sweep file names must be integer nanosecond stamps: {err}",
                                 source=str(lidar_dir), field="sensors/lidar") from err
        self.pose_margin_ns = int(pose_margin_ns)
        self._rig: Rig | None = None
        self._annotations: pa.Table | None = None
        self._pose_rows: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def __len__(self) -> int:
        return len(self.sweep_stamps)

    # --- calibration ----------------------------------------------------------------------------------------
    @property
    def rig(self) -> Rig:
        """Cameras, LiDARs and the sweep sensor ``lidar`` placed in ``base_link``."""
        if self._rig is None:
            calib = self.log_dir / "calibration"
            ext_path, int_path = calib / "egovehicle_SE3_sensor.feather", calib / "intrinsics.feather"
            ext = _read(ext_path, ("sensor_name", "qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m"))
            intr = _read(int_path, ("sensor_name", "fx_px", "fy_px", "cx_px", "cy_px", "k1", "k2", "k3",
                                    "height_px", "width_px"))
            names = [str(n) for n in ext.column("sensor_name").to_pylist()]
            poses = _poses(ext, str(ext_path))
            cams = {str(n): i for i, n in enumerate(intr.column("sensor_name").to_pylist())}
            sensors = [SensorCalibration(LIDAR_ID, "lidar", EGO_FRAME)]
            transforms = []
            for name, pose in zip(names, poses):
                if name in cams:
                    i = cams[name]
                    row = {c: intr.column(c)[i].as_py() for c in intr.column_names}
                    frame = f"{name}_optical"
                    try:
                        camera = RadTanCamera(width=int(row["width_px"]), height=int(row["height_px"]),
                                              fx=row["fx_px"], fy=row["fy_px"], cx=row["cx_px"], cy=row["cy_px"],
                                              distortion=(row["k1"], row["k2"], 0.0, 0.0, row["k3"]))
                    except CalibrationError as err:
                        raise RecordingError(err.reason, source=str(int_path),
                                             field=f"{name}.{err.field}") from err
                    sensors.append(SensorCalibration(name, "camera", frame, camera=camera))
                else:
                    frame = name
                    kind = "lidar" if "lidar" in name else "other"
                    sensors.append(SensorCalibration(name, kind, frame))
                transforms.append(StaticTransform(EGO_FRAME, frame, pose))
            try:
                self._rig = Rig(self.log_dir.name, EGO_FRAME, tuple(sensors), tuple(transforms),
                                source=str(ext_path))
            except CalibrationError as err:
                raise RecordingError(err.reason, source=str(ext_path), field=err.field) from err
        return self._rig

    # --- samples --------------------------------------------------------------------------------------------
    def _pose_table(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(stamps, quaternions xyzw, translations) of ``city_SE3_egovehicle.feather``, sorted by stamp."""
        if self._pose_rows is None:
            path = self.log_dir / "city_SE3_egovehicle.feather"
            table = _read(path, ("timestamp_ns", "qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m"))
            stamps = _col(table, "timestamp_ns", np.int64)
            order = np.argsort(stamps, kind="stable")
            q = np.stack([_col(table, c, np.float64) for c in ("qx", "qy", "qz", "qw")], axis=1)[order]
            t = np.stack([_col(table, c, np.float64) for c in ("tx_m", "ty_m", "tz_m")], axis=1)[order]
            self._pose_rows = (stamps[order], q, t)
        return self._pose_rows

    def _pose(self, i: int) -> EgoPose:
        stamps, q, t = self._pose_table()
        try:
            pose = SE3.from_quaternion(q[i], t[i])
        except GeometryError as err:
            raise RecordingError(err.reason, source=str(self.log_dir / "city_SE3_egovehicle.feather"),
                                 field=f"row {i}: qw, qx, qy, qz") from err
        return EgoPose(int(stamps[i]), CITY_FRAME, EGO_POSE_ID, EGO_FRAME, pose)

    def ego_poses(self, start_ns: int | None = None, stop_ns: int | None = None) -> list[EgoPose]:
        """The ego poses (``map`` -> ``base_link``) with stamps in ``[start_ns, stop_ns]`` (default: all),
        sorted by stamp."""
        stamps = self._pose_table()[0]
        lo = 0 if start_ns is None else int(np.searchsorted(stamps, start_ns, side="left"))
        hi = len(stamps) if stop_ns is None else int(np.searchsorted(stamps, stop_ns, side="right"))
        return [self._pose(i) for i in range(lo, hi)]

    def ego_pose_at(self, stamp_ns: int) -> EgoPose:
        """The ego pose at ``stamp_ns``: the recorded one, or interpolated between its neighbours."""
        stamps = self._pose_table()[0]
        i = int(np.searchsorted(stamps, stamp_ns))
        if i < len(stamps) and stamps[i] == stamp_ns:
            return self._pose(i)
        if i == 0 or i == len(stamps):
            raise RecordingError(f"stamp {stamp_ns} ns is outside the ego poses [{stamps[0]}, {stamps[-1]}]",
                                 source=str(self.log_dir / "city_SE3_egovehicle.feather"), field="timestamp_ns")
        a, b = self._pose(i - 1), self._pose(i)
        alpha = (stamp_ns - a.stamp_ns) / (b.stamp_ns - a.stamp_ns)
        return EgoPose(stamp_ns, CITY_FRAME, EGO_POSE_ID, EGO_FRAME, a.pose.interpolate(b.pose, alpha))

    def lidar(self, index: int) -> PointCloud:
        """Sweep ``index`` in ``base_link``."""
        stamp = self.sweep_stamps[index]
        path = self.log_dir / "sensors" / "lidar" / f"{stamp}.feather"
        table = _read(path, ("x", "y", "z"))
        xyz = np.stack([_col(table, c, np.float32) for c in ("x", "y", "z")], axis=1)
        fields: dict[str, npt.NDArray[Any]] = {}
        for name, out, dtype in (("intensity", "intensity", np.uint8), ("laser_number", "laser_number", np.uint8),
                                 ("offset_ns", "time_offset_ns", np.int64)):
            if name in table.column_names:
                fields[out] = _col(table, name, dtype)
        try:
            return PointCloud(stamp, EGO_FRAME, LIDAR_ID, xyz, fields)
        except SampleError as err:
            raise RecordingError(err.reason, source=str(path), field=err.field) from err

    def boxes(self, index: int) -> Boxes3D:
        """The annotated cuboids at sweep ``index`` (Boxes3D in ``base_link``)."""
        path = self.log_dir / "annotations.feather"
        if self._annotations is None:
            self._annotations = _read(path, ("timestamp_ns", "track_uuid", "category", "length_m", "width_m",
                                             "height_m", "qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m"))
        stamp = self.sweep_stamps[index]
        t = self._annotations.filter(pc.equal(self._annotations.column("timestamp_ns"), stamp))
        cats = [str(c) for c in t.column("category").to_pylist()]
        unknown = sorted(set(cats) - set(AV2_CATEGORIES))
        if unknown:
            raise RecordingError(f"unknown categories {unknown}", source=str(path), field="category")
        q = np.stack([_col(t, c, np.float64) for c in ("qw", "qx", "qy", "qz")], axis=1).reshape(-1, 4)
        w, x, y, z = q.T
        yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))  # heading of the rotated +x axis
        centers = np.stack([_col(t, c, np.float64) for c in ("tx_m", "ty_m", "tz_m")], axis=1).reshape(-1, 3)
        sizes = np.stack([_col(t, c, np.float64) for c in ("length_m", "width_m", "height_m")], axis=1).reshape(-1, 3)
        tracks = np.array([track_id_of(u) for u in t.column("track_uuid").to_pylist()], dtype=np.int64)
        try:
            return Boxes3D(stamp, EGO_FRAME, GROUND_TRUTH_ID, centers, sizes, yaw,
                           np.array([AV2_CATEGORIES.index(c) for c in cats], dtype=np.int64), AV2_CATEGORIES,
                           track_ids=tracks)
        except (SampleError, ValueError) as err:
            raise RecordingError(str(getattr(err, "reason", err)), source=str(path),
                                 field=getattr(err, "field", None)) from err

    def frame(self, index: int) -> FrameSet:
        """Sweep, ego pose and ground truth at sweep ``index``."""
        cloud = self.lidar(index)
        return FrameSet(cloud.stamp_ns, LIDAR_ID, {LIDAR_ID: cloud, EGO_POSE_ID: self.ego_pose_at(cloud.stamp_ns),
                                                   GROUND_TRUTH_ID: self.boxes(index)})

    def frames(self) -> Iterator[FrameSet]:
        """Every sweep's frame, in time order."""
        return (self.frame(i) for i in range(len(self)))

    def __iter__(self) -> Iterator[Sample]:
        """Sweeps, boxes and ego poses (see the module docstring) in time order."""
        if not self.sweep_stamps:
            return
        lo = self.sweep_stamps[0] - self.pose_margin_ns
        hi = self.sweep_stamps[-1] + self.pose_margin_ns
        sweep_set = set(self.sweep_stamps)
        pending: list[Sample] = [p for p in self.ego_poses(lo, hi) if p.stamp_ns not in sweep_set]
        j = 0
        for fs in self.frames():
            while j < len(pending) and pending[j].stamp_ns < fs.stamp_ns:
                yield pending[j]
                j += 1
            yield from sorted(fs, key=lambda s: (s.stamp_ns, s.sensor_id))
        yield from pending[j:]


def open_av2_log(log_dir: str | os.PathLike[str], *, pose_margin_ns: int = 200_000_000) -> Av2SensorLog:
    """Open an Argoverse 2 sensor log folder; see the module docstring."""
    return Av2SensorLog(log_dir, pose_margin_ns=pose_margin_ns)
