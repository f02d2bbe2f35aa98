"""Ray casting against a scene (numba): the static triangles in a uniform 2-D grid of columns over the ground
plane, the moving agents tested in their own frames at each ray's own time (so a rotating LiDAR sees every
object where it was when each laser fired).

:func:`build_world` packs a :class:`~fusion_stack.sim.scene.Scene` into arrays once; :func:`cast` intersects
rays (``map`` frame, metres, unit directions, per-ray time in seconds) and returns the first hit of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from fusion_stack.sim.scene import Scene

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CELL_M = 2.0
"""Edge of a grid column in metres."""


@dataclass(frozen=True, eq=False)
class World:
    """A scene packed for the kernels (see the module docstring). Static faces keep the scene's face order;
    agent faces are stored per dynamic agent (``agent_ids`` maps a packed agent to its instance id)."""

    v0: FloatArray
    e1: FloatArray
    e2: FloatArray
    grid_origin: FloatArray  # (2,) x, y of the grid corner
    grid_shape: tuple[int, int]  # (nx, ny)
    cell_start: IntArray
    cell_items: npt.NDArray[np.int32]
    cell_zmin: FloatArray
    cell_zmax: FloatArray
    zmax: float
    agent_ids: npt.NDArray[np.int32]  # (A,) instance id of each packed dynamic agent
    agent_half: FloatArray  # (A, 3) half box size
    agent_face_start: IntArray  # (A + 1,)
    agent_v0: FloatArray
    agent_e1: FloatArray
    agent_e2: FloatArray
    agent_traj: FloatArray  # (A, T, 4) x, y, z, yaw
    traj_dt: float
    static_normal: FloatArray  # (F, 3) unit normals (orientation arbitrary)
    static_reflectivity: npt.NDArray[np.float32]
    static_semantic: npt.NDArray[np.int16]
    static_instance: npt.NDArray[np.int32]
    static_color: npt.NDArray[np.float32]
    agent_normal: FloatArray  # (sum F_a, 3) in the agent frame
    agent_reflectivity: npt.NDArray[np.float32]
    agent_semantic: npt.NDArray[np.int16]
    agent_color: npt.NDArray[np.float32]
    tri_zrange: FloatArray  # (F, 2) z min, max of each static face


@njit(cache=True)
def ray_box_slab(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, hx: float, hy: float, hz: float,
                 t_max: float) -> tuple[bool, float, float]:  # pragma: no cover
    """Slab test of a ray (origin ``o``, direction ``d``, both in the box frame) against the box centred at the
    origin with half sizes ``(hx, hy, hz)``, over ``t`` in [0, t_max]: (hit, t_near, t_far)."""
    tn, tf = 0.0, t_max
    for axis in range(3):
        o = ox if axis == 0 else (oy if axis == 1 else oz)
        d = dx if axis == 0 else (dy if axis == 1 else dz)
        h = hx if axis == 0 else (hy if axis == 1 else hz)
        if abs(d) < 1e-12:
            if o < -h or o > h:
                return False, tn, tf
        else:
            ta, tb = (-h - o) / d, (h - o) / d
            tn = max(tn, min(ta, tb))
            tf = min(tf, max(ta, tb))
            if tn > tf:
                return False, tn, tf
    return True, tn, tf


@njit(cache=True)
def _overlaps(v0: FloatArray, e1: FloatArray, e2: FloatArray, f: int, cx0: float, cy0: float, cell: float
              ) -> bool:  # pragma: no cover
    """Whether the x-y projection of face f meets the square [cx0, cx0 + cell] x [cy0, cy0 + cell] (edge axes
    of a separating-axis test; the caller has checked the bounding boxes)."""
    px = (v0[f, 0], v0[f, 0] + e1[f, 0], v0[f, 0] + e2[f, 0])
    py = (v0[f, 1], v0[f, 1] + e1[f, 1], v0[f, 1] + e2[f, 1])
    eps = 1e-6
    for k in range(3):
        ax, ay = px[k], py[k]
        bx, by = px[(k + 1) % 3], py[(k + 1) % 3]
        nx_, ny_ = -(by - ay), bx - ax
        if abs(nx_) + abs(ny_) < 1e-12:
            continue
        t0 = nx_ * px[0] + ny_ * py[0]
        t1 = nx_ * px[1] + ny_ * py[1]
        t2 = nx_ * px[2] + ny_ * py[2]
        tmin, tmax = min(t0, t1, t2), max(t0, t1, t2)
        s0 = nx_ * (cx0 - eps) + ny_ * (cy0 - eps)
        s1 = nx_ * (cx0 + cell + eps) + ny_ * (cy0 - eps)
        s2 = nx_ * (cx0 + cell + eps) + ny_ * (cy0 + cell + eps)
        s3 = nx_ * (cx0 - eps) + ny_ * (cy0 + cell + eps)
        smin, smax = min(s0, s1, s2, s3), max(s0, s1, s2, s3)
        if smax < tmin or smin > tmax:
            return False
    return True


@njit(cache=True)
def _grid_build(v0: FloatArray, e1: FloatArray, e2: FloatArray, x0: float, y0: float, cell: float, nx: int,
                ny: int) -> tuple[IntArray, npt.NDArray[np.int32], FloatArray, FloatArray]:  # pragma: no cover
    nf = v0.shape[0]
    counts = np.zeros(nx * ny + 1, np.int64)
    zmin = np.full(nx * ny, np.inf)
    zmax = np.full(nx * ny, -np.inf)
    ranges = np.empty((nf, 4), np.int64)
    for f in range(nf):
        xa = min(v0[f, 0], v0[f, 0] + e1[f, 0], v0[f, 0] + e2[f, 0])
        xb = max(v0[f, 0], v0[f, 0] + e1[f, 0], v0[f, 0] + e2[f, 0])
        ya = min(v0[f, 1], v0[f, 1] + e1[f, 1], v0[f, 1] + e2[f, 1])
        yb = max(v0[f, 1], v0[f, 1] + e1[f, 1], v0[f, 1] + e2[f, 1])
        za = min(v0[f, 2], v0[f, 2] + e1[f, 2], v0[f, 2] + e2[f, 2])
        zb = max(v0[f, 2], v0[f, 2] + e1[f, 2], v0[f, 2] + e2[f, 2])
        i0 = max(0, min(nx - 1, int(np.floor((xa - x0) / cell))))
        i1 = max(0, min(nx - 1, int(np.floor((xb - x0) / cell))))
        j0 = max(0, min(ny - 1, int(np.floor((ya - y0) / cell))))
        j1 = max(0, min(ny - 1, int(np.floor((yb - y0) / cell))))
        ranges[f, 0], ranges[f, 1], ranges[f, 2], ranges[f, 3] = i0, i1, j0, j1
        for j in range(j0, j1 + 1):
            for i in range(i0, i1 + 1):
                if not _overlaps(v0, e1, e2, f, x0 + i * cell, y0 + j * cell, cell):
                    continue
                c = j * nx + i
                counts[c + 1] += 1
                zmin[c] = min(zmin[c], za)
                zmax[c] = max(zmax[c], zb)
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    items = np.empty(start[-1], np.int32)
    for f in range(nf):
        for j in range(ranges[f, 2], ranges[f, 3] + 1):
            for i in range(ranges[f, 0], ranges[f, 1] + 1):
                if not _overlaps(v0, e1, e2, f, x0 + i * cell, y0 + j * cell, cell):
                    continue
                c = j * nx + i
                items[fill[c]] = f
                fill[c] += 1
    return start, items, zmin, zmax


def _edges(tris: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    v0 = np.ascontiguousarray(tris[:, 0])
    return v0, np.ascontiguousarray(tris[:, 1] - v0), np.ascontiguousarray(tris[:, 2] - v0)


def build_world(scene: Scene) -> World:
    """Pack ``scene`` for :func:`cast` and the camera rasteriser."""
    tris = scene.static.triangles()
    v0, e1, e2 = _edges(tris)
    lo = tris.reshape(-1, 3).min(axis=0) - 1.0
    hi = tris.reshape(-1, 3).max(axis=0) + 1.0
    nx = int(np.ceil((hi[0] - lo[0]) / CELL_M))
    ny = int(np.ceil((hi[1] - lo[1]) / CELL_M))
    start, items, zmin, zmax = _grid_build(v0, e1, e2, float(lo[0]), float(lo[1]), CELL_M, nx, ny)
    dyn = scene.dynamic_agents
    face_start = np.cumsum([0] + [len(a.mesh) for a in dyn]).astype(np.int64)
    if dyn:
        av0, ae1, ae2 = _edges(np.concatenate([a.mesh.triangles() for a in dyn]))
        traj = np.stack([a.track.states for a in dyn])
        dt = dyn[0].track.dt
    else:
        av0 = ae1 = ae2 = np.zeros((0, 3))
        traj = np.zeros((0, 2, 4))
        dt = 1.0

    def cat(name: str, dtype: type) -> npt.NDArray[Any]:
        return np.concatenate([getattr(a.mesh, name) for a in dyn]).astype(dtype) if dyn else np.zeros(
            (0, 3) if name == "colors" else 0, dtype)

    return World(v0, e1, e2, lo[:2].copy(), (nx, ny), start, items, zmin, zmax, float(hi[2]),
                 np.array([a.instance_id for a in dyn], np.int32),
                 np.array([a.size / 2 for a in dyn]).reshape(-1, 3), face_start, av0, ae1, ae2, traj, float(dt),
                 _normals(e1, e2), scene.static.reflectivity, scene.static.semantic, scene.static_instance,
                 scene.static.colors, _normals(ae1, ae2), cat("reflectivity", np.float32),
                 cat("semantic", np.int16), cat("colors", np.float32),
                 np.ascontiguousarray(np.column_stack([tris[:, :, 2].min(axis=1), tris[:, :, 2].max(axis=1)])))


def _normals(e1: FloatArray, e2: FloatArray) -> FloatArray:
    n = np.cross(e1, e2)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


@njit(cache=True, inline="always")
def _tri_hit(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, v0: FloatArray, e1: FloatArray,
             e2: FloatArray, f: int) -> float:  # pragma: no cover
    """Möller-Trumbore: distance along the ray to face f, or inf."""
    px = dy * e2[f, 2] - dz * e2[f, 1]
    py = dz * e2[f, 0] - dx * e2[f, 2]
    pz = dx * e2[f, 1] - dy * e2[f, 0]
    det = e1[f, 0] * px + e1[f, 1] * py + e1[f, 2] * pz
    if abs(det) < 1e-12:
        return np.inf
    inv = 1.0 / det
    tx, ty, tz = ox - v0[f, 0], oy - v0[f, 1], oz - v0[f, 2]
    u = (tx * px + ty * py + tz * pz) * inv
    if u < 0.0 or u > 1.0:
        return np.inf
    qx = ty * e1[f, 2] - tz * e1[f, 1]
    qy = tz * e1[f, 0] - tx * e1[f, 2]
    qz = tx * e1[f, 1] - ty * e1[f, 0]
    v = (dx * qx + dy * qy + dz * qz) * inv
    if v < 0.0 or u + v > 1.0:
        return np.inf
    t = (e2[f, 0] * qx + e2[f, 1] * qy + e2[f, 2] * qz) * inv
    return t if t > 1e-4 else np.inf


@njit(cache=True, inline="always")
def agent_pose(traj: FloatArray, a: int, t: float, dt: float) -> tuple[float, float, float, float]:  # pragma: no cover
    """x, y, z, yaw of packed agent ``a`` at time ``t`` seconds (linear interpolation, clamped)."""
    n = traj.shape[1]
    f = min(max(t / dt, 0.0), n - 1.000001)
    i = int(f)
    w = f - i
    return ((1 - w) * traj[a, i, 0] + w * traj[a, i + 1, 0], (1 - w) * traj[a, i, 1] + w * traj[a, i + 1, 1],
            (1 - w) * traj[a, i, 2] + w * traj[a, i + 1, 2], (1 - w) * traj[a, i, 3] + w * traj[a, i + 1, 3])


@njit(cache=True)
def _cast_one(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, t_ray: float, tmax: float,
              v0: FloatArray, e1: FloatArray, e2: FloatArray, gx0: float, gy0: float, nx: int, ny: int,
              cell_start: IntArray, cell_items: npt.NDArray[np.int32], cell_zmin: FloatArray, cell_zmax: FloatArray,
              tri_z: FloatArray, zmax_world: float, candidates: npt.NDArray[np.int32], cand_circle: FloatArray,
              a_half: FloatArray, a_start: IntArray, a_v0: FloatArray, a_e1: FloatArray, a_e2: FloatArray,
              traj: FloatArray, traj_dt: float) -> tuple[float, int, int]:  # pragma: no cover
    best = tmax
    best_face = -1
    best_agent = -1
    # --- static: 2-D DDA over the grid columns
    gx1 = gx0 + nx * CELL_M
    gy1 = gy0 + ny * CELL_M
    t0, t1 = 0.0, tmax
    ok = True
    if abs(dx) < 1e-12:
        ok = gx0 <= ox <= gx1
    else:
        a, b = (gx0 - ox) / dx, (gx1 - ox) / dx
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    if abs(dy) < 1e-12:
        ok = ok and gy0 <= oy <= gy1
    else:
        a, b = (gy0 - oy) / dy, (gy1 - oy) / dy
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    if ok and t0 < t1:
        px, py = ox + dx * t0, oy + dy * t0
        ix = min(nx - 1, max(0, int(np.floor((px - gx0) / CELL_M))))
        iy = min(ny - 1, max(0, int(np.floor((py - gy0) / CELL_M))))
        sx = 1 if dx > 0 else -1
        sy = 1 if dy > 0 else -1
        tdx = CELL_M / abs(dx) if abs(dx) > 1e-12 else np.inf
        tdy = CELL_M / abs(dy) if abs(dy) > 1e-12 else np.inf
        tmx = ((gx0 + (ix + (1 if dx > 0 else 0)) * CELL_M) - ox) / dx if abs(dx) > 1e-12 else np.inf
        tmy = ((gy0 + (iy + (1 if dy > 0 else 0)) * CELL_M) - oy) / dy if abs(dy) > 1e-12 else np.inf
        t_enter = t0
        while True:
            t_exit = min(tmx, tmy, t1)
            c = iy * nx + ix
            za = oz + dz * t_enter
            zb = oz + dz * t_exit
            zlo, zhi = min(za, zb) - 1e-6, max(za, zb) + 1e-6
            if zhi >= cell_zmin[c] and zlo <= cell_zmax[c]:
                for k in range(cell_start[c], cell_start[c + 1]):
                    f = cell_items[k]
                    if tri_z[f, 1] < zlo or tri_z[f, 0] > zhi:
                        continue
                    t = _tri_hit(ox, oy, oz, dx, dy, dz, v0, e1, e2, f)
                    if t < best:
                        best = t
                        best_face = f
            if best <= t_exit or t_exit >= t1:
                break
            if dz > 0 and oz + dz * t_exit > zmax_world:
                break
            if tmx < tmy:
                ix += sx
                t_enter = tmx
                tmx += tdx
            else:
                iy += sy
                t_enter = tmy
                tmy += tdy
            if ix < 0 or ix >= nx or iy < 0 or iy >= ny:
                break
    # --- moving agents, each at the ray's time, in its own frame
    for ci in range(candidates.shape[0]):
        a = candidates[ci]
        wx, wy = cand_circle[ci, 0] - ox, cand_circle[ci, 1] - oy
        dxy2 = dx * dx + dy * dy
        tp = min(max((wx * dx + wy * dy) / dxy2, 0.0), best) if dxy2 > 1e-12 else 0.0
        qx, qy = wx - dx * tp, wy - dy * tp
        if qx * qx + qy * qy > cand_circle[ci, 2] * cand_circle[ci, 2]:
            continue
        cx, cy, cz, yaw = agent_pose(traj, a, t_ray, traj_dt)
        c, s = np.cos(yaw), np.sin(yaw)
        rx, ry, rz = ox - cx, oy - cy, oz - cz
        lox, loy, loz = c * rx + s * ry, -s * rx + c * ry, rz
        ldx, ldy, ldz = c * dx + s * dy, -s * dx + c * dy, dz
        hit, _, _ = ray_box_slab(lox, loy, loz, ldx, ldy, ldz, a_half[a, 0], a_half[a, 1], a_half[a, 2], best)
        if not hit:
            continue
        for f in range(a_start[a], a_start[a + 1]):
            t = _tri_hit(lox, loy, loz, ldx, ldy, ldz, a_v0, a_e1, a_e2, f)
            if t < best:
                best = t
                best_face = f - a_start[a]
                best_agent = a
    return best, best_face, best_agent


@njit(cache=True, parallel=True)
def _cast_kernel(origins: FloatArray, dirs: FloatArray, times: FloatArray, tmax: float, v0: FloatArray,
                 e1: FloatArray, e2: FloatArray, gx0: float, gy0: float, nx: int, ny: int, cell_start: IntArray,
                 cell_items: npt.NDArray[np.int32], cell_zmin: FloatArray, cell_zmax: FloatArray, tri_z: FloatArray,
                 zmax_world: float, candidates: npt.NDArray[np.int32], cand_circle: FloatArray, a_half: FloatArray,
                 a_start: IntArray, a_v0: FloatArray, a_e1: FloatArray, a_e2: FloatArray, traj: FloatArray,
                 traj_dt: float, out_t: FloatArray, out_face: IntArray, out_agent: npt.NDArray[np.int32]
                 ) -> None:  # pragma: no cover
    n = origins.shape[0]
    chunk = 256
    for ch in prange((n + chunk - 1) // chunk):
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            t, f, a = _cast_one(origins[i, 0], origins[i, 1], origins[i, 2], dirs[i, 0], dirs[i, 1], dirs[i, 2],
                                times[i], tmax, v0, e1, e2, gx0, gy0, nx, ny, cell_start, cell_items, cell_zmin,
                                cell_zmax, tri_z, zmax_world, candidates, cand_circle, a_half, a_start, a_v0, a_e1,
                                a_e2, traj, traj_dt)
            out_t[i] = t if f >= 0 else np.inf
            out_face[i] = f
            out_agent[i] = a


@njit(cache=True)
def _cast_kernel_serial(origins: FloatArray, dirs: FloatArray, times: FloatArray, tmax: float, v0: FloatArray,
                 e1: FloatArray, e2: FloatArray, gx0: float, gy0: float, nx: int, ny: int, cell_start: IntArray,
                 cell_items: npt.NDArray[np.int32], cell_zmin: FloatArray, cell_zmax: FloatArray, tri_z: FloatArray,
                 zmax_world: float, candidates: npt.NDArray[np.int32], cand_circle: FloatArray, a_half: FloatArray,
                 a_start: IntArray, a_v0: FloatArray, a_e1: FloatArray, a_e2: FloatArray, traj: FloatArray,
                 traj_dt: float, out_t: FloatArray, out_face: IntArray, out_agent: npt.NDArray[np.int32]
                 ) -> None:  # pragma: no cover
    n = origins.shape[0]
    chunk = 256
    for ch in range((n + chunk - 1) // chunk):
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            t, f, a = _cast_one(origins[i, 0], origins[i, 1], origins[i, 2], dirs[i, 0], dirs[i, 1], dirs[i, 2],
                                times[i], tmax, v0, e1, e2, gx0, gy0, nx, ny, cell_start, cell_items, cell_zmin,
                                cell_zmax, tri_z, zmax_world, candidates, cand_circle, a_half, a_start, a_v0, a_e1,
                                a_e2, traj, traj_dt)
            out_t[i] = t if f >= 0 else np.inf
            out_face[i] = f
            out_agent[i] = a


@dataclass(frozen=True, eq=False)
class Hits:
    """First hits of N rays: ``distance`` (N,) metres (inf: no hit within range), ``face`` (N,) the static face
    index or, where ``agent`` (N,) >= 0, the face index within that packed dynamic agent's mesh."""

    distance: FloatArray
    face: IntArray
    agent: npt.NDArray[np.int32]

    @property
    def hit(self) -> npt.NDArray[np.bool_]:
        """(N,) True where the ray hit something."""
        return np.isfinite(self.distance)


def candidate_agents(world: World, center: FloatArray, t0: float, t1: float, reach: float) -> npt.NDArray[np.int32]:
    """Packed agents that may come within ``reach`` metres (xy) of ``center`` between times t0 and t1."""
    if len(world.agent_ids) == 0:
        return np.zeros(0, np.int32)
    n = world.agent_traj.shape[1]
    i0 = int(np.clip(np.floor(t0 / world.traj_dt), 0, n - 1))
    i1 = int(np.clip(np.ceil(t1 / world.traj_dt), 0, n - 1))
    seg = world.agent_traj[:, i0:i1 + 1, :2]
    dist = np.linalg.norm(seg - np.asarray(center)[:2], axis=-1).min(axis=1)
    radius = np.linalg.norm(world.agent_half[:, :2], axis=1)
    return np.nonzero(dist < reach + radius)[0].astype(np.int32)


def bounding_circles(world: World, agents: npt.NDArray[np.int32], t0: float, t1: float) -> FloatArray:
    """(K, 3) x, y, radius of circles holding each packed agent's footprint over times t0..t1 seconds."""
    if len(agents) == 0:
        return np.zeros((0, 3))
    n = world.agent_traj.shape[1]
    i0 = int(np.clip(np.floor(t0 / world.traj_dt), 0, n - 1))
    i1 = int(np.clip(np.ceil(t1 / world.traj_dt), 0, n - 1))
    seg = world.agent_traj[agents, i0:i1 + 1, :2]
    mid = 0.5 * (seg.min(axis=1) + seg.max(axis=1))
    reach = np.linalg.norm(seg - mid[:, None, :], axis=-1).max(axis=1)
    radius = np.linalg.norm(world.agent_half[agents, :2], axis=1) + reach + 0.05
    return np.ascontiguousarray(np.column_stack([mid, radius]))


def cast(world: World, origins: npt.ArrayLike, dirs: npt.ArrayLike, times: npt.ArrayLike, *, max_range: float,
         candidates: npt.NDArray[np.int32] | None = None) -> Hits:
    """First hits of rays from ``origins`` (N, 3) along unit ``dirs`` (N, 3) at ``times`` (N,) seconds, up to
    ``max_range`` metres; ``candidates`` restricts the moving agents tested (default: all)."""
    o = np.ascontiguousarray(origins, dtype=np.float64).reshape(-1, 3)
    d = np.ascontiguousarray(dirs, dtype=np.float64).reshape(-1, 3)
    t = np.ascontiguousarray(np.broadcast_to(np.asarray(times, dtype=np.float64), (len(o),)))
    cand = np.arange(len(world.agent_ids), dtype=np.int32) if candidates is None else candidates
    tt = t if len(t) else np.zeros(1)
    circle = bounding_circles(world, cand, float(tt.min()), float(tt.max()))
    out_t = np.empty(len(o))
    out_f = np.empty(len(o), np.int64)
    out_a = np.empty(len(o), np.int32)
    if len(o):
        # small batches run on one thread: waking the pool costs more than it saves (much more on a busy host)
        kernel = _cast_kernel if len(o) >= 8192 else _cast_kernel_serial
        kernel(o, d, t, float(max_range), world.v0, world.e1, world.e2, float(world.grid_origin[0]),
                     float(world.grid_origin[1]), world.grid_shape[0], world.grid_shape[1], world.cell_start,
                     world.cell_items, world.cell_zmin, world.cell_zmax, world.tri_zrange, world.zmax,
                     np.ascontiguousarray(cand),
                     circle, world.agent_half, world.agent_face_start, world.agent_v0, world.agent_e1, world.agent_e2,
                     world.agent_traj, world.traj_dt, out_t, out_f, out_a)
    return Hits(out_t, out_f, out_a)


@dataclass(frozen=True, eq=False)
class HitInfo:
    """What each ray hit: ``instance`` (N,) int32 (-1: unannotated structure or nothing), ``semantic`` (N,)
    uint8 (0 = nothing), ``reflectivity`` (N,) and ``normal`` (N, 3) unit normals in ``map`` turned towards
    the ray origin (zero where nothing was hit)."""

    instance: npt.NDArray[np.int32]
    semantic: npt.NDArray[np.uint8]
    reflectivity: npt.NDArray[np.float32]
    normal: FloatArray


def describe(world: World, hits: Hits, dirs: npt.ArrayLike, times: npt.ArrayLike) -> HitInfo:
    """Attributes of the faces ``hits`` found (rays ``dirs`` (N, 3) cast at ``times`` (N,))."""
    d = np.asarray(dirs, dtype=np.float64).reshape(-1, 3)
    n = len(d)
    t = np.broadcast_to(np.asarray(times, dtype=np.float64), (n,))
    inst = np.full(n, -1, np.int32)
    sem = np.zeros(n, np.uint8)
    refl = np.zeros(n, np.float32)
    normal = np.zeros((n, 3))
    st = hits.hit & (hits.agent < 0)
    f = hits.face[st]
    inst[st] = world.static_instance[f]
    sem[st] = world.static_semantic[f]
    refl[st] = world.static_reflectivity[f]
    normal[st] = world.static_normal[f]
    dy = hits.hit & (hits.agent >= 0)
    if np.any(dy):
        a = hits.agent[dy]
        g = world.agent_face_start[a] + hits.face[dy]
        inst[dy] = world.agent_ids[a]
        sem[dy] = world.agent_semantic[g]
        refl[dy] = world.agent_reflectivity[g]
        nl = world.agent_normal[g]
        f_idx = np.clip(t[dy] / world.traj_dt, 0.0, world.agent_traj.shape[1] - 1.000001)
        i = np.floor(f_idx).astype(np.int64)
        w = f_idx - i
        yaw = (1 - w) * world.agent_traj[a, i, 3] + w * world.agent_traj[a, i + 1, 3]
        c, s = np.cos(yaw), np.sin(yaw)
        normal[dy] = np.column_stack([c * nl[:, 0] - s * nl[:, 1], s * nl[:, 0] + c * nl[:, 1], nl[:, 2]])
    flip = np.einsum("ij,ij->i", normal, d) > 0
    normal[flip] *= -1
    return HitInfo(inst, sem, refl, normal)
