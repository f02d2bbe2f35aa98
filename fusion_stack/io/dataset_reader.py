"""What the dataset readers (nuScenes info files, KITTI object, Argoverse 2 logs) have in common: a Protocol,
the sensor ids of the non-sensor samples, and the flattening of frames into one time-ordered stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from fusion_stack.calibration.rig import Rig
from fusion_stack.types import FrameSet, Sample

GROUND_TRUTH_ID = "ground_truth"
"""``sensor_id`` of the annotated Boxes3D of a dataset frame."""
EGO_POSE_ID = "ego_pose"
"""``sensor_id`` of a dataset's EgoPose samples (``map`` -> ``base_link``)."""


class DatasetReader(Protocol):
    """A dataset opened for reading: its rig, its frames (one FrameSet per annotated frame, the boxes under
    ``ground_truth``) and the flat stream of their samples in time order."""

    @property
    def rig(self) -> Rig: ...

    def __len__(self) -> int: ...

    def frame(self, index: int) -> FrameSet: ...

    def frames(self) -> Iterator[FrameSet]: ...

    def __iter__(self) -> Iterator[Sample]: ...


def frame_samples(frames: Iterable[FrameSet]) -> Iterator[Sample]:
    """The samples of each frame sorted by stamp (ties: sensor id), frame after frame."""
    for fs in frames:
        yield from sorted(fs, key=lambda s: (s.stamp_ns, s.sensor_id))
