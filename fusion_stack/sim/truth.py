"""Ground-truth boxes of the annotated objects at a stamp, in a sensor frame, with the per-box facts a dataset
keeps beside them: visibility (from the LiDAR's rays), the number of LiDAR points and of radar detections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.sim.raycast import ray_box_slab
from fusion_stack.sim.scene import Scene
from fusion_stack.types import Boxes3D

FloatArray = npt.NDArray[np.float64]
GROUND_TRUTH_ID = "ground_truth"
"""``sensor_id`` of the ground-truth boxes (as the dataset readers use)."""


@dataclass(frozen=True, eq=False)
class BoxTruth:
    """Per box of a ground-truth Boxes3D (same order): ``instance_ids`` (N,) int64 (= ``track_ids``),
    ``visibility`` (N,) in [0, 1] (share of the LiDAR rays through the box that no other surface blocked before
    they reached it; 0 when no ray passes through it), ``num_lidar_pts`` and ``num_radar_pts`` (N,) int64."""

    instance_ids: npt.NDArray[np.int64]
    visibility: npt.NDArray[np.float64]
    num_lidar_pts: npt.NDArray[np.int64]
    num_radar_pts: npt.NDArray[np.int64]


def boxes_at(scene: Scene, t: float, *, max_range_m: float = 100.0) -> tuple[Boxes3D, FloatArray]:
    """Boxes of the annotated objects within ``max_range_m`` (x-y) of the ego at scene time ``t`` seconds, in
    ``map`` (stamp ``scene.stamp_ns(t)``), with their velocities (m/s, map); and their yaw rates (N,) rad/s."""
    _rot, trans = scene.ego.poses_at([t])
    states = np.array([a.track.state_at(t) for a in scene.agents]).reshape(-1, 4)
    vel = np.array([a.track.velocity_at(t) for a in scene.agents]).reshape(-1, 4)
    keep = np.hypot(states[:, 0] - trans[0, 0], states[:, 1] - trans[0, 1]) <= max_range_m
    idx = np.nonzero(keep)[0]
    agents = [scene.agents[i] for i in idx]
    labels = np.array([BOX_CLASSES.index(a.class_name) for a in agents], dtype=np.int64)
    sizes = np.array([a.size for a in agents]).reshape(-1, 3)
    boxes = Boxes3D(scene.stamp_ns(t), "map", GROUND_TRUTH_ID, states[idx, :3], sizes,
                    np.arctan2(np.sin(states[idx, 3]), np.cos(states[idx, 3])), labels, BOX_CLASSES,
                    velocities=vel[idx, :3], track_ids=np.array([a.instance_id for a in agents], dtype=np.int64))
    return boxes, vel[idx, 3]


def boxes_in_sensor(scene: Scene, t: float, sensor2ego: SE3, frame_id: str, *, max_range_m: float = 100.0
                    ) -> Boxes3D:
    """:func:`boxes_at` expressed in a sensor frame (``sensor2ego`` its mount) at time ``t``."""
    boxes, _ = boxes_at(scene, t, max_range_m=max_range_m)
    rot, trans = scene.ego.poses_at([t])
    sensor2map = SE3._trusted(rot[0], trans[0]) @ sensor2ego
    return boxes.transformed(sensor2map.inverse(), frame_id)


@njit(cache=True, parallel=True)
def _visibility_kernel(origins: FloatArray, dirs: FloatArray, ranges: FloatArray, centers: FloatArray,
                       half: FloatArray, yaws: FloatArray, through: npt.NDArray[np.int64],
                       blocked: npt.NDArray[np.int64]) -> None:  # pragma: no cover
    nc, nb = ranges.shape
    for k in prange(centers.shape[0]):
        c, s = np.cos(yaws[k]), np.sin(yaws[k])
        rad = np.sqrt(half[k, 0] ** 2 + half[k, 1] ** 2)
        n_t, n_b = 0, 0
        for i in range(nc):
            rx, ry, rz = origins[i, 0] - centers[k, 0], origins[i, 1] - centers[k, 1], origins[i, 2] - centers[k, 2]
            lox, loy = c * rx + s * ry, -s * rx + c * ry
            for j in range(nb):
                dx, dy, dz = dirs[i, j, 0], dirs[i, j, 1], dirs[i, j, 2]
                # cheap reject: the ray's closest x-y approach to the box centre
                d2 = dx * dx + dy * dy
                tp = max(0.0, -(rx * dx + ry * dy) / d2) if d2 > 1e-12 else 0.0
                qx, qy = rx + dx * tp, ry + dy * tp
                if qx * qx + qy * qy > rad * rad:
                    continue
                ldx, ldy = c * dx + s * dy, -s * dx + c * dy
                ok, tn, _ = ray_box_slab(lox, loy, rz, ldx, ldy, dz, half[k, 0], half[k, 1], half[k, 2], 100.0)
                if not ok:
                    continue
                n_t += 1
                if ranges[i, j] < tn - 0.1:
                    n_b += 1
        through[k] = n_t
        blocked[k] = n_b


def lidar_visibility(boxes_map: Boxes3D, ray_origins: FloatArray, ray_dirs: FloatArray, ray_range: FloatArray
                     ) -> FloatArray:
    """Visibility (N,) of ``boxes_map`` (in ``map``) for a sweep's rays (see :class:`BoxTruth`)."""
    n = len(boxes_map)
    through = np.zeros(n, np.int64)
    blocked = np.zeros(n, np.int64)
    if n:
        _visibility_kernel(np.ascontiguousarray(ray_origins), np.ascontiguousarray(ray_dirs),
                           np.ascontiguousarray(ray_range), boxes_map.centers.astype(np.float64),
                           boxes_map.sizes.astype(np.float64) / 2, boxes_map.yaws.astype(np.float64), through,
                           blocked)
    return np.where(through > 0, 1.0 - blocked / np.maximum(through, 1), 0.0)
