"""The calibration formats that ``fusion-stack calib convert`` reads and writes: a plain dict of implementations.

Add a format by adding a :class:`RigFormat` to ``RIG_FORMATS`` (no registry, no decorators).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.kitti import KITTI_IMAGE_SIZE, load_kitti_calib, load_kitti_info, save_kitti_calib
from fusion_stack.calibration.nuscenes import (
    NUSCENES_IMAGE_SIZE,
    load_nuscenes_info,
    load_nuscenes_tables,
    save_nuscenes_info,
    save_nuscenes_tables,
)
from fusion_stack.calibration.opencalib import load_opencalib, save_opencalib
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.calibration.rig_file import load_rig, save_rig
from fusion_stack.calibration.ros_camera_info import camera_from_ros_yaml, camera_to_ros_yaml
from fusion_stack.geometry.rotations import ROTATION_ATOL


@dataclass(frozen=True)
class LoadOptions:
    """Options for formats that lack some facts: ``image_size`` (width, height) in pixels for formats without
    image sizes (KITTI, nuScenes), ``name`` for the rig, ``rotation_atol``: how far a rotation matrix read from
    a file may be off orthonormal before it is rejected (smaller errors are projected onto a rotation)."""

    image_size: tuple[int, int] | None = None
    name: str | None = None
    rotation_atol: float = ROTATION_ATOL


@dataclass(frozen=True)
class RigFormat:
    """One calibration format: how its files are read (``load``) and written (``save``)."""

    name: str
    description: str
    load: Callable[[Path, LoadOptions], Rig] | None
    save: Callable[[Rig, Path], None] | None


def _load_rig(path: Path, opts: LoadOptions) -> Rig:
    return load_rig(path)


def _load_kitti(path: Path, opts: LoadOptions) -> Rig:
    return load_kitti_calib(path, image_size=opts.image_size or KITTI_IMAGE_SIZE, name=opts.name,
                            rotation_atol=opts.rotation_atol)


def _load_kitti_info(path: Path, opts: LoadOptions) -> Rig:
    return load_kitti_info(path, name=opts.name, rotation_atol=opts.rotation_atol)


def _load_nuscenes(path: Path, opts: LoadOptions) -> Rig:
    return load_nuscenes_tables(path, image_size=opts.image_size or NUSCENES_IMAGE_SIZE, name=opts.name or "nuscenes")


def _load_nuscenes_info(path: Path, opts: LoadOptions) -> Rig:
    return load_nuscenes_info(path, image_size=opts.image_size or NUSCENES_IMAGE_SIZE, name=opts.name,
                              rotation_atol=opts.rotation_atol)


def _load_opencalib(path: Path, opts: LoadOptions) -> Rig:
    return load_opencalib(path, name=opts.name, rotation_atol=opts.rotation_atol)


def _load_ros(path: Path, opts: LoadOptions) -> Rig:
    name, camera = camera_from_ros_yaml(path, source=str(path))
    sensor_id = name or path.stem
    frame = f"{sensor_id}_optical"
    return Rig(name=opts.name or sensor_id, base_frame=frame, sensors=(SensorCalibration(sensor_id, "camera", frame,
                                                                              camera=camera),),
               transforms=(), source=str(path))


def _save_ros(rig: Rig, path: Path) -> None:
    cams = rig.sensors_of_kind("camera")
    if not cams:
        raise CalibrationError("the rig has no camera to write as camera_info", source=rig.source, field="sensors")
    if len(cams) == 1 and path.suffix in (".yaml", ".yml"):
        assert cams[0].camera is not None
        path.write_text(camera_to_ros_yaml(cams[0].sensor_id, cams[0].camera))
        return
    path.mkdir(parents=True, exist_ok=True)
    for s in cams:
        assert s.camera is not None
        (path / f"{s.sensor_id}.yaml").write_text(camera_to_ros_yaml(s.sensor_id, s.camera))


def _save_nuscenes_tables(rig: Rig, path: Path) -> None:
    save_nuscenes_tables(rig, path)


RIG_FORMATS: Mapping[str, RigFormat] = MappingProxyType({
    "rig": RigFormat("rig", "fusion_stack rig file (YAML; docs/calibration_format.md)", _load_rig, save_rig),
    "kitti": RigFormat("kitti", "KITTI object calib/*.txt (P0-P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo)",
                       _load_kitti, save_kitti_calib),
    "kitti-info": RigFormat("kitti-info", "mmdet3d KITTI info.json (cam2img, R0_rect, Tr_velo_to_cam)",
                            _load_kitti_info, None),
    "nuscenes": RigFormat("nuscenes", "nuScenes tables folder (sensor.json, calibrated_sensor.json)",
                          _load_nuscenes, _save_nuscenes_tables),
    "nuscenes-info": RigFormat("nuscenes-info", "mmdet3d nuScenes info.json (lidar2ego, cam2ego, cam2img)",
                               _load_nuscenes_info, save_nuscenes_info),
    "opencalib": RigFormat("opencalib", "OpenCalib folder (*-intrinsic.json, *-extrinsic.json)",
                           _load_opencalib, save_opencalib),
    "ros": RigFormat("ros", "ROS camera_info YAML (camera_calibration_parsers); writes one file per camera",
                     _load_ros, _save_ros),
})


def guess_format(path: Path) -> str:
    """The format name a path most likely holds (by extension and folder contents)."""
    if path.is_dir():
        if any(path.glob("*-extrinsic.json")):
            return "opencalib"
        if (path / "calibrated_sensor.json").exists():
            return "nuscenes"
        raise CalibrationError("cannot tell the calibration format of this folder; pass --from", source=str(path))
    if path.suffix == ".txt":
        return "kitti"
    if path.suffix == ".json":
        text = path.read_text(errors="replace")[:4000]
        return "kitti-info" if "R0_rect" in text or "KITTI" in text else "nuscenes-info"
    if path.suffix in (".yaml", ".yml"):
        head = path.read_text(errors="replace")[:4000]
        return "ros" if "camera_matrix" in head else "rig"
    raise CalibrationError("cannot tell the calibration format from the name; pass --from", source=str(path))


def load_any(path: Path, fmt: str | None = None, options: LoadOptions = LoadOptions()) -> Rig:
    """Load a rig from ``path`` in format ``fmt`` (guessed when None)."""
    if not path.exists():
        raise CalibrationError("no such file or folder", source=str(path))
    name = fmt or guess_format(path)
    spec = RIG_FORMATS.get(name)
    if spec is None or spec.load is None:
        raise CalibrationError(f"format {name!r} cannot be read; readable: "
                               f"{[k for k, v in RIG_FORMATS.items() if v.load]}", source=str(path), field="format")
    return spec.load(path, options)


def save_any(rig: Rig, path: Path, fmt: str) -> None:
    """Write ``rig`` to ``path`` in format ``fmt``."""
    spec = RIG_FORMATS.get(fmt)
    if spec is None or spec.save is None:
        raise CalibrationError(f"format {fmt!r} cannot be written; writable: "
                               f"{[k for k, v in RIG_FORMATS.items() if v.save]}", source=str(path), field="format")
    spec.save(rig, path)
