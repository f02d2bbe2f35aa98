"""Cameras: a z-buffered triangle rasteriser (numba) renders the scene through an ideal pinhole that covers the
camera's field of view, then the image is warped into the camera's own model (lens distortion) with
``cv2.remap``, using the model's ``unproject`` for every pixel, so a 3-D point projected with the camera model
lands on the pixel that shows it. Flat shading (Lambert from the sun plus sky light), per-instance colours,
distance haze, a sky gradient, auto-exposure, vignetting and sensor noise. Ground truth per pixel: instance id
(-1 for none), semantic class and depth (metres along the optical axis, 0 for sky).

The moving agents are drawn where they are at the exposure instant (global shutter).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.agents import EgoTrack
from fusion_stack.sim.raycast import World, agent_pose
from fusion_stack.types import CameraImage

FloatArray = npt.NDArray[np.float64]
NEAR_M = 0.3
FAR_M = 250.0
FOG_M = 160.0
_HAZE = np.array([0.72, 0.76, 0.8], np.float32)
_FOG_LUT = np.exp(-(np.arange(int(FAR_M * 4) + 2) + 0.5) / 4.0 / FOG_M).astype(np.float32)  # per 0.25 m
_ZENITH = np.array([0.3, 0.45, 0.75], np.float32)
_HORIZON = np.array([0.75, 0.8, 0.86], np.float32)


@dataclass(frozen=True, eq=False)
class CameraTruth:
    """Per-pixel ground truth of one image: ``instance_mask`` (H, W) int32 (-1: none), ``semantic_mask``
    (H, W) uint8 (index into ``SEMANTIC_CLASSES``, 0 = sky) and ``depth`` (H, W) float32 metres (0 = sky)."""

    instance_mask: npt.NDArray[np.int32]
    semantic_mask: npt.NDArray[np.uint8]
    depth: npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class CameraSetup:
    """What :func:`render_cameras` needs per camera, computed once: the pinhole render intrinsics
    (``fx, fy, cx, cy``, ``width``, ``height``), the remap tables into the real model, and the sky."""

    sensor_id: str
    frame_id: str
    model: CameraModel
    cam2ego: SE3
    render_k: tuple[float, float, float, float]
    render_size: tuple[int, int]
    map_x: npt.NDArray[np.float32]
    map_y: npt.NDArray[np.float32]
    nearest: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    sky: npt.NDArray[np.float32]
    vignette: npt.NDArray[np.float32]


_SETUPS: dict[tuple[str, str, CameraModel, bytes], CameraSetup] = {}


def make_setup(sensor_id: str, frame_id: str, model: CameraModel, cam2ego: SE3) -> CameraSetup:
    """The render plan of one camera of the rig (``cam2ego`` places its optical frame on the vehicle); plans are
    kept for reuse within the process (they take a moment: every pixel is unprojected)."""
    key = (sensor_id, frame_id, model, cam2ego.as_matrix().tobytes())
    if key not in _SETUPS:
        _SETUPS[key] = _make_setup(sensor_id, frame_id, model, cam2ego)
    return _SETUPS[key]


def _make_setup(sensor_id: str, frame_id: str, model: CameraModel, cam2ego: SE3) -> CameraSetup:
    w, h = model.width, model.height
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = model.unproject(np.column_stack([u.ravel(), v.ravel()]))
    xy = rays[:, :2]
    ok = np.all(np.isfinite(xy), axis=1)
    lo, hi = xy[ok].min(axis=0), xy[ok].max(axis=0)
    fx, fy = model.fx, model.fy
    cx, cy = -lo[0] * fx + 2.0, -lo[1] * fy + 2.0
    rw, rh = int(np.ceil((hi[0] - lo[0]) * fx)) + 5, int(np.ceil((hi[1] - lo[1]) * fy)) + 5
    xy = np.where(ok[:, None], xy, 1e6)
    map_x = (xy[:, 0] * fx + cx).reshape(h, w).astype(np.float32)
    map_y = (xy[:, 1] * fy + cy).reshape(h, w).astype(np.float32)
    nearest = (np.clip(np.rint(map_y), 0, rh - 1).astype(np.int64), np.clip(np.rint(map_x), 0, rw - 1).astype(np.int64))
    # sky gradient by the elevation of each render pixel's ray (vehicle level)
    ru, rv = np.meshgrid(np.arange(rw, dtype=np.float64), np.arange(rh, dtype=np.float64))
    d_cam = np.stack([(ru - cx) / fx, (rv - cy) / fy, np.ones_like(ru)], axis=-1)
    d_ego = d_cam @ cam2ego.rotation.T
    elev = d_ego[..., 2] / np.linalg.norm(d_ego, axis=-1)
    a = np.clip(elev / 0.6, 0.0, 1.0)[..., None] ** 0.7
    sky = ((1 - a) * _HORIZON + a * _ZENITH).astype(np.float32)
    r2 = ((u - model.cx) / (0.5 * w)) ** 2 + ((v - model.cy) / (0.5 * h)) ** 2
    vignette = (1.0 - 0.12 * np.clip(r2, 0, 2)).astype(np.float32)
    return CameraSetup(sensor_id, frame_id, model, cam2ego, (fx, fy, cx, cy), (rw, rh), map_x, map_y, nearest,
                       sky, vignette)


@njit(cache=True, inline="always")
def _edge(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> float:  # pragma: no cover
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@njit(cache=True)
def _raster(us: FloatArray, vs: FloatArray, zs: FloatArray, n: int, r: float, g: float, b: float, inst: int,
            sem: int, w: int, h: int, rgb: npt.NDArray[np.float32], invz: npt.NDArray[np.float32],
            imask: npt.NDArray[np.int32], smask: npt.NDArray[np.uint8]) -> None:  # pragma: no cover
    """Fill the convex polygon (us, vs) with depths zs (first n vertices) as a fan of triangles."""
    for k in range(1, n - 1):
        ax, ay, az = us[0], vs[0], zs[0]
        bx, by, bz = us[k], vs[k], zs[k]
        cx, cy, cz = us[k + 1], vs[k + 1], zs[k + 1]
        area = _edge(ax, ay, bx, by, cx, cy)
        if abs(area) < 1e-12:
            continue
        x0 = max(0, int(np.ceil(min(ax, bx, cx))))
        x1 = min(w - 1, int(np.floor(max(ax, bx, cx))))
        y0 = max(0, int(np.ceil(min(ay, by, cy))))
        y1 = min(h - 1, int(np.floor(max(ay, by, cy))))
        if x0 > x1 or y0 > y1:
            continue
        inv_area = 1.0 / area
        ia, ib, ic = 1.0 / az, 1.0 / bz, 1.0 / cz
        # barycentric l_i(x, y) = (A_i + Bx_i x + By_i y) / area; l0 from edge b->c, l1 from edge c->a
        b0x, b0y = -(cy - by) * inv_area, (cx - bx) * inv_area
        a0 = ((cy - by) * bx - (cx - bx) * by) * inv_area
        b1x, b1y = -(ay - cy) * inv_area, (ax - cx) * inv_area
        a1 = ((ay - cy) * cx - (ax - cx) * cy) * inv_area
        for y in range(y0, y1 + 1):
            py = float(y)
            # span of x where l0, l1, l2 >= 0 on this row (each is linear in x)
            lo, hi = float(x0), float(x1)
            c0 = a0 + b0y * py
            c1 = a1 + b1y * py
            c2 = 1.0 - c0 - c1
            d2 = -b0x - b1x
            for cc, dd in ((c0, b0x), (c1, b1x), (c2, d2)):
                if dd > 1e-15:
                    lo = max(lo, -cc / dd)
                elif dd < -1e-15:
                    hi = min(hi, -cc / dd)
                elif cc < 0.0:
                    hi = lo - 1.0
            xa = max(x0, int(np.ceil(lo - 1e-9)))
            xb = min(x1, int(np.floor(hi + 1e-9)))
            for x in range(xa, xb + 1):
                px = float(x)
                l0 = c0 + b0x * px
                l1 = c1 + b1x * px
                l2 = 1.0 - l0 - l1
                if l0 < -1e-7 or l1 < -1e-7 or l2 < -1e-7:
                    continue
                iz = l0 * ia + l1 * ib + l2 * ic
                if iz > invz[y, x]:
                    invz[y, x] = iz
                    rgb[y, x, 0] = r
                    rgb[y, x, 1] = g
                    rgb[y, x, 2] = b
                    imask[y, x] = inst
                    smask[y, x] = sem


@njit(cache=True)
def _draw(p0: FloatArray, p1: FloatArray, p2: FloatArray, cr: FloatArray, ct: FloatArray, center: FloatArray,
          k: FloatArray, w: int, h: int, albedo: npt.NDArray[np.float32], inst: int, sem: int, sun: FloatArray,
          rgb: npt.NDArray[np.float32], invz: npt.NDArray[np.float32], imask: npt.NDArray[np.int32],
          smask: npt.NDArray[np.uint8], us: FloatArray, vs: FloatArray, zs: FloatArray, poly: FloatArray
          ) -> None:  # pragma: no cover
    fx, fy, cx, cy = k[0], k[1], k[2], k[3]
    q = poly  # (8, 3) scratch: camera-frame vertices
    for j in range(3):
        p = p0 if j == 0 else (p1 if j == 1 else p2)
        for i in range(3):
            q[j, i] = cr[i, 0] * p[0] + cr[i, 1] * p[1] + cr[i, 2] * p[2] + ct[i]
    if q[0, 2] < NEAR_M and q[1, 2] < NEAR_M and q[2, 2] < NEAR_M:
        return
    if q[0, 2] > FAR_M and q[1, 2] > FAR_M and q[2, 2] > FAR_M:
        return
    # outside one side plane through the optical centre: all vertices beyond it
    out_r, out_l, out_b, out_t = True, True, True, True
    for j in range(3):
        x, y, z = q[j, 0], q[j, 1], q[j, 2]
        out_r = out_r and (x * fx - (w - 1 - cx) * z > 0.0)
        out_l = out_l and (x * fx + cx * z < 0.0)
        out_b = out_b and (y * fy - (h - 1 - cy) * z > 0.0)
        out_t = out_t and (y * fy + cy * z < 0.0)
    if out_r or out_l or out_b or out_t:
        return
    # flat shading with the normal turned towards the camera
    e1x, e1y, e1z = p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]
    e2x, e2y, e2z = p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]
    nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
    nn = np.sqrt(nx * nx + ny * ny + nz * nz)
    if nn < 1e-15:
        return
    nx, ny, nz = nx / nn, ny / nn, nz / nn
    if nx * (p0[0] - center[0]) + ny * (p0[1] - center[1]) + nz * (p0[2] - center[2]) > 0:
        nx, ny, nz = -nx, -ny, -nz
    lam = max(0.0, nx * sun[0] + ny * sun[1] + nz * sun[2])
    shade = 0.35 + 0.2 * (0.5 + 0.5 * nz) + 0.65 * lam
    r, g, b = albedo[0] * shade, albedo[1] * shade, albedo[2] * shade
    # clip against the near plane (Sutherland-Hodgman, one plane): at most 4 vertices
    n = 0
    for j in range(3):
        a = j
        bb = (j + 1) % 3
        za, zb = q[a, 2], q[bb, 2]
        if za >= NEAR_M:
            zs[n] = za
            us[n] = fx * q[a, 0] / za + cx
            vs[n] = fy * q[a, 1] / za + cy
            n += 1
        if (za >= NEAR_M) != (zb >= NEAR_M):
            s = (NEAR_M - za) / (zb - za)
            x = q[a, 0] + s * (q[bb, 0] - q[a, 0])
            y = q[a, 1] + s * (q[bb, 1] - q[a, 1])
            zs[n] = NEAR_M
            us[n] = fx * x / NEAR_M + cx
            vs[n] = fy * y / NEAR_M + cy
            n += 1
    if n >= 3:
        _raster(us, vs, zs, n, r, g, b, inst, sem, w, h, rgb, invz, imask, smask)


@njit(cache=True, parallel=True)
def _render_kernel(faces: npt.NDArray[np.int64], face_start: npt.NDArray[np.int64], v0: FloatArray, e1: FloatArray,
                   e2: FloatArray, colors: npt.NDArray[np.float32],
                   insts: npt.NDArray[np.int32], sems: npt.NDArray[np.int16], a_ids: npt.NDArray[np.int32],
                   a_half: FloatArray, a_start: npt.NDArray[np.int64], a_v0: FloatArray, a_e1: FloatArray,
                   a_e2: FloatArray, a_colors: npt.NDArray[np.float32], a_sems: npt.NDArray[np.int16],
                   traj: FloatArray, traj_dt: float, cam_times: FloatArray, cam_r: FloatArray, cam_t: FloatArray,
                   centers: FloatArray, ks: FloatArray, sizes: npt.NDArray[np.int64], sun: FloatArray,
                   rgb: npt.NDArray[np.float32], invz: npt.NDArray[np.float32], imask: npt.NDArray[np.int32],
                   smask: npt.NDArray[np.uint8]) -> None:  # pragma: no cover
    for c in prange(cam_r.shape[0]):
        w, h = sizes[c, 0], sizes[c, 1]
        us = np.empty(8)
        vs = np.empty(8)
        zs = np.empty(8)
        poly = np.empty((8, 3))
        p0 = np.empty(3)
        p1 = np.empty(3)
        p2 = np.empty(3)
        for fi in range(face_start[c], face_start[c + 1]):
            f = faces[fi]
            for i in range(3):
                p0[i] = v0[f, i]
                p1[i] = v0[f, i] + e1[f, i]
                p2[i] = v0[f, i] + e2[f, i]
            _draw(p0, p1, p2, cam_r[c], cam_t[c], centers[c], ks[c], w, h, colors[f], insts[f], sems[f], sun,
                  rgb[c], invz[c], imask[c], smask[c], us, vs, zs, poly)
        for a in range(a_ids.shape[0]):
            ax, ay, az, yaw = agent_pose(traj, a, cam_times[c], traj_dt)
            dx, dy = ax - centers[c, 0], ay - centers[c, 1]
            if dx * dx + dy * dy > FAR_M * FAR_M:
                continue
            co, si = np.cos(yaw), np.sin(yaw)
            for f in range(a_start[a], a_start[a + 1]):
                for j in range(3):
                    lx = a_v0[f, 0] + (a_e1[f, 0] if j == 1 else (a_e2[f, 0] if j == 2 else 0.0))
                    ly = a_v0[f, 1] + (a_e1[f, 1] if j == 1 else (a_e2[f, 1] if j == 2 else 0.0))
                    lz = a_v0[f, 2] + (a_e1[f, 2] if j == 1 else (a_e2[f, 2] if j == 2 else 0.0))
                    p = p0 if j == 0 else (p1 if j == 1 else p2)
                    p[0] = co * lx - si * ly + ax
                    p[1] = si * lx + co * ly + ay
                    p[2] = lz + az
                _draw(p0, p1, p2, cam_r[c], cam_t[c], centers[c], ks[c], w, h, a_colors[f], a_ids[a], a_sems[f],
                      sun, rgb[c], invz[c], imask[c], smask[c], us, vs, zs, poly)


def _visible_faces(world: World, centers: FloatArray, cam_r: FloatArray, setups: list[CameraSetup]
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Static faces in grid columns that may be seen by each camera (within ``FAR_M`` and the horizontal field
    of view, with a margin), as one index array with per-camera offsets."""
    nx, ny = world.grid_shape
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    cell_xy = np.column_stack([world.grid_origin[0] + (ix.ravel() + 0.5) * 2.0,
                               world.grid_origin[1] + (iy.ravel() + 0.5) * 2.0])
    counts = np.diff(world.cell_start)
    occupied = np.nonzero(counts)[0]
    cell_xy = cell_xy[occupied]
    out, starts = [], [0]
    mark = np.zeros(len(world.v0), dtype=bool)
    for c, s in enumerate(setups):
        rel = cell_xy - centers[c, :2]
        dist = np.hypot(rel[:, 0], rel[:, 1])
        axis = cam_r[c][2, :2]  # optical axis (z row of world->cam) in map x-y
        norm = np.hypot(axis[0], axis[1])
        fx, _, cx, _ = s.render_k
        half = np.arctan(max(cx, s.render_size[0] - cx) / fx)
        keep = dist < FAR_M + 3.0
        if norm > 0.2 and half < np.deg2rad(80.0):
            cos_a = (rel @ (axis / norm)) / np.maximum(dist, 1e-9)
            ang = np.arccos(np.clip(cos_a, -1.0, 1.0))
            margin = np.arcsin(np.clip(6.0 / np.maximum(dist, 1e-9), 0.0, 1.0))
            keep &= (ang < half + margin) | (dist < 8.0)
        cells = occupied[keep]
        lo, hi = world.cell_start[cells], world.cell_start[cells + 1]
        idx = np.repeat(hi - np.cumsum(hi - lo), hi - lo) + np.arange(int((hi - lo).sum()))
        mark[:] = False
        mark[world.cell_items[idx]] = True
        faces = np.nonzero(mark)[0]
        out.append(faces)
        starts.append(starts[-1] + len(faces))
    return np.concatenate(out).astype(np.int64), np.asarray(starts, dtype=np.int64)


def render_cameras(world: World, ego: EgoTrack, setups: list[CameraSetup], times: list[float], sun: FloatArray,
                   rngs: list[np.random.Generator]) -> list[tuple[npt.NDArray[np.uint8], CameraTruth]]:
    """Render each camera of ``setups`` at its scene time in ``times`` (seconds): rgb8 images (H, W, 3) and
    their ground truth. ``rngs`` (one per camera) draw the sensor noise."""
    nc = len(setups)
    if nc == 0:
        return []
    rot, trans = ego.poses_at(np.asarray(times))
    cam_r = np.empty((nc, 3, 3))
    cam_t = np.empty((nc, 3))
    centers = np.empty((nc, 3))
    for c, s in enumerate(setups):
        c2w = SE3._trusted(rot[c], trans[c]) @ s.cam2ego
        w2c = c2w.inverse()
        cam_r[c], cam_t[c], centers[c] = w2c.rotation, w2c.translation, c2w.translation
    ks = np.array([s.render_k for s in setups], dtype=np.float64)
    sizes = np.array([s.render_size for s in setups], dtype=np.int64)
    wmax, hmax = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    rgb = np.zeros((nc, hmax, wmax, 3), np.float32)
    invz = np.zeros((nc, hmax, wmax), np.float32)
    imask = np.full((nc, hmax, wmax), -1, np.int32)
    smask = np.zeros((nc, hmax, wmax), np.uint8)
    faces, face_start = _visible_faces(world, centers, cam_r, setups)
    _render_kernel(faces, face_start, world.v0, world.e1, world.e2, world.static_color, world.static_instance,
                   world.static_semantic, world.agent_ids, world.agent_half, world.agent_face_start,
                   world.agent_v0, world.agent_e1, world.agent_e2, world.agent_color, world.agent_semantic,
                   world.agent_traj, world.traj_dt,
                   np.asarray(times, dtype=np.float64), cam_r, cam_t, centers, ks, sizes,
                   np.asarray(sun, dtype=np.float64), rgb, invz, imask, smask)
    batch = _batch(setups, hmax, wmax)
    img = np.empty((nc, hmax, wmax, 3), np.float32)
    depth = np.empty((nc, hmax, wmax), np.float32)
    _compose_all(rgb, invz, batch.sky, img, depth)
    ho, wo = batch.vignette.shape[1:]
    warped = np.zeros((nc, ho, wo, 3), np.float32)
    for c, s in enumerate(setups):
        rw, rh = s.render_size
        h, w = s.map_x.shape
        src = img[c, :rh, :rw]
        if (h, w) == (ho, wo):
            cv2.remap(src, s.map_x, s.map_y, cv2.INTER_LINEAR, dst=warped[c], borderMode=cv2.BORDER_REPLICATE)
        else:
            warped[c, :h, :w] = cv2.remap(src, s.map_x, s.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    offsets = np.array([int(r.integers(0, len(_NOISE_BANK))) for r in rngs], dtype=np.int64)
    pixels = np.empty((nc, ho, wo, 3), np.uint8)
    inst_out = np.empty((nc, ho, wo), np.int32)
    sem_out = np.empty((nc, ho, wo), np.uint8)
    depth_out = np.empty((nc, ho, wo), np.float32)
    _finish_all(warped, batch.sizes, batch.vignette, _NOISE_BANK, offsets, _GAMMA_LUT, imask, smask, depth,
                batch.iy, batch.ix, pixels, inst_out, sem_out, depth_out)
    out = []
    for c, s in enumerate(setups):
        h, w = s.map_x.shape
        out.append((pixels[c, :h, :w], CameraTruth(inst_out[c, :h, :w], sem_out[c, :h, :w], depth_out[c, :h, :w])))
    return out


@dataclass(frozen=True, eq=False)
class _Batch:
    """Per-camera tables of a list of setups, padded to common sizes for the batch kernels."""

    sky: npt.NDArray[np.float32]  # (C, Hr, Wr, 3)
    vignette: npt.NDArray[np.float32]  # (C, Ho, Wo)
    iy: npt.NDArray[np.int64]  # (C, Ho, Wo)
    ix: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]  # (C, 2) output width, height


_BATCHES: dict[tuple[int, ...], tuple[list[CameraSetup], _Batch]] = {}


def _batch(setups: list[CameraSetup], hmax: int, wmax: int) -> _Batch:
    key = (*(id(s) for s in setups), hmax, wmax)
    if key not in _BATCHES:
        nc = len(setups)
        ho = max(s.map_x.shape[0] for s in setups)
        wo = max(s.map_x.shape[1] for s in setups)
        sky = np.zeros((nc, hmax, wmax, 3), np.float32)
        vig = np.zeros((nc, ho, wo), np.float32)
        iy = np.zeros((nc, ho, wo), np.int64)
        ix = np.zeros((nc, ho, wo), np.int64)
        for c, s in enumerate(setups):
            rw, rh = s.render_size
            h, w = s.map_x.shape
            sky[c, :rh, :rw] = s.sky
            vig[c, :h, :w] = s.vignette
            iy[c, :h, :w], ix[c, :h, :w] = s.nearest
        sizes = np.array([s.map_x.shape[::-1] for s in setups], dtype=np.int64)
        _BATCHES[key] = (list(setups), _Batch(sky, vig, iy, ix, sizes))  # the list keeps the ids alive
    return _BATCHES[key][1]


@njit(cache=True, parallel=True, fastmath=True)
def _compose_all(rgb: npt.NDArray[np.float32], invz: npt.NDArray[np.float32], sky: npt.NDArray[np.float32],
                 img: npt.NDArray[np.float32], depth: npt.NDArray[np.float32]) -> None:  # pragma: no cover
    """Per camera: haze by distance on rendered pixels, the sky elsewhere; depth in metres (0 for sky)."""
    for c in prange(img.shape[0]):
        for y in range(img.shape[1]):
            for x in range(img.shape[2]):
                iz = invz[c, y, x]
                if iz > 0:
                    d = 1.0 / iz
                    depth[c, y, x] = d
                    f = _FOG_LUT[min(int(d * 4.0), _FOG_LUT.shape[0] - 1)]
                    for k in range(3):
                        img[c, y, x, k] = rgb[c, y, x, k] * f + _HAZE[k] * (1.0 - f)
                else:
                    depth[c, y, x] = 0.0
                    for k in range(3):
                        img[c, y, x, k] = sky[c, y, x, k]


@njit(cache=True, parallel=True, fastmath=True)
def _finish_all(warped: npt.NDArray[np.float32], sizes: npt.NDArray[np.int64], vignette: npt.NDArray[np.float32],
                noise: npt.NDArray[np.float32], offsets: npt.NDArray[np.int64], lut: npt.NDArray[np.uint8],
                imask: npt.NDArray[np.int32], smask: npt.NDArray[np.uint8], depth: npt.NDArray[np.float32],
                iy: npt.NDArray[np.int64], ix: npt.NDArray[np.int64], pixels: npt.NDArray[np.uint8],
                inst_out: npt.NDArray[np.int32], sem_out: npt.NDArray[np.uint8],
                depth_out: npt.NDArray[np.float32]) -> None:  # pragma: no cover
    """Per camera: nearest-neighbour remap of the ground-truth layers; auto-exposure (mean luminance to 0.42 on
    every 4th pixel), vignetting, shot and read noise (a fixed bank of normal samples read from the camera's
    offset; its length is a power of two), gamma through ``lut``, 8-bit quantisation."""
    mask = noise.shape[0] - 1
    for c in prange(warped.shape[0]):
        w, h = sizes[c, 0], sizes[c, 1]
        for y in range(h):
            for x in range(w):
                r, q = iy[c, y, x], ix[c, y, x]
                inst_out[c, y, x] = imask[c, r, q]
                sem_out[c, y, x] = smask[c, r, q]
                depth_out[c, y, x] = depth[c, r, q]
        lum, count = 0.0, 0
        for y in range(0, h, 4):
            for x in range(0, w, 4):
                lum += 0.299 * warped[c, y, x, 0] + 0.587 * warped[c, y, x, 1] + 0.114 * warped[c, y, x, 2]
                count += 1
        gain = min(2.0, max(0.6, 0.42 / max(lum / max(count, 1), 1e-3)))
        for y in range(h):
            for x in range(w):
                g = gain * vignette[c, y, x]
                for ch in range(3):
                    v = warped[c, y, x, ch] * g
                    k = (offsets[c] + (y * w + x) * 3 + ch) & mask
                    v += noise[k] * np.sqrt(0.0004 * max(v, 0.0) + 0.00002)
                    i = int(v * 4095.0)
                    pixels[c, y, x, ch] = lut[min(4095, max(0, i))]


_GAMMA_LUT = np.clip(np.linspace(0.0, 1.0, 4096) ** (1 / 1.15) * 255.0 + 0.5, 0, 255).astype(np.uint8)
_NOISE_BANK = np.random.default_rng(20240601).standard_normal(1 << 21).astype(np.float32)


def camera_image(pixels: npt.NDArray[np.uint8], *, stamp_ns: int, setup: CameraSetup) -> CameraImage:
    """The CameraImage (rgb8) of rendered ``pixels``."""
    return CameraImage(stamp_ns, setup.frame_id, setup.sensor_id, pixels, "rgb8")
