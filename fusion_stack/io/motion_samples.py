"""Ego-motion samples that ``fusion_stack.types`` does not cover: IMU readings and stamped twists.

(Odometry becomes :class:`fusion_stack.types.EgoPose`, whose optional twist holds the velocities.)
Units: m/s, rad/s, m/s^2; vectors are expressed in ``frame_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.io.sample_checks import check_header, optional_vector, readonly_vector


@dataclass(frozen=True)
class ImuSample:
    """One IMU reading (``sensor_msgs/Imu``).

    ``orientation_xyzw`` (4,) is the unit quaternion of ``frame_id`` in the IMU's reference frame, or None when
    the IMU gives none (ROS: ``orientation_covariance[0] == -1``). Covariances are (3, 3) row-major, or None
    where the message marks them unknown (element 0 == -1).
    """

    stamp_ns: int
    frame_id: str
    sensor_id: str
    angular_velocity: npt.NDArray[np.float64]
    linear_acceleration: npt.NDArray[np.float64]
    orientation_xyzw: npt.NDArray[np.float64] | None = None
    orientation_covariance: npt.NDArray[np.float64] | None = None
    angular_velocity_covariance: npt.NDArray[np.float64] | None = None
    linear_acceleration_covariance: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("ImuSample", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))
        for name in ("angular_velocity", "linear_acceleration"):
            object.__setattr__(self, name, readonly_vector("ImuSample", name, getattr(self, name), (3,)))
        object.__setattr__(self, "orientation_xyzw",
                           optional_vector("ImuSample", "orientation_xyzw", self.orientation_xyzw, (4,)))
        for name in ("orientation_covariance", "angular_velocity_covariance", "linear_acceleration_covariance"):
            value: Any = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64).reshape(-1)
                value = value.reshape(3, 3) if value.size == 9 else value
            object.__setattr__(self, name, optional_vector("ImuSample", name, value, (3, 3)))


@dataclass(frozen=True)
class TwistSample:
    """A stamped velocity (``geometry_msgs/TwistStamped``): ``linear_velocity`` (3,) m/s and
    ``angular_velocity`` (3,) rad/s of the body, expressed in ``frame_id``."""

    stamp_ns: int
    frame_id: str
    sensor_id: str
    linear_velocity: npt.NDArray[np.float64]
    angular_velocity: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("TwistSample", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))
        for name in ("linear_velocity", "angular_velocity"):
            object.__setattr__(self, name, readonly_vector("TwistSample", name, getattr(self, name), (3,)))
