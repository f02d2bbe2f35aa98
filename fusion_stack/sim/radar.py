"""Automotive radar (Continental ARS408-like): sparse detections from the surfaces a coarse fan of rays reaches
inside the field of view (+-60 deg out to 80 m, +-9 deg out to 200 m), each with range, azimuth and elevation
(as a position in the radar frame), radial velocity from the true relative motion (target point velocity,
including yaw rate, minus the radar's own velocity from the ego twist; positive = moving away) and RCS from the
surface class and aspect. Detection probability follows the signal-to-noise ratio (RCS - 40 log10 range).

Noise model (1 sigma): range ``range_noise_m``, azimuth ``azimuth_noise_deg``, elevation
``elevation_noise_deg``, radial velocity ``velocity_noise_mps``, RCS Swerling-1 fluctuation. False detections:
clutter (uniform in the field of view, static-world Doppler) and multipath ghosts (a real detection repeated
further out along the same bearing with its radial velocity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.agents import EgoTrack
from fusion_stack.sim.classes import RADAR_BASE_RCS_DBSM, SEMANTIC_CLASSES
from fusion_stack.sim.raycast import World, candidate_agents, cast, describe
from fusion_stack.types import RadarScan

FloatArray = npt.NDArray[np.float64]

KIND_TARGET, KIND_STRUCTURE, KIND_CLUTTER, KIND_GHOST = 0, 1, 2, 3
"""Kinds of detection in :class:`RadarTruth`: on an annotated object, on unannotated structure, random clutter,
multipath ghost."""

_RCS_BY_SEMANTIC = np.array([RADAR_BASE_RCS_DBSM.get(name, -40.0) for name in SEMANTIC_CLASSES])


@dataclass(frozen=True)
class RadarModel:
    """Radar parameters (see the module docstring); angles in degrees, ranges in metres."""

    rate_hz: float = 13.0
    near_fov_deg: float = 60.0
    near_range_m: float = 80.0
    far_fov_deg: float = 9.0
    far_range_m: float = 200.0
    azimuth_step_deg: float = 0.5
    elevations_deg: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)
    range_noise_m: float = 0.1
    azimuth_noise_deg: float = 0.3
    elevation_noise_deg: float = 0.5
    velocity_noise_mps: float = 0.1
    snr_threshold_db: float = -55.0
    max_per_object: int = 4
    clutter_rate: float = 3.0
    ghost_probability: float = 0.05
    structure_probability: float = 0.04


@dataclass(frozen=True, eq=False)
class RadarTruth:
    """Ground truth per detection: ``instance_ids`` (N,) int32 (-1 when not on an annotated object), ``kind``
    (N,) uint8 (``KIND_*``), ``true_positions`` (N, 3) metres in the radar frame and ``true_radial_velocity``
    (N,) m/s (noise-free; for clutter and ghosts: the value the detection was given before noise)."""

    instance_ids: npt.NDArray[np.int32]
    kind: npt.NDArray[np.uint8]
    true_positions: FloatArray
    true_radial_velocity: FloatArray


def point_velocities(world: World, agents: npt.NDArray[np.int32], points: FloatArray, t: float) -> FloatArray:
    """Velocities (N, 3) m/s in ``map`` of ``points`` (N, 3) on packed agents ``agents`` (N,) at time ``t``:
    translation plus yaw rate x lever arm (static structure: pass -1, velocity 0)."""
    out = np.zeros((len(points), 3))
    dyn = agents >= 0
    if not np.any(dyn):
        return out
    a = agents[dyn]
    n = world.agent_traj.shape[1]
    f = np.clip(t / world.traj_dt, 0.0, n - 1.000001)
    i = int(np.floor(f))
    w = f - i
    s0, s1 = world.agent_traj[a, i], world.agent_traj[a, i + 1]
    pos = (1 - w) * s0 + w * s1
    vel = (s1 - s0) / world.traj_dt
    lever = points[dyn] - pos[:, :3]
    out[dyn, 0] = vel[:, 0] - vel[:, 3] * lever[:, 1]
    out[dyn, 1] = vel[:, 1] + vel[:, 3] * lever[:, 0]
    out[dyn, 2] = vel[:, 2]
    return out


def sensor_state(ego: EgoTrack, radar2ego: SE3, t: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The radar's rotation (3, 3) and position (3,) in ``map`` and its velocity (3,) m/s in ``map`` at ``t``."""
    rot, trans = ego.poses_at([t])
    v_body, w_body = ego.twist_at([t])
    r = rot[0]
    pos = r @ radar2ego.translation + trans[0]
    vel = r @ (v_body[0] + np.cross(w_body[0], radar2ego.translation))
    return r @ radar2ego.rotation, pos, vel


def simulate_scan(world: World, ego: EgoTrack, radar2ego: SE3, t: float, *, stamp_ns: int, frame_id: str,
                  sensor_id: str, model: RadarModel, rng: np.random.Generator) -> tuple[RadarScan, RadarTruth]:
    """One radar scan at scene time ``t`` seconds (instantaneous). Fields: ``snr`` (dB)."""
    s_rot, s_pos, s_vel = sensor_state(ego, radar2ego, t)
    az = np.deg2rad(np.arange(-model.near_fov_deg, model.near_fov_deg + 1e-9, model.azimuth_step_deg))
    el = np.deg2rad(np.asarray(model.elevations_deg))
    A, E = np.meshgrid(az, el, indexing="ij")
    local = np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], axis=-1).reshape(-1, 3)
    dirs = local @ s_rot.T
    cand = candidate_agents(world, s_pos, t, t, model.far_range_m)
    hits = cast(world, np.broadcast_to(s_pos, dirs.shape), dirs, np.full(len(dirs), t), max_range=model.far_range_m,
                candidates=cand)
    info = describe(world, hits, dirs, np.full(len(dirs), t))
    r = hits.distance
    a_flat = A.reshape(-1)
    in_fov = np.isfinite(r) & ((r <= model.near_range_m) | (np.abs(a_flat) <= np.deg2rad(model.far_fov_deg)))
    in_fov &= info.semantic >= 1
    idx = np.nonzero(in_fov)[0]
    pts = s_pos + dirs[idx] * r[idx, None]
    cos_inc = np.abs(np.einsum("ij,ij->i", info.normal[idx], dirs[idx]))
    rcs = _RCS_BY_SEMANTIC[info.semantic[idx]] + 10 * np.log10(np.maximum(cos_inc, 0.05)) + 3.0
    snr = rcs - 40 * np.log10(np.maximum(r[idx], 1.0))
    # candidate detections: one per (instance, range cell, azimuth cell); structure sparsely
    inst = info.instance[idx]
    agent = hits.agent[idx]
    cell = np.floor(r[idx] / 0.8).astype(np.int64) * 1000 + np.floor(a_flat[idx] / np.deg2rad(2.0)).astype(np.int64)
    # one candidate per (instance, cell): a random hit of each (structure faces share instance -1)
    order = rng.permutation(len(idx))
    key = inst[order].astype(np.int64) * 10_000_000 + cell[order]
    _, first = np.unique(key, return_index=True)
    cand_k = order[first]
    sem_k = info.semantic[idx[cand_k]]
    flat = (sem_k >= 1) & (sem_k <= 4)  # road, sidewalk, terrain, markings: no detections
    u = rng.random((2, len(cand_k)))
    p_det = 1.0 / (1.0 + np.exp(-(snr[cand_k] - model.snr_threshold_db) / 3.0))
    keep = ~flat & (u[0] < p_det) & ((inst[cand_k] >= 0) | (u[1] < model.structure_probability))
    cand_k = cand_k[keep]
    # at most max_per_object detections per object (random ones: candidates are in random order)
    shuffled = cand_k[rng.permutation(len(cand_k))]
    ids_k = inst[shuffled]
    by_id = np.argsort(ids_k, kind="stable")
    sorted_ids = ids_k[by_id]
    starts = np.searchsorted(sorted_ids, sorted_ids, side="left")
    rank = np.empty(len(by_id), np.int64)
    rank[by_id] = np.arange(len(by_id)) - starts
    ok = (ids_k < 0) | (rank < model.max_per_object)
    sel = np.sort(shuffled[ok]).astype(np.int64)
    p_true = pts[sel]
    v_pt = point_velocities(world, agent[sel], p_true, t)
    los = dirs[idx[sel]]
    vr_true = np.einsum("ij,ij->i", v_pt - s_vel, los)
    kinds = np.where(inst[sel] >= 0, KIND_TARGET, KIND_STRUCTURE).astype(np.uint8)
    ids = inst[sel].astype(np.int32)
    rng_true = r[idx[sel]]
    az_true = a_flat[idx[sel]]
    el_true = E.reshape(-1)[idx[sel]]
    rcs_sel = rcs[sel]
    # clutter: uniform in the near field of view, static-world Doppler
    n_clutter = int(rng.poisson(model.clutter_rate))
    c_r = rng.uniform(3.0, model.near_range_m, n_clutter)
    c_az = rng.uniform(-np.deg2rad(model.near_fov_deg), np.deg2rad(model.near_fov_deg), n_clutter)
    c_el = rng.uniform(-0.03, 0.06, n_clutter)
    c_dir_local = np.column_stack([np.cos(c_el) * np.cos(c_az), np.cos(c_el) * np.sin(c_az), np.sin(c_el)])
    c_vr = -(c_dir_local @ s_rot.T) @ s_vel
    # ghosts: a target repeated further along its bearing
    g = np.nonzero((kinds == KIND_TARGET) & (rng.random(len(kinds)) < model.ghost_probability))[0]
    g_r = rng_true[g] * rng.uniform(1.3, 2.0, len(g))
    rng_all = np.concatenate([rng_true, c_r, g_r])
    az_all = np.concatenate([az_true, c_az, az_true[g]])
    el_all = np.concatenate([el_true, c_el, el_true[g]])
    vr_all = np.concatenate([vr_true, c_vr, vr_true[g]])
    rcs_all = np.concatenate([rcs_sel, rng.uniform(-15.0, 0.0, n_clutter), rcs_sel[g] - rng.uniform(6, 12, len(g))])
    kind_all = np.concatenate([kinds, np.full(n_clutter, KIND_CLUTTER, np.uint8), np.full(len(g), KIND_GHOST,
                                                                                         np.uint8)])
    ids_all = np.concatenate([ids, np.full(n_clutter, -1, np.int32), np.full(len(g), -1, np.int32)])
    n = len(rng_all)
    true_local = _spherical(rng_all, az_all, el_all)
    m_r = rng_all + rng.normal(0, model.range_noise_m, n)
    m_az = az_all + np.deg2rad(rng.normal(0, model.azimuth_noise_deg, n))
    m_el = el_all + np.deg2rad(rng.normal(0, model.elevation_noise_deg, n))
    m_vr = vr_all + rng.normal(0, model.velocity_noise_mps, n)
    swerling = 10 * np.log10(np.maximum(rng.exponential(1.0, n), 1e-3))
    m_rcs = rcs_all + swerling
    snr_all = m_rcs - 40 * np.log10(np.maximum(m_r, 1.0)) + 80.0
    scan = RadarScan(stamp_ns, frame_id, sensor_id, _spherical(m_r, m_az, m_el).astype(np.float32),
                     m_vr.astype(np.float32), m_rcs.astype(np.float32), {"snr": snr_all.astype(np.float32)})
    return scan, RadarTruth(ids_all, kind_all, true_local, vr_all)


def _spherical(r: FloatArray, az: FloatArray, el: FloatArray) -> FloatArray:
    return np.column_stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)])
