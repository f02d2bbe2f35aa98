"""FrameAligner: every sensor of a group in the output frame at the reference stamp, with the ego motion between
each sensor's stamp and the reference taken from the poses (a car at 10 m/s past static world points)."""

from __future__ import annotations

import numpy as np

from fusion_stack.align.pose_buffer import PoseBuffer
from fusion_stack.geometry.se3 import SE3
from fusion_stack.pipeline.frame import FrameAligner
from fusion_stack.sim.rig import default_rig
from fusion_stack.types import CameraImage, FrameSet, PointCloud, RadarScan

MS = 1_000_000
T = 1_000 * MS  # reference stamp
V = 10.0  # m/s along the map's x axis


def _poses() -> PoseBuffer:
    buf = PoseBuffer(fixed_frame="map", body_frame="base_link")
    for k in range(0, 201):
        t = k * 10 * MS
        buf.add(t, SE3(np.eye(3), [V * t * 1e-9, 0.0, 0.0]))
    return buf


def _in_base_at(p_base_ref: np.ndarray, t_ns: int) -> np.ndarray:
    """A static point given in base@T, seen from base@t (the car moved V * (t - T) forward)."""
    return p_base_ref - np.array([V * (t_ns - T) * 1e-9, 0.0, 0.0])


def test_lidar_camera_and_radar_land_in_base_at_the_reference_stamp() -> None:
    rig = default_rig()
    aligner = FrameAligner(rig, poses=_poses())
    p = np.array([[12.0, -1.0, 0.8], [8.0, 3.0, 1.5]])
    # LiDAR: the two points seen at 0..45 ms into the sweep (per-point time offsets)
    offsets = np.arange(10) * 5 * MS
    lidar2base = rig.sensor2base("LIDAR_TOP")
    pts = np.concatenate([lidar2base.inverse().apply(_in_base_at(p, T + int(o))) for o in offsets])
    cloud = PointCloud(T, rig.sensor("LIDAR_TOP").frame_id, "LIDAR_TOP", pts,
                       {"time_offset_ns": np.repeat(offsets, 2).astype(np.int64)})
    # camera 30 ms after the reference, radar 20 ms after
    t_cam, t_rad = T + 30 * MS, T + 20 * MS
    cam = CameraImage(t_cam, rig.sensor("CAM_FRONT").frame_id, "CAM_FRONT", np.zeros((360, 640, 3), np.uint8))
    radar2base = rig.sensor2base("RADAR_FRONT")
    r_pos = radar2base.inverse().apply(_in_base_at(p, t_rad))
    u = r_pos / np.linalg.norm(r_pos, axis=1, keepdims=True)
    v_radar = radar2base.inverse().apply_rotation(np.array([V, 0.0, 0.0]))  # the radar moves with the car
    scan = RadarScan(t_rad, rig.sensor("RADAR_FRONT").frame_id, "RADAR_FRONT", r_pos, -(u @ v_radar), [10.0, 10.0])
    fs = FrameSet(T, "LIDAR_TOP", {"LIDAR_TOP": cloud, "CAM_FRONT": cam, "RADAR_FRONT": scan})
    frame = aligner.align(fs, ego_linear_velocity=[V, 0, 0], ego_angular_velocity=[0, 0, 0])

    assert frame.frame_id == "base_link" and frame.stamp_ns == T and not frame.notes
    assert frame.lidar is not None
    np.testing.assert_allclose(frame.lidar.positions, np.tile(p, (10, 1)), atol=1e-4)  # deskewed: one place
    assert frame.radar is not None
    np.testing.assert_allclose(frame.radar.positions, p, atol=1e-6)
    np.testing.assert_allclose(frame.radar.radial_velocity, 0.0, atol=1e-6)  # static world: no own velocity
    cam2base = rig.sensor2base("CAM_FRONT")
    want = cam2base.inverse().apply(_in_base_at(p, t_cam))
    np.testing.assert_allclose(frame.cameras["CAM_FRONT"].out2cam.apply(p), want, atol=1e-9)
    np.testing.assert_allclose(frame.sensor_origins["LIDAR_TOP"], lidar2base.translation)


def test_without_poses_motion_is_identity_and_the_frame_says_so() -> None:
    rig = default_rig()
    aligner = FrameAligner(rig)
    cam = CameraImage(T + 30 * MS, rig.sensor("CAM_FRONT").frame_id, "CAM_FRONT", np.zeros((360, 640, 3), np.uint8))
    cloud = PointCloud(T, rig.sensor("LIDAR_TOP").frame_id, "LIDAR_TOP", np.ones((3, 3)))
    frame = aligner.align(FrameSet(T, "LIDAR_TOP", {"LIDAR_TOP": cloud, "CAM_FRONT": cam}, frozenset({"RADAR_FRONT"})))
    assert "CAM_FRONT: no ego motion to the reference stamp (identity)" in frame.notes
    assert "RADAR_FRONT: missing" in frame.notes and frame.radar is None
    np.testing.assert_allclose(frame.cameras["CAM_FRONT"].out2cam.as_matrix(),
                               rig.sensor2base("CAM_FRONT").inverse().as_matrix(), atol=1e-12)
    assert frame.lidar is not None
    np.testing.assert_allclose(frame.lidar.positions, rig.sensor2base("LIDAR_TOP").apply(np.ones((3, 3))), atol=1e-6)
