"""Spatial and temporal alignment of one synchronised group: everything in the output frame at the reference stamp.

:class:`FrameAligner` turns a :class:`~fusion_stack.types.FrameSet` into an :class:`AlignedFrame`: LiDAR points
(deskewed to the reference stamp and moved into the output frame), radar detections of every radar merged into
the output frame with the ego vehicle's motion removed from their radial velocities, and for every camera its
image, its model and ``out2cam`` at the image's own stamp. Ego motion between a sensor's stamp and the reference
stamp comes from the ego poses (``PoseBuffer``): ``sensor@t -> out@T = base2out . motion(t -> T) . sensor2base``.
Without poses (single dataset frames) or outside the poses' time range, motion is taken as identity and the frame
says so in ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.pose_buffer import PoseBuffer
from fusion_stack.align.radar_merge import RadarPoints, merge_radar_scans
from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.calibration.rig import Rig
from fusion_stack.fuse.camera_view import CameraView
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import CameraImage, FrameSet, PointCloud, RadarScan

TIME_FIELD = "time_offset_ns"


@dataclass(frozen=True)
class CameraPose:
    """A camera's model, ``out2cam`` (output frame at the reference stamp -> optical frame at the image stamp) and
    its static mount ``cam2base`` (optical frame -> the rig's base frame)."""

    camera: CameraModel
    out2cam: SE3
    cam2base: SE3 = field(default_factory=SE3)


@dataclass(frozen=True, eq=False)
class AlignedFrame:
    """One synchronised group aligned into ``frame_id`` at ``stamp_ns`` (see the module docstring).

    ``lidar``: the LiDAR points in ``frame_id`` (several LiDARs merged; pipeline stages may add fields such as
    ``paint`` (N, C) and ``painted`` (N,) or ``velocity`` (N, 3)); ``radar``: all radar detections in ``frame_id``
    with radial velocities over ground; ``images`` and ``cameras`` per camera sensor id; ``views``: the camera
    network's class evidence (filled by the camera-network stage); ``ego_linear_velocity`` / ``ego_angular_velocity``
    (3,) body-frame twist (m/s, rad/s) or None; ``missing``: expected sensors without a sample in this group;
    ``notes``: what was degraded (missing sensors, no ego motion, ...); ``sensor_origins``: each rig sensor's
    position (3,) in ``frame_id`` from its mount (metres).
    """

    stamp_ns: int
    frame_id: str
    reference_sensor_id: str
    lidar: PointCloud | None = None
    radar: RadarPoints | None = None
    images: Mapping[str, CameraImage] = field(default_factory=lambda: MappingProxyType({}))
    cameras: Mapping[str, CameraPose] = field(default_factory=lambda: MappingProxyType({}))
    views: tuple[CameraView, ...] = ()
    ego_linear_velocity: npt.NDArray[np.float64] | None = None
    ego_angular_velocity: npt.NDArray[np.float64] | None = None
    missing: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    sensor_origins: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=lambda: MappingProxyType({}))


class FrameAligner:
    """Aligns FrameSets of ``rig`` into ``output_frame`` (default: the rig's base frame); see the module docstring.

    ``poses`` (a PoseBuffer in any fixed frame, body = the rig's base frame) is read when the frame is aligned, so
    the caller may keep adding poses to it. ``deskew``: move each LiDAR point to the reference stamp using its
    ``time_offset_ns`` field (when present and poses cover the sweep).
    """

    def __init__(self, rig: Rig, *, output_frame: str | None = None, poses: PoseBuffer | None = None,
                 deskew: bool = True) -> None:
        self.rig = rig
        self.output_frame = output_frame or rig.base_frame
        self.base2out = rig.transform(rig.base_frame, self.output_frame)
        self.poses = poses
        self.deskew = bool(deskew)
        self._mounts = {s: rig.sensor2base(s) for s in rig.sensor_ids}
        origins = {s: (self.base2out @ m).translation.astype(np.float64) for s, m in self._mounts.items()}
        self.sensor_origins = MappingProxyType(origins)

    def motion(self, from_ns: int, to_ns: int) -> SE3 | None:
        """``base@from -> base@to`` from the poses, or None when they cannot tell (no poses, out of range)."""
        if from_ns == to_ns:
            return SE3()
        if self.poses is None or len(self.poses) == 0:
            return None
        try:
            return self.poses.motion(from_ns, to_ns)
        except AlignmentError:
            return None

    def sensor2out(self, sensor_id: str, stamp_ns: int, reference_ns: int) -> tuple[SE3, bool]:
        """``sensor@stamp -> out@reference`` and whether ego motion was known (identity otherwise)."""
        m = self.motion(stamp_ns, reference_ns)
        known = m is not None
        return self.base2out @ (m if m is not None else SE3()) @ self._mounts[sensor_id], known

    def _cloud(self, cloud: PointCloud, reference_ns: int, notes: list[str]) -> PointCloud:
        mount = self._mounts[cloud.sensor_id]
        offsets = cloud.fields.get(TIME_FIELD)
        if self.deskew and offsets is not None and len(cloud) and self.poses is not None and len(self.poses) >= 2:
            lo, hi = self.poses.time_range_ns
            t = np.asarray(offsets, dtype=np.int64)
            first, last = cloud.stamp_ns + int(t.min()), cloud.stamp_ns + int(t.max())
            slack = self.poses.max_extrapolation_ns
            if lo - slack <= min(first, reference_ns) and max(last, reference_ns) <= hi + slack:
                from fusion_stack.align.deskew import deskew

                moved = deskew(cloud, self.poses, sensor2body=mount, target_stamp_ns=reference_ns)
                return moved.transformed(self.base2out @ mount, self.output_frame)
            notes.append(f"{cloud.sensor_id}: not deskewed (ego poses do not cover the sweep)")
        src2out, known = self.sensor2out(cloud.sensor_id, cloud.stamp_ns, reference_ns)
        if not known:
            notes.append(f"{cloud.sensor_id}: no ego motion to the reference stamp (identity)")
        return cloud.transformed(src2out, self.output_frame)

    def align(self, frameset: FrameSet, *, ego_linear_velocity: npt.ArrayLike | None = None,
              ego_angular_velocity: npt.ArrayLike | None = None) -> AlignedFrame:
        """The frame of ``frameset`` in the output frame at its stamp (see :class:`AlignedFrame`). Samples of
        sensors the rig does not know are ignored; ego twist (body frame) removes ego motion from radar Doppler."""
        t_ref = frameset.stamp_ns
        notes: list[str] = [f"{s}: missing" for s in sorted(frameset.missing)]
        clouds: list[PointCloud] = []
        scans: list[RadarScan] = []
        images: dict[str, CameraImage] = {}
        cameras: dict[str, CameraPose] = {}
        for sid, sample in frameset.samples.items():
            if sid not in self._mounts:
                continue
            if isinstance(sample, PointCloud):
                clouds.append(self._cloud(sample, t_ref, notes))
            elif isinstance(sample, RadarScan):
                scans.append(sample)
            elif isinstance(sample, CameraImage):
                cam = self.rig.sensor(sid).camera
                if cam is None:
                    continue
                cam2out, known = self.sensor2out(sid, sample.stamp_ns, t_ref)
                if not known:
                    notes.append(f"{sid}: no ego motion to the reference stamp (identity)")
                images[sid] = sample
                cameras[sid] = CameraPose(cam, cam2out.inverse(), self._mounts[sid])
        lidar = _merge_clouds(clouds, self.output_frame, t_ref) if clouds else None
        lin = None if ego_linear_velocity is None else np.asarray(ego_linear_velocity, np.float64).reshape(3)
        ang = None if ego_angular_velocity is None else np.asarray(ego_angular_velocity, np.float64).reshape(3)
        radar = None
        if scans:
            scan2out: dict[str, SE3] = {}
            for scan in scans:
                scan2out[scan.sensor_id], known = self.sensor2out(scan.sensor_id, scan.stamp_ns, t_ref)
                if not known:
                    notes.append(f"{scan.sensor_id}: no ego motion to the reference stamp (identity)")
            if lin is None:
                notes.append("radar: no ego velocity, radial velocities are relative to the ego vehicle")
            radar = merge_radar_scans(scans, scan2out=scan2out, out_frame=self.output_frame,
                                      ego_linear_velocity=lin, ego_angular_velocity=ang,
                                      out2body=self.base2out.inverse())
        return AlignedFrame(t_ref, self.output_frame, frameset.reference_sensor_id, lidar, radar,
                            MappingProxyType(images), MappingProxyType(cameras), (), lin, ang, frameset.missing,
                            tuple(dict.fromkeys(notes)), self.sensor_origins)


def _merge_clouds(clouds: list[PointCloud], frame_id: str, stamp_ns: int) -> PointCloud:
    if len(clouds) == 1:
        return clouds[0]
    common = set.intersection(*(set(c.fields) for c in clouds))
    fields: dict[str, Any] = {k: np.concatenate([np.asarray(c.fields[k]) for c in clouds]) for k in sorted(common)}
    return PointCloud(stamp_ns, frame_id, clouds[0].sensor_id, np.concatenate([c.positions for c in clouds]), fields)
