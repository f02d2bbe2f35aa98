"""Cameras and point clouds shared by the kernel tests (a module with a unique name, so that it can be imported
from the test modules whatever other conftest.py files the run collects)."""

from __future__ import annotations

import math

import numpy as np

from fusion_stack.calibration import CameraModel, FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.geometry.se3 import SE3

#: LiDAR-like frame (x forward, y left, z up) -> camera optical frame (x right, y down, z forward).
LIDAR2OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def yaw(angle_deg: float) -> np.ndarray:
    """Rotation about the LiDAR z axis (up)."""
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def lidar2cam(yaw_deg: float, translation: tuple[float, float, float] = (0.05, -0.3, 0.2)) -> SE3:
    """``src2cam`` of a camera looking along LiDAR yaw ``yaw_deg`` (degrees)."""
    return SE3(LIDAR2OPTICAL @ yaw(-yaw_deg), np.asarray(translation))


def camera_models() -> dict[str, tuple[CameraModel, SE3]]:
    """One camera per model, with realistic intrinsics, each with its own ``lidar -> camera`` transform."""
    return {
        "pinhole": (PinholeCamera(1600, 900, 1266.4, 1266.4, 816.3, 491.5), lidar2cam(0.0)),
        "plumb_bob": (
            RadTanCamera(1920, 1080, 2000.0, 1995.0, 960.5, 540.2, distortion=(-0.28, 0.09, 4e-4, -3e-4, -0.012)),
            lidar2cam(55.0, (0.4, 0.5, -0.1)),
        ),
        "rational_polynomial": (
            RadTanCamera(1280, 800, 900.0, 905.0, 640.0, 400.0,
                         distortion=(0.8, -0.2, 1e-3, 5e-4, 0.05, 1.1, -0.1, 0.2)),
            lidar2cam(-60.0, (0.3, -0.5, 0.0)),
        ),
        "fisheye": (
            FisheyeCamera(1280, 960, 420.0, 421.0, 640.0, 480.0, distortion=(0.05, -0.02, 0.003, -0.0005)),
            lidar2cam(180.0, (-1.0, 0.0, 0.3)),
        ),
    }


def lidar_cloud(n: int, seed: int, *, max_range: float = 200.0, features: int = 0) -> np.ndarray:
    """(n, 3 + features) float32 points around the origin, ranges 0.3 .. ``max_range`` m (log-uniform)."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, 3))
    direction[:, 2] *= 0.3
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    distance = np.exp(rng.uniform(np.log(0.3), np.log(max_range), n))
    pts = np.empty((n, 3 + features), dtype=np.float32)
    pts[:, :3] = direction * distance[:, None]
    if features:
        pts[:, 3:] = rng.uniform(0.0, 1.0, size=(n, features))
    return pts
