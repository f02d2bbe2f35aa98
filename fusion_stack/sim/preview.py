"""A preview picture of a simulation (matplotlib, Agg): a camera image with the LiDAR points projected into it
(coloured by depth, moved to the exposure instant with the true motion) and the ground-truth boxes drawn with
the camera model (distortion included); beside it a bird's-eye view of the LiDAR sweep, the radar detections
with their ego-motion-compensated radial velocity as arrows, the boxes (heading marked) and the ego vehicle."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.sim.lidar import LidarTruth
from fusion_stack.sim.points import cloud_to_map
from fusion_stack.sim.radar import sensor_state
from fusion_stack.sim.run import SimulatedSample
from fusion_stack.sim.scene import Scene
from fusion_stack.sim.truth import boxes_at
from fusion_stack.types import CameraImage, PointCloud, RadarScan

_CLASS_COLORS = {"car": "#1f77b4", "truck": "#ff7f0e", "bus": "#d62728", "pedestrian": "#2ca02c",
                 "bicycle": "#9467bd", "motorcycle": "#8c564b", "barrier": "#7f7f7f", "traffic_cone": "#e377c2"}
_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


def _scene_time(scene: Scene, stamp_ns: int) -> float:
    return (stamp_ns - scene.start_ns) * 1e-9


def save_preview(path: str | os.PathLike[str], samples: Mapping[str, SimulatedSample], rig: Rig, scene: Scene, *,
                 camera_id: str | None = None, bev_range_m: float = 60.0) -> None:
    """Write the preview PNG of ``samples`` (sensor id -> one sample of each sensor, e.g. the last ones before
    some instant) to ``path``. ``camera_id`` defaults to the first camera of the rig."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    lidar_ids = [s.sensor_id for s in rig.sensors_of_kind("lidar") if s.sensor_id in samples]
    cams = [s.sensor_id for s in rig.sensors_of_kind("camera") if s.sensor_id in samples]
    cam_id = camera_id or (cams[0] if cams else None)
    fig: Figure = plt.figure(figsize=(17, 7.2), dpi=110)
    ax_img = fig.add_axes((0.01, 0.04, 0.6, 0.9))
    ax_bev = fig.add_axes((0.64, 0.06, 0.34, 0.86))
    lidar = samples[lidar_ids[0]] if lidar_ids else None
    cloud = lidar.sample if lidar is not None else None
    ltruth = lidar.truth if lidar is not None else None
    lidar2ego = rig.sensor2base(lidar_ids[0]) if lidar_ids else SE3()
    # --- camera with LiDAR and boxes
    if cam_id is not None and isinstance(samples[cam_id].sample, CameraImage):
        img = samples[cam_id].sample
        assert isinstance(img, CameraImage)
        cam = rig.sensor(cam_id).camera
        assert cam is not None
        t_cam = _scene_time(scene, img.stamp_ns)
        rot, trans = scene.ego.poses_at([t_cam])
        map2cam = (SE3._trusted(rot[0], trans[0]) @ rig.sensor2base(cam_id)).inverse()
        ax_img.imshow(img.data)
        if isinstance(cloud, PointCloud):
            pts = cloud_to_map(scene, cloud, lidar2ego, ltruth if isinstance(ltruth, LidarTruth) else None,
                               at_time=t_cam)
            proj = cam.project(map2cam.apply(pts))
            v = proj.valid
            ax_img.scatter(proj.uv[v, 0], proj.uv[v, 1], c=np.clip(proj.depth[v], 0, 60), cmap="turbo", s=5,
                           vmin=0, vmax=60, linewidths=0, alpha=0.9)
        boxes, _ = boxes_at(scene, t_cam, max_range_m=80.0)
        corners = boxes.corners()
        names = boxes.label_names()
        for k in range(len(boxes)):
            seg = np.concatenate([np.linspace(corners[k, a], corners[k, b], 12) for a, b in _EDGES])
            pe = cam.project(map2cam.apply(seg))
            if pe.valid.mean() < 0.5 or np.min(pe.depth) < 0.5:
                continue
            uv = np.where(pe.valid[:, None], pe.uv, np.nan).reshape(len(_EDGES), 12, 2)
            for e in uv:
                ax_img.plot(e[:, 0], e[:, 1], color=_CLASS_COLORS[names[k]], lw=1.1)
        ax_img.set_xlim(0, cam.width)
        ax_img.set_ylim(cam.height, 0)
        ax_img.set_title(f"{cam_id}: LiDAR points (colour = depth, 0-60 m) and ground-truth boxes", fontsize=11)
    ax_img.axis("off")
    # --- bird's-eye view in the ego frame at the LiDAR stamp
    t_ref = lidar.time_s if lidar is not None else 0.0
    rot, trans = scene.ego.poses_at([t_ref])
    map2ego = SE3._trusted(rot[0], trans[0]).inverse()
    ax_bev.set_facecolor("#101418")
    if isinstance(cloud, PointCloud):
        pts = map2ego.apply(cloud_to_map(scene, cloud, lidar2ego))
        z = pts[:, 2]
        ax_bev.scatter(pts[:, 0], pts[:, 1], c=np.clip(z, -1.0, 4.0), cmap="plasma", vmin=-1.5, vmax=4.0, s=0.5,
                       linewidths=0)
    for s in rig.sensors_of_kind("radar"):
        rs = samples.get(s.sensor_id)
        if rs is None or not isinstance(rs.sample, RadarScan):
            continue
        scan = rs.sample
        mount = rig.sensor2base(s.sensor_id)
        r_rot, r_pos, r_vel = sensor_state(scene.ego, mount, rs.time_s)
        p_map = scan.positions.astype(np.float64) @ r_rot.T + r_pos
        los = (p_map - r_pos) / np.maximum(np.linalg.norm(p_map - r_pos, axis=1, keepdims=True), 1e-6)
        vr_comp = scan.radial_velocity + los @ r_vel
        p = map2ego.apply(p_map)
        d = map2ego.apply_rotation(los) * vr_comp[:, None]
        ax_bev.scatter(p[:, 0], p[:, 1], s=9, c="#ff3b3b", marker="o", linewidths=0, zorder=4)
        moving = np.abs(vr_comp) > 0.4
        ax_bev.quiver(p[moving, 0], p[moving, 1], d[moving, 0], d[moving, 1], color="#ffb000", angles="xy",
                      scale_units="xy", scale=1.0, width=0.003, zorder=5)
    boxes, _ = boxes_at(scene, t_ref, max_range_m=bev_range_m * 1.5)
    eb = boxes.transformed(map2ego, "base_link")
    poly = eb.bev_polygons()
    for k, name in enumerate(eb.label_names()):
        q = np.vstack([poly[k], poly[k][:1]])
        ax_bev.plot(q[:, 0], q[:, 1], color=_CLASS_COLORS[name], lw=1.2, zorder=6)
        c = eb.centers[k]
        h = np.array([np.cos(eb.yaws[k]), np.sin(eb.yaws[k])]) * eb.sizes[k, 0] / 2
        ax_bev.plot([c[0], c[0] + h[0]], [c[1], c[1] + h[1]], color=_CLASS_COLORS[name], lw=1.2, zorder=6)
    ego = np.array([[-1.0, -0.95], [3.7, -0.95], [3.7, 0.95], [-1.0, 0.95], [-1.0, -0.95]])
    ax_bev.fill(ego[:, 0], ego[:, 1], color="white", zorder=7)
    ax_bev.set_xlim(-bev_range_m, bev_range_m)
    ax_bev.set_ylim(-bev_range_m, bev_range_m)
    ax_bev.set_aspect("equal")
    ax_bev.set_xlabel("x forward (m)")
    ax_bev.set_ylabel("y left (m)")
    ax_bev.set_title("BEV: LiDAR (colour = height), radar (red; arrows = radial velocity, ego-compensated), "
                     "boxes", fontsize=9)
    handles = [plt.Line2D([], [], color=_CLASS_COLORS[c], lw=2, label=c) for c in BOX_CLASSES]
    ax_bev.legend(handles=handles, loc="lower left", fontsize=7, ncol=2, framealpha=0.6)
    fig.suptitle(f"fusion_stack simulator - seed {scene.seed}, t = {t_ref:.2f} s", fontsize=12)
    fig.savefig(os.fspath(path))
    plt.close(fig)


def preview_at(scene: Scene, rig: Rig, samples: list[SimulatedSample], t: float) -> dict[str, SimulatedSample]:
    """The last sample of each sensor at or before scene time ``t`` (input for :func:`save_preview`)."""
    out: dict[str, SimulatedSample] = {}
    for s in samples:
        if s.time_s <= t:
            out[s.sample.sensor_id] = s
    return out
