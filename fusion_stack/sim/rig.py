"""The simulator's default rig (nuScenes-like): one 32-beam spinning LiDAR on the roof, six cameras around the car
(640 x 360, plumb_bob with mild barrel distortion) and five radars in the bumpers. ``calib/sim_default.yaml`` is
this rig written with :func:`fusion_stack.calibration.save_rig`.

Rates are not part of the rig format; they are :data:`SENSOR_RATES_HZ` per sensor kind (LiDAR 20 Hz, cameras
12 Hz, radars 13 Hz).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import RadTanCamera
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3

SENSOR_RATES_HZ = MappingProxyType({"lidar": 20.0, "camera": 12.0, "radar": 13.0})
"""Frames per second of each simulated sensor kind."""

BASE_FRAME = "base_link"

#: optical frame (z forward, x right, y down) -> a body frame looking along +x
_OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

_CAMERAS = (  # id, x, y, z (m), yaw (deg), fx (px) at 640 x 360
    ("CAM_FRONT", 1.70, 0.015, 1.51, 0.0, 507.0),
    ("CAM_FRONT_RIGHT", 1.55, -0.49, 1.50, -55.0, 505.0),
    ("CAM_FRONT_LEFT", 1.52, 0.49, 1.51, 55.0, 509.0),
    ("CAM_BACK", 0.03, 0.0, 1.58, 180.0, 324.0),
    ("CAM_BACK_LEFT", 1.04, 0.48, 1.59, 110.0, 503.0),
    ("CAM_BACK_RIGHT", 1.01, -0.48, 1.56, -110.0, 504.0),
)
_RADARS = (  # id, x, y, z (m), yaw (deg)
    ("RADAR_FRONT", 3.41, 0.0, 0.5, 0.0),
    ("RADAR_FRONT_LEFT", 2.42, 0.80, 0.5, 85.0),
    ("RADAR_FRONT_RIGHT", 2.42, -0.80, 0.5, -85.0),
    ("RADAR_BACK_LEFT", -0.56, 0.63, 0.5, 175.0),
    ("RADAR_BACK_RIGHT", -0.56, -0.63, 0.5, -175.0),
)


def _camera_rotation(yaw_deg: float) -> npt.NDArray[np.float64]:
    return yaw_matrix(np.deg2rad(yaw_deg)) @ _OPTICAL_TO_BODY


def default_rig() -> Rig:
    """The default simulation rig (see the module docstring)."""
    transforms = [StaticTransform(BASE_FRAME, "lidar_top", SE3(np.eye(3), np.array([0.943, 0.0, 1.84])))]
    sensors = [SensorCalibration("LIDAR_TOP", "lidar", "lidar_top")]
    for i, (sid, x, y, z, yaw, fx) in enumerate(_CAMERAS):
        frame = sid.lower() + "_optical"
        transforms.append(StaticTransform(BASE_FRAME, frame, SE3(_camera_rotation(yaw), np.array([x, y, z]))))
        k1 = -0.05 if sid != "CAM_BACK" else -0.08
        cam = RadTanCamera(width=640, height=360, fx=fx, fy=fx, cx=320.0 + 0.5 * (i - 2), cy=180.0 - 0.4 * i,
                           distortion=(k1, 0.01, 0.0004, -0.0003, 0.0))
        sensors.append(SensorCalibration(sid, "camera", frame, camera=cam))
    for sid, x, y, z, yaw in _RADARS:
        frame = sid.lower()
        transforms.append(StaticTransform(BASE_FRAME, frame, SE3(yaw_matrix(np.deg2rad(yaw)), np.array([x, y, z]))))
        sensors.append(SensorCalibration(sid, "radar", frame))
    return Rig("sim_default", BASE_FRAME, tuple(sensors), tuple(transforms))
