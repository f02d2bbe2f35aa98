"""Motion compensation: deskew of rotating-LiDAR sweeps, multi-sweep accumulation and radar ego-motion
compensation of radial velocities.

A rotating LiDAR takes a sweep over ~50-100 ms while the car moves: each point is measured from a different
sensor pose. ``deskew`` re-expresses every point in the sensor frame at one target stamp using the ego poses
(``PoseBuffer``) and the per-point times of the cloud (field ``time_offset_ns``, relative to ``stamp_ns``).
``accumulate_sweeps`` brings past sweeps into the frame of a reference sweep with a ``time_lag`` channel, as
nuScenes detectors use (CenterPoint, BEVFusion). ``compensate_radial_velocity`` removes the ego vehicle's own
motion from radar Doppler, so static objects read 0 m/s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.pose_buffer import PoseBuffer
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import PointCloud, RadarScan

TIME_FIELD = "time_offset_ns"
TIME_LAG_FIELD = "time_lag"


def point_stamps(cloud: PointCloud, *, time_field: str = TIME_FIELD) -> npt.NDArray[np.int64]:
    """Absolute per-point stamps (N,) int64 ns: ``stamp_ns + fields[time_field]``."""
    if time_field not in cloud.fields:
        raise AlignmentError(f"the cloud of {cloud.sensor_id!r} has no per-point time field {time_field!r} "
                             f"(fields: {sorted(cloud.fields)})", field=time_field)
    offsets = np.asarray(cloud.fields[time_field])
    if not np.issubdtype(offsets.dtype, np.integer):
        raise AlignmentError(f"{time_field} must be integer nanoseconds, got dtype {offsets.dtype}",
                             field=time_field)
    return np.int64(cloud.stamp_ns) + offsets.astype(np.int64)


def deskew(cloud: PointCloud, poses: PoseBuffer, *, sensor2body: SE3, target_stamp_ns: int | None = None,
           time_field: str = TIME_FIELD) -> PointCloud:
    """The sweep with every point moved to where it was at ``target_stamp_ns`` (default: ``cloud.stamp_ns``),
    in the sensor frame at that stamp. The returned cloud's stamp is the target and its ``time_field`` is zero.

    ``sensor2body`` is the LiDAR's mount (``rig.sensor2base(lidar_id)``); ``poses`` must cover the sweep's times
    (within its extrapolation bound). Static-world assumption: moving objects keep their own motion blur.
    """
    target = cloud.stamp_ns if target_stamp_ns is None else int(target_stamp_ns)
    stamps = point_stamps(cloud, time_field=time_field)
    if len(cloud) == 0:
        return cloud
    uniq, inverse = np.unique(stamps, return_inverse=True)
    rot, trans = poses.poses_at(uniq)          # body@t_i -> fixed
    t_rot, t_trans = poses.poses_at([target])  # body@target -> fixed
    # relative motion body@t_i -> body@target, per unique stamp
    rel_rot = np.einsum("ji,mjk->mik", t_rot[0], rot)
    rel_trans = np.einsum("ji,mj->mi", t_rot[0], trans - t_trans[0])
    p_body = sensor2body.apply(cloud.positions.astype(np.float64))
    moved = np.einsum("nij,nj->ni", rel_rot[inverse], p_body) + rel_trans[inverse]
    out = sensor2body.inverse().apply(moved).astype(np.float32)
    fields = dict(cloud.fields)
    fields[time_field] = np.zeros(len(cloud), dtype=np.asarray(cloud.fields[time_field]).dtype)
    return PointCloud(target, cloud.frame_id, cloud.sensor_id, out, fields)


def accumulate_sweeps(sweeps: Sequence[PointCloud], poses: PoseBuffer, *, sensor2body: SE3,
                      reference_index: int = -1, deskew_sweeps: bool = False,
                      time_field: str = TIME_FIELD) -> PointCloud:
    """Concatenate ``sweeps`` in the sensor frame of ``sweeps[reference_index]`` at its stamp, adding a
    ``time_lag`` field (float32 seconds, reference stamp minus the sweep's stamp: 0 for the reference sweep).

    Each sweep is moved rigidly by the ego motion between its stamp and the reference stamp (as the nuScenes
    devkit does); with ``deskew_sweeps`` each point moves by its own time instead (needs ``time_field``).
    Fields present in every sweep are kept.
    """
    if not sweeps:
        raise AlignmentError("no sweeps to accumulate", field="sweeps")
    ref = sweeps[reference_index]
    keys = set.intersection(*(set(s.fields) for s in sweeps)) - {TIME_LAG_FIELD}
    positions, lags = [], []
    fields: dict[str, list[npt.NDArray[np.generic]]] = {k: [] for k in keys}
    for sweep in sweeps:
        if sweep.frame_id != ref.frame_id:
            raise AlignmentError(f"sweeps come from frame {sweep.frame_id!r}, the reference from {ref.frame_id!r}",
                                 field="frame_id")
        if deskew_sweeps:
            moved = deskew(sweep, poses, sensor2body=sensor2body, target_stamp_ns=ref.stamp_ns,
                           time_field=time_field).positions
        else:
            motion = poses.sensor_transform(sensor2body, sweep.stamp_ns, sensor2body, ref.stamp_ns)
            moved = motion.apply(sweep.positions.astype(np.float64)).astype(np.float32)
        positions.append(moved)
        lags.append(np.full(len(sweep), (ref.stamp_ns - sweep.stamp_ns) * 1e-9, dtype=np.float32))
        for k in keys:
            fields[k].append(np.asarray(sweep.fields[k]))
    out_fields = {k: np.concatenate(v) for k, v in fields.items()}
    out_fields[TIME_LAG_FIELD] = np.concatenate(lags)
    return PointCloud(ref.stamp_ns, ref.frame_id, ref.sensor_id, np.concatenate(positions), out_fields)


def compensate_radial_velocity(scan: RadarScan, *, sensor2body: SE3, linear_velocity: npt.ArrayLike,
                               angular_velocity: npt.ArrayLike = (0.0, 0.0, 0.0)) -> RadarScan:
    """The scan with the ego vehicle's motion removed from its radial velocities.

    ``linear_velocity`` (3,) m/s and ``angular_velocity`` (3,) rad/s are the vehicle's twist in the body frame;
    the radar moves at ``v + w x r`` (``r``: its mount position). A static target measures
    ``-(v_radar . u)`` along the unit line of sight ``u``; the compensated value ``v_r + v_radar . u`` is the
    target's own radial velocity over ground (0 for static targets). The measured values are kept in the field
    ``radial_velocity_measured``.
    """
    v = np.asarray(linear_velocity, dtype=np.float64).reshape(3)
    w = np.asarray(angular_velocity, dtype=np.float64).reshape(3)
    v_radar_body = v + np.cross(w, sensor2body.translation)
    v_radar = sensor2body.inverse().apply_rotation(v_radar_body)  # in the radar frame
    pos = scan.positions.astype(np.float64)
    rng = np.linalg.norm(pos, axis=1)
    u = pos / np.where(rng > 0, rng, 1.0)[:, None]
    compensated = scan.radial_velocity + u @ v_radar
    fields = dict(scan.fields)
    fields["radial_velocity_measured"] = np.asarray(scan.radial_velocity)
    return RadarScan(scan.stamp_ns, scan.frame_id, scan.sensor_id, scan.positions,
                     compensated.astype(np.float32), scan.rcs, fields)
