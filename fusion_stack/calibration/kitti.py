"""KITTI object calibration (``calib/*.txt``: P0-P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo) <-> Rig.

Frames of the rig built here (all static, rooted at ``velodyne``)::

    velodyne -> cam0_unrectified_optical   (Tr_velo_to_cam: velodyne2cam0_unrectified)
             -> cam_rect_optical           (R0_rect: cam0_unrectified2rect)
             -> cam{i}_optical             (P_i = K [I | t_i]: p_cam_i = p_rect + t_i)
    velodyne -> imu                        (Tr_imu_to_velo: imu2velodyne)

Sensors: ``velodyne`` (lidar), ``imu`` (when Tr_imu_to_velo is given) and ``cam0``-``cam3`` (rectified pinhole
cameras with K = P_i[:, :3]). KITTI files carry no image size: pass ``image_size`` (default 1242 x 375).
The mmdet3d KITTI ``info.json`` (cam2img, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo) imports to the same rig.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import ROTATION_ATOL
from fusion_stack.geometry.se3 import SE3

KITTI_IMAGE_SIZE = (1242, 375)
LIDAR_FRAME = "velodyne"
UNRECT_FRAME = "cam0_unrectified_optical"
RECT_FRAME = "cam_rect_optical"
IMU_FRAME = "imu"
_KEYS = {"P0": 12, "P1": 12, "P2": 12, "P3": 12, "R0_rect": 9, "Tr_velo_to_cam": 12, "Tr_imu_to_velo": 12}


def parse_kitti_calib_text(text: str, *, source: str | None = None) -> dict[str, npt.NDArray[np.float64]]:
    """``key: v v v ...`` lines -> arrays (P*: 3x4, R0_rect: 3x3, Tr_*: 3x4). Unknown keys are kept flat."""
    out: dict[str, npt.NDArray[np.float64]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        key = key.strip()
        if not sep:
            raise CalibrationError(f"line {lineno}: expected 'key: values', got {line[:60]!r}", source=source,
                                   field=key or f"line {lineno}")
        try:
            values = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError as err:
            raise CalibrationError(f"line {lineno}: values must be numbers: {err}", source=source,
                                   field=key) from err
        if key in _KEYS and values.size != _KEYS[key]:
            raise CalibrationError(f"expected {_KEYS[key]} numbers, got {values.size}", source=source, field=key)
        if not np.all(np.isfinite(values)):
            raise CalibrationError(f"values contain NaN or Inf: {values.tolist()}", source=source, field=key)
        if key in ("R0_rect", "R_rect"):
            out["R0_rect"] = values.reshape(3, 3)
        elif key in _KEYS or key in ("Tr_velo_cam", "Tr_imu_velo"):
            canon = {"Tr_velo_cam": "Tr_velo_to_cam", "Tr_imu_velo": "Tr_imu_to_velo"}.get(key, key)
            out[canon] = values.reshape(3, 4)
        else:
            out[key] = values
    return out


def _se3(m: npt.NDArray[np.float64], *, source: str | None, field: str, atol: float) -> SE3:
    try:
        return SE3.from_matrix(m, atol=atol)
    except GeometryError as err:
        raise CalibrationError(err.reason, source=source, field=field) from err


def rig_from_kitti_matrices(
    mats: dict[str, npt.NDArray[np.float64]], *, source: str | None = None,
    image_size: tuple[int, int] = KITTI_IMAGE_SIZE, name: str = "kitti", rotation_atol: float = ROTATION_ATOL,
) -> Rig:
    """Build the KITTI rig from parsed matrices (P0-P3 3x4, R0_rect 3x3, Tr_velo_to_cam 3x4, Tr_imu_to_velo).

    Rotations off orthonormal by more than ``rotation_atol`` are rejected; smaller errors are projected onto
    the nearest rotation.
    """
    for key in ("P2", "R0_rect", "Tr_velo_to_cam"):
        if key not in mats:
            raise CalibrationError(f"missing required calibration entry {key}", source=source, field=key)
    velo2unrect = _se3(mats["Tr_velo_to_cam"], source=source, field="Tr_velo_to_cam", atol=rotation_atol)
    unrect2rect = _se3(np.hstack([mats["R0_rect"], np.zeros((3, 1))]), source=source, field="R0_rect",
                       atol=rotation_atol)
    transforms = [
        StaticTransform(LIDAR_FRAME, UNRECT_FRAME, velo2unrect.inverse()),
        StaticTransform(UNRECT_FRAME, RECT_FRAME, unrect2rect.inverse()),
    ]
    sensors = [SensorCalibration("velodyne", "lidar", LIDAR_FRAME)]
    if "Tr_imu_to_velo" in mats:
        imu2velo = _se3(mats["Tr_imu_to_velo"], source=source, field="Tr_imu_to_velo", atol=rotation_atol)
        transforms.append(StaticTransform(LIDAR_FRAME, IMU_FRAME, imu2velo))
        sensors.append(SensorCalibration("imu", "imu", IMU_FRAME))
    width, height = image_size
    for i in range(4):
        key = f"P{i}"
        if key not in mats:
            continue
        P = mats[key]
        K = P[:, :3]
        if abs(K[2, 2] - 1.0) > 1e-9 or np.any(np.abs(K[2, :2]) > 1e-12) or abs(K[1, 0]) > 1e-12:
            raise CalibrationError(f"expected P = K [I | t] with K upper triangular and K[2,2] = 1, got "
                                   f"{P.tolist()}", source=source, field=key)
        try:
            cam = PinholeCamera(width=width, height=height, fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                                skew=K[0, 1])
        except CalibrationError as err:
            raise CalibrationError(err.reason, source=source, field=f"{key}.{err.field}") from err
        t = np.linalg.solve(K, P[:, 3])  # p_cam_i = p_rect + t
        frame = f"cam{i}_optical"
        transforms.append(StaticTransform(RECT_FRAME, frame, SE3(np.eye(3), np.asarray(-t, dtype=np.float64))))
        sensors.append(SensorCalibration(f"cam{i}", "camera", frame, camera=cam))
    return Rig(name=name, base_frame=LIDAR_FRAME, sensors=tuple(sensors), transforms=tuple(transforms),
               source=source)


def load_kitti_calib(path: str | Path, *, image_size: tuple[int, int] = KITTI_IMAGE_SIZE,
                     name: str | None = None, rotation_atol: float = ROTATION_ATOL) -> Rig:
    """Read a KITTI object ``calib/XXXXXX.txt`` into a Rig."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise CalibrationError(f"cannot read KITTI calibration: {err.strerror}", source=str(p)) from err
    mats = parse_kitti_calib_text(text, source=str(p))
    return rig_from_kitti_matrices(mats, source=str(p), image_size=image_size, name=name or f"kitti_{p.stem}",
                                   rotation_atol=rotation_atol)


def _mat4(info: dict[str, Any], key: str, source: str) -> npt.NDArray[np.float64]:
    if key not in info:
        raise CalibrationError("missing required field", source=source, field=key)
    m = np.asarray(info[key], dtype=np.float64)
    if m.shape != (4, 4):
        raise CalibrationError(f"expected a 4x4 matrix, got shape {m.shape}", source=source, field=key)
    return m


def load_kitti_info(path: str | Path, *, sample_index: int = 0, name: str | None = None,
                    rotation_atol: float = ROTATION_ATOL) -> Rig:
    """Read an mmdet3d KITTI ``info.json`` (``data_list[i]``: images.CAMi.cam2img, R0_rect, lidar_points)."""
    p = Path(path)
    src = str(p)
    try:
        doc = json.loads(p.read_text())
        item = doc["data_list"][sample_index]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise CalibrationError(f"cannot read data_list[{sample_index}] of the info file: {err}", source=src,
                               field=f"data_list[{sample_index}]") from err
    images = item.get("images", {})
    mats: dict[str, npt.NDArray[np.float64]] = {}
    mats["R0_rect"] = _mat4(images, "R0_rect", src)[:3, :3]
    lp = item.get("lidar_points", {})
    mats["Tr_velo_to_cam"] = _mat4(lp, "Tr_velo_to_cam", src)[:3]
    if "Tr_imu_to_velo" in lp:
        mats["Tr_imu_to_velo"] = _mat4(lp, "Tr_imu_to_velo", src)[:3]
    size = KITTI_IMAGE_SIZE
    for i in range(4):
        cam = images.get(f"CAM{i}")
        if cam is None:
            continue
        mats[f"P{i}"] = _mat4(cam, "cam2img", src)[:3]
        if "width" in cam and "height" in cam:
            size = (int(cam["width"]), int(cam["height"]))
    return rig_from_kitti_matrices(mats, source=src, image_size=size, name=name or f"kitti_{p.parent.name}",
                                   rotation_atol=rotation_atol)


def kitti_matrices_from_rig(rig: Rig) -> dict[str, npt.NDArray[np.float64]]:
    """The KITTI matrices (P0-P3 3x4, R0_rect 3x3, Tr_velo_to_cam 3x4, Tr_imu_to_velo 3x4) of a KITTI rig."""
    need = (LIDAR_FRAME, UNRECT_FRAME, RECT_FRAME)
    graph = rig.frame_graph()
    for f in need:
        if f not in graph:
            raise CalibrationError(f"not a KITTI rig: frame {f!r} is missing (needs {need})", source=rig.source,
                                   field="transforms")
    out: dict[str, npt.NDArray[np.float64]] = {}
    for s in rig.sensors_of_kind("camera"):
        cam = s.camera
        assert cam is not None
        rect2cam = rig.transform(RECT_FRAME, s.frame_id)
        if not np.allclose(rect2cam.rotation, np.eye(3), atol=1e-12) or cam.model_name != "pinhole":
            raise CalibrationError("KITTI cameras must be rectified pinhole cameras translated from the rectified "
                                   "frame", source=rig.source, field=f"sensors[{s.sensor_id}]")
        out[f"P{s.sensor_id.removeprefix('cam')}"] = np.hstack([cam.K, (cam.K @ rect2cam.translation)[:, None]])
    out["R0_rect"] = rig.transform(UNRECT_FRAME, RECT_FRAME).rotation
    out["Tr_velo_to_cam"] = rig.transform(LIDAR_FRAME, UNRECT_FRAME).as_matrix()[:3]
    if IMU_FRAME in graph:
        out["Tr_imu_to_velo"] = rig.transform(IMU_FRAME, LIDAR_FRAME).as_matrix()[:3]
    return out


def dump_kitti_calib(rig: Rig) -> str:
    """KITTI ``calib/*.txt`` text of a KITTI rig (values written as %.12e)."""
    mats = kitti_matrices_from_rig(rig)
    order = ["P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"]
    lines = [f"{k}: " + " ".join(f"{v:.12e}" for v in mats[k].ravel()) for k in order if k in mats]
    return "\n".join(lines) + "\n"


def save_kitti_calib(rig: Rig, path: str | Path) -> None:
    """Write a KITTI rig as a KITTI ``calib/*.txt`` file."""
    Path(path).write_text(dump_kitti_calib(rig))
