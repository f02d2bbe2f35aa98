"""Calibration carried in a recording: camera intrinsics (``CameraInfo``) and transforms (``/tf``,
``/tf_static``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.geometry.frame_graph import FrameGraph, StaticTransform
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.sample_checks import check_header
from fusion_stack.types import SampleError


@dataclass(frozen=True)
class CameraInfoSample:
    """A camera's intrinsics as published with its images; ``frame_id`` is the camera's optical frame."""

    stamp_ns: int
    frame_id: str
    sensor_id: str
    camera: CameraModel

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("CameraInfoSample", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))


@dataclass(frozen=True)
class StampedTransform:
    """One ``geometry_msgs/TransformStamped``: ``child2parent`` maps points in ``child`` into ``parent``."""

    stamp_ns: int
    parent: str
    child: str
    child2parent: SE3


@dataclass(frozen=True)
class TransformSample:
    """One ``tf2_msgs/TFMessage``. ``static`` is True for ``/tf_static``. ``frame_id`` is the parent frame of
    the first transform (the message has no frame of its own); ``stamp_ns`` the newest transform stamp."""

    stamp_ns: int
    frame_id: str
    sensor_id: str
    transforms: tuple[StampedTransform, ...]
    static: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp_ns", check_header("TransformSample", self.stamp_ns, self.frame_id,
                                                          self.sensor_id))
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for i, t in enumerate(self.transforms):
            if not isinstance(t, StampedTransform):
                raise SampleError(f"TransformSample.transforms[{i}] must be a StampedTransform, got "
                                  f"{type(t).__name__}", field=f"transforms[{i}]")

    def static_transforms(self) -> tuple[StaticTransform, ...]:
        """The transforms as rig-style static edges (stamps dropped)."""
        return tuple(StaticTransform(t.parent, t.child, t.child2parent) for t in self.transforms)


def add_to_frame_graph(graph: FrameGraph, samples: Iterable[TransformSample]) -> FrameGraph:
    """Add the edges of ``samples`` to ``graph`` (static ones with ``add_static``, others with
    ``add_transform``) and return it. Raises the graph's ``FrameGraphError`` on conflicting trees."""
    for sample in samples:
        for t in sample.transforms:
            if sample.static:
                graph.add_static(t.parent, t.child, t.child2parent)
            else:
                graph.add_transform(t.parent, t.child, t.stamp_ns, t.child2parent)
    return graph
