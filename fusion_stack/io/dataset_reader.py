"""What the dataset readers (nuScenes info files, KITTI object, Argoverse 2 logs) have in common: a Protocol,
the sensor ids of the non-sensor samples, and the flattening of frames into one time-ordered stream."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

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


def dataset_kind(path: str | os.PathLike[str]) -> str | None:
    """``nuscenes`` (info file), ``nuscenes-tables``, ``kitti``, ``av2`` for dataset inputs, None for a recording."""
    path = Path(path)
    if path.is_file() and path.suffix in (".json", ".pkl"):
        return "nuscenes"
    if path.is_dir():
        if any(path.glob("v1.0-*/sample.json")):
            return "nuscenes-tables"
        if (path / "calib").is_dir() and (path / "velodyne").is_dir():
            return "kitti"
        if (path / "city_SE3_egovehicle.feather").exists():
            return "av2"
    return None


def open_dataset(path: str | os.PathLike[str], kind: str) -> Any:
    """Open a dataset reader of ``kind`` at ``path``."""
    if kind == "nuscenes":
        from fusion_stack.io.nuscenes_dataset import open_nuscenes_info

        return open_nuscenes_info(path)
    if kind == "nuscenes-tables":
        from fusion_stack.io.nuscenes_tables import open_nuscenes_tables

        version = sorted(p.parent.name for p in Path(path).glob("v1.0-*/sample.json"))[0]
        return open_nuscenes_tables(path, version=version)
    if kind == "kitti":
        from fusion_stack.io.kitti_dataset import open_kitti_object

        return open_kitti_object(path)
    from fusion_stack.io.av2_dataset import open_av2_log

    return open_av2_log(path)
