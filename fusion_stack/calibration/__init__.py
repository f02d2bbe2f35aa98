"""Calibration: camera models, rigs (sensors + frame tree + time offsets), the rig file format, and
importers/exporters for ROS camera_info, KITTI, nuScenes and OpenCalib."""

from fusion_stack.calibration.camera_models import (
    CameraModel,
    FisheyeCamera,
    PinholeCamera,
    Projection,
    RadTanCamera,
)
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import SENSOR_KINDS, Rig, SensorCalibration
from fusion_stack.calibration.rig_file import dump_rig, load_rig, save_rig

__all__ = [
    "SENSOR_KINDS",
    "CalibrationError",
    "CameraModel",
    "FisheyeCamera",
    "PinholeCamera",
    "Projection",
    "RadTanCamera",
    "Rig",
    "SensorCalibration",
    "dump_rig",
    "load_rig",
    "save_rig",
]
