"""Cross-sensor consistency: LiDAR returns lie on their object's surface and inside its box, land on that object
in the cameras' instance masks, and radar radial velocities equal the true relative motion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.camera import make_setup, render_cameras
from fusion_stack.sim.lidar import LidarModel, LidarSweep, simulate_sweep
from fusion_stack.sim.points import cloud_to_map, object_frame_points
from fusion_stack.sim.radar import KIND_TARGET, RadarModel, simulate_scan
from fusion_stack.sim.raycast import World, build_world, cast
from fusion_stack.sim.scene import Scene, make_scene

F = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def sweep(scene: Scene, world: World, rig: Rig) -> LidarSweep:
    return simulate_sweep(world, scene.ego, rig.sensor2base("LIDAR_TOP"), 1.5, stamp_ns=scene.stamp_ns(1.5),
                          frame_id="lidar_top", sensor_id="LIDAR_TOP", model=LidarModel(),
                          rng=np.random.default_rng(1))


def _point_triangle_distance(p: F, tri: F) -> F:
    """Distance (N,) from points (N, 3) to the nearest of triangles (M, 3, 3) (Ericson's closest point)."""
    a, b, c = (tri[None, :, i, :] for i in range(3))
    q = p[:, None, :]
    ab, ac, ap = b - a, c - a, q - a
    d1, d2 = np.sum(ab * ap, -1), np.sum(ac * ap, -1)
    bp, cp = q - b, q - c
    d3, d4 = np.sum(ab * bp, -1), np.sum(ac * bp, -1)
    d5, d6 = np.sum(ab * cp, -1), np.sum(ac * cp, -1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = np.where(np.abs(va + vb + vc) < 1e-18, 1e-18, va + vb + vc)
    v, w = vb / denom, vc / denom
    closest = a + ab * v[..., None] + ac * w[..., None]  # inside the face
    # on an edge or a vertex: the nearest point of the three segments
    for s0, s1 in ((a, b), (b, c), (c, a)):
        e = s1 - s0
        t = np.clip(np.sum((q - s0) * e, -1) / np.maximum(np.sum(e * e, -1), 1e-18), 0.0, 1.0)
        on_edge = s0 + e * t[..., None]
        inside = (va >= 0) & (vb >= 0) & (vc >= 0)
        closest = np.where(inside[..., None], closest,
                           np.where((np.linalg.norm(q - on_edge, axis=-1) < np.linalg.norm(q - closest, axis=-1))
                                    [..., None], on_edge, closest))
    return np.linalg.norm(q - closest, axis=-1).min(axis=1)


def test_lidar_returns_lie_on_their_object_and_in_its_box(scene: Scene, sweep: LidarSweep, rig: Rig) -> None:
    local = object_frame_points(scene, sweep.cloud, rig.sensor2base("LIDAR_TOP"), sweep.truth)
    agents = {a.instance_id: a for a in scene.agents}
    assert len(local) >= 10
    noise = LidarModel().range_noise_m
    n_checked = 0
    for iid, pts in local.items():
        a = agents[iid]
        half = a.size / 2
        assert np.all(np.abs(pts) <= half + 5 * noise), (a.class_name, np.abs(pts).max(axis=0), half)
        dist = _point_triangle_distance(pts, a.mesh.triangles())
        assert np.all(dist < 5 * noise + 1e-3), (a.class_name, dist.max())
        n_checked += len(pts)
    assert n_checked > 500
    # and structure points are on no annotated object
    assert np.all(sweep.truth.semantic[sweep.truth.instance_ids >= 0] >= 8)


def test_lidar_returns_land_on_their_object_in_every_camera(scene: Scene, world: World, sweep: LidarSweep,
                                                            rig: Rig) -> None:
    cams = rig.sensors_of_kind("camera")
    setups = [make_setup(c.sensor_id, c.frame_id, c.camera, rig.sensor2base(c.sensor_id)) for c in cams
              if c.camera is not None]
    t_cam = [1.52 + 0.004 * i for i in range(len(setups))]
    rendered = render_cameras(world, scene.ego, setups, t_cam, scene.sun,
                              [np.random.default_rng(i) for i in range(len(setups))])
    obj = sweep.truth.instance_ids >= 0
    checked, agree = 0, 0
    for setup, (_, truth), t in zip(setups, rendered, t_cam):
        pts = cloud_to_map(scene, sweep.cloud, rig.sensor2base("LIDAR_TOP"), sweep.truth, at_time=t)[obj]
        ids = sweep.truth.instance_ids[obj]
        rot, trans = scene.ego.poses_at([t])
        cam2map = SE3(rot[0], trans[0]) @ setup.cam2ego
        proj = setup.model.project(cam2map.inverse().apply(pts))
        v = proj.valid
        if not np.any(v):
            continue
        # unoccluded: a ray from the camera centre reaches the point before anything else
        origin = cam2map.translation
        d = pts[v] - origin
        rng_ = np.linalg.norm(d, axis=1)
        hits = cast(world, np.broadcast_to(origin, d.shape), d / rng_[:, None], np.full(len(d), t),
                    max_range=200.0)
        free = hits.distance >= rng_ - 0.1
        uv = np.rint(proj.uv[v][free]).astype(int)
        uv[:, 0] = np.clip(uv[:, 0], 0, setup.model.width - 1)
        uv[:, 1] = np.clip(uv[:, 1], 0, setup.model.height - 1)
        mask = truth.instance_mask[uv[:, 1], uv[:, 0]]
        checked += len(mask)
        agree += int(np.sum(mask == ids[v][free]))
    assert checked > 300
    assert agree / checked >= 0.95, (agree, checked)


def test_radar_radial_velocity_is_the_true_relative_velocity(scene: Scene, world: World, rig: Rig) -> None:
    model = RadarModel()
    residuals, checked = [], 0
    for k, sensor in enumerate(rig.sensors_of_kind("radar")):
        mount = rig.sensor2base(sensor.sensor_id)
        for t in (1.0, 2.2):
            scan, truth = simulate_scan(world, scene.ego, mount, t, stamp_ns=scene.stamp_ns(t),
                                        frame_id=sensor.frame_id, sensor_id=sensor.sensor_id, model=model,
                                        rng=np.random.default_rng([k, int(t * 10)]))
            # the radar's own motion from its pose a millisecond either side (independent of the twist)
            h = 1e-3
            rot, trans = scene.ego.poses_at([t - h, t, t + h])
            p = [rot[i] @ mount.translation + trans[i] for i in range(3)]
            v_radar = (p[2] - p[0]) / (2 * h)
            r_rot = rot[1] @ mount.rotation
            agents = {a.instance_id: a for a in scene.agents}
            for i in np.nonzero(truth.kind == KIND_TARGET)[0]:
                a = agents[int(truth.instance_ids[i])]
                x_map = r_rot @ truth.true_positions[i] + p[1]
                s0, s1 = a.track.state_at(t - h), a.track.state_at(t + h)
                # velocity of the object point: rotate the lever arm with the object
                c = a.track.state_at(t)
                lever = x_map - c[:3]
                yaw_rate = (s1[3] - s0[3]) / (2 * h)
                v_pt = (s1[:3] - s0[:3]) / (2 * h) + yaw_rate * np.array([-lever[1], lever[0], 0.0])
                los = (x_map - p[1]) / np.linalg.norm(x_map - p[1])
                vr_true = float((v_pt - v_radar) @ los)
                assert abs(truth.true_radial_velocity[i] - vr_true) < 0.02
                residuals.append(float(scan.radial_velocity[i]) - vr_true)
                checked += 1
    res = np.asarray(residuals)
    assert checked >= 20
    assert np.all(np.abs(res) < 5 * model.velocity_noise_mps)
    assert abs(res.std() - model.velocity_noise_mps) < 0.5 * model.velocity_noise_mps


def test_returns_stay_in_their_boxes_on_a_curved_road(rig: Rig) -> None:
    curved = make_scene(seed=2, duration_s=2.0, curved=True)
    assert np.ptp(curved.road.heading) > 0.2
    w = build_world(curved)
    sw = simulate_sweep(w, curved.ego, rig.sensor2base("LIDAR_TOP"), 1.0, stamp_ns=curved.stamp_ns(1.0),
                        frame_id="lidar_top", sensor_id="LIDAR_TOP", model=LidarModel(), rng=np.random.default_rng(3))
    local = object_frame_points(curved, sw.cloud, rig.sensor2base("LIDAR_TOP"), sw.truth)
    agents = {a.instance_id: a for a in curved.agents}
    assert sum(len(p) for p in local.values()) > 300
    for iid, pts in local.items():
        assert np.all(np.abs(pts) <= agents[iid].size / 2 + 5 * LidarModel().range_noise_m)
