"""The simulation loop: every sensor of a rig fires on its own clock over a scene, and the samples come out in
stamp order, each with its ground truth.

Clocks (scene time t, seconds; stamps ``scene.stamp_ns(t)``):

* each LiDAR sweep k starts at ``k / rate`` (its stamp; points carry ``time_offset_ns`` from it);
* the ground-truth boxes (``ground_truth``) follow each sweep of the first LiDAR, in its frame, at the sweep
  stamp (in ``base_link`` at the LiDAR rate when the rig has no LiDAR);
* camera frame k of camera c is exposed when the first LiDAR's sweep passes the camera's optical axis
  (``k / rate + phase_c``, as nuScenes triggers its cameras);
* radar r scans at ``k / rate + 7 ms * r``;
* odometry (``ego_pose``: ``map`` -> ``base_link`` with the body-frame twist) and the same pose on ``/tf`` at
  ``odometry_hz``.

Only samples whose whole measurement lies inside ``[0, duration]`` are made.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.calibration_samples import StampedTransform, TransformSample
from fusion_stack.io.convert_common import RecordingSample
from fusion_stack.sim.camera import CameraSetup, CameraTruth, camera_image, make_setup, render_cameras
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.lidar import LidarModel, LidarSweep, LidarTruth, simulate_sweep
from fusion_stack.sim.radar import RadarModel, RadarTruth, simulate_scan
from fusion_stack.sim.raycast import World, build_world
from fusion_stack.sim.rig import SENSOR_RATES_HZ
from fusion_stack.sim.scene import Scene
from fusion_stack.sim.truth import GROUND_TRUTH_ID, BoxTruth, boxes_at, lidar_visibility
from fusion_stack.types import EgoPose

EGO_POSE_ID = "ego_pose"
"""``sensor_id`` of the odometry (EgoPose ``map`` -> ``base_link``)."""
TF_ID = "tf"
MAP_FRAME = "map"

Truth = LidarTruth | CameraTruth | RadarTruth | BoxTruth | None


@dataclass(frozen=True, eq=False)
class SimulatedSample:
    """A sample as a real sensor would give it, its ground truth (None for odometry and tf) and its scene time
    in seconds (the start of a LiDAR sweep)."""

    sample: RecordingSample
    truth: Truth
    time_s: float


@dataclass(frozen=True, order=True)
class _Event:
    stamp_ns: int
    order: int
    kind: str
    sensor_index: int
    frame_index: int
    time_s: float


def _camera_phase(rig: Rig, cam_id: str, lidar_id: str | None, lidar: LidarModel) -> float:
    """Seconds after the sweep start at which the sweep passes the camera's optical axis."""
    if lidar_id is None:
        return 0.0
    axis = rig.transform(rig.sensor(cam_id).frame_id, rig.sensor(lidar_id).frame_id).rotation[:, 2]
    az = np.degrees(np.arctan2(axis[1], axis[0]))
    turned = (lidar.start_azimuth_deg - az) % 360.0  # clockwise rotation from the start
    return float(turned / 360.0 / lidar.rate_hz)


def schedule(scene: Scene, rig: Rig, *, lidar: LidarModel, radar: RadarModel, camera_rate_hz: float,
             odometry_hz: float) -> list[_Event]:
    """Every measurement of the run, sorted by stamp (ties: odometry, LiDAR, ground truth, cameras, radars)."""
    dur = scene.duration_s
    events: list[_Event] = []
    lidars = rig.sensors_of_kind("lidar")
    main_lidar = lidars[0].sensor_id if lidars else None

    def add(t: float, order: int, kind: str, si: int, k: int) -> None:
        events.append(_Event(scene.stamp_ns(t), order, kind, si, k, t))

    for k in range(int(np.floor(dur * odometry_hz + 1e-9)) + 1):
        add(k / odometry_hz, 0, "odom", 0, k)
    n_sweeps = int(np.floor((dur - 1.0 / lidar.rate_hz) * lidar.rate_hz + 1e-9)) + 1
    for si, _ in enumerate(lidars):
        for k in range(n_sweeps):
            add(k / lidar.rate_hz, 1, "lidar", si, k)
    for k in range(n_sweeps):  # ground truth at the (first) LiDAR's rate, also without a LiDAR
        add(k / lidar.rate_hz, 2, "boxes", 0, k)
    for si, cam in enumerate(rig.sensors_of_kind("camera")):
        phase = _camera_phase(rig, cam.sensor_id, main_lidar, lidar)
        k = 0
        while k / camera_rate_hz + phase <= dur:
            add(k / camera_rate_hz + phase, 3, "camera", si, k)
            k += 1
    for si, _ in enumerate(rig.sensors_of_kind("radar")):
        k = 0
        while k / radar.rate_hz + 0.007 * si <= dur:
            add(k / radar.rate_hz + 0.007 * si, 4, "radar", si, k)
            k += 1
    heapq.heapify(events)
    return [heapq.heappop(events) for _ in range(len(events))]


_STREAMS = {"odom": 1, "lidar": 2, "boxes": 3, "camera": 4, "radar": 5}


def run_simulation(scene: Scene, rig: Rig, *, lidar: LidarModel | None = None, radar: RadarModel | None = None,
                   camera_rate_hz: float | None = None, odometry_hz: float = 50.0, world: World | None = None,
                   with_tf: bool = True) -> Iterator[SimulatedSample]:
    """The samples of every sensor of ``rig`` over ``scene`` in stamp order (see the module docstring).

    Sensors are the rig's ``lidar``, ``camera`` and ``radar`` sensors (others are ignored). ``world`` reuses a
    packed scene (:func:`fusion_stack.sim.raycast.build_world`).
    """
    lidar = lidar or LidarModel()
    radar = radar or RadarModel()
    cam_rate = camera_rate_hz or SENSOR_RATES_HZ["camera"]
    if rig.base_frame != "base_link":
        raise SimulationError(f"the rig's base frame must be 'base_link' (the ego vehicle), got {rig.base_frame!r}",
                              field="rig.base_frame")
    world = world or build_world(scene)
    lidars = rig.sensors_of_kind("lidar")
    cams = rig.sensors_of_kind("camera")
    radars = rig.sensors_of_kind("radar")
    mounts = {s.sensor_id: rig.sensor2base(s.sensor_id) for s in (*lidars, *cams, *radars)}
    setups: list[CameraSetup] = []
    for s in cams:
        assert s.camera is not None
        setups.append(make_setup(s.sensor_id, s.frame_id, s.camera, mounts[s.sensor_id]))
    events = schedule(scene, rig, lidar=lidar, radar=radar, camera_rate_hz=cam_rate, odometry_hz=odometry_hz)
    cam_events: dict[int, list[_Event]] = {}
    for e in events:
        if e.kind == "camera":
            cam_events.setdefault(e.frame_index, []).append(e)
    rendered: dict[tuple[int, int], tuple[np.ndarray, CameraTruth]] = {}
    last_sweep: dict[int, LidarSweep] = {}
    radar_counts: dict[int, dict[int, int]] = {}

    def rng(e: _Event) -> np.random.Generator:
        return np.random.default_rng([scene.seed, _STREAMS[e.kind], e.sensor_index, e.frame_index])

    for e in events:
        if e.kind == "odom":
            rot, trans = scene.ego.poses_at([e.time_s])
            v, w = scene.ego.twist_at([e.time_s])
            pose = SE3._trusted(rot[0], trans[0])
            yield SimulatedSample(EgoPose(e.stamp_ns, MAP_FRAME, EGO_POSE_ID, rig.base_frame, pose, v[0], w[0]),
                                  None, e.time_s)
            if with_tf:
                tf = StampedTransform(e.stamp_ns, MAP_FRAME, rig.base_frame, pose)
                yield SimulatedSample(TransformSample(e.stamp_ns, MAP_FRAME, TF_ID, (tf,)), None, e.time_s)
        elif e.kind == "lidar":
            s = lidars[e.sensor_index]
            sweep = simulate_sweep(world, scene.ego, mounts[s.sensor_id], e.time_s, stamp_ns=e.stamp_ns,
                                   frame_id=s.frame_id, sensor_id=s.sensor_id, model=lidar, rng=rng(e))
            last_sweep[e.sensor_index] = sweep
            yield SimulatedSample(sweep.cloud, sweep.truth, e.time_s)
        elif e.kind == "boxes":
            boxes_map, _ = boxes_at(scene, e.time_s, max_range_m=lidar.max_range_m)
            ids = boxes_map.track_ids
            n_lidar = np.zeros(len(ids), np.int64)
            last = last_sweep.get(0)
            if last is not None:
                vis = lidar_visibility(boxes_map, last.ray_origins, last.ray_dirs, last.ray_range)
                on_obj = last.truth.instance_ids[last.truth.instance_ids >= 0]
                ids_pts, counts = np.unique(on_obj, return_counts=True)
                pos = np.clip(np.searchsorted(ids_pts, ids), 0, max(len(ids_pts) - 1, 0))
                found = (ids_pts[pos] == ids) if len(ids_pts) else np.zeros(len(ids), bool)
                n_lidar[found] = counts[pos[found]]
            else:
                vis = np.zeros(len(ids))
            n_radar = np.array([sum(c.get(int(i), 0) for c in radar_counts.values()) for i in ids], dtype=np.int64)
            rot, trans = scene.ego.poses_at([e.time_s])
            mount, frame = ((mounts[lidars[0].sensor_id], lidars[0].frame_id) if lidars
                            else (SE3(), rig.base_frame))
            sensor2map = SE3._trusted(rot[0], trans[0]) @ mount
            boxes = boxes_map.transformed(sensor2map.inverse(), frame)
            yield SimulatedSample(boxes, BoxTruth(ids.astype(np.int64), vis, n_lidar, n_radar), e.time_s)
        elif e.kind == "camera":
            key = (e.frame_index, e.sensor_index)
            if key not in rendered:
                group = sorted(cam_events[e.frame_index], key=lambda x: x.sensor_index)
                outs = render_cameras(world, scene.ego, [setups[g.sensor_index] for g in group],
                                      [g.time_s for g in group], scene.sun, [rng(g) for g in group])
                for g, out in zip(group, outs):
                    rendered[(g.frame_index, g.sensor_index)] = out
            pixels, ctruth = rendered.pop(key)
            yield SimulatedSample(camera_image(pixels, stamp_ns=e.stamp_ns, setup=setups[e.sensor_index]), ctruth,
                                  e.time_s)
        elif e.kind == "radar":
            s = radars[e.sensor_index]
            scan, rtruth = simulate_scan(world, scene.ego, mounts[s.sensor_id], e.time_s, stamp_ns=e.stamp_ns,
                                         frame_id=s.frame_id, sensor_id=s.sensor_id, model=radar, rng=rng(e))
            ids_r, cnt = np.unique(rtruth.instance_ids[rtruth.instance_ids >= 0], return_counts=True)
            radar_counts[e.sensor_index] = {int(i): int(c) for i, c in zip(ids_r, cnt)}
            yield SimulatedSample(scan, rtruth, e.time_s)


def count_events(scene: Scene, rig: Rig, *, lidar: LidarModel | None = None, radar: RadarModel | None = None,
                 camera_rate_hz: float | None = None, odometry_hz: float = 50.0) -> int:
    """How many measurements :func:`run_simulation` makes (for progress bars)."""
    return len(schedule(scene, rig, lidar=lidar or LidarModel(), radar=radar or RadarModel(),
                        camera_rate_hz=camera_rate_hz or SENSOR_RATES_HZ["camera"], odometry_hz=odometry_hz))


__all__ = ["EGO_POSE_ID", "GROUND_TRUTH_ID", "SimulatedSample", "count_events", "run_simulation", "schedule"]
