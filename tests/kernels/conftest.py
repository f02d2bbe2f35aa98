"""Fixtures of the kernel tests (the helpers themselves are in kernel_cases.py)."""

from __future__ import annotations

import pytest
from kernel_cases import camera_models

from fusion_stack.calibration import CameraModel
from fusion_stack.geometry.se3 import SE3
from fusion_stack.kernels import CameraParams, camera_params


@pytest.fixture(scope="session")
def models() -> dict[str, tuple[CameraModel, SE3]]:
    """One camera model per kind with its ``lidar -> camera`` transform (see kernel_cases.camera_models)."""
    return camera_models()


@pytest.fixture(scope="session")
def params(models: dict[str, tuple[CameraModel, SE3]]) -> dict[str, CameraParams]:
    """The same cameras as kernel parameters."""
    return {name: camera_params(model, transform) for name, (model, transform) in models.items()}
