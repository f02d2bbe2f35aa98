"""A spinning multi-beam LiDAR (Velodyne HDL-32E pattern): each firing column is cast from where the sensor is
when it fires, against the scene as it is at that instant, so a sweep taken while driving is skewed by the ego
motion (``time_offset_ns`` per point lets :func:`fusion_stack.align.deskew.deskew` undo it) and moving objects
are seen where they were when the lasers passed over them.

Measurement model: range noise (Gaussian, ``range_noise_m``), intensity from the surface's reflectivity and the
incidence angle (0-255 like a calibrated Velodyne), and dropouts: a return is kept when its received power
(reflectivity x cos(incidence) x (reference range / range)^2, with log-normal speckle) clears a threshold, so
dark, grazing and distant surfaces thin out; plus a small random loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.agents import EgoTrack
from fusion_stack.sim.raycast import World, candidate_agents, cast, describe
from fusion_stack.types import PointCloud

FloatArray = npt.NDArray[np.float64]

HDL32E_ELEVATIONS_DEG: tuple[float, ...] = tuple(float(x) for x in np.linspace(-30.67, 10.67, 32))
"""Beam elevations of a Velodyne HDL-32E, degrees, lowest first (ring 0 is the lowest beam)."""


@dataclass(frozen=True)
class LidarModel:
    """Spinning LiDAR parameters: ``rate_hz`` revolutions per second, ``columns`` firings per revolution,
    beam ``elevations_deg``, ``max_range_m``, noise and dropout constants (see the module docstring). The sweep
    starts facing ``start_azimuth_deg`` (sensor frame, counter-clockwise from +x) and turns clockwise seen from
    above, as Velodyne sensors do."""

    rate_hz: float = 20.0
    columns: int = 1085
    elevations_deg: tuple[float, ...] = HDL32E_ELEVATIONS_DEG
    max_range_m: float = 100.0
    min_range_m: float = 1.0
    range_noise_m: float = 0.02
    reference_range_m: float = 40.0
    power_threshold: float = 0.02
    random_loss: float = 0.01
    start_azimuth_deg: float = 180.0

    @property
    def period_ns(self) -> int:
        """Nanoseconds of one revolution."""
        return round(1e9 / self.rate_hz)


@dataclass(frozen=True, eq=False)
class LidarTruth:
    """Ground truth per point of a sweep: ``instance_ids`` (N,) int32 (-1 on unannotated structure) and
    ``semantic`` (N,) uint8 (index into ``SEMANTIC_CLASSES``)."""

    instance_ids: npt.NDArray[np.int32]
    semantic: npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class LidarSweep:
    """One sweep: the cloud (sensor frame at each point's firing time) and its ground truth, plus the rays that
    were cast (``ray_origins`` (C, 3) per column and ``ray_dirs`` (C, B, 3) in ``map``, ``ray_range`` (C, B)
    metres of the noise-free first hit, inf where none) for visibility."""

    cloud: PointCloud
    truth: LidarTruth
    ray_origins: FloatArray = field(repr=False)
    ray_dirs: FloatArray = field(repr=False)
    ray_range: FloatArray = field(repr=False)


def beam_directions(model: LidarModel) -> FloatArray:
    """(C, B, 3) unit ray directions in the sensor frame per column and beam."""
    el = np.deg2rad(np.asarray(model.elevations_deg))
    az = np.deg2rad(model.start_azimuth_deg) - 2 * np.pi * np.arange(model.columns) / model.columns
    return np.stack([np.cos(el)[None, :] * np.cos(az)[:, None], np.cos(el)[None, :] * np.sin(az)[:, None],
                     np.broadcast_to(np.sin(el)[None, :], (model.columns, len(el)))], axis=-1)


def simulate_sweep(world: World, ego: EgoTrack, lidar2ego: SE3, t_start: float, *, stamp_ns: int,
                   frame_id: str, sensor_id: str, model: LidarModel, rng: np.random.Generator) -> LidarSweep:
    """The sweep starting at scene time ``t_start`` seconds (stamped ``stamp_ns``; per-point ``time_offset_ns``
    from it). Fields: ``intensity`` float32 0-255, ``ring`` uint16, ``time_offset_ns`` int64."""
    ncol, nb = model.columns, len(model.elevations_deg)
    offsets_ns = (np.arange(ncol, dtype=np.int64) * model.period_ns) // ncol
    t_col = t_start + offsets_ns * 1e-9
    rot, trans = ego.poses_at(t_col)
    # sensor pose per column: ego(t) @ lidar2ego
    s_rot = rot @ lidar2ego.rotation
    s_org = np.einsum("cij,j->ci", rot, lidar2ego.translation) + trans
    local = beam_directions(model)
    dirs = np.einsum("cij,cbj->cbi", s_rot, local)
    origins = np.repeat(s_org[:, None, :], nb, axis=1)
    times = np.repeat(t_col[:, None], nb, axis=1)
    cand = candidate_agents(world, s_org[ncol // 2], float(t_col[0]), float(t_col[-1]), model.max_range_m + 5.0)
    hits = cast(world, origins.reshape(-1, 3), dirs.reshape(-1, 3), times.reshape(-1),
                max_range=model.max_range_m, candidates=cand)
    info = describe(world, hits, dirs.reshape(-1, 3), times.reshape(-1))
    dist = hits.distance
    cos_inc = np.abs(np.einsum("ij,ij->i", info.normal, dirs.reshape(-1, 3)))
    n = len(dist)
    finite = np.isfinite(dist)
    safe = np.where(finite, dist, 1.0)
    speckle = rng.lognormal(0.0, 0.35, n)
    power = info.reflectivity * np.maximum(cos_inc, 0.02) * (model.reference_range_m / safe) ** 2 * speckle
    keep = finite & (dist >= model.min_range_m) & (power >= model.power_threshold)
    keep &= rng.random(n) >= model.random_loss
    measured = dist + rng.normal(0.0, model.range_noise_m, n)
    pts = local.reshape(-1, 3) * measured[:, None]
    intensity = np.clip(255.0 * info.reflectivity * np.sqrt(np.maximum(cos_inc, 0.0)) * rng.lognormal(0.0, 0.1, n),
                        0.0, 255.0)
    ring = np.tile(np.arange(nb, dtype=np.uint16), ncol)
    toff = np.repeat(offsets_ns, nb)
    cloud = PointCloud(stamp_ns, frame_id, sensor_id, pts[keep].astype(np.float32),
                       {"intensity": intensity[keep].astype(np.float32), "ring": ring[keep],
                        "time_offset_ns": toff[keep].astype(np.int64)})
    truth = LidarTruth(info.instance[keep], info.semantic[keep])
    return LidarSweep(cloud, truth, s_org, dirs, dist.reshape(ncol, nb))
