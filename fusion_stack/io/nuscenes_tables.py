"""The official nuScenes table format (``dataroot/v1.0-*/*.json``) -> frames, and frames -> tables.

Reading (:func:`open_nuscenes_tables`): one frame per *sample* (keyframe), scene after scene, each scene in
``first_sample_token`` -> ``next`` order. A frame mirrors :class:`~fusion_stack.io.nuscenes_dataset
.NuScenesInfoDataset` exactly: ``LIDAR_TOP`` (the keyframe ``sample_data`` of that channel, float32 records x,
y, z, intensity, ring -> PointCloud in ``lidar_top`` with ``intensity`` float32 and ``ring`` uint16), one
CameraImage (bgr8, ``cam_*_optical``) per keyframe ``CAM_*`` sample_data, ``ego_pose`` (``map`` ->
``base_link``, the LiDAR sample_data's ``ego_pose_token``, at the LiDAR stamp) and ``ground_truth``: the sample's
``sample_annotation`` boxes as Boxes3D in ``lidar_top`` at the LiDAR stamp. Other channels (radars, sweeps) are
not read.

Conventions of the tables: timestamps are microseconds (stamps here are ns = µs * 1000); quaternions are
(w, x, y, z); ``sample_annotation`` is in the global frame with ``translation`` the box centre, ``size`` =
(w, l, h) and ``rotation`` the box orientation; ``calibrated_sensor`` is sensor2ego and ``ego_pose`` ego2global.
Boxes are taken into the LiDAR frame with the full rotation (global -> ego -> lidar) and the yaw is the heading
(box x axis) projected on the LiDAR x-y plane; sizes become (l, w, h). Class names are the 10 classes of the
nuScenes detection benchmark (``DETECTION_CLASSES``, the info reader's order) plus ``ignore`` for every other
category (``CATEGORY_TO_DETECTION``; a category already named like a detection class maps to itself). Track ids
are the index of the box's ``instance_token`` in ``instance.json``. The tables hold no velocities: as
nuscenes-devkit's ``box_velocity`` (and mmdet3d's info files), the global velocity is the difference of the
annotation's prev and next annotations (NaN when it has neither or they are over 1.5 s apart, 3 s with both),
rotated into the LiDAR frame, and kept as (vx, vy, 0) like the info reader.
The rig of a sample (:meth:`NuScenesTablesDataset.rig_of`) is built by
:func:`~fusion_stack.calibration.nuscenes.load_nuscenes_tables` from the calibrated sensors of its keyframe
LiDAR and camera sample_data, camera sizes from sample_data ``width``/``height`` (else ``image_size``); it is
named after the ``dataroot`` folder.

Writing (:func:`write_nuscenes_tables`): the inverse, for frames with the sensor ids above. Tokens are uuid5 of
the scene name and the record's role, so writing twice gives identical files. Images are JPEG by default (lossy;
``image_format="png"`` keeps them bit-exact). Every sample_data gets its own ``ego_pose`` record (same token, at
its own timestamp) holding the frame's ego pose, which is exact for the LiDAR and an approximation for cameras
exposed at another instant. Box rotations are written as the LiDAR-frame yaw rotation taken into the global frame
with the full rotation, so reading back is exact to rounding (``gravity_aligned=True``: about the global z
only, as the official annotations). ``visibility_token`` is ``"4"`` (80-100 %: not
known) and ``attribute_tokens`` empty; ``num_lidar_pts`` counts the frame's points inside each box.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.nuscenes import (
    EGO_FRAME,
    GLOBAL_FRAME,
    NUSCENES_IMAGE_SIZE,
    frame_for_channel,
    load_nuscenes_tables,
    save_nuscenes_tables,
)
from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.rotations import (
    check_quaternion,
    matrix_to_quaternion,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
    yaw_matrix,
)
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.dataset_reader import EGO_POSE_ID, GROUND_TRUTH_ID, frame_samples
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.nuscenes_dataset import IGNORE_CLASS, LIDAR_FRAME, LIDAR_ID
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, FrameSet, PointCloud, Sample, SampleError

DETECTION_CLASSES = ("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle",
                     "pedestrian", "traffic_cone", "barrier")
"""The classes of the nuScenes detection benchmark, in the order of mmdet3d's info files."""
CATEGORY_TO_DETECTION: Mapping[str, str] = {
    "movable_object.barrier": "barrier", "vehicle.bicycle": "bicycle", "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus", "vehicle.car": "car", "vehicle.construction": "construction_vehicle",
    "vehicle.motorcycle": "motorcycle", "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian", "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian", "movable_object.trafficcone": "traffic_cone",
    "vehicle.trailer": "trailer", "vehicle.truck": "truck",
}
"""nuScenes category name -> detection class (as nuscenes-devkit's ``category_to_detection_name``)."""
DETECTION_TO_CATEGORY: Mapping[str, str] = {
    "car": "vehicle.car", "truck": "vehicle.truck", "trailer": "vehicle.trailer", "bus": "vehicle.bus.rigid",
    "construction_vehicle": "vehicle.construction", "bicycle": "vehicle.bicycle", "motorcycle": "vehicle.motorcycle",
    "pedestrian": "human.pedestrian.adult", "traffic_cone": "movable_object.trafficcone",
    "barrier": "movable_object.barrier", IGNORE_CLASS: "movable_object.debris",
}
"""Default class name -> nuScenes category written by :func:`write_nuscenes_tables`."""
REQUIRED_TABLES = ("scene", "sample", "sample_data", "sample_annotation", "instance", "category",
                   "calibrated_sensor", "sensor", "ego_pose")
OPTIONAL_TABLES = ("attribute", "log", "visibility")
_CAMERA_ORDER = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
_NAMESPACE = uuid.UUID("0b6f4f7e-2f4e-5a43-9d1c-6a8e5c3f1d27")
_VISIBILITY = [{"token": str(i + 1), "level": level, "description": f"visibility of whole object is {desc}"}
               for i, (level, desc) in enumerate([("v0-40", "between 0 and 40%"), ("v40-60", "between 40 and 60%"),
                                                  ("v60-80", "between 60 and 80%"),
                                                  ("v80-100", "between 80 and 100%")])]


def _channel_key(channel: str) -> tuple[int, int, str]:
    if channel == LIDAR_ID:
        return (0, 0, channel)
    if channel in _CAMERA_ORDER:
        return (1, _CAMERA_ORDER.index(channel), channel)
    return (2, 0, channel)


def _pose(entry: Mapping[str, Any], *, source: str, field: str) -> SE3:
    """translation + rotation (w, x, y, z) of a table record -> SE3."""
    try:
        q = check_quaternion(wxyz_to_xyzw(np.asarray(entry["rotation"], dtype=float)),
                             field=f"{field}.rotation")
        return SE3.from_quaternion(q, np.asarray(entry["translation"], dtype=np.float64))
    except KeyError as err:
        raise RecordingError("missing required field", source=source, field=f"{field}.{err.args[0]}") from err
    except (GeometryError, ValueError, TypeError) as err:
        raise RecordingError(str(getattr(err, "reason", err)), source=source,
                             field=getattr(err, "field", None) or field) from err


class _Table:
    """One loaded table: its records in file order and an index by token."""

    def __init__(self, table_dir: Path, name: str, *, required: bool) -> None:
        self.name = name
        self.path = table_dir / f"{name}.json"
        self.source = str(self.path)
        self.records: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}
        if not self.path.is_file():
            if required:
                raise RecordingError(f"missing table file (required: {', '.join(REQUIRED_TABLES)})",
                                     source=self.source, field=name)
            return
        try:
            doc = json.loads(self.path.read_text())
        except OSError as err:
            raise RecordingError(f"cannot read: {err.strerror}", source=self.source, field=name) from err
        except ValueError as err:
            raise RecordingError(f"not valid JSON: {err}", source=self.source, field=name) from err
        if not isinstance(doc, list):
            raise RecordingError(f"expected a list of records, got {type(doc).__name__}", source=self.source,
                                 field=name)
        for i, rec in enumerate(doc):
            if not isinstance(rec, dict) or not isinstance(rec.get("token"), str):
                raise RecordingError("expected a record with a string 'token'", source=self.source,
                                     field=f"[{i}].token")
            self.index[rec["token"]] = i
        self.records = doc

    def where(self, token: str) -> str:
        return f"[{self.index[token]}]"

    def value(self, rec: Mapping[str, Any], key: str) -> Any:
        if key not in rec:
            raise RecordingError("missing required field", source=self.source,
                                 field=f"{self.where(rec['token'])}.{key}")
        return rec[key]

    def follow(self, rec: Mapping[str, Any], key: str, target: _Table) -> dict[str, Any]:
        """The record of ``target`` that ``rec[key]`` points at (a dangling token raises, naming ``key``)."""
        token = self.value(rec, key)
        if token not in target.index:
            raise RecordingError(f"token {token!r} is not in {target.path.name} (dangling token)",
                                 source=self.source, field=f"{self.where(rec['token'])}.{key}")
        return target.records[target.index[token]]


class NuScenesTablesDataset:
    """The keyframes (samples) of official nuScenes tables (see the module docstring). Implements
    ``DatasetReader``."""

    def __init__(self, dataroot: str | os.PathLike[str], *, version: str = "v1.0-mini", scene: str | None = None,
                 load_images: bool = True, image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE,
                 velocities: bool = True) -> None:
        self.dataroot = Path(dataroot)
        self.velocities = velocities
        self.version = version
        self.table_dir = self.dataroot / version
        self.load_images = load_images
        self.image_size = image_size
        self.class_names: tuple[str, ...] = (*DETECTION_CLASSES, IGNORE_CLASS)
        t = {name: _Table(self.table_dir, name, required=True) for name in REQUIRED_TABLES}
        t.update({name: _Table(self.table_dir, name, required=False) for name in OPTIONAL_TABLES})
        self._t = t
        self._instance_ids = {tok: i for i, tok in enumerate(r["token"] for r in t["instance"].records)}
        self._rigs: dict[tuple[str, ...], Rig] = {}
        scenes = t["scene"].records
        if scene is not None:
            scenes = [s for s in scenes if scene in (s.get("name"), s["token"])]
            if not scenes:
                raise RecordingError(f"no scene named {scene!r}", source=t["scene"].source, field="name")
        # the sample chain of each scene
        self._samples: list[dict[str, Any]] = []
        for sc in scenes:
            rec: dict[str, Any] | None = t["scene"].follow(sc, "first_sample_token", t["sample"])
            seen: set[str] = set()
            while rec is not None:
                if rec["token"] in seen:
                    raise RecordingError("sample.next links form a loop", source=t["sample"].source,
                                         field=f"{t['sample'].where(rec['token'])}.next")
                seen.add(rec["token"])
                self._samples.append(rec)
                rec = t["sample"].follow(rec, "next", t["sample"]) if t["sample"].value(rec, "next") else None
        # keyframe sample_data of each sample by channel (LiDAR and cameras), annotations of each sample
        wanted = {s["token"] for s in self._samples}
        self._data: dict[str, dict[str, dict[str, Any]]] = {tok: {} for tok in wanted}
        sd_t = t["sample_data"]
        for sd in sd_t.records:
            if sd.get("sample_token") not in wanted or not sd.get("is_key_frame", False):
                continue
            calib = sd_t.follow(sd, "calibrated_sensor_token", t["calibrated_sensor"])
            sensor = t["calibrated_sensor"].follow(calib, "sensor_token", t["sensor"])
            channel = str(t["sensor"].value(sensor, "channel"))
            if channel == LIDAR_ID or channel.startswith("CAM"):
                self._data[sd["sample_token"]][channel] = sd
        self._anns: dict[str, list[dict[str, Any]]] = {tok: [] for tok in wanted}
        for ann in t["sample_annotation"].records:
            if ann.get("sample_token") in wanted:
                self._anns[ann["sample_token"]].append(ann)

    def __len__(self) -> int:
        return len(self._samples)

    def _sample(self, index: int) -> dict[str, Any]:
        if not -len(self._samples) <= index < len(self._samples):
            raise RecordingError(f"no frame {index}; the selection has {len(self._samples)}",
                                 source=self._t["sample"].source, field="token")
        return self._samples[index]

    def sample_token(self, index: int) -> str:
        """The ``sample`` token of frame ``index``."""
        return str(self._sample(index)["token"])

    def _sd(self, index: int, channel: str) -> dict[str, Any]:
        s = self._sample(index)
        data = self._data[s["token"]]
        if channel not in data:
            raise RecordingError(f"sample has no keyframe sample_data of channel {channel!r} (has {sorted(data)})",
                                 source=self._t["sample_data"].source, field="sample_token")
        return data[channel]

    def channels(self, index: int) -> tuple[str, ...]:
        """The channels (LiDAR first, cameras in the info files' order) with a keyframe in frame ``index``."""
        return tuple(sorted(self._data[self._sample(index)["token"]], key=_channel_key))

    def _stamp(self, sd: Mapping[str, Any]) -> int:
        value = self._t["sample_data"].value(sd, "timestamp")
        try:
            return int(value) * 1000
        except (TypeError, ValueError) as err:
            raise RecordingError(f"timestamp {value!r} is not an integer (µs)", source=self._t["sample_data"].source,
                                 field=f"{self._t['sample_data'].where(sd['token'])}.timestamp") from err

    def _file(self, sd: Mapping[str, Any]) -> Path:
        name = str(self._t["sample_data"].value(sd, "filename"))
        path = self.dataroot / name
        if not path.is_file():
            raise RecordingError(f"file {name!r} not found under {self.dataroot}", source=self._t["sample_data"].source,
                                 field=f"{self._t['sample_data'].where(sd['token'])}.filename")
        return path

    # --- calibration ----------------------------------------------------------------------------------------
    def rig_of(self, index: int) -> Rig:
        """The rig of frame ``index``: the calibrated sensors of its keyframe LiDAR and camera sample_data."""
        sds = [self._sd(index, ch) for ch in self.channels(index)]
        key = tuple(sd["calibrated_sensor_token"] for sd in sds)
        if key not in self._rigs:
            try:
                rig = load_nuscenes_tables(self.table_dir, calibrated_sensor_tokens=set(key),
                                           image_size=self.image_size, name=self.dataroot.name)
                sensors = []
                for s in rig.sensors:
                    sd = next(sd for sd, ch in zip(sds, self.channels(index)) if ch == s.sensor_id)
                    w, h = int(sd.get("width") or 0), int(sd.get("height") or 0)
                    if isinstance(s.camera, PinholeCamera) and w > 0 and h > 0:
                        s = dataclasses.replace(s, camera=dataclasses.replace(s.camera, width=w, height=h))
                    sensors.append(s)
                sensors.sort(key=lambda s: _channel_key(s.sensor_id))
                self._rigs[key] = dataclasses.replace(rig, sensors=tuple(sensors))
            except CalibrationError as err:
                raise RecordingError(err.reason, source=err.source or self._t["calibrated_sensor"].source,
                                     field=err.field) from err
        return self._rigs[key]

    @property
    def rig(self) -> Rig:
        """The rig of the first frame (calibration changes between logs: see :meth:`rig_of`)."""
        return self.rig_of(0)

    # --- samples --------------------------------------------------------------------------------------------
    def lidar(self, index: int) -> PointCloud:
        """The LiDAR scan of frame ``index``."""
        sd = self._sd(index, LIDAR_ID)
        path = self._file(sd)
        raw = np.fromfile(path, dtype="<f4")
        field = f"{self._t['sample_data'].where(sd['token'])}.filename"
        if raw.size % 5:
            raise RecordingError(f"{path.name} holds {raw.size} float32 values, not a multiple of 5 (x, y, z, "
                                 "intensity, ring)", source=str(path), field=field)
        pts = raw.reshape(-1, 5)
        try:
            return PointCloud(self._stamp(sd), LIDAR_FRAME, LIDAR_ID, pts[:, :3],
                              {"intensity": pts[:, 3], "ring": pts[:, 4].astype(np.uint16)})
        except SampleError as err:
            raise RecordingError(err.reason, source=str(path), field=err.field) from err

    def image(self, index: int, camera: str) -> CameraImage:
        """The keyframe image of ``camera`` (e.g. ``CAM_FRONT``) in frame ``index``, decoded as bgr8."""
        sd = self._sd(index, camera)
        path = self._file(sd)
        data = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if data is None:
            raise RecordingError("cannot decode the image", source=str(path),
                                 field=f"{self._t['sample_data'].where(sd['token'])}.filename")
        return CameraImage(self._stamp(sd), frame_for_channel(camera, "camera"), camera, data, "bgr8")

    def _ego2global(self, index: int) -> SE3:
        sd = self._sd(index, LIDAR_ID)
        rec = self._t["sample_data"].follow(sd, "ego_pose_token", self._t["ego_pose"])
        return _pose(rec, source=self._t["ego_pose"].source, field=self._t["ego_pose"].where(rec["token"]))

    def ego_pose(self, index: int) -> EgoPose:
        """The ego pose (``map`` -> ``base_link``) of frame ``index`` at its LiDAR stamp."""
        return EgoPose(self._stamp(self._sd(index, LIDAR_ID)), GLOBAL_FRAME, EGO_POSE_ID, EGO_FRAME,
                       self._ego2global(index))

    def _velocity(self, ann: Mapping[str, Any], max_time_diff: float = 1.5) -> npt.NDArray[np.float64]:
        """Global velocity (m/s) of an annotation from its prev/next annotations (nuscenes-devkit's
        ``box_velocity``): NaN without neighbours or when they are more than ``max_time_diff`` s apart (twice
        that when both exist)."""
        ann_t = self._t["sample_annotation"]
        has_prev, has_next = bool(ann.get("prev")), bool(ann.get("next"))
        if not has_prev and not has_next:
            return np.full(3, np.nan)
        first = ann_t.follow(ann, "prev", ann_t) if has_prev else ann
        last = ann_t.follow(ann, "next", ann_t) if has_next else ann
        stamps = [int(self._t["sample_annotation"].follow(a, "sample_token", self._t["sample"])["timestamp"])
                  for a in (first, last)]
        dt = (stamps[1] - stamps[0]) * 1e-6
        if dt <= 0 or dt > max_time_diff * (2 if has_prev and has_next else 1):
            return np.full(3, np.nan)
        pos = [np.asarray(ann_t.value(a, "translation"), dtype=np.float64) for a in (first, last)]
        return np.asarray((pos[1] - pos[0]) / dt, dtype=np.float64)

    def boxes(self, index: int, *, drop_ignored: bool = False) -> Boxes3D:
        """The sample's annotations in the LiDAR frame at the LiDAR stamp (``drop_ignored`` drops ``ignore``)."""
        sd = self._sd(index, LIDAR_ID)
        sd_t, ann_t, inst_t = self._t["sample_data"], self._t["sample_annotation"], self._t["instance"]
        calib = sd_t.follow(sd, "calibrated_sensor_token", self._t["calibrated_sensor"])
        lidar2ego = _pose(calib, source=self._t["calibrated_sensor"].source,
                          field=self._t["calibrated_sensor"].where(calib["token"]))
        global2lidar = (self._ego2global(index) @ lidar2ego).inverse()
        ignore = len(self.class_names) - 1
        centers, sizes, yaws, labels, tids, vels = [], [], [], [], [], []
        for ann in self._anns[self._sample(index)["token"]]:
            w = ann_t.where(ann["token"])
            inst = ann_t.follow(ann, "instance_token", inst_t)
            cat = inst_t.follow(inst, "category_token", self._t["category"])
            name = str(self._t["category"].value(cat, "name"))
            cls = CATEGORY_TO_DETECTION.get(name, name)
            label = self.class_names.index(cls) if cls in DETECTION_CLASSES else ignore
            if drop_ignored and label == ignore:
                continue
            box = _pose(ann, source=ann_t.source, field=w)
            size = np.asarray(ann_t.value(ann, "size"), dtype=np.float64).reshape(-1)
            if size.shape != (3,):
                raise RecordingError(f"expected 3 values (w, l, h), got {size.size}", source=ann_t.source,
                                     field=f"{w}.size")
            r = global2lidar.rotation @ box.rotation
            centers.append(global2lidar.apply(box.translation[None])[0])
            sizes.append([size[1], size[0], size[2]])
            yaws.append(float(np.arctan2(r[1, 0], r[0, 0])))
            labels.append(label)
            tids.append(self._instance_ids[inst["token"]])
            v = global2lidar.apply_rotation(self._velocity(ann)[None])[0] if self.velocities else np.full(3, np.nan)
            vels.append([v[0], v[1], np.nan if np.isnan(v).any() else 0.0])
        n = len(labels)
        try:
            return Boxes3D(self._stamp(sd), LIDAR_FRAME, GROUND_TRUTH_ID,
                           np.asarray(centers, dtype=np.float64).reshape(n, 3),
                           np.asarray(sizes, dtype=np.float64).reshape(n, 3), np.asarray(yaws, dtype=np.float64),
                           np.asarray(labels, dtype=np.int64), self.class_names,
                           velocities=np.asarray(vels, dtype=np.float64).reshape(n, 3),
                           track_ids=np.asarray(tids, dtype=np.int64))
        except SampleError as err:
            raise RecordingError(err.reason, source=ann_t.source, field=err.field) from err

    def frame(self, index: int) -> FrameSet:
        """LiDAR, cameras (unless ``load_images=False``), ego pose and ground truth of frame ``index``."""
        samples: dict[str, Sample] = {LIDAR_ID: self.lidar(index), EGO_POSE_ID: self.ego_pose(index),
                                      GROUND_TRUTH_ID: self.boxes(index)}
        if self.load_images:
            for ch in self.channels(index):
                if ch != LIDAR_ID:
                    samples[ch] = self.image(index, ch)
        return FrameSet(samples[LIDAR_ID].stamp_ns, LIDAR_ID, samples)

    def frames(self) -> Iterator[FrameSet]:
        """Every frame, scene after scene, in sample order."""
        return (self.frame(i) for i in range(len(self)))

    def __iter__(self) -> Iterator[Sample]:
        """The samples of every frame, sorted by stamp within a frame."""
        return frame_samples(self.frames())


def open_nuscenes_tables(dataroot: str | os.PathLike[str], *, version: str = "v1.0-mini", scene: str | None = None,
                         load_images: bool = True, image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE,
                         velocities: bool = True) -> NuScenesTablesDataset:
    """Open the official nuScenes tables ``dataroot/version/*.json`` (``scene``: one scene's name or token;
    ``velocities=False``: NaN velocities instead of differences of neighbouring annotations); see the module
    docstring."""
    return NuScenesTablesDataset(dataroot, version=version, scene=scene, load_images=load_images,
                                 image_size=image_size, velocities=velocities)


# --- writing --------------------------------------------------------------------------------------------------
def _pose_entry(pose: SE3) -> dict[str, Any]:
    return {"translation": [float(v) for v in pose.translation],
            "rotation": [float(v) for v in xyzw_to_wxyz(pose.as_quaternion())]}


def _points_in_boxes(points: npt.NDArray[np.float64], boxes: Boxes3D) -> npt.NDArray[np.int64]:
    counts = np.zeros(len(boxes), dtype=np.int64)
    for j in range(len(boxes)):
        c, s = np.cos(boxes.yaws[j]), np.sin(boxes.yaws[j])
        d = points - boxes.centers[j]
        local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
        counts[j] = int(np.all(np.abs(local) <= boxes.sizes[j] / 2, axis=1).sum())
    return counts


def _bgr(image: CameraImage, *, field: str) -> npt.NDArray[Any]:
    data = np.asarray(image.data)
    if image.encoding == "bgr8":
        return data
    if image.encoding == "rgb8":
        return np.ascontiguousarray(data[..., ::-1])
    if image.encoding == "mono8":
        return data.reshape(data.shape[0], data.shape[1])
    raise RecordingError(f"cannot write encoding {image.encoding!r} as an image file (bgr8, rgb8 or mono8)",
                         field=field)


def write_nuscenes_tables(
    dataroot: str | os.PathLike[str], frames: Iterable[FrameSet], rig: Rig, *, version: str = "v1.0-mini",
    scene_name: str = "scene-0001", class_names: Mapping[str, str] | None = None, log_name: str | None = None,
    location: str = "unknown", vehicle: str = "unknown", description: str = "",
    image_format: str = "jpg", jpeg_quality: int = 95, gravity_aligned: bool = False,
) -> Path:
    """Write ``frames`` (sensor ids ``LIDAR_TOP``, ``CAM_*``, ``ego_pose``, ``ground_truth``) as one scene of
    official nuScenes tables in ``dataroot/version/`` plus the files under ``dataroot/samples/<CHANNEL>/``.

    ``class_names`` maps box class names to nuScenes category names (default ``DETECTION_TO_CATEGORY``; names
    in neither are written as their own category, which the reader maps back when it is a detection class).
    ``log_name`` (default ``scene_name``) prefixes the file names. ``image_format`` ``"jpg"`` (quality
    ``jpeg_quality``, lossy) or ``"png"`` (lossless). Box rotations: the LiDAR-frame yaw taken into the global
    frame with the full rotation (exact round trip), or with ``gravity_aligned`` a rotation about the global z
    only (as nuScenes annotations are; the heading is projected, so reading back differs by the square of the
    LiDAR's tilt, ~1e-3 rad). Returns the table folder. Existing tables there are
    replaced: one call writes one scene.
    """
    if image_format not in ("jpg", "png"):
        raise RecordingError(f"image_format must be 'jpg' or 'png', got {image_format!r}", field="image_format")
    root = Path(dataroot)
    table_dir = root / version
    save_nuscenes_tables(rig, table_dir)
    sensor_doc = json.loads((table_dir / "sensor.json").read_text())
    calib_doc = json.loads((table_dir / "calibrated_sensor.json").read_text())
    channel_of = {s["token"]: s["channel"] for s in sensor_doc}
    calib_token = {channel_of[c["sensor_token"]]: c["token"] for c in calib_doc}
    if LIDAR_ID not in calib_token:
        raise RecordingError(f"the rig has no {LIDAR_ID}", source=rig.source, field="sensors")
    cameras = {s.sensor_id for s in rig.sensors_of_kind("camera")}
    lidar2ego = rig.sensor2base(LIDAR_ID)
    lidar_frame = rig.sensor(LIDAR_ID).frame_id
    mapping = {**DETECTION_TO_CATEGORY, **(class_names or {})}
    log = log_name or scene_name

    def tok(*parts: object) -> str:
        return uuid.uuid5(_NAMESPACE, "/".join([scene_name, *map(str, parts)])).hex

    scene_token, log_token = tok("scene"), tok("log")
    samples: list[dict[str, Any]] = []
    sample_data: list[dict[str, Any]] = []
    ego_poses: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    last_sd: dict[str, dict[str, Any]] = {}
    inst_anns: dict[str, list[dict[str, Any]]] = {}
    inst_cat: dict[str, str] = {}
    for k, fs in enumerate(frames):
        where = f"frames[{k}]"
        lidar, pose = fs.get(LIDAR_ID), fs.get(EGO_POSE_ID)
        if not isinstance(lidar, PointCloud) or not isinstance(pose, EgoPose):
            raise RecordingError(f"each frame needs a PointCloud {LIDAR_ID} and an EgoPose {EGO_POSE_ID}",
                                 field=where)
        if lidar.frame_id != lidar_frame:
            raise RecordingError(f"LiDAR points in {lidar.frame_id!r}, expected {lidar_frame!r}",
                                 field=f"{where}.{LIDAR_ID}.frame_id")
        us = lidar.stamp_ns // 1000
        sample_token = tok("sample", k)
        if samples:
            samples[-1]["next"] = sample_token
        samples.append({"token": sample_token, "timestamp": us, "prev": samples[-1]["token"] if samples else "",
                        "next": "", "scene_token": scene_token})
        ego2global = pose.pose
        entries: list[tuple[str, Sample]] = [(LIDAR_ID, lidar)]
        entries += sorted(((s.sensor_id, s) for s in fs if s.sensor_id in cameras and isinstance(s, CameraImage)),
                          key=lambda e: _channel_key(e[0]))
        for channel, s in entries:
            s_us = s.stamp_ns // 1000
            sd_token = tok("sample_data", channel, k)
            folder = root / "samples" / channel
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(s, PointCloud):
                ext, width, height = "pcd.bin", 0, 0
                n = len(s)
                rec = np.zeros((n, 5), dtype="<f4")
                rec[:, :3] = s.positions
                for col, name in ((3, "intensity"), (4, "ring")):
                    if name in s.fields:
                        rec[:, col] = np.asarray(s.fields[name]).reshape(n)
                filename = f"samples/{channel}/{log}__{channel}__{s_us}.{ext}"
                rec.tofile(root / filename)
            else:
                assert isinstance(s, CameraImage)
                ext, width, height = image_format, s.width, s.height
                filename = f"samples/{channel}/{log}__{channel}__{s_us}.{ext}"
                params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext == "jpg" else []
                if not cv2.imwrite(str(root / filename), _bgr(s, field=f"{where}.{channel}.encoding"), params):
                    raise RecordingError("cannot write the image", source=str(root / filename),
                                         field=f"{where}.{channel}")
            prev = last_sd.get(channel)
            if prev is not None:
                prev["next"] = sd_token
            entry = {"token": sd_token, "sample_token": sample_token, "ego_pose_token": sd_token,
                     "calibrated_sensor_token": calib_token[channel], "timestamp": s_us,
                     "fileformat": "pcd" if ext == "pcd.bin" else ext, "is_key_frame": True, "height": height,
                     "width": width, "filename": filename, "prev": prev["token"] if prev else "", "next": ""}
            sample_data.append(entry)
            last_sd[channel] = entry
            ego_poses.append({"token": sd_token, "timestamp": s_us, **_pose_entry(ego2global)})
        boxes = fs.get(GROUND_TRUTH_ID)
        if boxes is None:
            continue
        if not isinstance(boxes, Boxes3D) or boxes.frame_id != lidar_frame:
            raise RecordingError(f"ground truth must be Boxes3D in {lidar_frame!r}", field=f"{where}.{GROUND_TRUTH_ID}")
        lidar2global = ego2global @ lidar2ego
        centres = lidar2global.apply(boxes.centers)
        counts = _points_in_boxes(np.asarray(lidar.positions, dtype=np.float64), boxes)
        names = boxes.label_names()
        for j in range(len(boxes)):
            tid = int(boxes.track_ids[j])
            inst = tok("instance", tid) if tid >= 0 else tok("instance", f"{k}/{j}")
            category = mapping.get(names[j], names[j])
            inst_cat.setdefault(inst, category)
            rot = lidar2global.rotation @ yaw_matrix(float(boxes.yaws[j]))
            if gravity_aligned:
                rot = yaw_matrix(float(np.arctan2(rot[1, 0], rot[0, 0])))
            q = xyzw_to_wxyz(matrix_to_quaternion(rot))
            l_, w_, h_ = (float(v) for v in boxes.sizes[j])
            ann = {"token": tok("sample_annotation", k, j), "sample_token": sample_token, "instance_token": inst,
                   "visibility_token": "4", "attribute_tokens": [], "translation": [float(v) for v in centres[j]],
                   "size": [w_, l_, h_], "rotation": [float(v) for v in q], "prev": "", "next": "",
                   "num_lidar_pts": int(counts[j]), "num_radar_pts": 0}
            chain = inst_anns.setdefault(inst, [])
            if chain:
                chain[-1]["next"], ann["prev"] = ann["token"], chain[-1]["token"]
            chain.append(ann)
            anns.append(ann)
    if not samples:
        raise RecordingError("no frames to write", field="frames")
    cat_token = {name: uuid.uuid5(_NAMESPACE, f"category/{name}").hex for name in sorted(set(inst_cat.values()))}
    instances = [{"token": inst, "category_token": cat_token[inst_cat[inst]], "nbr_annotations": len(chain),
                  "first_annotation_token": chain[0]["token"], "last_annotation_token": chain[-1]["token"]}
                 for inst, chain in inst_anns.items()]
    tables: dict[str, Any] = {
        "scene": [{"token": scene_token, "log_token": log_token, "nbr_samples": len(samples),
                   "first_sample_token": samples[0]["token"], "last_sample_token": samples[-1]["token"],
                   "name": scene_name, "description": description}],
        "sample": samples, "sample_data": sample_data, "sample_annotation": anns, "instance": instances,
        "category": [{"token": t, "name": n, "description": ""} for n, t in cat_token.items()],
        "attribute": [], "visibility": _VISIBILITY, "ego_pose": ego_poses,
        "log": [{"token": log_token, "logfile": log, "vehicle": vehicle, "date_captured": "",
                 "location": location}],
        "map": [],
    }
    for name, doc in tables.items():
        (table_dir / f"{name}.json").write_text(json.dumps(doc, indent=1))
    return table_dir


__all__ = ["CATEGORY_TO_DETECTION", "DETECTION_CLASSES", "DETECTION_TO_CATEGORY", "NuScenesTablesDataset",
           "open_nuscenes_tables", "write_nuscenes_tables"]
