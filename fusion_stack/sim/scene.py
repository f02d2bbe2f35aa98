"""Procedural, seeded road scenes: the ground and road surface (lanes, parking strips, curbs, sidewalks, road
markings and a zebra crossing), static structure (buildings, street lamps, signs, trees), the agents and the ego
trajectory. Everything comes from ``numpy.random.default_rng(seed)``: the same seed gives the same scene.

Frames: ``map`` (x east, y north, z up, metres). Time: seconds since the scene start (``start_ns``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fusion_stack.sim.agents import Agent, Crossing, EgoTrack, make_agents
from fusion_stack.sim.classes import SEM
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.meshes import (
    Mesh,
    building_mesh,
    concat_meshes,
    part,
    pole_mesh,
    sign_mesh,
    tree_mesh,
)
from fusion_stack.sim.road import Road

FloatArray = npt.NDArray[np.float64]
DEFAULT_START_NS = 1_700_000_000_000_000_000
"""Stamp of the scene start (ns since the epoch) unless ``start_ns`` is given."""
EGO_START_S = 110.0
"""Arc length (m) where the ego starts: the road reaches this far behind it."""
AHEAD_M = 170.0
"""Road length (m) beyond the furthest point the ego can reach."""

_ASPHALT = np.array([0.16, 0.16, 0.17])
_SIDEWALK = np.array([0.45, 0.44, 0.42])
_CURB = np.array([0.55, 0.55, 0.53])
_GRASS = np.array([0.22, 0.3, 0.13])
_DIRT = np.array([0.35, 0.3, 0.22])
_WHITE = (0.85, 0.85, 0.82)
_YELLOW = (0.85, 0.65, 0.1)


@dataclass(frozen=True, eq=False)
class Scene:
    """A simulated world.

    ``static`` holds every non-moving triangle in ``map`` (ground, markings, structure and the static agents),
    with ``static_instance`` (F,) int32 the instance id of each face (-1 for unannotated structure).
    ``agents`` are all annotated objects (``instance_id`` = index); ``ego`` is the ego vehicle's trajectory;
    ``crossings`` the pedestrians' road crossings; ``sun`` the direction of the light.
    """

    seed: int
    duration_s: float
    start_ns: int
    road: Road
    static: Mesh
    static_instance: npt.NDArray[np.int32]
    agents: tuple[Agent, ...]
    ego: EgoTrack
    crossings: tuple[Crossing, ...]
    sun: FloatArray  # (3,) unit vector towards the sun in map

    @property
    def dynamic_agents(self) -> tuple[Agent, ...]:
        """The agents that move (their triangles are not in ``static``)."""
        return tuple(a for a in self.agents if not a.static)

    def stamp_ns(self, t: float) -> int:
        """The stamp (ns since the epoch) of scene time ``t`` seconds."""
        return self.start_ns + round(t * 1e9)


def _ground(road: Road, rng: np.random.Generator) -> Mesh:
    """The surface strip along the road: carriageway, curbs, sidewalks and 45 m of terrain each side."""
    right, left = road.curb(-1), road.curb(1)
    sw = road.sidewalk_width
    half = road.lane_width / 2
    lanes = np.arange(-road.carriageway_right, road.carriageway_left + 1e-6, half)
    cols = sorted({*(round(float(v), 6) for v in np.arange(-right - sw - 45.0, -right - sw, 5.0)),
                   round(-right - sw, 6), round(-right - sw / 2, 6), round(-right, 6),
                   *(round(float(v), 6) for v in lanes), round(left, 6), round(left + sw / 2, 6),
                   round(left + sw, 6),
                   *(round(float(v), 6) for v in np.arange(left + sw + 5.0, left + sw + 45.0 + 1e-6, 5.0))})
    d_cols: list[float] = []
    raised: list[bool] = []
    for d in cols:
        d = float(d)
        if abs(d + right) < 1e-5:  # the right curb: sidewalk top, then road level
            d_cols += [d, d]
            raised += [True, False]
        elif abs(d - left) < 1e-5:
            d_cols += [d, d]
            raised += [False, True]
        else:
            d_cols.append(d)
            raised.append(d < -right or d > left)
    s = np.arange(-40.0, road.length + 40.0 + 1e-9, 4.0)
    S, D = np.meshgrid(s, np.array(d_cols), indexing="ij")
    p = road.to_map(S, D)
    z = road.ground.height(p[..., 0], p[..., 1]) + np.array(raised)[None, :] * road.curb_height
    verts = np.concatenate([p, z[..., None]], axis=-1).reshape(-1, 3)
    ns, nd = S.shape
    faces, colors, refl, sem = [], [], [], []
    d_arr = np.array(d_cols)
    for j in range(nd - 1):
        dm = 0.5 * (d_arr[j] + d_arr[j + 1])
        if abs(d_arr[j + 1] - d_arr[j]) < 1e-9:
            color, r, cls = _CURB, 0.4, "sidewalk"
        elif -right < dm < left:
            color, r, cls = _ASPHALT, 0.12, "road"
        elif -right - sw < dm < left + sw:
            color, r, cls = _SIDEWALK, 0.3, "sidewalk"
        else:
            color, r, cls = _GRASS if rng.random() < 0.8 else _DIRT, 0.3, "terrain"
        i = np.arange(ns - 1)
        a, b, c, d = i * nd + j, (i + 1) * nd + j, (i + 1) * nd + j + 1, i * nd + j + 1
        faces.append(np.stack([a, b, c], 1))
        faces.append(np.stack([a, c, d], 1))
        n = 2 * (ns - 1)
        jitter = rng.uniform(0.9, 1.1, (n, 1)) * (1 + rng.normal(0, 0.02, (n, 3)))
        colors.append(np.clip(color * jitter, 0, 1))
        refl.append(np.full(n, r) * rng.uniform(0.9, 1.1, n))
        sem.append(np.full(n, SEM[cls]))
    return Mesh(verts, np.concatenate(faces).astype(np.int64), np.concatenate(colors).astype(np.float32),
                np.concatenate(refl).astype(np.float32), np.concatenate(sem).astype(np.int16))


def _stripe(road: Road, s0: float, s1: float, d0: float, d1: float, color: tuple[float, float, float]) -> Mesh:
    """A flat marking between arc lengths s0..s1 and offsets d0..d1, 1.5 cm above the road."""
    s = np.linspace(s0, s1, max(2, int(np.ceil((s1 - s0) / 2.0)) + 1))
    S = np.concatenate([s, s])
    D = np.concatenate([np.full(len(s), d0), np.full(len(s), d1)])
    p = road.to_map(S, D)
    z = road.ground.height(p[:, 0], p[:, 1]) + 0.015
    n = len(s)
    faces = []
    for i in range(n - 1):
        faces += [[i, i + 1, n + i + 1], [i, n + i + 1, n + i]]
    return part(np.column_stack([p, z]), faces, color, 0.85, "lane_marking")


def _markings(road: Road) -> Mesh:
    parts: list[Mesh] = []
    s_end = road.length + 40.0
    w = 0.15
    # edge lines
    for d in (-road.carriageway_right, road.carriageway_left):
        parts.append(_stripe(road, -40.0, s_end, d - w / 2, d + w / 2, _WHITE))
    # centre line: double yellow
    for d in (-0.12, 0.12):
        parts.append(_stripe(road, -40.0, s_end, d - 0.06, d + 0.06, _YELLOW))
    # dashed lane dividers between lanes of one direction
    dividers = [-k * road.lane_width for k in range(1, road.lanes_forward)]
    dividers += [k * road.lane_width for k in range(1, road.lanes_backward)]
    for d in dividers:
        for s0 in np.arange(-40.0, s_end, 12.0):
            parts.append(_stripe(road, s0, s0 + 3.0, d - w / 2, d + w / 2, _WHITE))
    # zebra crossing
    if road.crosswalk_s is not None:
        for d0 in np.arange(-road.carriageway_right + 0.3, road.carriageway_left - 0.3, 1.0):
            parts.append(_stripe(road, road.crosswalk_s - 1.5, road.crosswalk_s + 1.5, d0, d0 + 0.5, _WHITE))
        for s0 in (road.crosswalk_s - 3.5, road.crosswalk_s + 3.2):  # stop lines
            parts.append(_stripe(road, s0, s0 + 0.3, -road.carriageway_right, road.carriageway_left, _WHITE))
    return concat_meshes(parts)


def _place(mesh: Mesh, road: Road, s: float, d: float, rel_yaw: float = 0.0, *, raised: bool = False) -> Mesh:
    p = road.to_map(np.array([s]), np.array([d]))[0]
    _, hd = road.frame(np.array([s]))
    yaw = float(hd[0]) + rel_yaw
    z = float(road.ground.height(p[0], p[1])) + (road.curb_height if raised else 0.0)
    c, sn = np.cos(yaw), np.sin(yaw)
    return mesh.transformed(np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]]), np.array([p[0], p[1], z]))


def _structure(road: Road, rng: np.random.Generator, keep_clear: list[tuple[float, float]]) -> Mesh:
    """Buildings behind the sidewalks, lamps at the kerb, trees and signs on the sidewalks."""
    parts: list[Mesh] = []
    for side in (-1, 1):
        outer = road.curb(side) + road.sidewalk_width
        pos = rng.uniform(-40.0, -20.0)
        while pos < road.length + 40.0:
            frontage = rng.uniform(10.0, 30.0)
            if rng.random() < 0.8:
                depth, height = rng.uniform(8.0, 20.0), rng.uniform(5.0, 24.0)
                setback = rng.uniform(1.0, 6.0)
                b = building_mesh(frontage, depth, height, rng)
                # building frame: facade along x at y = 0 facing -y; turn it so the facade faces the road
                rel = 0.0 if side > 0 else np.pi
                parts.append(_place(b, road, pos + frontage / 2, side * (outer + setback), rel))
            pos += frontage + rng.uniform(2.0, 10.0)
        lamp = rng.uniform(-30.0, 0.0)
        while lamp < road.length + 40.0:
            if not any(a <= lamp <= b for a, b in keep_clear):
                parts.append(_place(pole_mesh(rng.uniform(6.5, 8.5), rng.uniform(1.0, 2.0)), road, lamp,
                                    side * (road.curb(side) + 0.5), 0.0 if side > 0 else np.pi, raised=True))
            lamp += rng.uniform(25.0, 40.0)
        tree = rng.uniform(-40.0, -25.0)
        while tree < road.length + 40.0:
            if rng.random() < 0.6 and not any(a <= tree <= b for a, b in keep_clear):
                parts.append(_place(tree_mesh(rng), road, tree, side * (outer - 0.8), raised=True))
            tree += rng.uniform(8.0, 20.0)
        for _ in range(int(rng.poisson(road.length / 120.0))):
            s = rng.uniform(0.0, road.length)
            parts.append(_place(sign_mesh(rng.uniform(2.0, 2.6), rng), road, s, side * (road.curb(side) + 0.35),
                                0.0 if side > 0 else np.pi, raised=True))
    return concat_meshes(parts)


def make_scene(*, seed: int, duration_s: float, start_ns: int = DEFAULT_START_NS, curved: bool | None = None
               ) -> Scene:
    """A new scene for ``duration_s`` seconds of driving from ``seed`` (any int >= 0).

    ``curved`` forces a straight (False) or curved (True) road; by default the seed decides.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimulationError(f"seed must be an int >= 0, got {seed!r}", field="seed")
    if not np.isfinite(duration_s) or not 0.0 < duration_s <= 3600.0:
        raise SimulationError(f"duration_s must be in (0, 3600] seconds, got {duration_s!r}", field="duration_s")
    rng = np.random.default_rng([int(seed), 0x5C3E])
    length = EGO_START_S + 14.0 * duration_s + AHEAD_M
    road = Road.random(rng, length, curved=curved)
    crosswalk = EGO_START_S + float(rng.uniform(40.0, min(110.0, 6.0 * duration_s + 40.0)))
    road = replace(road, crosswalk_s=crosswalk if rng.random() < 0.8 else None)
    ego, agents, crossings = make_agents(road, EGO_START_S, duration_s, rng)
    keep_clear = [] if road.crosswalk_s is None else [(road.crosswalk_s - 4.0, road.crosswalk_s + 4.0)]
    stuff = concat_meshes([_ground(road, rng), _markings(road), _structure(road, rng, keep_clear)])
    static_agents = [a for a in agents if a.static]
    placed = []
    for a in static_agents:
        x, y, z, yaw = a.track.states[0]
        c, s = np.cos(yaw), np.sin(yaw)
        placed.append(a.mesh.transformed(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), np.array([x, y, z])))
    static = concat_meshes([stuff, *placed])
    inst = np.concatenate([np.full(len(stuff), -1, np.int32)]
                          + [np.full(len(m), a.instance_id, np.int32) for a, m in zip(static_agents, placed)])
    sun_el, sun_az = rng.uniform(0.5, 1.1), rng.uniform(-np.pi, np.pi)
    sun = np.array([np.cos(sun_el) * np.cos(sun_az), np.cos(sun_el) * np.sin(sun_az), np.sin(sun_el)])
    return Scene(int(seed), float(duration_s), int(start_ns), road, static, inst, tuple(agents), ego,
                 tuple(crossings), sun)
