"""OpenCalib (SensorsCalibration) JSON files <-> Rig.

A folder holds ``<camera>-intrinsic.json`` files (``param.cam_K`` 3x3, ``param.cam_dist`` 1xN OpenCV
radial-tangential coefficients, ``param.img_dist_w``/``img_dist_h``) and ``<src>-to-<dst>-extrinsic.json`` files
(``param.sensor_calib`` 4x4 = src2dst, mapping points of ``sensor_name`` into ``target_sensor_name``;
``param.time_lag``). The rig's base frame is the source sensor of the first extrinsic (sorted by file name);
sensor ids are OpenCalib's sensor names; frames are the sensor names (cameras: ``<name>_optical``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fusion_stack.calibration.camera_models import CameraModel, PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import FrameGraph, StaticTransform
from fusion_stack.geometry.rotations import ROTATION_ATOL
from fusion_stack.geometry.se3 import SE3


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise CalibrationError(f"cannot read: {err.strerror}", source=str(path)) from err
    except ValueError as err:
        raise CalibrationError(f"not valid JSON: {err}", source=str(path)) from err
    if not isinstance(doc, dict) or len(doc) != 1 or not isinstance(next(iter(doc.values())), dict):
        raise CalibrationError("expected one top-level object {name: {...}}", source=str(path), field="<document>")
    key, body = next(iter(doc.items()))
    return key, body


def _get(body: dict[str, Any], dotted: str, source: str, key: str) -> Any:
    cur: Any = body
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise CalibrationError("missing required field", source=source, field=f"{key}.{dotted}")
        cur = cur[part]
    return cur


def _cv_matrix(body: dict[str, Any], dotted: str, source: str, key: str) -> np.ndarray:
    m = _get(body, dotted, source, key)
    try:
        arr = np.asarray(m["data"], dtype=np.float64).reshape(int(m["rows"]), int(m["cols"]))
    except (KeyError, TypeError, ValueError) as err:
        raise CalibrationError(f"expected {{rows, cols, data}} with rows*cols numbers: {err}", source=source,
                               field=f"{key}.{dotted}") from err
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"contains NaN or Inf: {arr.tolist()}", source=source, field=f"{key}.{dotted}")
    return arr


def _kind(name: str) -> str:
    low = name.lower()
    for kind in ("camera", "lidar", "radar", "imu", "gnss"):
        if kind in low:
            return kind
    return "other"


def _frame(name: str, kind: str) -> str:
    return f"{name}_optical" if kind == "camera" else name


def load_opencalib(folder: str | Path, *, name: str | None = None, rotation_atol: float = ROTATION_ATOL) -> Rig:
    """Build a Rig from the OpenCalib JSON files in ``folder``.

    Rotations whose orthonormality error exceeds ``rotation_atol`` are rejected; smaller errors are projected
    onto the nearest rotation. Raise ``rotation_atol`` only for files known to be written with few digits.
    """
    d = Path(folder)
    intr = sorted(d.glob("*-intrinsic.json"))
    extr = sorted(d.glob("*-extrinsic.json"))
    if not extr:
        raise CalibrationError("no *-extrinsic.json file in the folder (missing sensors)", source=str(d),
                               field="extrinsic")
    cameras: dict[str, CameraModel] = {}
    for path in intr:
        key, body = _read(path)
        src = str(path)
        sensor = str(_get(body, "sensor_name", src, key))
        K = _cv_matrix(body, "param.cam_K", src, key)
        dist: list[float] = (_cv_matrix(body, "param.cam_dist", src, key).ravel().tolist()
                             if "cam_dist" in body.get("param", {}) else [])
        w, h = _get(body, "param.img_dist_w", src, key), _get(body, "param.img_dist_h", src, key)
        if K.shape != (3, 3):
            raise CalibrationError(f"expected a 3x3 cam_K, got {K.shape}", source=src, field=f"{key}.param.cam_K")
        try:
            if len(dist) == 0:
                cameras[sensor] = PinholeCamera(width=int(w), height=int(h), fx=K[0, 0], fy=K[1, 1], cx=K[0, 2],
                                                cy=K[1, 2], skew=K[0, 1])
            else:
                cameras[sensor] = RadTanCamera(width=int(w), height=int(h), fx=K[0, 0], fy=K[1, 1], cx=K[0, 2],
                                               cy=K[1, 2], skew=K[0, 1], distortion=tuple(float(x) for x in dist))
        except CalibrationError as err:
            raise CalibrationError(err.reason, source=src, field=f"{key}.param.{err.field}") from err
    graph = FrameGraph()
    transforms: list[StaticTransform] = []
    sensors: dict[str, SensorCalibration] = {}
    base: str | None = None
    for path in extr:
        key, body = _read(path)
        src = str(path)
        a = str(_get(body, "sensor_name", src, key))
        b = str(_get(body, "target_sensor_name", src, key))
        try:
            a2b = SE3.from_matrix(_cv_matrix(body, "param.sensor_calib", src, key), atol=rotation_atol)
        except GeometryError as err:
            raise CalibrationError(err.reason, source=src, field=f"{key}.param.sensor_calib") from err
        lag = float(body.get("param", {}).get("time_lag", 0) or 0)
        for s in (a, b):
            if s not in sensors:
                kind = "camera" if s in cameras else _kind(s)
                if kind == "camera" and s not in cameras:
                    raise CalibrationError(f"camera {s!r} has no {s}-intrinsic.json (missing sensor)", source=src,
                                           field=f"{key}.target_sensor_name")
                sensors[s] = SensorCalibration(s, kind, _frame(s, kind), camera=cameras.get(s))
        fa, fb = sensors[a].frame_id, sensors[b].frame_id
        if base is None:
            base = fa
            graph.add_frame(fa)
        try:
            if fa in graph:
                edge = StaticTransform(fa, fb, a2b.inverse())
            elif fb in graph:
                edge = StaticTransform(fb, fa, a2b)
            else:
                raise CalibrationError(f"extrinsic {a} -> {b} does not connect to the sensors read before it",
                                       source=src, field=key)
            graph.add_static(edge.parent, edge.child, edge.child2parent)
        except GeometryError as err:
            raise CalibrationError(err.reason, source=src, field=key) from err
        transforms.append(edge)
        if lag:
            # OpenCalib's time_lag is the target's delay in seconds relative to the source.
            moved = b if edge.child == fb else a
            old = sensors[moved]
            sensors[moved] = SensorCalibration(old.sensor_id, old.kind, old.frame_id, round(lag * 1e9),
                                               old.camera)
    assert base is not None
    return Rig(name=name or f"opencalib_{d.name}", base_frame=base, sensors=tuple(sensors.values()),
               transforms=tuple(transforms), source=str(d))


def _cv(m: np.ndarray) -> dict[str, Any]:
    m2 = np.atleast_2d(m)
    return {"rows": int(m2.shape[0]), "cols": int(m2.shape[1]), "type": 6, "continuous": True,
            "data": m2.tolist()}


def save_opencalib(rig: Rig, folder: str | Path) -> None:
    """Write ``<camera>-intrinsic.json`` per camera and ``<base>-to-<sensor>-extrinsic.json`` per other sensor."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    base_sensors = [s for s in rig.sensors if s.frame_id == rig.base_frame]
    if not base_sensors:
        raise CalibrationError("OpenCalib export needs a sensor whose frame is the base frame", source=rig.source,
                               field="base_frame")
    base = base_sensors[0]
    for s in rig.sensors:
        if s.camera is not None:
            key = f"{s.sensor_id}-intrinsic"
            body = {"sensor_name": s.sensor_id, "target_sensor_name": s.sensor_id, "device_type": "camera",
                    "param_type": "intrinsic",
                    "param": {"img_dist_w": int(s.camera.width), "img_dist_h": int(s.camera.height),
                              "cam_K": _cv(s.camera.K), "cam_dist": _cv(s.camera.distortion_coefficients)}}
            (d / f"{key}.json").write_text(json.dumps({key: body}, indent=4))
        if s is base:
            continue
        key = f"{base.sensor_id}-to-{s.sensor_id}-extrinsic"
        a2b = rig.extrinsic(base.sensor_id, s.sensor_id)
        body = {"sensor_name": base.sensor_id, "target_sensor_name": s.sensor_id, "device_type": "relational",
                "param_type": "extrinsic",
                "param": {"time_lag": (s.time_offset_ns - base.time_offset_ns) / 1e9,
                          "sensor_calib": _cv(a2b.as_matrix())}}
        (d / f"{key}.json").write_text(json.dumps({key: body}, indent=4))
