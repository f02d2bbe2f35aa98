"""Tracked radar objects (the ARS548 object list) as frozen dataclasses, and their conversion to boxes.

Units: metres, radians, m/s, m/s^2, rad/s; probabilities in [0, 1]. Positions, velocities and accelerations
are in the frame of the list (``frame_id``, the vehicle frame the sensor was configured with: x forward,
y left, z up); ``orientation`` is the yaw of the object's length axis about +z from +x.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from fusion_stack.drivers.ars548_layout import CLASSES
from fusion_stack.drivers.errors import DriverError
from fusion_stack.types import Boxes3D

# where the reported position lies on the object box, as (along length, along width) fractions from the centre:
# Continental's reference-point enumeration (0 front-left corner, 1 front centre, 2 front-right corner, 3 right
# side centre, 4 rear-right corner, 5 rear centre, 6 rear-left corner, 7 left side centre)
REFERENCE_POINTS: Mapping[int, tuple[float, float]] = MappingProxyType({
    0: (0.5, 0.5), 1: (0.5, 0.0), 2: (0.5, -0.5), 3: (0.0, -0.5), 4: (-0.5, -0.5), 5: (-0.5, 0.0),
    6: (-0.5, 0.5), 7: (0.0, 0.5)})


@dataclass(frozen=True)
class RadarObject:
    """One tracked object.

    id: track id; age: cycles since creation; status_measurement: 0 measured, 1 predicted, 2 new;
    status_movement: 0 dynamic, 1 static; position_reference: the point of the box ``position`` refers to
    (:data:`REFERENCE_POINTS`); position / position_std (x, y, z); position_covariance_xy; orientation and
    orientation_std (rad); existence_probability; classification: class name -> probability;
    absolute/relative velocity and acceleration (x, y) with std (x, y) and xy covariance; orientation_rate and
    its std (rad/s); length / width (m) and their std.
    """

    id: int
    age: int
    status_measurement: int
    status_movement: int
    position_reference: int
    position: tuple[float, float, float]
    position_std: tuple[float, float, float]
    position_covariance_xy: float
    orientation: float
    orientation_std: float
    existence_probability: float
    classification: Mapping[str, float]
    absolute_velocity: tuple[float, float]
    absolute_velocity_std: tuple[float, float]
    absolute_velocity_covariance_xy: float
    relative_velocity: tuple[float, float]
    relative_velocity_std: tuple[float, float]
    relative_velocity_covariance_xy: float
    absolute_acceleration: tuple[float, float]
    absolute_acceleration_std: tuple[float, float]
    absolute_acceleration_covariance_xy: float
    relative_acceleration: tuple[float, float]
    relative_acceleration_std: tuple[float, float]
    relative_acceleration_covariance_xy: float
    orientation_rate: float
    orientation_rate_std: float
    length: float
    length_std: float
    width: float
    width_std: float

    @property
    def label(self) -> str:
        """The most probable class."""
        return max(self.classification, key=lambda k: self.classification[k]) if self.classification else "unknown"

    def center(self) -> tuple[float, float, float]:
        """The box centre: ``position`` moved from the reference point along the object's axes."""
        along, across = REFERENCE_POINTS.get(self.position_reference, (0.0, 0.0))
        c, s = math.cos(self.orientation), math.sin(self.orientation)
        dl, dw = -along * self.length, -across * self.width
        x, y, z = self.position
        return (x + c * dl - s * dw, y + s * dl + c * dw, z)


@dataclass(frozen=True)
class RadarObjectList:
    """The objects of one radar cycle: ``stamp_ns`` (ns), ``frame_id`` (vehicle frame), ``sensor_id``."""

    stamp_ns: int
    frame_id: str
    sensor_id: str
    objects: tuple[RadarObject, ...]

    def __post_init__(self) -> None:
        if isinstance(self.stamp_ns, bool) or not isinstance(self.stamp_ns, int):
            raise DriverError(f"RadarObjectList.stamp_ns must be an int of nanoseconds, got {self.stamp_ns!r}",
                              field="stamp_ns")
        object.__setattr__(self, "objects", tuple(self.objects))

    def __len__(self) -> int:
        return len(self.objects)

    def to_boxes(self, *, height_m: float = 1.5, min_size_m: float = 0.1) -> Boxes3D:
        """The objects as Boxes3D (centre from the reference point, ``height_m`` tall boxes centred on the
        reported z, sizes at least ``min_size_m``, score = existence probability, label = most probable class,
        velocity = absolute velocity, track id = object id)."""
        n = len(self.objects)
        centers = np.array([o.center() for o in self.objects], dtype=np.float64).reshape(n, 3)
        sizes = np.array([(max(o.length, min_size_m), max(o.width, min_size_m), height_m) for o in self.objects],
                         dtype=np.float64).reshape(n, 3)
        classes = CLASSES
        labels = np.array([classes.index(o.label) if o.label in classes else 7 for o in self.objects], np.int64)
        vel = np.array([(*o.absolute_velocity, 0.0) for o in self.objects], dtype=np.float64).reshape(n, 3)
        return Boxes3D(self.stamp_ns, self.frame_id, self.sensor_id, centers, sizes,
                       np.array([o.orientation for o in self.objects], dtype=np.float64), labels, classes,
                       np.clip([o.existence_probability for o in self.objects], 0.0, 1.0).astype(np.float64),
                       vel, np.array([o.id for o in self.objects], dtype=np.int64))
