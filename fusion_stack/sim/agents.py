"""Agents of a scene and their motion: lane-following vehicles (an intelligent-driver model with queues and stops
at an occupied crosswalk), cyclists at the lane edge, pedestrians walking along and across the road, and static
objects (parked vehicles, barriers, traffic cones); plus the ego vehicle's trajectory.

Times are seconds since the scene start; trajectories are sampled every ``dt`` seconds (``TRACK_DT``) and linearly
interpolated in between. Positions are in the ``map`` frame (metres); an agent's ``z`` is the centre of its box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion_stack.sim.meshes import Mesh, object_mesh, sample_size
from fusion_stack.sim.road import Road

FloatArray = npt.NDArray[np.float64]
TRACK_DT = 0.01
"""Seconds between trajectory samples."""


@dataclass(frozen=True, eq=False)
class Track:
    """Poses sampled every ``dt`` seconds from t = 0: ``states`` (T, 4) = x, y, z, yaw (rad, unwrapped); a track
    of one sample is a static pose."""

    states: FloatArray
    dt: float = TRACK_DT

    def state_at(self, t: npt.ArrayLike) -> FloatArray:
        """(..., 4) x, y, z, yaw at times ``t`` seconds (held constant beyond the ends)."""
        t = np.asarray(t, dtype=np.float64)
        if len(self.states) == 1:
            return np.broadcast_to(self.states[0], (*t.shape, 4)).copy()
        f = np.clip(t / self.dt, 0.0, len(self.states) - 1.000001)
        i = np.floor(f).astype(np.int64)
        a = (f - i)[..., None]
        return (1.0 - a) * self.states[i] + a * self.states[i + 1]

    def velocity_at(self, t: npt.ArrayLike) -> FloatArray:
        """(..., 4) time derivative of x, y, z, yaw (m/s, rad/s) at ``t`` (that of the sampling interval)."""
        t = np.asarray(t, dtype=np.float64)
        if len(self.states) == 1:
            return np.zeros((*t.shape, 4))
        f = np.clip(t / self.dt, 0.0, len(self.states) - 1.000001)
        i = np.floor(f).astype(np.int64)
        return (self.states[i + 1] - self.states[i]) / self.dt


@dataclass(frozen=True, eq=False)
class Agent:
    """An annotated object: ``instance_id`` (the ground-truth track id), ``class_name`` (one of
    :data:`fusion_stack.sim.classes.BOX_CLASSES`), box ``size`` (l, w, h) metres, its ``mesh`` in the object
    frame (box centre, x along the heading) and its ``track``; ``static`` agents never move."""

    instance_id: int
    class_name: str
    size: FloatArray
    mesh: Mesh
    track: Track
    static: bool


@dataclass(frozen=True, eq=False)
class EgoTrack:
    """The ego vehicle's ``base_link`` (rear axle on the ground) in ``map``: ``states`` (T, 6) = x, y, z, yaw,
    pitch, roll (rad, ``R = Rz(yaw) Ry(pitch) Rx(roll)``) every ``dt`` seconds from t = 0."""

    states: FloatArray
    dt: float = TRACK_DT

    def _interp(self, t: FloatArray) -> FloatArray:
        f = np.clip(t / self.dt, 0.0, len(self.states) - 1.000001)
        i = np.floor(f).astype(np.int64)
        a = (f - i)[..., None]
        return (1.0 - a) * self.states[i] + a * self.states[i + 1]

    def poses_at(self, t: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``base_link -> map`` rotations (N, 3, 3) and translations (N, 3) at times ``t`` (N,) seconds."""
        s = self._interp(np.asarray(t, dtype=np.float64).reshape(-1))
        cy, sy = np.cos(s[:, 3]), np.sin(s[:, 3])
        cp, sp = np.cos(s[:, 4]), np.sin(s[:, 4])
        cr, sr = np.cos(s[:, 5]), np.sin(s[:, 5])
        r = np.empty((len(s), 3, 3))
        r[:, 0, 0] = cy * cp
        r[:, 0, 1] = cy * sp * sr - sy * cr
        r[:, 0, 2] = cy * sp * cr + sy * sr
        r[:, 1, 0] = sy * cp
        r[:, 1, 1] = sy * sp * sr + cy * cr
        r[:, 1, 2] = sy * sp * cr - cy * sr
        r[:, 2, 0] = -sp
        r[:, 2, 1] = cp * sr
        r[:, 2, 2] = cp * cr
        return r, s[:, :3].copy()

    def twist_at(self, t: npt.ArrayLike, *, h: float = 0.0025) -> tuple[FloatArray, FloatArray]:
        """Body-frame linear (N, 3) m/s and angular (N, 3) rad/s velocity at ``t`` (central differences)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        t_end = (len(self.states) - 1) * self.dt
        ta, tb = np.clip(t - h, 0.0, t_end), np.clip(t + h, 0.0, t_end)
        span = np.maximum(tb - ta, 1e-12)
        r0, p0 = self.poses_at(ta)
        r1, p1 = self.poses_at(tb)
        rm, _ = self.poses_at(t)
        v = np.einsum("nji,nj->ni", rm, (p1 - p0) / span[:, None])
        rel = np.einsum("nji,njk->nik", r0, r1)
        w = 0.5 * np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                            rel[:, 1, 0] - rel[:, 0, 1]], axis=1) / span[:, None]
        return v, w


# --- traffic ------------------------------------------------------------------------------------------------------
_SPEED = {"car": (8.0, 14.0), "truck": (7.0, 11.0), "bus": (7.0, 10.0), "motorcycle": (9.0, 15.0),
          "bicycle": (3.5, 6.5)}


@dataclass
class _Vehicle:
    cls: str
    size: FloatArray
    lane: int
    u0: float
    v_des: float
    stop_u: float = np.inf
    release_t: float = -1.0
    is_ego: bool = False
    lateral: float = 0.0


@dataclass(frozen=True)
class Crossing:
    """A pedestrian crossing the road at ``s`` metres: leaves the kerb on ``side`` (-1 right, +1 left) at
    ``start`` seconds walking at ``speed`` m/s."""

    s: float
    side: int
    start: float
    speed: float


def _idm(road: Road, vehicles: list[_Vehicle], crossings: list[Crossing], n_steps: int, dt: float,
         rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Positions ``u`` (steps, V) along each vehicle's lane (metres travelled from its start point plus ``u0``)
    and speeds, from the intelligent-driver model with queues, stop events and crosswalk stops."""
    lanes = road.lane_offsets()
    nv = len(vehicles)
    u = np.array([v.u0 for v in vehicles])
    vel = np.array([v.v_des * (0.8 if not v.is_ego else 1.0) for v in vehicles])
    v0 = np.array([v.v_des for v in vehicles])
    length = np.array([v.size[0] for v in vehicles])
    lane = np.array([v.lane for v in vehicles])
    leader = np.full(nv, -1)
    for k in range(len(lanes)):
        idx = np.nonzero(lane == k)[0]
        order = idx[np.argsort(u[idx])]
        leader[order[:-1]] = order[1:]
    a_max = np.where([v.cls in ("truck", "bus") for v in vehicles], 1.0, 1.6)
    b = 2.5
    s0, t_head = 2.5, 1.3
    stop_u = np.array([v.stop_u for v in vehicles])
    release = np.array([v.release_t for v in vehicles])
    # crosswalk stop line of each vehicle in its lane coordinate (u grows in the driving direction)
    cross_u = np.full(nv, np.inf)
    cw_block = np.zeros((n_steps, len(lanes)), dtype=bool)
    if road.crosswalk_s is not None:
        for i, veh in enumerate(vehicles):
            direction = lanes[veh.lane][0]
            cross_u[i] = (road.crosswalk_s - 3.5) if direction > 0 else -(road.crosswalk_s + 3.5)
        times = np.arange(n_steps) * dt
        for c in crossings:
            d_ped = _crossing_d(road, c, times)
            for k, (_, d_lane) in enumerate(lanes):
                near = np.abs(d_ped - d_lane) < road.lane_width / 2 + 1.2
                waiting = (times > c.start - 1.5) & (times < c.start)
                entering = waiting & (np.sign(d_lane) == c.side) & (abs(d_lane) < road.lane_width * 1.1)
                cw_block[:, k] |= near | entering
    us = np.empty((n_steps, nv))
    vs = np.empty((n_steps, nv))
    for step in range(n_steps):
        t = step * dt
        us[step], vs[step] = u, vel
        gap = np.full(nv, 1e9)
        dv = np.zeros(nv)
        has = leader >= 0
        gap[has] = u[leader[has]] - u[has] - 0.5 * (length[leader[has]] + length[has])
        dv[has] = vel[has] - vel[leader[has]]
        obstacles = []
        stop_active = (t < release) & (u + 0.5 * length < stop_u)
        obstacles.append(np.where(stop_active, stop_u - u - 0.5 * length, 1e9))
        blocked = cw_block[step, lane]
        cgap = cross_u - u - 0.5 * length
        can_stop = cgap > vel * vel / (2 * 6.0)
        obstacles.append(np.where(blocked & (cgap > -0.5) & can_stop, np.maximum(cgap, 0.01), 1e9))
        for og in obstacles:
            closer = og < gap
            gap = np.where(closer, og, gap)
            dv = np.where(closer, vel, dv)
        s_star = s0 + np.maximum(0.0, vel * t_head + vel * dv / (2 * np.sqrt(a_max * b)))
        acc = a_max * (1 - (vel / v0) ** 4 - (s_star / np.maximum(gap, 0.1)) ** 2)
        acc = np.clip(acc, -8.0, a_max)
        new_v = np.maximum(vel + acc * dt, 0.0)
        u = u + 0.5 * (vel + new_v) * dt
        vel = new_v
    return us, vs


def _crossing_d(road: Road, c: Crossing, t: npt.ArrayLike) -> FloatArray:
    """Lateral position d (metres) of a crossing pedestrian at times t: waits on the kerb, crosses, walks on."""
    t = np.asarray(t, dtype=np.float64)
    start_d = c.side * (road.curb(c.side) + 1.0)
    end_d = -c.side * (road.curb(-c.side) + 1.0)
    walked = np.clip((t - c.start) * c.speed, 0.0, abs(end_d - start_d))
    return start_d - c.side * walked


def _yaw_from_path(x: FloatArray, y: FloatArray, fallback: FloatArray) -> FloatArray:
    """Heading of a sampled path (smoothed), keeping ``fallback`` where the agent stands still."""
    dx, dy = np.gradient(x), np.gradient(y)
    moving = np.hypot(dx, dy) > 1e-4
    yaw = np.where(moving, np.arctan2(dy, dx), fallback)
    for i in range(1, len(yaw)):  # hold the last heading while standing
        if not moving[i]:
            yaw[i] = yaw[i - 1] if moving[: i + 1].any() else fallback[i]
    return np.unwrap(yaw)


def make_agents(road: Road, ego_s0: float, duration_s: float, rng: np.random.Generator
                ) -> tuple[EgoTrack, list[Agent], list[Crossing]]:
    """The ego trajectory and every agent of a scene on ``road`` (see the module docstring)."""
    n_steps = int(np.ceil((duration_s + 1.0) / TRACK_DT)) + 1
    times = np.arange(n_steps) * TRACK_DT
    lanes = road.lane_offsets()
    L = road.length
    ego_lane = int(rng.integers(road.lanes_forward))
    vehicles: list[_Vehicle] = [_Vehicle("car", np.array([4.6, 1.9, 1.6]), ego_lane, ego_s0,
                                         float(rng.uniform(9.0, 12.5)), is_ego=True)]
    # crosswalk ahead of the ego and pedestrians crossing it
    crossings: list[Crossing] = []
    if road.crosswalk_s is not None:
        for _ in range(int(rng.integers(1, 3))):
            crossings.append(Crossing(road.crosswalk_s + rng.uniform(-1.2, 1.2), int(rng.choice([-1, 1])),
                                      float(rng.uniform(0.5, max(1.0, duration_s - 4.0))),
                                      float(rng.uniform(1.1, 1.6))))
    # vehicles in every lane
    for k, (direction, _) in enumerate(lanes):
        pos = rng.uniform(5.0, 25.0)
        while pos < L - 5.0:
            u0 = pos if direction > 0 else -pos
            if not (k == ego_lane and abs(pos - ego_s0) < 14.0):
                outer = k in (road.lanes_forward - 1, len(lanes) - 1)
                choices = ["car"] * 5 + ["truck", "bus", "motorcycle"] + ["bicycle"] * (2 if outer else 0)
                cls = str(rng.choice(choices))
                lo, hi = _SPEED[cls]
                size = sample_size(cls, rng)
                # cyclists ride near the edge line: d moves away from the centre line
                lateral = (road.lane_width / 2 - 0.45 - size[1] / 2) * np.sign(lanes[k][1]) if cls == "bicycle" else 0.0
                veh = _Vehicle(cls, size, k, u0, float(rng.uniform(lo, hi)), lateral=float(lateral))
                if direction > 0 and rng.random() < 0.15:
                    veh.stop_u = u0 + rng.uniform(15.0, 80.0)
                    veh.release_t = float(rng.uniform(4.0, 12.0))
                vehicles.append(veh)
            pos += rng.uniform(18.0, 60.0)
    us, _ = _idm(road, vehicles, crossings, n_steps, TRACK_DT, rng)

    agents: list[Agent] = []
    ego_states = None
    for i, veh in enumerate(vehicles):
        direction, d_lane = lanes[veh.lane]
        s = us[:, i] if direction > 0 else -us[:, i]
        xy, hd = road.frame(s)
        p = xy + (d_lane + veh.lateral) * np.stack([-np.sin(hd), np.cos(hd)], axis=-1)
        yaw = np.unwrap(hd + (0.0 if direction > 0 else np.pi))
        if veh.is_ego:
            ego_states = _ego_states(road, p, yaw)
            continue
        z = road.ground.height(p[:, 0], p[:, 1]) + veh.size[2] / 2
        _add(agents, veh.cls, veh.size, np.column_stack([p, z, yaw]), rng, static=False)
    assert ego_states is not None
    # pedestrians on the sidewalks
    for side in (-1, 1):
        for _ in range(int(rng.poisson(L / 22.0))):
            size = sample_size("pedestrian", rng)
            d = side * (road.curb(side) + rng.uniform(0.6, road.sidewalk_width - 0.5))
            speed = 0.0 if rng.random() < 0.2 else rng.uniform(0.9, 1.6) * rng.choice([-1.0, 1.0])
            s_walk = np.asarray(rng.uniform(0.0, L) + speed * times, dtype=np.float64)
            _add_walker(agents, road, size, s_walk, np.full(n_steps, d), rng, np.pi / 2 * side if speed == 0 else None)
    for c in crossings:
        size = sample_size("pedestrian", rng)
        d_cross = _crossing_d(road, c, times)
        t_across = abs(d_cross[-1] - d_cross[0]) / c.speed
        s_cross = c.s + np.where(times > c.start + t_across, (times - c.start - t_across) * c.speed, 0.0)
        _add_walker(agents, road, size, s_cross, d_cross, rng, None)
    # parked vehicles in the parking strips
    if road.parking_width > 0:
        for side in (-1, 1):
            pos = rng.uniform(0.0, 10.0)
            while pos < L:
                if rng.random() < 0.7:
                    cls = "car" if rng.random() < 0.9 else "truck"
                    size = sample_size(cls, rng)
                    if cls == "truck":
                        size[1] = min(size[1], 2.3)
                    s = pos + size[0] / 2
                    d = side * (road.curb(side) - road.parking_width / 2 - 0.05)
                    _add_static(agents, road, cls, size, s, d, (0.0 if side < 0 else np.pi) + rng.normal(0, 0.02),
                                rng)
                    pos += size[0] + rng.uniform(0.8, 3.0)
                else:
                    pos += rng.uniform(4.0, 15.0)
    # a work zone: cones along the right edge line, barriers on the kerb
    if rng.random() < 0.7:
        s0 = ego_s0 + rng.uniform(30.0, 120.0)
        side = int(rng.choice([-1, 1]))
        edge = road.carriageway_right if side < 0 else road.carriageway_left
        for j in range(int(rng.integers(5, 12))):
            _add_static(agents, road, "traffic_cone", sample_size("traffic_cone", rng), s0 + 4.0 * j,
                        side * (edge - 0.4), rng.uniform(-np.pi, np.pi), rng)
        for j in range(int(rng.integers(2, 6))):
            size = sample_size("barrier", rng)
            _add_static(agents, road, "barrier", size, s0 + 2.0 + j * (size[1] + 0.3),
                        side * (road.curb(side) + 0.5), np.pi / 2 + rng.normal(0, 0.03), rng)
    return EgoTrack(ego_states), agents, crossings


def _ego_states(road: Road, p: FloatArray, yaw: FloatArray) -> FloatArray:
    z = road.ground.height(p[:, 0], p[:, 1])
    gx, gy = road.ground.gradient(p[:, 0], p[:, 1])
    fwd = gx * np.cos(yaw) + gy * np.sin(yaw)
    left = -gx * np.sin(yaw) + gy * np.cos(yaw)
    pitch = -np.arctan(fwd)
    roll = np.arctan(left * np.cos(pitch))
    return np.column_stack([p, z, yaw, pitch, roll])


def _add(agents: list[Agent], cls: str, size: FloatArray, states: FloatArray, rng: np.random.Generator, *,
         static: bool) -> None:
    agents.append(Agent(len(agents), cls, np.asarray(size, dtype=np.float64), object_mesh(cls, size, rng),
                        Track(states), static))


def _add_walker(agents: list[Agent], road: Road, size: FloatArray, s: FloatArray, d: FloatArray,
                rng: np.random.Generator, facing: float | None) -> None:
    p = road.to_map(s, d)
    _, hd = road.frame(s)
    z = road.surface_height(s, d) + size[2] / 2
    yaw = _yaw_from_path(p[:, 0], p[:, 1], hd + (facing if facing is not None else 0.0))
    _add(agents, "pedestrian", size, np.column_stack([p, z, yaw]), rng, static=False)


def _add_static(agents: list[Agent], road: Road, cls: str, size: FloatArray, s: float, d: float, rel_yaw: float,
                rng: np.random.Generator) -> None:
    p = road.to_map(np.array([s]), np.array([d]))[0]
    _, hd = road.frame(np.array([s]))
    z = float(road.surface_height(np.array([s]), np.array([d]))[0]) + size[2] / 2
    _add(agents, cls, size, np.array([[p[0], p[1], z, float(hd[0]) + rel_yaw]]), rng, static=True)
