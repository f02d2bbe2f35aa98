"""Seeded sensor corruptions for any recording or dataset (real or simulated), after MultiCorrupt and nuScenes-R.

Every corruption is a sample-level transform with a ``severity`` of 1, 2 or 3 (3 strongest) and a ``seed``:

* :func:`corrupt_sample` corrupts one sample (returns None when the corruption drops it);
* :func:`corrupt_stream` corrupts the samples of chosen sensors in a stream, passing the others through as the
  same objects;
* :func:`corrupt_rig` perturbs one sensor's extrinsic in a :class:`~fusion_stack.calibration.rig.Rig`;
* :func:`apply_to_recording` reads a recording, corrupts it and writes a new one.

Kinds (``CORRUPTIONS``; severity 1 / 2 / 3):

=========================  ==========================================================================================
``beam_reduction``         LiDAR: keep 1/2, 1/4, 1/8 of the rings (32 -> 16 / 8 / 4; needs the ``ring`` field)
``point_drop``             LiDAR: drop 25 / 50 / 75 % of the points (a random subset, fields kept)
``limited_fov``            LiDAR: keep a forward horizontal FOV of 240 / 180 / 90 deg (centred on +x)
``fog``                    LiDAR: visibility 100 / 50 / 25 m: points are lost beyond it (logistic in range),
                           intensities scaled by ``exp(-2 beta r)`` (``beta = 3 / visibility``) and 2 / 5 / 10 % of
                           spurious near returns (0.5 m to ``min(10 m, visibility / 5)``) added
``sensor_dropout``         any sensor: samples with stamps in ``[t0, t0 + 1 / 3 / 10 s]`` are removed
``blackout``               camera: image zeroed
``overexposure``           camera: gain 1.6 / 2.2 / 3.0 plus an offset of 10 / 20 / 40 % of full scale, clipped
``motion_blur``            camera: a line kernel of 7 / 15 / 25 px at a random angle (``cv2.filter2D``)
``noise``                  camera: additive Gaussian noise, sigma 8 / 16 / 32 (of 255, scaled to the dtype), clipped
``spatial_misalignment``   one sensor: rotation 0.5 / 1 / 2 deg about a random axis and translation 2 / 5 / 10 cm in
                           a random direction (fixed per seed and sensor)
``temporal_misalignment``  one sensor: stamps shifted by 20 / 50 / 100 ms (sign fixed per seed and sensor)
``radar_clutter``          radar: 5 / 15 / 40 spurious detections (random position in the scan's field of view,
                           radial velocity in [-20, 20] m/s, RCS in [-20, -5] dBsm)
``radar_ghosts``           radar: 10 / 25 / 50 % of the detections between the sensor and a lateral reflector
                           (a guardrail 3 to 8 m to one side, fixed per seed and sensor) are mirrored across it
                           (longer range, same radial velocity, RCS - 6 dB)
=========================  ==========================================================================================

Randomness comes from ``numpy.random.default_rng`` seeded by ``(seed, kind, sensor_id)`` for what is fixed per
sensor (misalignment, shift sign, dropout window, beam phase) and ``(seed, kind, sensor_id, stamp_ns)`` for what
changes per sample (dropped points, noise), so a sample is corrupted the same way alone and inside a stream.

``spatial_misalignment`` on data (not on a rig) moves the data, not the calibration: with the nominal rig a
corrupted sample looks like the true sample seen through ``corrupt_rig``'s rig (points ``p -> delta @ p``; images
are warped by the rotation homography ``K R K^-1``, which needs the ``rig`` for ``K``; the translation cannot be
applied to an image without depth and is left out there).

New corruptions: write a :class:`Corruption` (a callable with ``applies_to`` and ``one_sensor``) and pass
``corruptions={**CORRUPTIONS, "mine": Mine()}`` to the functions.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.errors import SimulationError
from fusion_stack.types import CameraImage, PointCloud, RadarScan

SEVERITIES = (1, 2, 3)

# --- severity tables (index severity - 1) -----------------------------------------------------------------------
BEAM_KEEP_EVERY = (2, 4, 8)
POINT_DROP_FRACTION = (0.25, 0.5, 0.75)
FOV_DEG = (240.0, 180.0, 90.0)
FOG_VISIBILITY_M = (100.0, 50.0, 25.0)
FOG_SPURIOUS_FRACTION = (0.02, 0.05, 0.10)
DROPOUT_DURATION_NS = (1_000_000_000, 3_000_000_000, 10_000_000_000)
DROPOUT_MAX_START_NS = 2_000_000_000
OVEREXPOSURE_GAIN = (1.6, 2.2, 3.0)
OVEREXPOSURE_OFFSET = (0.1, 0.2, 0.4)
MOTION_BLUR_PX = (7, 15, 25)
NOISE_SIGMA_8BIT = (8.0, 16.0, 32.0)
MISALIGN_ROTATION_DEG = (0.5, 1.0, 2.0)
MISALIGN_TRANSLATION_M = (0.02, 0.05, 0.10)
TIME_SHIFT_NS = (20_000_000, 50_000_000, 100_000_000)
CLUTTER_COUNT = (5, 15, 40)
GHOST_FRACTION = (0.10, 0.25, 0.50)

Sample = Any
"""Any sample of a recording or dataset stream (``stamp_ns``, ``frame_id``, ``sensor_id``; frozen dataclass)."""


@dataclass(frozen=True)
class CorruptionContext:
    """What a corruption gets besides the sample: the options and the seeded generators.

    ``window_ns``: the ``[start, end]`` dead period of ``sensor_dropout`` (None: the sample is inside it).
    """

    kind: str
    severity: int
    seed: int
    rig: Rig | None = None
    window_ns: tuple[int, int] | None = None

    @property
    def level(self) -> int:
        """``severity - 1``: the index into the severity tables."""
        return self.severity - 1

    def sensor_rng(self, sensor_id: str) -> np.random.Generator:
        """A generator fixed per (seed, kind, sensor): for what stays the same over a stream."""
        return np.random.default_rng([self.seed, _crc(self.kind), _crc(sensor_id)])

    def sample_rng(self, sample: Sample) -> np.random.Generator:
        """A generator per (seed, kind, sensor, stamp): for what changes from sample to sample."""
        return np.random.default_rng([self.seed, _crc(self.kind), _crc(sample.sensor_id),
                                      int(sample.stamp_ns) % (1 << 64)])


class Corruption(Protocol):
    """One corruption kind: ``(sample, context) -> corrupted sample or None (dropped)``.

    ``applies_to``: the sample types it changes (others are an error in :func:`corrupt_sample` and pass through
    :func:`corrupt_stream`); ``one_sensor``: True when it targets chosen sensors (``corrupt_stream`` then needs
    ``sensors``).
    """

    @property
    def applies_to(self) -> tuple[type, ...]: ...

    @property
    def one_sensor(self) -> bool: ...

    def __call__(self, sample: Sample, ctx: CorruptionContext, /) -> Sample | None: ...


@dataclass(frozen=True)
class SampleCorruption:
    """A :class:`Corruption` from a plain function."""

    fn: Callable[[Any, CorruptionContext], Any]
    applies_to: tuple[type, ...] = field(default=(object,))
    one_sensor: bool = False

    def __call__(self, sample: Sample, ctx: CorruptionContext, /) -> Sample | None:
        out: Sample | None = self.fn(sample, ctx)
        return out


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


# --- LiDAR ------------------------------------------------------------------------------------------------------
def _select_points(cloud: PointCloud, keep: npt.NDArray[np.bool_]) -> PointCloud:
    return PointCloud(cloud.stamp_ns, cloud.frame_id, cloud.sensor_id, cloud.positions[keep],
                      {k: v[keep] for k, v in cloud.fields.items()})


def _beam_reduction(cloud: PointCloud, ctx: CorruptionContext) -> PointCloud:
    if "ring" not in cloud.fields:
        raise SimulationError(f"beam_reduction needs the 'ring' field of the point cloud (fields: "
                              f"{', '.join(cloud.fields) or 'none'})", field="fields.ring")
    rings = np.asarray(cloud.fields["ring"])
    step = BEAM_KEEP_EVERY[ctx.level]
    phase = int(ctx.sensor_rng(cloud.sensor_id).integers(step))
    kept_rings = np.unique(rings)[phase::step]
    return _select_points(cloud, np.isin(rings, kept_rings))


def _point_drop(cloud: PointCloud, ctx: CorruptionContext) -> PointCloud:
    n = len(cloud)
    n_keep = round(n * (1.0 - POINT_DROP_FRACTION[ctx.level]))
    keep = np.zeros(n, bool)
    keep[ctx.sample_rng(cloud).choice(n, size=n_keep, replace=False)] = True
    return _select_points(cloud, keep)


def _limited_fov(cloud: PointCloud, ctx: CorruptionContext) -> PointCloud:
    p = cloud.positions
    azimuth = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    return _select_points(cloud, np.abs(azimuth) <= FOV_DEG[ctx.level] / 2.0)


def _fog(cloud: PointCloud, ctx: CorruptionContext) -> PointCloud:
    rng = ctx.sample_rng(cloud)
    visibility = FOG_VISIBILITY_M[ctx.level]
    beta = 3.0 / visibility  # Koschmieder: visibility = 3 / extinction coefficient
    p = cloud.positions.astype(np.float64)
    r = np.linalg.norm(p, axis=1)
    p_keep = 1.0 / (1.0 + np.exp(np.clip((r - visibility) / (0.1 * visibility), -50.0, 50.0)))
    keep = rng.random(len(cloud)) < p_keep
    fields = {k: np.asarray(v)[keep] for k, v in cloud.fields.items()}
    positions = p[keep]
    attenuation = np.exp(-2.0 * beta * r[keep])
    if "intensity" in fields:
        fields["intensity"] = (fields["intensity"] * attenuation).astype(fields["intensity"].dtype)
    n_spurious = round(FOG_SPURIOUS_FRACTION[ctx.level] * len(cloud))
    if n_spurious and len(cloud):
        # backscatter: near returns along the directions of random beams (their ring and time offset kept)
        src = rng.integers(len(cloud), size=n_spurious)
        direction = p[src] / np.maximum(r[src], 1e-6)[:, None]
        near = rng.uniform(0.5, min(10.0, visibility / 5.0), size=n_spurious)
        positions = np.concatenate([positions, direction * near[:, None]])
        for k, v in cloud.fields.items():
            extra = np.asarray(v)[src]
            if k == "intensity":
                extra = (extra * 0.1).astype(extra.dtype)
            fields[k] = np.concatenate([fields[k], extra])
    return PointCloud(cloud.stamp_ns, cloud.frame_id, cloud.sensor_id, positions.astype(np.float32), fields)


# --- any sensor -------------------------------------------------------------------------------------------------
def dropout_window(sensor_id: str, first_stamp_ns: int, *, severity: int, seed: int) -> tuple[int, int]:
    """The dead period ``[start, end]`` (ns, inclusive) of ``sensor_dropout`` for a sensor whose first sample is at
    ``first_stamp_ns``: it starts 0 to 2 s later (seeded) and lasts 1 / 3 / 10 s."""
    ctx = CorruptionContext("sensor_dropout", _check_severity(severity), _check_seed(seed))
    start = int(first_stamp_ns) + int(ctx.sensor_rng(sensor_id).integers(DROPOUT_MAX_START_NS + 1))
    return start, start + DROPOUT_DURATION_NS[ctx.level]


def _sensor_dropout(sample: Sample, ctx: CorruptionContext) -> Sample | None:
    if ctx.window_ns is None:  # a lone sample: it is inside the dead period
        return None
    start, end = ctx.window_ns
    return None if start <= sample.stamp_ns <= end else sample


def misalignment(sensor_id: str, *, severity: int, seed: int) -> SE3:
    """The perturbation ``delta`` of ``spatial_misalignment`` for one sensor (applied in the sensor frame:
    ``sensor2parent -> sensor2parent @ delta``): a rotation of exactly 0.5 / 1 / 2 deg about a seeded axis and a
    translation of exactly 2 / 5 / 10 cm in a seeded direction."""
    ctx = CorruptionContext("spatial_misalignment", _check_severity(severity), _check_seed(seed))
    rng = ctx.sensor_rng(sensor_id)
    axis, direction = rng.normal(size=(2, 3))
    axis /= np.linalg.norm(axis)
    direction /= np.linalg.norm(direction)
    rotvec = axis * np.radians(MISALIGN_ROTATION_DEG[ctx.level])
    rotation, _ = cv2.Rodrigues(rotvec)
    return SE3(np.asarray(rotation, np.float64), direction * MISALIGN_TRANSLATION_M[ctx.level])


def _spatial_misalignment(sample: Sample, ctx: CorruptionContext) -> Sample:
    delta = misalignment(sample.sensor_id, severity=ctx.severity, seed=ctx.seed)
    if isinstance(sample, (PointCloud, RadarScan)):
        return replace(sample, positions=delta.apply(sample.positions).astype(np.float32))
    if ctx.rig is None:
        raise SimulationError("spatial_misalignment of a camera image needs the rig (for the intrinsics K)",
                              field="rig")
    try:
        camera = ctx.rig.sensor(sample.sensor_id).camera
    except CalibrationError as err:
        raise SimulationError(err.reason, field="rig") from err
    if camera is None:
        raise SimulationError(f"sensor {sample.sensor_id!r} of the rig is not a camera", field="rig")
    K = np.asarray(camera.K, np.float64)
    homography = K @ delta.rotation @ np.linalg.inv(K)
    data = sample.data
    warped = cv2.warpPerspective(np.ascontiguousarray(data), homography, (data.shape[1], data.shape[0]),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return replace(sample, data=warped.reshape(data.shape))


def time_shift_ns(sensor_id: str, *, severity: int, seed: int) -> int:
    """The stamp shift of ``temporal_misalignment`` for one sensor: +-20 / 50 / 100 ms, sign seeded."""
    ctx = CorruptionContext("temporal_misalignment", _check_severity(severity), _check_seed(seed))
    sign = 1 if ctx.sensor_rng(sensor_id).random() < 0.5 else -1
    return sign * TIME_SHIFT_NS[ctx.level]


def _temporal_misalignment(sample: Sample, ctx: CorruptionContext) -> Sample:
    shift = time_shift_ns(sample.sensor_id, severity=ctx.severity, seed=ctx.seed)
    return replace(sample, stamp_ns=int(sample.stamp_ns) + shift)


# --- camera -----------------------------------------------------------------------------------------------------
def _full_scale(image: CameraImage) -> float:
    dtype = image.data.dtype
    if not np.issubdtype(dtype, np.integer):
        raise SimulationError(f"camera corruptions need an integer image, got encoding {image.encoding!r} "
                              f"(dtype {dtype})", field="encoding")
    return float(np.iinfo(dtype).max)


def _with_data(image: CameraImage, data: npt.NDArray[Any]) -> CameraImage:
    full = _full_scale(image)
    out = np.clip(np.rint(data), 0.0, full).astype(image.data.dtype).reshape(image.data.shape)
    if image.encoding in ("rgba8", "bgra8"):  # light and noise do not touch transparency
        out[..., 3] = image.data[..., 3]
    return replace(image, data=out)


def _blackout(image: CameraImage, ctx: CorruptionContext) -> CameraImage:
    return replace(image, data=np.zeros_like(image.data))


def _overexposure(image: CameraImage, ctx: CorruptionContext) -> CameraImage:
    full = _full_scale(image)
    data = image.data.astype(np.float64) * OVEREXPOSURE_GAIN[ctx.level] + OVEREXPOSURE_OFFSET[ctx.level] * full
    return _with_data(image, data)


def _motion_blur(image: CameraImage, ctx: CorruptionContext) -> CameraImage:
    _full_scale(image)
    length = MOTION_BLUR_PX[ctx.level]
    angle = ctx.sample_rng(image).uniform(0.0, np.pi)
    kernel = np.zeros((length, length), np.float32)
    c, half = length // 2, (length - 1) / 2.0
    dx, dy = round(half * np.cos(angle)), round(half * np.sin(angle))
    cv2.line(kernel, (c - dx, c - dy), (c + dx, c + dy), 1.0, 1)
    kernel /= kernel.sum()
    blurred = cv2.filter2D(np.ascontiguousarray(image.data), -1, kernel, borderType=cv2.BORDER_REFLECT)
    return replace(image, data=np.asarray(blurred).reshape(image.data.shape))


def _noise(image: CameraImage, ctx: CorruptionContext) -> CameraImage:
    full = _full_scale(image)
    sigma = NOISE_SIGMA_8BIT[ctx.level] * full / 255.0
    noise = ctx.sample_rng(image).normal(0.0, sigma, size=image.data.shape)
    return _with_data(image, image.data.astype(np.float64) + noise)


# --- radar ------------------------------------------------------------------------------------------------------
def _append_detections(scan: RadarScan, positions: npt.NDArray[Any], radial_velocity: npt.NDArray[Any],
                       rcs: npt.NDArray[Any], fields: Mapping[str, npt.NDArray[Any]]) -> RadarScan:
    return RadarScan(scan.stamp_ns, scan.frame_id, scan.sensor_id,
                     np.concatenate([scan.positions, np.asarray(positions, np.float32)]),
                     np.concatenate([scan.radial_velocity, np.asarray(radial_velocity, np.float32)]),
                     np.concatenate([scan.rcs, np.asarray(rcs, np.float32)]),
                     {k: np.concatenate([v, fields[k]]) for k, v in scan.fields.items()})


def _radar_clutter(scan: RadarScan, ctx: CorruptionContext) -> RadarScan:
    rng = ctx.sample_rng(scan)
    n = CLUTTER_COUNT[ctx.level]
    p = scan.positions.astype(np.float64)
    if len(scan):  # the scan's own field of view and range
        azimuth = np.arctan2(p[:, 1], p[:, 0])
        az_lo, az_hi = float(azimuth.min()), float(azimuth.max())
        r_max = max(float(np.linalg.norm(p[:, :2], axis=1).max()), 5.0)
        z_lo, z_hi = float(p[:, 2].min()), float(p[:, 2].max())
    else:
        az_lo, az_hi, r_max, z_lo, z_hi = -np.pi / 3, np.pi / 3, 100.0, 0.0, 0.0
    az = rng.uniform(az_lo, az_hi, n)
    r = rng.uniform(1.0, r_max, n)
    positions = np.stack([r * np.cos(az), r * np.sin(az), rng.uniform(z_lo, z_hi, n)], axis=1)
    fields = {k: np.zeros((n, *np.asarray(v).shape[1:]), np.asarray(v).dtype) for k, v in scan.fields.items()}
    return _append_detections(scan, positions, rng.uniform(-20.0, 20.0, n), rng.uniform(-20.0, -5.0, n), fields)


def _radar_ghosts(scan: RadarScan, ctx: CorruptionContext) -> RadarScan:
    fixed = ctx.sensor_rng(scan.sensor_id)  # the reflector (a guardrail) stays put over a stream
    side = 1.0 if fixed.random() < 0.5 else -1.0
    wall = side * fixed.uniform(3.0, 8.0)
    rng = ctx.sample_rng(scan)
    p = scan.positions.astype(np.float64)
    eligible = np.flatnonzero(side * p[:, 1] < side * wall)
    n = round(GHOST_FRACTION[ctx.level] * len(eligible))
    src = np.sort(rng.choice(eligible, size=n, replace=False)) if n else np.zeros(0, np.int64)
    ghosts = p[src].copy()
    ghosts[:, 1] = 2.0 * wall - ghosts[:, 1]
    fields = {k: np.asarray(v)[src] for k, v in scan.fields.items()}
    return _append_detections(scan, ghosts, scan.radial_velocity[src], scan.rcs[src] - 6.0, fields)


CORRUPTIONS: Mapping[str, Corruption] = {
    "beam_reduction": SampleCorruption(_beam_reduction, (PointCloud,)),
    "point_drop": SampleCorruption(_point_drop, (PointCloud,)),
    "limited_fov": SampleCorruption(_limited_fov, (PointCloud,)),
    "fog": SampleCorruption(_fog, (PointCloud,)),
    "sensor_dropout": SampleCorruption(_sensor_dropout, (object,), one_sensor=True),
    "blackout": SampleCorruption(_blackout, (CameraImage,)),
    "overexposure": SampleCorruption(_overexposure, (CameraImage,)),
    "motion_blur": SampleCorruption(_motion_blur, (CameraImage,)),
    "noise": SampleCorruption(_noise, (CameraImage,)),
    "spatial_misalignment": SampleCorruption(_spatial_misalignment, (PointCloud, RadarScan, CameraImage),
                                             one_sensor=True),
    "temporal_misalignment": SampleCorruption(_temporal_misalignment, (object,), one_sensor=True),
    "radar_clutter": SampleCorruption(_radar_clutter, (RadarScan,)),
    "radar_ghosts": SampleCorruption(_radar_ghosts, (RadarScan,)),
}
"""The built-in corruption kinds by name."""


# --- checks -----------------------------------------------------------------------------------------------------
def _check_severity(severity: object) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or int(severity) not in SEVERITIES:
        raise SimulationError(f"severity must be 1, 2 or 3, got {severity!r}", field="severity")
    return int(severity)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise SimulationError(f"seed must be a non-negative int, got {seed!r}", field="seed")
    return int(seed)


def _lookup(kind: object, corruptions: Mapping[str, Corruption] | None) -> Corruption:
    table = CORRUPTIONS if corruptions is None else corruptions
    if not isinstance(kind, str) or kind not in table:
        raise SimulationError(f"unknown corruption kind {kind!r}; expected one of {', '.join(sorted(table))}",
                              field="kind")
    return table[kind]


def _applies(impl: Corruption, sample: Sample) -> bool:
    return isinstance(sample, impl.applies_to)


# --- API --------------------------------------------------------------------------------------------------------
def corrupt_sample(sample: Sample, *, kind: str, severity: int, seed: int, sensor_id: str | None = None,
                   rig: Rig | None = None, corruptions: Mapping[str, Corruption] | None = None) -> Sample | None:
    """One sample corrupted by ``kind`` at ``severity`` (1-3); None when the corruption drops it.

    ``sensor_id``: when given, samples of other sensors come back unchanged (the same object). ``rig``: needed by
    ``spatial_misalignment`` of camera images. ``sensor_dropout`` of a lone sample always drops it (it has no
    stream to place the dead period in; see :func:`corrupt_stream`). SimulationError (``field`` ``kind``,
    ``severity``, ``seed`` or ``sample``) for bad options or a sample type the kind does not apply to.
    """
    impl = _lookup(kind, corruptions)
    ctx = CorruptionContext(kind, _check_severity(severity), _check_seed(seed), rig)
    if sensor_id is not None and sample.sensor_id != sensor_id:
        return sample
    if not _applies(impl, sample):
        raise SimulationError(f"corruption {kind!r} applies to {', '.join(t.__name__ for t in impl.applies_to)}, "
                              f"not to a {type(sample).__name__}", field="sample")
    return impl(sample, ctx)


def corrupt_stream(samples: Iterable[Sample], *, kind: str, severity: int, seed: int,
                   sensors: Iterable[str] | None = None, rig: Rig | None = None,
                   corruptions: Mapping[str, Corruption] | None = None) -> Iterator[Sample]:
    """The samples with those of ``sensors`` corrupted (lazily, in input order; dropped samples left out).

    ``sensors``: the sensor ids to corrupt; None: every sample the kind applies to (for the one-sensor kinds
    ``sensor_dropout``, ``spatial_misalignment`` and ``temporal_misalignment`` it must be given). Samples of other
    sensors and of types the kind does not apply to are yielded as the same objects. ``rig``: when given, the
    ``sensors`` must be in it; ``spatial_misalignment`` needs it for camera images. Options are checked before the
    first sample is read. ``temporal_misalignment`` does not reorder: shifted samples keep their stream position.
    """
    impl = _lookup(kind, corruptions)
    ctx = CorruptionContext(kind, _check_severity(severity), _check_seed(seed), rig)
    if isinstance(sensors, str):
        raise SimulationError(f"sensors must be a collection of sensor ids, got the string {sensors!r}",
                              field="sensors")
    chosen = None if sensors is None else frozenset(sensors)
    if chosen is None and impl.one_sensor:
        raise SimulationError(f"corruption {kind!r} targets chosen sensors: pass sensors=[...]", field="sensors")
    if chosen is not None and rig is not None:
        try:
            rig.require_sensors(sorted(chosen))
        except CalibrationError as err:
            raise SimulationError(err.reason, field="sensors") from err
    return _stream(samples, impl, ctx, chosen)


def _stream(samples: Iterable[Sample], impl: Corruption, ctx: CorruptionContext,
            chosen: frozenset[str] | None) -> Iterator[Sample]:
    windows: dict[str, tuple[int, int]] = {}
    for sample in samples:
        sensor: str = sample.sensor_id
        if (chosen is not None and sensor not in chosen) or not _applies(impl, sample):
            yield sample
            continue
        sample_ctx = ctx
        if ctx.kind == "sensor_dropout":
            if sensor not in windows:
                windows[sensor] = dropout_window(sensor, sample.stamp_ns, severity=ctx.severity, seed=ctx.seed)
            sample_ctx = replace(ctx, window_ns=windows[sensor])
        out = impl(sample, sample_ctx)
        if out is not None:
            yield out


def corrupt_rig(rig: Rig, *, kind: str, severity: int, seed: int, sensor_id: str) -> Rig:
    """A new rig with the extrinsic of ``sensor_id`` perturbed (``kind="spatial_misalignment"``, the only kind
    that changes a rig): the static edge whose child is the sensor's frame becomes ``child2parent @ delta`` with
    ``delta = misalignment(sensor_id, severity=..., seed=...)``, so ``sensor2base`` becomes ``sensor2base @
    delta``. Frames below the sensor frame move with it; other sensors are untouched."""
    if kind != "spatial_misalignment":
        _lookup(kind, None)
        raise SimulationError(f"corrupt_rig supports kind 'spatial_misalignment' only, got {kind!r}", field="kind")
    delta = misalignment(sensor_id if isinstance(sensor_id, str) else "", severity=severity, seed=seed)
    try:
        frame = rig.sensor(sensor_id).frame_id
    except CalibrationError as err:
        raise SimulationError(err.reason, field="sensor_id") from err
    edges = [i for i, t in enumerate(rig.transforms) if t.child == frame]
    if not edges:
        raise SimulationError(f"the frame {frame!r} of sensor {sensor_id!r} is the rig's base frame {rig.base_frame!r}"
                              f": it has no extrinsic to perturb", field="sensor_id")
    transforms = list(rig.transforms)
    t = transforms[edges[0]]
    transforms[edges[0]] = StaticTransform(t.parent, t.child, t.child2parent @ delta)
    return replace(rig, transforms=tuple(transforms))


def apply_to_recording(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, kind: str, severity: int,
                       seed: int, sensor_id: str | None = None, storage: str = "mcap", rig: Rig | None = None,
                       skip_bad_messages: bool = False) -> int:
    """Read the recording ``src``, corrupt it and write it to ``dst`` (a new bag, ``storage`` ``"mcap"``,
    ``"sqlite3"`` or ``"ros1"``); returns the number of messages written.

    ``sensor_id``: the sensor to corrupt (required by the one-sensor kinds; None: every sample the kind applies
    to). ``rig``: written to ``dst`` (``/tf_static``, camera_info) and used by ``spatial_misalignment`` of
    cameras; the recording's own ``/tf`` and ``/tf_static`` messages are copied unchanged (the corruption moves
    the data, not the calibration). Options are checked before ``src`` is opened.
    """
    from fusion_stack.io.recording import open_recording
    from fusion_stack.io.recording_writer import write_recording

    sensors = None if sensor_id is None else [sensor_id]
    impl = _lookup(kind, None)
    _check_severity(severity)
    _check_seed(seed)
    if sensors is None and impl.one_sensor:
        raise SimulationError(f"corruption {kind!r} targets one sensor: pass sensor_id", field="sensor_id")
    with open_recording(src, skip_bad_messages=skip_bad_messages) as recording:
        stream = corrupt_stream(recording, kind=kind, severity=severity, seed=seed, sensors=sensors, rig=rig)
        return write_recording(dst, stream, storage=storage, rig=rig)
