"""fusion_stack's own rig file format (YAML), documented in docs/calibration_format.md.

``load_rig(path)`` validates everything and raises CalibrationError naming the file and the field path
(``sensors[2].camera.fx``); ``save_rig(rig, path)`` writes a file that loads back to an equal rig
(floats are written with full precision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusion_stack.calibration.camera_models import CameraModel, FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.calibration.yaml_reader import FieldReader
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import check_quaternion, check_rotation_matrix
from fusion_stack.geometry.se3 import SE3

FORMAT_KEY = "fusion_stack_rig"
FORMAT_VERSION = 1
CAMERA_MODELS = ("pinhole", "plumb_bob", "rational_polynomial", "fisheye")
_DISTORTION_LENGTHS = {"plumb_bob": (4, 5), "rational_polynomial": (8,), "fisheye": (4,)}


def camera_from_fields(r: FieldReader) -> CameraModel:
    """Build a camera model from a ``camera:`` mapping of a rig file."""
    model = r.text("model")
    if model not in CAMERA_MODELS:
        raise r.error("model", f"unknown camera model {model!r}; expected one of {CAMERA_MODELS}")
    width, height = r.integer("width"), r.integer("height")
    fx, fy, cx, cy = r.number("fx"), r.number("fy"), r.number("cx"), r.number("cy")
    skew = r.number("skew", 0.0)
    dist = r.numbers("distortion", _DISTORTION_LENGTHS.get(model), default=[]) if model != "pinhole" else []
    if model != "pinhole" and not r.has("distortion"):
        raise r.error("distortion", f"missing required field for camera model {model!r}")
    r.finish()
    try:
        if model == "pinhole":
            return PinholeCamera(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy, skew=skew)
        if model == "fisheye":
            d4 = (dist[0], dist[1], dist[2], dist[3])
            return FisheyeCamera(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy, distortion=d4, skew=skew)
        return RadTanCamera(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy, distortion=tuple(dist),
                            skew=skew)
    except CalibrationError as err:
        raise CalibrationError(err.reason, source=r.source, field=r.field(err.field or "")) from err


def camera_to_fields(camera: CameraModel) -> dict[str, Any]:
    """The ``camera:`` mapping of a rig file for ``camera``."""
    out: dict[str, Any] = {
        "model": camera.model_name, "width": int(camera.width), "height": int(camera.height),
        "fx": float(camera.fx), "fy": float(camera.fy), "cx": float(camera.cx), "cy": float(camera.cy),
    }
    if camera.skew:
        out["skew"] = float(camera.skew)
    if camera.model_name != "pinhole":
        out["distortion"] = [float(x) for x in camera.distortion_coefficients]
    return out


def _transform_from_fields(r: FieldReader) -> StaticTransform:
    parent, child = r.text("parent"), r.text("child")
    t = r.numbers("translation", 3)
    has_q, has_m = r.has("rotation_xyzw"), r.has("rotation_matrix")
    if has_q == has_m:
        raise r.error("rotation_xyzw", "give exactly one of rotation_xyzw (x, y, z, w) or rotation_matrix (3x3)")
    try:
        if has_q:
            q = check_quaternion(r.numbers("rotation_xyzw", 4), field=r.field("rotation_xyzw"))
            pose = SE3.from_quaternion(q, t)
        else:
            rot = check_rotation_matrix(r.matrix("rotation_matrix", 3, 3), field=r.field("rotation_matrix"))
            pose = SE3(rot, np.asarray(t))
    except GeometryError as err:
        raise CalibrationError(err.reason, source=r.source, field=err.field) from err
    r.finish()
    return StaticTransform(parent, child, pose)


def rig_from_dict(data: object, *, source: str | None = None) -> Rig:
    """Validate a parsed rig document and build the Rig."""
    r = FieldReader(data, source=source)
    version = r.integer(FORMAT_KEY)
    if version != FORMAT_VERSION:
        raise r.error(FORMAT_KEY, f"unsupported rig format version {version}; this reader knows {FORMAT_VERSION}")
    name, base = r.text("name"), r.text("base_frame")
    transforms = [_transform_from_fields(r.sub("transforms", i, v)) for i, v in r.items("transforms")]
    sensors = []
    for i, v in r.items("sensors"):
        s = r.sub("sensors", i, v)
        kind = s.text("kind")
        camera = camera_from_fields(s.mapping("camera")) if s.has("camera") else None
        sensors.append(SensorCalibration(sensor_id=s.text("id"), kind=kind, frame_id=s.text("frame_id"),
                                         time_offset_ns=s.integer("time_offset_ns", 0), camera=camera))
        s.finish()
    r.raw("description", None)
    r.finish()
    try:
        return Rig(name=name, base_frame=base, sensors=tuple(sensors), transforms=tuple(transforms), source=source)
    except CalibrationError as err:
        # Rig reports sensors by id; point at the list index too.
        raise CalibrationError(err.reason, source=source, field=_index_field(err.field, sensors)) from err


def _index_field(field: str | None, sensors: list[SensorCalibration]) -> str | None:
    if field and field.startswith("sensors[") and "]" in field:
        sid = field[len("sensors["):field.index("]")]
        for i, s in enumerate(sensors):
            if s.sensor_id == sid:
                return f"sensors[{i}]" + field[field.index("]") + 1:] + f" (id {sid})"
    return field


def rig_to_dict(rig: Rig) -> dict[str, Any]:
    """The rig as a plain document of the rig file format."""
    transforms = []
    for t in rig.transforms:
        (x, y, z), q = t.child2parent.to_ros()
        transforms.append({"parent": t.parent, "child": t.child, "translation": [x, y, z],
                           "rotation_xyzw": list(q)})
    sensors = []
    for s in rig.sensors:
        entry: dict[str, Any] = {"id": s.sensor_id, "kind": s.kind, "frame_id": s.frame_id}
        if s.time_offset_ns:
            entry["time_offset_ns"] = int(s.time_offset_ns)
        if s.camera is not None:
            entry["camera"] = camera_to_fields(s.camera)
        sensors.append(entry)
    return {FORMAT_KEY: FORMAT_VERSION, "name": rig.name, "base_frame": rig.base_frame,
            "transforms": transforms, "sensors": sensors}


def dump_rig(rig: Rig) -> str:
    """The rig file text (YAML) of ``rig``."""
    header = ("# fusion_stack rig file (docs/calibration_format.md). Transforms are child2parent:\n"
              "# p_parent = R(rotation_xyzw) p_child + translation; metres; quaternions in ROS order x, y, z, w.\n")
    return header + yaml.safe_dump(rig_to_dict(rig), sort_keys=False, default_flow_style=None, width=120)


def load_rig(path: str | Path) -> Rig:
    """Load and validate a rig file; CalibrationError names the file and field on any problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise CalibrationError(f"cannot read rig file: {err.strerror}", source=str(p)) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CalibrationError(f"not valid YAML: {err}", source=str(p)) from err
    return rig_from_dict(data, source=str(p))


def save_rig(rig: Rig, path: str | Path) -> None:
    """Write ``rig`` as a rig file."""
    Path(path).write_text(dump_rig(rig))
