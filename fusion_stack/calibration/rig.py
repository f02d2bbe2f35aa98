"""A rig calibration: sensors, their intrinsics, their extrinsics in a frame graph and their time offsets.

Time offsets: ``time_offset_ns`` is added to a sensor's stamps to put them on the rig's reference clock
(``t_reference = t_sensor + time_offset_ns``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import FrameGraph, StaticTransform
from fusion_stack.geometry.se3 import SE3

SENSOR_KINDS = ("camera", "lidar", "radar", "imu", "gnss", "other")


@dataclass(frozen=True)
class SensorCalibration:
    """One sensor of a rig.

    sensor_id: unique name (e.g. ``CAM_FRONT``); kind: one of ``SENSOR_KINDS``; frame_id: the frame its data is
    expressed in (cameras: the optical frame); time_offset_ns: added to its stamps to reach the rig clock;
    camera: the camera model (cameras only).
    """

    sensor_id: str
    kind: str
    frame_id: str
    time_offset_ns: int = 0
    camera: CameraModel | None = None


@dataclass(frozen=True)
class Rig:
    """A calibrated sensor rig: ``sensors`` placed in a static frame tree rooted at ``base_frame``.

    ``transforms`` are the static edges (``child2parent``). ``source`` names the file it came from (used in
    error messages; not part of equality). Validated on construction: unique sensor ids, known kinds, a camera
    model on every camera (and only there), every sensor frame connected to ``base_frame``.
    """

    name: str
    base_frame: str
    sensors: tuple[SensorCalibration, ...]
    transforms: tuple[StaticTransform, ...]
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensors", tuple(self.sensors))
        object.__setattr__(self, "transforms", tuple(self.transforms))
        graph = FrameGraph()
        graph.add_frame(self.base_frame)
        for i, t in enumerate(self.transforms):
            try:
                graph.add_static(t.parent, t.child, t.child2parent)
            except GeometryError as err:
                raise CalibrationError(err.reason, source=self.source, field=f"transforms[{i}]") from err
        seen: set[str] = set()
        for s in self.sensors:
            where = f"sensors[{s.sensor_id}]"
            if s.sensor_id in seen:
                raise CalibrationError(f"duplicate sensor id {s.sensor_id!r}", source=self.source, field=where)
            seen.add(s.sensor_id)
            if s.kind not in SENSOR_KINDS:
                raise CalibrationError(f"unknown sensor kind {s.kind!r}; expected one of {SENSOR_KINDS}",
                                       source=self.source, field=f"{where}.kind")
            if s.kind == "camera" and s.camera is None:
                raise CalibrationError("a camera sensor needs a camera model", source=self.source,
                                       field=f"{where}.camera")
            if s.kind != "camera" and s.camera is not None:
                raise CalibrationError(f"a {s.kind} sensor cannot carry a camera model", source=self.source,
                                       field=f"{where}.camera")
            if isinstance(s.time_offset_ns, bool) or not isinstance(s.time_offset_ns, (int, np.integer)):
                raise CalibrationError(f"time_offset_ns must be an int of nanoseconds, got {s.time_offset_ns!r}",
                                       source=self.source, field=f"{where}.time_offset_ns")
            if s.frame_id not in graph:
                raise CalibrationError(
                    f"frame {s.frame_id!r} of sensor {s.sensor_id!r} is not in the frame tree "
                    f"(frames: {', '.join(graph.frames)})", source=self.source, field=f"{where}.frame_id")
            if not graph.connected(s.frame_id, self.base_frame):
                raise CalibrationError(
                    f"frame {s.frame_id!r} of sensor {s.sensor_id!r} does not connect to the base frame "
                    f"{self.base_frame!r} (its tree is rooted at {graph.root_of(s.frame_id)!r})",
                    source=self.source, field=f"{where}.frame_id")
        object.__setattr__(self, "_graph", graph)

    # --- queries -----------------------------------------------------------------------------
    def frame_graph(self) -> FrameGraph:
        """A new FrameGraph holding the rig's static transforms (callers may add time-stamped edges)."""
        graph: FrameGraph = getattr(self, "_graph")  # noqa: B009 - set in __post_init__
        return graph.copy()

    def sensor(self, sensor_id: str) -> SensorCalibration:
        """The sensor named ``sensor_id``; CalibrationError listing the rig's sensors when absent."""
        for s in self.sensors:
            if s.sensor_id == sensor_id:
                return s
        raise CalibrationError(
            f"no sensor {sensor_id!r} in rig {self.name!r} (sensors: {', '.join(self.sensor_ids)})",
            source=self.source, field="sensors")

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensor ids in rig order."""
        return tuple(s.sensor_id for s in self.sensors)

    def sensors_of_kind(self, kind: str) -> tuple[SensorCalibration, ...]:
        """The sensors of one kind (``camera``, ``lidar``, ...), in rig order."""
        return tuple(s for s in self.sensors if s.kind == kind)

    def require_sensors(self, sensor_ids: Iterable[str]) -> None:
        """Raise CalibrationError naming every sensor in ``sensor_ids`` the rig lacks."""
        missing = [s for s in sensor_ids if s not in self.sensor_ids]
        if missing:
            raise CalibrationError(
                f"missing sensors {missing} in rig {self.name!r} (has: {', '.join(self.sensor_ids)})",
                source=self.source, field="sensors")

    def transform(self, src_frame: str, dst_frame: str) -> SE3:
        """``src2dst`` between two frames of the rig (static)."""
        graph: FrameGraph = getattr(self, "_graph")  # noqa: B009
        try:
            return graph.lookup(src_frame, dst_frame)
        except GeometryError as err:
            raise CalibrationError(err.reason, source=self.source, field=err.field) from err

    def extrinsic(self, src_sensor: str, dst_sensor: str) -> SE3:
        """``src2dst`` between the frames of two sensors, e.g. ``rig.extrinsic("LIDAR_TOP", "CAM_FRONT")``."""
        return self.transform(self.sensor(src_sensor).frame_id, self.sensor(dst_sensor).frame_id)

    def sensor2base(self, sensor_id: str) -> SE3:
        """The pose of a sensor's frame in ``base_frame`` (maps sensor points into the base frame)."""
        return self.transform(self.sensor(sensor_id).frame_id, self.base_frame)

    def projection_matrix(self, src_frame: str, camera_id: str) -> np.ndarray:
        """``src2img`` (4, 4): ``[K 0; 0 1] @ src2cam``, the linear (pinhole) part of projecting points in
        ``src_frame`` into the pixels of camera ``camera_id`` (divide rows 0-1 by row 2; no distortion).
        """
        cam = self.sensor(camera_id)
        if cam.camera is None:
            raise CalibrationError(f"sensor {camera_id!r} is not a camera", source=self.source,
                                   field=f"sensors[{camera_id}]")
        k4 = np.eye(4)
        k4[:3, :3] = cam.camera.K
        return k4 @ self.transform(src_frame, cam.frame_id).as_matrix()

    def isclose(self, other: Rig, *, atol: float = 1e-9) -> bool:
        """Equal up to ``atol`` in transforms and intrinsics (for round trips through text formats)."""
        if (self.name, self.base_frame, self.sensor_ids) != (other.name, other.base_frame, other.sensor_ids):
            return False
        for a, b in zip(self.sensors, other.sensors):
            if (a.kind, a.frame_id, a.time_offset_ns) != (b.kind, b.frame_id, b.time_offset_ns):
                return False
            if (a.camera is None) != (b.camera is None):
                return False
            if a.camera is not None and b.camera is not None and not cameras_close(a.camera, b.camera, atol=atol):
                return False
        ga, gb = self.frame_graph(), other.frame_graph()
        if set(ga.frames) != set(gb.frames):
            return False
        for f in ga.frames:
            if ga.parent(f) != gb.parent(f):
                return False
            parent = ga.parent(f)
            if parent is not None and not ga.lookup(f, parent).allclose(gb.lookup(f, parent), atol=atol):
                return False
        return True


def cameras_close(a: CameraModel, b: CameraModel, *, atol: float = 1e-9) -> bool:
    """Same model, size and parameters within ``atol`` (relative to the focal length for intrinsics)."""
    if (a.model_name, a.width, a.height) != (b.model_name, b.width, b.height):
        return False
    scale = max(abs(a.fx), 1.0)
    return bool(np.allclose(a.K, b.K, atol=atol * scale)
                and np.allclose(a.distortion_coefficients, b.distortion_coefficients, atol=atol))
