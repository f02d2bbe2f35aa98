"""nuScenes mmdet3d-style info files (``.json`` or ``.pkl``) -> frames of typed samples with ground truth.

Per ``data_list`` item (a keyframe): the LiDAR scan (``lidar_points.lidar_path``: float32 records of
``num_pts_feats`` values x, y, z, intensity, ring) as a PointCloud in ``lidar_top`` with fields ``intensity``
(float32) and ``ring`` (uint16); one CameraImage per ``images`` entry (JPEG decoded as bgr8, in
``cam_*_optical``); the ego pose (``ego2global``: ``map`` -> ``base_link``) at the LiDAR stamp; and the
annotated boxes (``instances``) as Boxes3D in ``lidar_top`` under sensor id ``ground_truth``.

Boxes: ``bbox_3d`` = x, y, z, dx, dy, dz, yaw in the LiDAR frame with z the box's gravity centre (mmdet3d v1.1
infos), so it is used as the centre directly; sizes are (l, w, h) = (dx, dy, dz). Labels index
``metainfo.categories`` ordered by id, plus a last class ``ignore`` for ``bbox_label_3d == -1`` (categories the
info file does not evaluate) so every box in the file is kept. ``velocity`` (vx, vy) m/s in the LiDAR frame
becomes (vx, vy, 0) (NaN where the file has NaN). Per-box counts and validity flags: :meth:`box_extras`.

Stamps: microseconds in the file names (``..._1532402927647951.pcd.bin``) when present, else the info's
``timestamp`` seconds rounded to the microsecond. Files are looked up under ``data_root`` (default: the info
file's folder), then ``data_root/samples/<CHANNEL>/``.

``.pkl`` files are read with :func:`fusion_stack.io.restricted_pickle.load_restricted_pickle`, never
``pickle.load``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.nuscenes import EGO_FRAME, GLOBAL_FRAME, NUSCENES_IMAGE_SIZE, frame_for_channel
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import ROTATION_ATOL
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.dataset_reader import EGO_POSE_ID, GROUND_TRUTH_ID, frame_samples
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.restricted_pickle import load_restricted_pickle
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, FrameSet, PointCloud, Sample, SampleError

LIDAR_ID = "LIDAR_TOP"
LIDAR_FRAME = "lidar_top"
IGNORE_CLASS = "ignore"
_STAMP_IN_NAME = re.compile(r"__(\d{16})\.[^/]*$")


def _stamp_ns(path: str, seconds: object, *, source: str, field: str) -> int:
    m = _STAMP_IN_NAME.search(path)
    if m:
        return int(m.group(1)) * 1000
    try:
        return round(float(seconds) * 1e6) * 1000  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise RecordingError(f"no stamp in the file name and timestamp {seconds!r} is not a number",
                             source=source, field=field) from err


def _se3(value: object, *, source: str, field: str, atol: float = ROTATION_ATOL) -> SE3:
    try:
        return SE3.from_matrix(np.asarray(value, dtype=np.float64), atol=atol)
    except (GeometryError, ValueError, TypeError) as err:
        raise RecordingError(str(getattr(err, "reason", err)), source=source, field=field) from err


def load_info_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The info document (``metainfo``, ``data_list``) of a ``.json`` or ``.pkl`` (restricted) file."""
    p = Path(path)
    if p.suffix == ".pkl":
        doc = load_restricted_pickle(p)
    else:
        try:
            doc = json.loads(p.read_text())
        except OSError as err:
            raise RecordingError(f"cannot read: {err.strerror}", source=str(p)) from err
        except ValueError as err:
            raise RecordingError(f"not valid JSON: {err}", source=str(p)) from err
    if not isinstance(doc, dict) or not isinstance(doc.get("data_list"), list):
        raise RecordingError("expected a mapping with a 'data_list' list (an mmdet3d info file)", source=str(p),
                             field="data_list")
    return doc


class NuScenesInfoDataset:
    """The keyframes of a nuScenes info file (see the module docstring). Implements ``DatasetReader``."""

    def __init__(self, path: str | os.PathLike[str], *, data_root: str | os.PathLike[str] | None = None,
                 image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE, load_images: bool = True,
                 rotation_atol: float = ROTATION_ATOL) -> None:
        self.path = Path(path)
        self._source = str(self.path)
        self.data_root = Path(data_root) if data_root is not None else self.path.parent
        self.image_size = image_size
        self.load_images = load_images
        self._atol = rotation_atol
        doc = load_info_document(self.path)
        self._items: list[dict[str, Any]] = doc["data_list"]
        cats = doc.get("metainfo", {}).get("categories")
        if not isinstance(cats, Mapping) or not cats:
            raise RecordingError("metainfo.categories must map class names to label ids", source=self._source,
                                 field="metainfo.categories")
        ordered = sorted(cats.items(), key=lambda kv: int(kv[1]))
        if [int(v) for _, v in ordered] != list(range(len(ordered))):
            raise RecordingError(f"label ids must be 0..{len(ordered) - 1}, got {sorted(cats.values())}",
                                 source=self._source, field="metainfo.categories")
        self.class_names: tuple[str, ...] = (*[str(k) for k, _ in ordered], IGNORE_CLASS)
        self._rigs: dict[int, Rig] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _item(self, index: int) -> tuple[dict[str, Any], str]:
        if not -len(self._items) <= index < len(self._items):
            raise RecordingError(f"no frame {index}; the file has {len(self._items)}", source=self._source,
                                 field="data_list")
        item = self._items[index]
        if not isinstance(item, dict):
            raise RecordingError(f"expected a mapping, got {type(item).__name__}", source=self._source,
                                 field=f"data_list[{index}]")
        return item, f"data_list[{index % len(self._items)}]"

    def _entry(self, item: dict[str, Any], key: str, where: str) -> Any:
        if key not in item:
            raise RecordingError("missing required field", source=self._source, field=f"{where}.{key}")
        return item[key]

    # --- calibration ----------------------------------------------------------------------------------------
    def rig_of(self, index: int) -> Rig:
        """The rig of frame ``index`` (lidar2ego, cam2ego, cam2img of that keyframe)."""
        if index not in self._rigs:
            item, where = self._item(index)
            lidar = self._entry(item, "lidar_points", where)
            transforms = [StaticTransform(EGO_FRAME, LIDAR_FRAME, _se3(
                self._entry(lidar, "lidar2ego", f"{where}.lidar_points"), source=self._source,
                field=f"{where}.lidar_points.lidar2ego", atol=self._atol))]
            sensors = [SensorCalibration(LIDAR_ID, "lidar", LIDAR_FRAME)]
            for cam, entry in item.get("images", {}).items():
                w = f"{where}.images.{cam}"
                frame = frame_for_channel(cam, "camera")
                transforms.append(StaticTransform(EGO_FRAME, frame, _se3(
                    self._entry(entry, "cam2ego", w), source=self._source, field=f"{w}.cam2ego", atol=self._atol)))
                k = np.asarray(self._entry(entry, "cam2img", w), dtype=np.float64)
                if k.shape != (3, 3):
                    raise RecordingError(f"expected a 3x3 camera matrix, got shape {k.shape}", source=self._source,
                                         field=f"{w}.cam2img")
                # an entry may carry its image size (as mmdet3d's KITTI infos and our simulator do)
                size = (int(entry["width"]), int(entry["height"])) if "width" in entry and "height" in entry \
                    else self.image_size
                try:
                    camera = PinholeCamera(width=size[0], height=size[1], fx=k[0, 0],
                                           fy=k[1, 1], cx=k[0, 2], cy=k[1, 2], skew=k[0, 1])
                except CalibrationError as err:
                    raise RecordingError(err.reason, source=self._source, field=f"{w}.cam2img") from err
                sensors.append(SensorCalibration(cam, "camera", frame, camera=camera))
            try:
                self._rigs[index] = Rig(self.path.parent.name, EGO_FRAME, tuple(sensors), tuple(transforms),
                                        source=self._source)
            except CalibrationError as err:
                raise RecordingError(err.reason, source=self._source, field=err.field) from err
        return self._rigs[index]

    @property
    def rig(self) -> Rig:
        """The rig of the first frame (nuScenes calibration changes between logs: see :meth:`rig_of`)."""
        return self.rig_of(0)

    # --- samples --------------------------------------------------------------------------------------------
    def _find(self, name: str, channel: str, field: str) -> Path:
        for candidate in (self.data_root / name, self.data_root / "samples" / channel / Path(name).name,
                          self.path.parent / Path(name).name):
            if candidate.is_file():
                return candidate
        raise RecordingError(f"file {name!r} not found under {self.data_root}", source=self._source, field=field)

    def lidar(self, index: int) -> PointCloud:
        """The LiDAR scan of frame ``index``."""
        item, where = self._item(index)
        lp = self._entry(item, "lidar_points", where)
        name = str(self._entry(lp, "lidar_path", f"{where}.lidar_points"))
        field = f"{where}.lidar_points.lidar_path"
        path = self._find(name, LIDAR_ID, field)
        feats = int(lp.get("num_pts_feats", 5))
        raw = np.fromfile(path, dtype="<f4")
        if feats < 3 or raw.size % feats:
            raise RecordingError(f"{path.name} holds {raw.size} float32 values, not a multiple of num_pts_feats "
                                 f"{feats}", source=str(path), field=field)
        pts = raw.reshape(-1, feats)
        fields: dict[str, npt.NDArray[Any]] = {}
        if feats > 3:
            fields["intensity"] = pts[:, 3]
        if feats > 4:
            fields["ring"] = pts[:, 4].astype(np.uint16)
        stamp = _stamp_ns(name, item.get("timestamp"), source=self._source, field=f"{where}.timestamp")
        try:
            return PointCloud(stamp, LIDAR_FRAME, LIDAR_ID, pts[:, :3], fields)
        except SampleError as err:
            raise RecordingError(err.reason, source=str(path), field=err.field) from err

    def image(self, index: int, camera: str) -> CameraImage:
        """The image of ``camera`` (e.g. ``CAM_FRONT``) in frame ``index``, decoded as bgr8."""
        item, where = self._item(index)
        images = self._entry(item, "images", where)
        if camera not in images:
            raise RecordingError(f"no camera {camera!r} (has {sorted(images)})", source=self._source,
                                 field=f"{where}.images")
        entry = images[camera]
        w = f"{where}.images.{camera}"
        name = str(self._entry(entry, "img_path", w))
        path = self._find(name, camera, f"{w}.img_path")
        data = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if data is None:
            raise RecordingError("cannot decode the image", source=str(path), field=f"{w}.img_path")
        stamp = _stamp_ns(name, entry.get("timestamp", item.get("timestamp")), source=self._source,
                          field=f"{w}.timestamp")
        return CameraImage(stamp, frame_for_channel(camera, "camera"), camera, data, "bgr8")

    def ego_pose(self, index: int) -> EgoPose:
        """The ego pose (``map`` -> ``base_link``) of frame ``index`` at its LiDAR stamp."""
        item, where = self._item(index)
        pose = _se3(self._entry(item, "ego2global", where), source=self._source, field=f"{where}.ego2global",
                    atol=self._atol)
        return EgoPose(self._lidar_stamp(index), GLOBAL_FRAME, EGO_POSE_ID, EGO_FRAME, pose)

    def _lidar_stamp(self, index: int) -> int:
        item, where = self._item(index)
        name = str(item.get("lidar_points", {}).get("lidar_path", ""))
        return _stamp_ns(name, item.get("timestamp"), source=self._source, field=f"{where}.timestamp")

    def _instances(self, index: int) -> tuple[list[dict[str, Any]], str]:
        item, where = self._item(index)
        inst = item.get("instances", [])
        if not isinstance(inst, list):
            raise RecordingError("expected a list", source=self._source, field=f"{where}.instances")
        return inst, where

    def boxes(self, index: int, *, valid_only: bool = False, drop_ignored: bool = False) -> Boxes3D:
        """The annotated boxes of frame ``index`` (all by default; ``valid_only`` keeps ``bbox_3d_isvalid``
        boxes, ``drop_ignored`` drops label -1)."""
        inst, where = self._instances(index)
        n_known = len(self.class_names) - 1
        rows, labels, vels = [], [], []
        for i, box in enumerate(inst):
            w = f"{where}.instances[{i}]"
            if valid_only and not bool(box.get("bbox_3d_isvalid", True)):
                continue
            label = int(box.get("bbox_label_3d", box.get("bbox_label", -1)))
            if label == -1:
                if drop_ignored:
                    continue
                label = n_known
            elif not 0 <= label < n_known:
                raise RecordingError(f"label {label} is not a category id (0..{n_known - 1}) or -1",
                                     source=self._source, field=f"{w}.bbox_label_3d")
            b = np.asarray(self._entry(box, "bbox_3d", w), dtype=np.float64).reshape(-1)
            if b.size < 7:
                raise RecordingError(f"expected 7 values x, y, z, dx, dy, dz, yaw, got {b.size}",
                                     source=self._source, field=f"{w}.bbox_3d")
            v = np.asarray(box.get("velocity", [np.nan, np.nan]), dtype=np.float64).reshape(-1)[:2]
            rows.append(b[:7])
            labels.append(label)
            vels.append([v[0], v[1], np.nan if np.isnan(v).any() else 0.0])
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
        try:
            return Boxes3D(self._lidar_stamp(index), LIDAR_FRAME, GROUND_TRUTH_ID, arr[:, :3], arr[:, 3:6],
                           arr[:, 6], np.asarray(labels, dtype=np.int64), self.class_names,
                           velocities=np.asarray(vels, dtype=np.float64).reshape(-1, 3))
        except SampleError as err:
            raise RecordingError(err.reason, source=self._source, field=f"{where}.instances.{err.field}") from err

    def box_extras(self, index: int) -> dict[str, npt.NDArray[Any]]:
        """Per-box ``num_lidar_pts``, ``num_radar_pts`` (int64) and ``bbox_3d_isvalid`` (bool), in box order."""
        inst, _ = self._instances(index)
        return {"num_lidar_pts": np.array([int(b.get("num_lidar_pts", -1)) for b in inst], dtype=np.int64),
                "num_radar_pts": np.array([int(b.get("num_radar_pts", -1)) for b in inst], dtype=np.int64),
                "bbox_3d_isvalid": np.array([bool(b.get("bbox_3d_isvalid", True)) for b in inst], dtype=bool)}

    def frame(self, index: int) -> FrameSet:
        """LiDAR, cameras (unless ``load_images=False``), ego pose and ground truth of frame ``index``."""
        item, _ = self._item(index)
        samples: dict[str, Sample] = {LIDAR_ID: self.lidar(index), EGO_POSE_ID: self.ego_pose(index),
                                      GROUND_TRUTH_ID: self.boxes(index)}
        if self.load_images:
            for cam in item.get("images", {}):
                samples[cam] = self.image(index, cam)
        return FrameSet(samples[LIDAR_ID].stamp_ns, LIDAR_ID, samples)

    def frames(self) -> Iterator[FrameSet]:
        """Every frame, in file order."""
        return (self.frame(i) for i in range(len(self)))

    def __iter__(self) -> Iterator[Sample]:
        """The samples of every frame, sorted by stamp within a frame."""
        return frame_samples(self.frames())


def open_nuscenes_info(path: str | os.PathLike[str], *, data_root: str | os.PathLike[str] | None = None,
                       image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE, load_images: bool = True,
                       rotation_atol: float = ROTATION_ATOL) -> NuScenesInfoDataset:
    """Open an mmdet3d nuScenes info file (``.json`` or ``.pkl``); see the module docstring."""
    return NuScenesInfoDataset(path, data_root=data_root, image_size=image_size, load_images=load_images,
                               rotation_atol=rotation_atol)
