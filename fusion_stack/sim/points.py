"""Moving simulated LiDAR points between frames and instants with the scene's true motion: each point from its
firing time into ``map``, and points on moving objects carried along with their object to another instant (what
a perfect tracker would do). Used by the preview and by the cross-sensor consistency checks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.lidar import LidarTruth
from fusion_stack.sim.scene import Scene
from fusion_stack.types import PointCloud

FloatArray = npt.NDArray[np.float64]


def point_times(scene: Scene, cloud: PointCloud) -> FloatArray:
    """Scene time (s) at which each point of ``cloud`` was measured."""
    offsets = np.asarray(cloud.fields.get("time_offset_ns", np.zeros(len(cloud), np.int64)), dtype=np.int64)
    return np.asarray(((cloud.stamp_ns - scene.start_ns) + offsets) * 1e-9, dtype=np.float64)


def cloud_to_map(scene: Scene, cloud: PointCloud, sensor2ego: SE3, truth: LidarTruth | None = None, *,
                 at_time: float | None = None) -> FloatArray:
    """Points (N, 3) of ``cloud`` in ``map``, each placed with the ego pose at its own firing time. With
    ``truth`` and ``at_time``, points on annotated objects are moved with their object to where it is at
    ``at_time`` seconds (static structure stays)."""
    t = point_times(scene, cloud)
    rot, trans = scene.ego.poses_at(t)
    p_ego = sensor2ego.apply(cloud.positions.astype(np.float64))
    pts = np.einsum("nij,nj->ni", rot, p_ego) + trans
    if truth is None or at_time is None:
        return pts
    by_id = {a.instance_id: a for a in scene.agents}
    for iid in np.unique(truth.instance_ids[truth.instance_ids >= 0]):
        agent = by_id[int(iid)]
        if agent.static:
            continue
        m = truth.instance_ids == iid
        s0 = agent.track.state_at(t[m])
        s1 = agent.track.state_at(at_time)
        c0, sn0 = np.cos(s0[:, 3]), np.sin(s0[:, 3])
        rel = pts[m] - s0[:, :3]
        local = np.column_stack([c0 * rel[:, 0] + sn0 * rel[:, 1], -sn0 * rel[:, 0] + c0 * rel[:, 1], rel[:, 2]])
        c1, sn1 = np.cos(s1[3]), np.sin(s1[3])
        pts[m] = np.column_stack([c1 * local[:, 0] - sn1 * local[:, 1], sn1 * local[:, 0] + c1 * local[:, 1],
                                  local[:, 2]]) + s1[:3]
    return pts


def object_frame_points(scene: Scene, cloud: PointCloud, sensor2ego: SE3, truth: LidarTruth
                        ) -> dict[int, FloatArray]:
    """Per annotated instance, its points (M, 3) in the object frame (box centre, x along the heading), each
    with the object's pose at the point's firing time."""
    t = point_times(scene, cloud)
    pts = cloud_to_map(scene, cloud, sensor2ego)
    by_id = {a.instance_id: a for a in scene.agents}
    out: dict[int, FloatArray] = {}
    for iid in np.unique(truth.instance_ids[truth.instance_ids >= 0]):
        m = truth.instance_ids == iid
        s = by_id[int(iid)].track.state_at(t[m])
        c, sn = np.cos(s[:, 3]), np.sin(s[:, 3])
        rel = pts[m] - s[:, :3]
        out[int(iid)] = np.column_stack([c * rel[:, 0] + sn * rel[:, 1], -sn * rel[:, 0] + c * rel[:, 1], rel[:, 2]])
    return out
