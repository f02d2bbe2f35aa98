"""nuScenes calibration <-> Rig: the official tables and the mmdet3d-style ``info.json``.

Tables (``v1.0-*/``): ``sensor.json`` (token, channel, modality), ``calibrated_sensor.json`` (token,
sensor_token, translation, rotation (w, x, y, z), camera_intrinsic 3x3 or []) giving each sensor's pose in the
ego frame (sensor2ego), and ``ego_pose.json`` (token, timestamp in microseconds, translation, rotation (w, x,
y, z): ego2global). mmdet3d ``info.json``: ``data_list[i]`` with ``lidar_points.lidar2ego`` and per camera
``images.CAM_*.cam2ego``, ``cam2img`` (and ``lidar2cam``, derived).

Rig frames: ``base_link`` (the ego frame) with one child per sensor: ``lidar_top``, ``radar_front``, ...;
cameras use optical frames ``cam_front_optical``. Sensor ids are the nuScenes channels (``CAM_FRONT``).
nuScenes tables carry no image size: ``image_size`` (default 1600 x 900) is used for every camera.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import ROTATION_ATOL, check_quaternion, wxyz_to_xyzw, xyzw_to_wxyz
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import EgoPose

NUSCENES_IMAGE_SIZE = (1600, 900)
EGO_FRAME = "base_link"
GLOBAL_FRAME = "map"
_MODALITY_KIND = {"camera": "camera", "lidar": "lidar", "radar": "radar"}
_NAMESPACE = uuid.UUID("6f1c1b1e-4a5d-4f59-9a53-3d3c0f7c2a10")


def frame_for_channel(channel: str, kind: str) -> str:
    """The rig frame id of a nuScenes channel: ``CAM_FRONT`` -> ``cam_front_optical``, ``LIDAR_TOP`` ->
    ``lidar_top``."""
    return channel.lower() + ("_optical" if kind == "camera" else "")


def _kind_of_channel(channel: str) -> str:
    c = channel.upper()
    if c.startswith("CAM"):
        return "camera"
    if c.startswith("LIDAR"):
        return "lidar"
    if c.startswith("RADAR"):
        return "radar"
    return "other"


def _pose_wxyz(entry: dict[str, Any], *, source: str, field: str) -> SE3:
    try:
        t = np.asarray(entry["translation"], dtype=np.float64)
        q = check_quaternion(wxyz_to_xyzw(entry["rotation"]), field=f"{field}.rotation")
        return SE3.from_quaternion(q, t)
    except KeyError as err:
        raise CalibrationError(f"missing required field {err.args[0]!r}", source=source, field=field) from err
    except (GeometryError, ValueError) as err:
        raise CalibrationError(str(getattr(err, "reason", err)), source=source,
                               field=getattr(err, "field", None) or field) from err


def _camera_from_matrix(K: npt.ArrayLike, image_size: tuple[int, int], *, source: str, field: str) -> PinholeCamera:
    k = np.asarray(K, dtype=np.float64)
    if k.shape != (3, 3):
        raise CalibrationError(f"expected a 3x3 camera intrinsic, got shape {k.shape}", source=source, field=field)
    try:
        return PinholeCamera(width=image_size[0], height=image_size[1], fx=k[0, 0], fy=k[1, 1], cx=k[0, 2],
                             cy=k[1, 2], skew=k[0, 1])
    except CalibrationError as err:
        raise CalibrationError(err.reason, source=source, field=f"{field}.{err.field}") from err


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise CalibrationError(f"cannot read: {err.strerror}", source=str(path)) from err
    except ValueError as err:
        raise CalibrationError(f"not valid JSON: {err}", source=str(path)) from err


def load_nuscenes_tables(
    table_dir: str | Path, *, calibrated_sensor_tokens: Collection[str] | None = None,
    image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE, name: str = "nuscenes",
) -> Rig:
    """Build a Rig from ``sensor.json`` and ``calibrated_sensor.json`` in ``table_dir``.

    A full nuScenes release holds one calibrated sensor per channel per log: pass the tokens of one log's
    calibrated sensors in ``calibrated_sensor_tokens``; without it each channel must appear once.
    """
    d = Path(table_dir)
    sensors_doc = _read_json(d / "sensor.json")
    calib_doc = _read_json(d / "calibrated_sensor.json")
    src = str(d / "calibrated_sensor.json")
    channels: dict[str, tuple[str, str]] = {}
    for i, s in enumerate(sensors_doc):
        try:
            channels[s["token"]] = (s["channel"], s.get("modality", _kind_of_channel(s["channel"])))
        except (KeyError, TypeError) as err:
            raise CalibrationError(f"sensor entry needs token and channel: {err}", source=str(d / "sensor.json"),
                                   field=f"[{i}]") from err
    sensors: list[SensorCalibration] = []
    transforms: list[StaticTransform] = []
    for i, c in enumerate(calib_doc):
        if calibrated_sensor_tokens is not None and c.get("token") not in calibrated_sensor_tokens:
            continue
        field = f"[{i}]"
        token = c.get("sensor_token")
        if token not in channels:
            raise CalibrationError(f"sensor_token {token!r} is not in sensor.json (missing sensor)", source=src,
                                   field=f"{field}.sensor_token")
        channel, modality = channels[token]
        if any(s.sensor_id == channel for s in sensors):
            raise CalibrationError(
                f"channel {channel} is calibrated more than once; pass calibrated_sensor_tokens of one log",
                source=src, field=field)
        kind = _MODALITY_KIND.get(modality, "other")
        frame = frame_for_channel(channel, kind)
        transforms.append(StaticTransform(EGO_FRAME, frame, _pose_wxyz(c, source=src, field=field)))
        camera = None
        if kind == "camera":
            camera = _camera_from_matrix(c.get("camera_intrinsic", []), image_size, source=src,
                                    field=f"{field}.camera_intrinsic")
        sensors.append(SensorCalibration(channel, kind, frame, camera=camera))
    if not sensors:
        raise CalibrationError("no calibrated sensors selected", source=src, field="calibrated_sensor_tokens")
    return Rig(name=name, base_frame=EGO_FRAME, sensors=tuple(sensors), transforms=tuple(transforms), source=src)


def _token(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, "/".join(parts)).hex


def _pose_entry(pose: SE3) -> dict[str, Any]:
    return {"translation": [float(v) for v in pose.translation],
            "rotation": [float(v) for v in xyzw_to_wxyz(pose.as_quaternion())]}


def save_nuscenes_tables(rig: Rig, table_dir: str | Path, *, ego_poses: Collection[EgoPose] = ()) -> None:
    """Write ``sensor.json`` and ``calibrated_sensor.json`` (and ``ego_pose.json`` when poses are given)."""
    d = Path(table_dir)
    d.mkdir(parents=True, exist_ok=True)
    sensors, calibs = [], []
    for s in rig.sensors:
        modality = s.kind if s.kind in _MODALITY_KIND else "other"
        sensors.append({"token": _token(rig.name, "sensor", s.sensor_id), "channel": s.sensor_id,
                        "modality": modality})
        entry = {"token": _token(rig.name, "calibrated_sensor", s.sensor_id),
                 "sensor_token": sensors[-1]["token"], **_pose_entry(rig.sensor2base(s.sensor_id)),
                 "camera_intrinsic": s.camera.K.tolist() if s.camera is not None else []}
        calibs.append(entry)
    (d / "sensor.json").write_text(json.dumps(sensors, indent=1))
    (d / "calibrated_sensor.json").write_text(json.dumps(calibs, indent=1))
    if ego_poses:
        poses = [{"token": _token(rig.name, "ego_pose", str(p.stamp_ns)), "timestamp": p.stamp_ns // 1000,
                  **_pose_entry(p.pose)} for p in ego_poses]
        (d / "ego_pose.json").write_text(json.dumps(poses, indent=1))


def load_nuscenes_ego_poses(table_dir: str | Path) -> list[EgoPose]:
    """``ego_pose.json`` -> EgoPose samples (``map`` -> ``base_link``), sorted by stamp (µs -> ns)."""
    path = Path(table_dir) / "ego_pose.json"
    poses = []
    for i, e in enumerate(_read_json(path)):
        if "timestamp" not in e:
            raise CalibrationError("missing required field", source=str(path), field=f"[{i}].timestamp")
        poses.append(EgoPose(int(e["timestamp"]) * 1000, GLOBAL_FRAME, "ego_pose", EGO_FRAME,
                             _pose_wxyz(e, source=str(path), field=f"[{i}]")))
    return sorted(poses, key=lambda p: p.stamp_ns)


def load_nuscenes_info(path: str | Path, *, sample_index: int = 0,
                       image_size: tuple[int, int] = NUSCENES_IMAGE_SIZE, name: str | None = None,
                       rotation_atol: float = ROTATION_ATOL) -> Rig:
    """Build a Rig from an mmdet3d nuScenes ``info.json`` sample (lidar2ego, cam2ego, cam2img).

    Rotations off orthonormal by more than ``rotation_atol`` are rejected.
    """
    p = Path(path)
    src = str(p)
    doc = _read_json(p)
    try:
        item = doc["data_list"][sample_index]
    except (KeyError, IndexError, TypeError) as err:
        raise CalibrationError(f"no data_list[{sample_index}]: {err}", source=src, field="data_list") from err
    field = f"data_list[{sample_index}]"
    transforms, sensors = [], []
    lidar = item.get("lidar_points")
    if lidar is not None:
        m = _matrix(lidar, "lidar2ego", src, f"{field}.lidar_points", rotation_atol)
        transforms.append(StaticTransform(EGO_FRAME, "lidar_top", m))
        sensors.append(SensorCalibration("LIDAR_TOP", "lidar", "lidar_top"))
    for cam, entry in item.get("images", {}).items():
        frame = frame_for_channel(cam, "camera")
        transforms.append(StaticTransform(EGO_FRAME, frame, _matrix(entry, "cam2ego", src, f"{field}.images.{cam}",
                                                                   rotation_atol)))
        camera = _camera_from_matrix(entry.get("cam2img", []), image_size, source=src,
                                field=f"{field}.images.{cam}.cam2img")
        sensors.append(SensorCalibration(cam, "camera", frame, camera=camera))
    if not sensors:
        raise CalibrationError("no lidar_points or images in the sample (missing sensors)", source=src,
                               field=field)
    return Rig(name=name or p.parent.name, base_frame=EGO_FRAME, sensors=tuple(sensors),
               transforms=tuple(transforms), source=src)


def _matrix(entry: dict[str, Any], key: str, source: str, field: str, atol: float) -> SE3:
    if key not in entry:
        raise CalibrationError("missing required field", source=source, field=f"{field}.{key}")
    try:
        return SE3.from_matrix(np.asarray(entry[key], dtype=np.float64), atol=atol)
    except (GeometryError, ValueError) as err:
        raise CalibrationError(str(getattr(err, "reason", err)), source=source, field=f"{field}.{key}") from err


def nuscenes_info_dict(rig: Rig) -> dict[str, Any]:
    """An mmdet3d-style info document (one sample) with lidar2ego, cam2ego, cam2img and lidar2cam."""
    item: dict[str, Any] = {"images": {}}
    lidars = rig.sensors_of_kind("lidar")
    if lidars:
        item["lidar_points"] = {"lidar2ego": rig.sensor2base(lidars[0].sensor_id).as_matrix().tolist()}
    for s in rig.sensors_of_kind("camera"):
        assert s.camera is not None
        entry: dict[str, Any] = {"cam2img": s.camera.K.tolist(),
                                 "cam2ego": rig.sensor2base(s.sensor_id).as_matrix().tolist()}
        if lidars:
            entry["lidar2cam"] = rig.extrinsic(lidars[0].sensor_id, s.sensor_id).as_matrix().tolist()
        item["images"][s.sensor_id] = entry
    return {"metainfo": {"dataset": "nuscenes"}, "data_list": [item]}


def save_nuscenes_info(rig: Rig, path: str | Path) -> None:
    """Write ``nuscenes_info_dict(rig)`` as JSON."""
    Path(path).write_text(json.dumps(nuscenes_info_dict(rig), indent=1))
