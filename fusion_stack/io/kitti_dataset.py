"""KITTI object detection folders (``training/`` or ``testing/``) -> frames of typed samples with ground truth.

Per frame id ``XXXXXX`` (the stems of ``velodyne/*.bin``): the Velodyne scan (float32 x, y, z, reflectance) as a
PointCloud in ``velodyne`` with field ``intensity``; the left colour image ``image_2/XXXXXX.png`` as a bgr8
CameraImage of sensor ``cam2`` in ``cam2_optical``; the label file ``label_2/XXXXXX.txt`` (when present) as
Boxes3D in ``velodyne`` under sensor id ``ground_truth`` (DontCare dropped; class names
``fusion_stack.io.kitti_labels.KITTI_CLASSES``). The rig comes from ``calib/XXXXXX.txt`` with the image size
read from the PNG header.

KITTI object frames carry no time: frame ``i`` (in sorted order) is given ``stamp_ns = i * frame_period_ns``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.kitti import LIDAR_FRAME, RECT_FRAME, load_kitti_calib
from fusion_stack.calibration.rig import Rig
from fusion_stack.io.dataset_reader import GROUND_TRUTH_ID, frame_samples
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.kitti_labels import kitti_labels_to_boxes, load_kitti_labels
from fusion_stack.types import Boxes3D, CameraImage, FrameSet, PointCloud, Sample, SampleError

LIDAR_ID = "velodyne"
CAMERA_ID = "cam2"


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) from a PNG file's IHDR chunk, without decoding it."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(24)
    except OSError as err:
        raise RecordingError(f"cannot read: {err.strerror}", source=str(p)) from err
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise RecordingError("not a PNG file (bad signature or no IHDR chunk)", source=str(p), field="header")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


class KittiObjectDataset:
    """The frames of a KITTI object folder (see the module docstring). Implements ``DatasetReader``."""

    def __init__(self, root: str | os.PathLike[str], *, frame_ids: Sequence[str] | None = None,
                 frame_period_ns: int = 100_000_000, load_images: bool = True) -> None:
        self.root = Path(root)
        if not (self.root / "velodyne").is_dir():
            raise RecordingError("not a KITTI object folder: no velodyne/ directory", source=str(self.root),
                                 field="velodyne")
        found = sorted(p.stem for p in (self.root / "velodyne").glob("*.bin"))
        if frame_ids is not None:
            missing = sorted(set(frame_ids) - set(found))
            if missing:
                raise RecordingError(f"frames {missing} have no velodyne scan", source=str(self.root),
                                     field="frame_ids")
            found = [f for f in found if f in set(frame_ids)]
        self.frame_ids: tuple[str, ...] = tuple(found)
        self.frame_period_ns = int(frame_period_ns)
        self.load_images = load_images
        self._rigs: dict[str, Rig] = {}

    def __len__(self) -> int:
        return len(self.frame_ids)

    def _id(self, index: int) -> str:
        if not -len(self.frame_ids) <= index < len(self.frame_ids):
            raise RecordingError(f"no frame {index}; the folder has {len(self.frame_ids)}", source=str(self.root),
                                 field="frame")
        return self.frame_ids[index]

    def stamp_ns(self, index: int) -> int:
        """The made-up stamp of frame ``index`` (``index * frame_period_ns``)."""
        return (index % len(self.frame_ids)) * self.frame_period_ns

    def rig_of(self, index: int) -> Rig:
        """The rig of frame ``index`` (``calib/XXXXXX.txt``; image size from ``image_2/XXXXXX.png``)."""
        fid = self._id(index)
        if fid not in self._rigs:
            png = self.root / "image_2" / f"{fid}.png"
            size = png_size(png) if png.is_file() else None
            path = self.root / "calib" / f"{fid}.txt"
            try:
                rig = (load_kitti_calib(path, image_size=size, name=f"kitti_{fid}") if size
                       else load_kitti_calib(path, name=f"kitti_{fid}"))
            except CalibrationError as err:
                raise RecordingError(err.reason, source=err.source or str(path), field=err.field) from err
            self._rigs[fid] = rig
        return self._rigs[fid]

    @property
    def rig(self) -> Rig:
        """The rig of the first frame (KITTI calibration is per frame: see :meth:`rig_of`)."""
        return self.rig_of(0)

    def lidar(self, index: int) -> PointCloud:
        """The Velodyne scan of frame ``index``."""
        path = self.root / "velodyne" / f"{self._id(index)}.bin"
        raw = np.fromfile(path, dtype="<f4")
        if raw.size % 4:
            raise RecordingError(f"{raw.size} float32 values are not x, y, z, reflectance records",
                                 source=str(path), field="data")
        pts = raw.reshape(-1, 4)
        try:
            return PointCloud(self.stamp_ns(index), LIDAR_FRAME, LIDAR_ID, pts[:, :3], {"intensity": pts[:, 3]})
        except SampleError as err:
            raise RecordingError(err.reason, source=str(path), field=err.field) from err

    def image(self, index: int) -> CameraImage:
        """The left colour image (``image_2``) of frame ``index`` as bgr8."""
        path = self.root / "image_2" / f"{self._id(index)}.png"
        data = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if data is None:
            raise RecordingError("cannot read or decode the image", source=str(path), field="image_2")
        return CameraImage(self.stamp_ns(index), self.rig_of(index).sensor(CAMERA_ID).frame_id, CAMERA_ID, data,
                           "bgr8")

    def boxes(self, index: int) -> Boxes3D | None:
        """The labelled boxes of frame ``index`` in ``velodyne`` (None when there is no label file)."""
        path = self.root / "label_2" / f"{self._id(index)}.txt"
        if not path.is_file():
            return None
        rig = self.rig_of(index)
        try:
            return kitti_labels_to_boxes(load_kitti_labels(path), rig.transform(RECT_FRAME, LIDAR_FRAME),
                                         dst_frame=LIDAR_FRAME, stamp_ns=self.stamp_ns(index),
                                         sensor_id=GROUND_TRUTH_ID)
        except RecordingError as err:
            raise RecordingError(err.reason, source=err.source or str(path), field=err.field) from err

    def frame(self, index: int) -> FrameSet:
        """LiDAR, image (unless ``load_images=False``) and ground truth (when labelled) of frame ``index``."""
        samples: dict[str, Sample] = {LIDAR_ID: self.lidar(index)}
        if self.load_images and (self.root / "image_2" / f"{self._id(index)}.png").is_file():
            samples[CAMERA_ID] = self.image(index)
        boxes = self.boxes(index)
        if boxes is not None:
            samples[GROUND_TRUTH_ID] = boxes
        return FrameSet(self.stamp_ns(index), LIDAR_ID, samples)

    def frames(self) -> Iterator[FrameSet]:
        """Every frame, in frame-id order."""
        return (self.frame(i) for i in range(len(self)))

    def __iter__(self) -> Iterator[Sample]:
        """The samples of every frame."""
        return frame_samples(self.frames())


def open_kitti_object(root: str | os.PathLike[str], *, frame_ids: Sequence[str] | None = None,
                      frame_period_ns: int = 100_000_000, load_images: bool = True) -> KittiObjectDataset:
    """Open a KITTI object folder (``.../training``); see the module docstring."""
    return KittiObjectDataset(root, frame_ids=frame_ids, frame_period_ns=frame_period_ns, load_images=load_images)
