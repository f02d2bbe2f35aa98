"""Merge the scans of several radars into one point set in a common frame, with ego-motion-compensated Doppler.

Each :class:`~fusion_stack.types.RadarScan` is expressed in its radar's frame (origin at the radar, so a
detection's position is also its line of sight). :func:`merge_radar_scans` moves every detection into
``out_frame`` with the caller's ``scan2out`` transforms, keeps where each detection was seen from (the radar's
origin in ``out_frame``) and removes the ego vehicle's own motion from the radial velocities with
:func:`fusion_stack.align.deskew.compensate_radial_velocity`, so a static target reads 0 m/s and a moving one
reads its own velocity over ground projected on the line of sight. The result, :class:`RadarPoints`, is what the
radar detectors (:mod:`fusion_stack.models.radar_detector`) consume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.align._array_checks import describe, float_array
from fusion_stack.align.deskew import compensate_radial_velocity
from fusion_stack.align.errors import AlignmentError
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import RadarScan, SampleError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_FLOAT_FIELDS = ("positions", "radial_velocity", "raw_radial_velocity", "rcs", "sensor_origins")


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True)
class RadarPoints:
    """Detections of several radars in one frame.

    ``frame_id``: the frame every array is expressed in (e.g. ``base_link``; gravity-aligned, z up, for the
    detectors that work in its x-y plane). ``sensor_ids``: the radars, unique. Per detection (N rows):

    - ``positions`` (N, 3) float64 metres;
    - ``radial_velocity`` (N,) float64 m/s over ground: the detection's own velocity projected on the unit line of
      sight from its radar (positive = moving away), ego motion removed; equal to ``raw_radial_velocity`` when
      the merge was given no ego twist;
    - ``raw_radial_velocity`` (N,) float64 m/s as the radar measured it (relative to the moving radar);
    - ``rcs`` (N,) float64 dBsm;
    - ``sensor_origins`` (N, 3) float64 metres: the origin of the radar that saw it (line of sight:
      ``positions - sensor_origins``);
    - ``sensor_index`` (N,) int64 index into ``sensor_ids``;
    - ``stamps_ns`` (N,) int64: the stamp of the scan it came from.

    Any real (integer: ``sensor_index``, ``stamps_ns``) arrays are accepted on construction and stored as read-only
    float64 (int64) arrays; shapes, finiteness and the index range are checked
    (:class:`~fusion_stack.types.SampleError` naming the field).
    """

    frame_id: str
    sensor_ids: tuple[str, ...]
    positions: npt.NDArray[Any]
    radial_velocity: npt.NDArray[Any]
    raw_radial_velocity: npt.NDArray[Any]
    rcs: npt.NDArray[Any]
    sensor_origins: npt.NDArray[Any]
    sensor_index: npt.NDArray[Any]
    stamps_ns: npt.NDArray[Any]

    def __post_init__(self) -> None:
        if not isinstance(self.frame_id, str) or not self.frame_id:
            raise SampleError(f"RadarPoints.frame_id must be a non-empty string, got {self.frame_id!r}",
                              field="frame_id")
        ids = tuple(self.sensor_ids) if isinstance(self.sensor_ids, (tuple, list)) else None
        if ids is None or not all(isinstance(s, str) and s for s in ids) or len(set(ids)) != len(ids):
            raise SampleError(f"RadarPoints.sensor_ids must be unique non-empty strings, got {self.sensor_ids!r}",
                              field="sensor_ids")
        pos = np.asarray(self.positions)
        n = pos.shape[0] if pos.ndim == 2 else -1
        shapes = {"positions": (n, 3), "radial_velocity": (n,), "raw_radial_velocity": (n,), "rcs": (n,),
                  "sensor_origins": (n, 3)}
        for name in _FLOAT_FIELDS:
            a = np.asarray(getattr(self, name))
            if n < 0 or a.shape != shapes[name] or a.dtype.kind not in "iuf":
                want = "(N, 3)" if len(shapes[name]) == 2 else "(N,)"
                raise SampleError(f"RadarPoints.{name} must be a real array {want} (N = {max(n, 0)} from positions"
                                  f"), got {describe(a)}", field=name)
            a = np.asarray(a, dtype=np.float64)
            if not np.isfinite(a).all():
                raise SampleError(f"RadarPoints.{name} contains {int(np.count_nonzero(~np.isfinite(a)))} NaN/Inf "
                                  "values", field=name)
            object.__setattr__(self, name, _readonly(a))
        for name in ("sensor_index", "stamps_ns"):
            a = np.asarray(getattr(self, name))
            if a.shape != (n,) or a.dtype.kind not in "iu":
                raise SampleError(f"RadarPoints.{name} must be an integer array ({n},), got {describe(a)}",
                                  field=name)
            object.__setattr__(self, name, _readonly(a.astype(np.int64)))
        if n and (self.sensor_index.min() < 0 or self.sensor_index.max() >= len(ids)):
            raise SampleError(f"RadarPoints.sensor_index must index sensor_ids ({len(ids)} ids), got range "
                              f"[{self.sensor_index.min()}, {self.sensor_index.max()}]", field="sensor_index")
        object.__setattr__(self, "sensor_ids", ids)

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @classmethod
    def empty(cls, frame_id: str, sensor_ids: Sequence[str] = ()) -> RadarPoints:
        """No detections, in ``frame_id``."""
        z3, z1 = np.zeros((0, 3)), np.zeros(0)
        zi = np.zeros(0, np.int64)
        return cls(frame_id, tuple(sensor_ids), z3, z1, z1, z1, z3, zi, zi)

    def lines_of_sight(self) -> FloatArray:
        """Unit lines of sight (N, 3) from each detection's radar to it (a zero vector where they coincide)."""
        d = self.positions - self.sensor_origins
        r = np.linalg.norm(d, axis=1)
        return d / np.where(r > 0, r, 1.0)[:, None]

    def select(self, mask: npt.ArrayLike) -> RadarPoints:
        """The detections where ``mask`` (N,) bool is True (or at the given integer indices)."""
        m = np.asarray(mask)
        return RadarPoints(self.frame_id, self.sensor_ids, self.positions[m], self.radial_velocity[m],
                           self.raw_radial_velocity[m], self.rcs[m], self.sensor_origins[m], self.sensor_index[m],
                           self.stamps_ns[m])


def _twist(value: npt.ArrayLike, name: str) -> FloatArray:
    a = float_array(value, name=name, ndim=1, layout="(3,)")
    if a.shape != (3,):
        raise AlignmentError(f"expected an array (3,), got {describe(np.asarray(value))}", field=name)
    return a


def merge_radar_scans(scans: Sequence[RadarScan], *, scan2out: Mapping[str, SE3], out_frame: str,
                      ego_linear_velocity: npt.ArrayLike | None, ego_angular_velocity: npt.ArrayLike | None,
                      out2body: SE3 | None = None, sensor2body: Mapping[str, SE3] | None = None) -> RadarPoints:
    """The detections of ``scans`` (one scan per radar) in ``out_frame``, with ego-motion-compensated Doppler.

    ``scan2out[scan.sensor_id]`` maps each scan's frame into ``out_frame`` (the caller includes the ego motion
    between the scan's stamp and the output stamp, e.g. with ``PoseBuffer.sensor_transform``). A scan's frame must
    have the radar at its origin (as radar drivers and :class:`~fusion_stack.types.RadarScan` do): the line of
    sight of a detection is its position in that frame, and the radar's origin in ``out_frame`` is
    ``scan2out[...].translation`` (``RadarPoints.sensor_origins``).

    Ego compensation: ``ego_linear_velocity`` (3,) m/s and ``ego_angular_velocity`` (3,) rad/s are the vehicle's
    twist in its body frame (``base_link``), as in :class:`~fusion_stack.types.EgoPose`; each radar moves at
    ``v + w x r_mount`` and :func:`~fusion_stack.align.deskew.compensate_radial_velocity` adds that motion back
    along the line of sight, so ``radial_velocity`` is over ground (static targets ~0 m/s). The radar's mount
    ``radar -> body`` is ``sensor2body[sensor_id]`` when given, else ``out2body @ scan2out[sensor_id]`` (pass
    ``out2body`` when ``out_frame`` is not the body frame; None means ``out_frame`` is the body frame). When
    ``ego_linear_velocity`` is None the scans are taken as already compensated or as recorded from a vehicle at
    rest: ``radial_velocity`` equals ``raw_radial_velocity`` (``ego_angular_velocity`` must then be None too).
    ``ego_angular_velocity`` None with a linear velocity means no rotation. One twist serves every scan: the
    scans of one cycle lie within a few tens of milliseconds.

    Empty ``scans`` (or scans without detections) give an empty :class:`RadarPoints`. Raises
    :class:`~fusion_stack.align.errors.AlignmentError` naming the argument for anything else than RadarScans
    with unique sensor ids, a missing or non-SE3 transform, or a twist that is not a finite (3,) array.
    """
    if not isinstance(out_frame, str) or not out_frame:
        raise AlignmentError(f"out_frame must be a non-empty string, got {out_frame!r}", field="out_frame")
    if isinstance(scans, (str, bytes)) or not isinstance(scans, Sequence):
        raise AlignmentError(f"scans must be a sequence of RadarScan, got {describe(scans)}", field="scans")
    seen: list[str] = []
    for i, scan in enumerate(scans):
        if not isinstance(scan, RadarScan):
            raise AlignmentError(f"scans[{i}] must be a RadarScan, got {describe(scan)}", field="scans")
        if scan.sensor_id in seen:
            raise AlignmentError(f"scans[{i}] repeats sensor {scan.sensor_id!r} (one scan per radar; sensors: "
                                 f"{seen})", field="scans")
        seen.append(scan.sensor_id)
    if not isinstance(scan2out, Mapping):
        raise AlignmentError(f"scan2out must map sensor id -> SE3, got {describe(scan2out)}", field="scan2out")
    for sid in seen:
        if not isinstance(scan2out.get(sid), SE3):
            got = "nothing" if sid not in scan2out else describe(scan2out[sid])
            raise AlignmentError(f"scan2out[{sid!r}] must be an SE3, got {got} (keys: {sorted(scan2out)})",
                                 field="scan2out")
    if out2body is not None and not isinstance(out2body, SE3):
        raise AlignmentError(f"out2body must be an SE3 or None, got {describe(out2body)}", field="out2body")
    if sensor2body is not None:
        if not isinstance(sensor2body, Mapping):
            raise AlignmentError(f"sensor2body must map sensor id -> SE3, got {describe(sensor2body)}",
                                 field="sensor2body")
        for sid in seen:
            if not isinstance(sensor2body.get(sid), SE3):
                raise AlignmentError(f"sensor2body[{sid!r}] must be an SE3, got {describe(sensor2body.get(sid))} "
                                     f"(keys: {sorted(sensor2body)})", field="sensor2body")
    if ego_linear_velocity is None:
        if ego_angular_velocity is not None:
            raise AlignmentError("ego_angular_velocity was given without ego_linear_velocity (pass both, or "
                                 "(0, 0, 0) for the linear velocity)", field="ego_angular_velocity")
        lin: FloatArray | None = None
        ang = np.zeros(3)
    else:
        lin = _twist(ego_linear_velocity, "ego_linear_velocity")
        ang = np.zeros(3) if ego_angular_velocity is None else _twist(ego_angular_velocity, "ego_angular_velocity")

    ids = tuple(seen)
    if sum(len(s) for s in scans) == 0:
        return RadarPoints.empty(out_frame, ids)
    parts: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in (*_FLOAT_FIELDS, "sensor_index", "stamps_ns")}
    for i, scan in enumerate(scans):
        s2o = scan2out[scan.sensor_id]
        raw = np.asarray(scan.radial_velocity, dtype=np.float64)
        if lin is None:
            comp = raw
        else:
            if sensor2body is not None:
                mount = sensor2body[scan.sensor_id]
            else:
                mount = s2o if out2body is None else out2body @ s2o
            comp = np.asarray(compensate_radial_velocity(scan, sensor2body=mount, linear_velocity=lin,
                                                         angular_velocity=ang).radial_velocity, dtype=np.float64)
        n = len(scan)
        parts["positions"].append(s2o.apply(scan.positions.astype(np.float64)))
        parts["radial_velocity"].append(comp)
        parts["raw_radial_velocity"].append(raw)
        parts["rcs"].append(np.asarray(scan.rcs, dtype=np.float64))
        parts["sensor_origins"].append(np.broadcast_to(s2o.translation, (n, 3)))
        parts["sensor_index"].append(np.full(n, i, np.int64))
        parts["stamps_ns"].append(np.full(n, scan.stamp_ns, np.int64))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return RadarPoints(out_frame, ids, cat["positions"], cat["radial_velocity"], cat["raw_radial_velocity"],
                       cat["rcs"], cat["sensor_origins"], cat["sensor_index"], cat["stamps_ns"])


@dataclass(frozen=True)
class SensorVelocity:
    """A radar's own velocity over ground estimated from its Doppler: ``velocity`` (3,) m/s in the scan's frame
    (z = 0: the radar is taken to move in its x-y plane), ``inliers`` (N,) bool (the detections the static world
    explains) and ``residual_rms`` m/s over the inliers."""

    velocity: FloatArray
    inliers: npt.NDArray[np.bool_]
    residual_rms: float

    def __post_init__(self) -> None:
        self.velocity.flags.writeable = False
        self.inliers.flags.writeable = False


def estimate_sensor_velocity(scan: RadarScan, *, inlier_mps: float = 0.3, hypotheses: int = 64, seed: int = 0,
                             min_inliers: int = 5) -> SensorVelocity:
    """The radar's velocity from one scan when no odometry is at hand (radar ego-motion estimation).

    A static target at unit line of sight ``u`` measures ``-(v . u)``; most detections are static, so RANSAC over
    pairs of detections (``hypotheses`` pairs drawn with ``seed``: deterministic) finds the velocity ``v`` (x, y
    in the scan frame) most detections agree with within ``inlier_mps``, refined by least squares over them.
    The result can stand in for odometry: for a radar at ``sensor2body`` on a vehicle that does not turn, the body
    velocity is ``sensor2body.apply_rotation(velocity)``. Raises AlignmentError when fewer than ``min_inliers``
    detections agree (too few detections, or a scene of moving things).
    """
    if not isinstance(scan, RadarScan):
        raise AlignmentError(f"scan must be a RadarScan, got {describe(scan)}", field="scan")
    for name, value in (("hypotheses", hypotheses), ("min_inliers", min_inliers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise AlignmentError(f"expected an int >= 1, got {value!r}", field=name)
    tol = float(inlier_mps) if isinstance(inlier_mps, (int, float)) and not isinstance(inlier_mps, bool) else -1.0
    if not np.isfinite(tol) or tol <= 0:
        raise AlignmentError(f"expected a finite number > 0, got {inlier_mps!r}", field="inlier_mps")
    pos = scan.positions.astype(np.float64)
    rng_m = np.linalg.norm(pos, axis=1)
    u = (pos / np.where(rng_m > 0, rng_m, 1.0)[:, None])[:, :2]
    vr = scan.radial_velocity.astype(np.float64)
    n = len(scan)
    if n < max(2, int(min_inliers)):
        raise AlignmentError(f"the scan of {scan.sensor_id!r} has {n} detections, at least "
                             f"{max(2, int(min_inliers))} are needed", field="scan")
    gen = np.random.default_rng(seed)
    i = gen.integers(0, n, int(hypotheses))
    j = gen.integers(0, n, int(hypotheses))
    det = u[i, 0] * u[j, 1] - u[i, 1] * u[j, 0]
    ok = np.abs(det) > 0.05
    i, j, det = i[ok], j[ok], det[ok]
    # static targets: -v . u = vr  ->  v . u = -vr
    ri, rj = -vr[i], -vr[j]
    vx, vy = (ri * u[j, 1] - rj * u[i, 1]) / det, (u[i, 0] * rj - u[j, 0] * ri) / det
    inl = np.abs(vx[:, None] * u[None, :, 0] + vy[:, None] * u[None, :, 1] + vr[None]) <= tol
    if not len(inl):
        raise AlignmentError(f"the detections of {scan.sensor_id!r} span too little angle to estimate a velocity",
                             field="scan")
    best = inl[np.argmax(inl.sum(axis=1))]
    v = np.zeros(2)
    for _ in range(3):  # refine: least squares over the inliers, then re-select them
        if best.sum() < max(2, int(min_inliers)):
            break
        v, *_ = np.linalg.lstsq(u[best], -vr[best], rcond=None)
        best = np.abs(u @ v + vr) <= tol
    if best.sum() < int(min_inliers):
        raise AlignmentError(f"only {int(best.sum())} of {n} detections of {scan.sensor_id!r} agree on one sensor "
                             f"velocity (need {min_inliers})", field="scan")
    rms = float(np.sqrt(np.mean((u[best] @ v + vr[best]) ** 2)))
    return SensorVelocity(np.array([v[0], v[1], 0.0]), best, rms)


__all__ = ["RadarPoints", "SensorVelocity", "estimate_sensor_velocity", "merge_radar_scans"]
