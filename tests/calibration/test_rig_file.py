"""The rig file format: round trips, the shipped rigs, and one test per validation rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from fusion_stack.calibration.camera_models import FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig, SensorCalibration
from fusion_stack.calibration.rig_file import load_rig, rig_from_dict, rig_to_dict, save_rig
from fusion_stack.geometry.frame_graph import StaticTransform
from fusion_stack.geometry.rotations import rpy_to_matrix
from fusion_stack.geometry.se3 import SE3

REPO = Path(__file__).resolve().parents[2]
OPTICAL = np.array([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # optical frame axes in a REP-103 body frame


def make_rig() -> Rig:
    """A small rig with every camera model, a time offset and a two-level frame tree."""
    cams = {
        "cam_pin": PinholeCamera(width=640, height=480, fx=500.0, fy=501.0, cx=320.5, cy=240.25),
        "cam_rt": RadTanCamera(width=1280, height=720, fx=900.0, fy=900.0, cx=640, cy=360,
                               distortion=(-0.3, 0.1, 0.001, -0.002, 0.01)),
        "cam_rat": RadTanCamera(width=1280, height=720, fx=900.0, fy=900.0, cx=640, cy=360,
                                distortion=(0.5, -0.1, 0.001, -0.002, 0.01, 0.8, -0.05, 0.02)),
        "cam_fish": FisheyeCamera(width=1024, height=1024, fx=300.0, fy=300.0, cx=512, cy=512,
                                  distortion=(0.05, -0.01, 0.002, -0.0003)),
    }
    transforms = [StaticTransform("base_link", "roof", SE3(rpy_to_matrix(0.01, -0.02, 0.03), [1.2, 0, 1.9]))]
    sensors = [SensorCalibration("lidar", "lidar", "roof")]
    for i, (name, cam) in enumerate(cams.items()):
        yaw = i * np.pi / 2
        mount = SE3(rpy_to_matrix(0, 0.05, yaw) @ OPTICAL, [0.3 * np.cos(yaw), 0.3 * np.sin(yaw), -0.2])
        transforms.append(StaticTransform("roof", f"{name}_optical", mount))
        sensors.append(SensorCalibration(name, "camera", f"{name}_optical", time_offset_ns=1_000 * i, camera=cam))
    transforms.append(StaticTransform("base_link", "radar_front", SE3(np.eye(3), [3.7, 0, 0.5])))
    sensors.append(SensorCalibration("radar_front", "radar", "radar_front", time_offset_ns=-25_000_000))
    return Rig(name="test_rig", base_frame="base_link", sensors=tuple(sensors), transforms=tuple(transforms))


def test_round_trip_through_the_file_is_exact(tmp_path: Path) -> None:
    rig = make_rig()
    path = tmp_path / "rig.yaml"
    save_rig(rig, path)
    back = load_rig(path)
    assert back.isclose(rig, atol=1e-12)
    assert back.sensor("cam_rat").camera == rig.sensor("cam_rat").camera  # floats written with full precision
    assert back.sensor("radar_front").time_offset_ns == -25_000_000
    lidar2cam = back.extrinsic("lidar", "cam_pin")
    assert lidar2cam.allclose(rig.extrinsic("lidar", "cam_pin"), atol=1e-12)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "calib").glob("*.yaml")))
def test_shipped_rig_files_are_valid(name: str) -> None:
    rig = load_rig(REPO / "calib" / name)
    assert rig.sensors and rig.sensors_of_kind("camera")
    for s in rig.sensors:
        assert rig.frame_graph().connected(s.frame_id, rig.base_frame)


def _doc() -> dict[str, Any]:
    return rig_to_dict(make_rig())


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "bad_rig.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    cur: Any = doc
    parts = dotted.replace("[", ".").replace("]", "").split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    last = parts[-1]
    if value is KeyError:
        del cur[last]
    elif last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value
    return doc


def _rotation_matrix_doc(matrix: list[list[float]]) -> dict[str, Any]:
    doc = _doc()
    del doc["transforms"][0]["rotation_xyzw"]
    doc["transforms"][0]["rotation_matrix"] = matrix
    return doc


# one case per validation rule: (document, the field the message must name, words it must contain)
CASES = {
    "non_orthonormal_rotation": (_rotation_matrix_doc([[1, 0.1, 0], [0, 1, 0], [0, 0, 1]]),
                                 "transforms[0].rotation_matrix", "not orthonormal"),
    "reflection_det_minus_one": (_rotation_matrix_doc([[1, 0, 0], [0, 1, 0], [0, 0, -1]]),
                                 "transforms[0].rotation_matrix", "det"),
    "non_unit_quaternion": (_set(_doc(), "transforms[1].rotation_xyzw", [0, 0, 0, 3]),
                            "transforms[1].rotation_xyzw", "not unit"),
    "non_positive_focal_length": (_set(_doc(), "sensors[1].camera.fx", -500.0), "sensors[1].camera.fx",
                                  "focal"),
    "zero_focal_length": (_set(_doc(), "sensors[2].camera.fy", 0.0), "sensors[2].camera.fy", "focal"),
    "principal_point_outside": (_set(_doc(), "sensors[1].camera.cx", 700.0), "sensors[1].camera.cx",
                                "principal point"),
    "nan_translation": (_set(_doc(), "transforms[0].translation[1]", float("nan")),
                        "transforms[0].translation[1]", "finite"),
    "inf_focal_length": (_set(_doc(), "sensors[3].camera.fx", float("inf")), "sensors[3].camera.fx", "finite"),
    "missing_sensor_field": (_set(_doc(), "sensors[0].frame_id", KeyError), "sensors[0].frame_id",
                             "missing required"),
    "missing_camera_model": (_set(_doc(), "sensors[1].camera", KeyError), "sensors[1]", "needs a camera"),
    "frame_not_in_tree": (_set(_doc(), "sensors[5].frame_id", "radar_rear"), "sensors[5].frame_id",
                          "not in the frame tree"),
    "frames_not_connected": (_set(_doc(), "transforms[5].parent", "odom"), "sensors[5].frame_id",
                             "does not connect to the base frame"),
    "wrong_distortion_length": (_set(_doc(), "sensors[2].camera.distortion", [0.1, 0.2, 0.3]),
                                "sensors[2].camera.distortion", "numbers"),
    "unknown_field_typo": (_set(_doc(), "sensors[0].frameid", "roof"), "sensors[0]", "unknown field"),
    "cycle": (_set(_set(_doc(), "transforms[0].parent", "cam_pin_optical"), "base_frame", "cam_pin_optical"),
              "transforms[1]", "cycle"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_validation_rule_names_file_and_field(tmp_path: Path, case: str) -> None:
    doc, field, words = CASES[case]
    path = _write(tmp_path, doc)
    with pytest.raises(CalibrationError) as err:
        load_rig(path)
    msg = str(err.value)
    assert str(path) in msg, msg
    assert field in msg, msg
    assert words in msg, msg


def test_missing_sensors_are_named() -> None:
    rig = rig_from_dict(_doc(), source="rig.yaml")
    with pytest.raises(CalibrationError, match=r"rig.yaml: sensors: missing sensors \['CAM_BACK'\]"):
        rig.require_sensors(["lidar", "CAM_BACK"])
    with pytest.raises(CalibrationError, match="no sensor 'nope'"):
        rig.sensor("nope")


def test_not_yaml_and_wrong_version(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(CalibrationError, match="not valid YAML"):
        load_rig(bad)
    with pytest.raises(CalibrationError, match="fusion_stack_rig: unsupported rig format version 7"):
        rig_from_dict(_set(_doc(), "fusion_stack_rig", 7))
    with pytest.raises(CalibrationError, match=r"no such file|cannot read"):
        load_rig(tmp_path / "missing.yaml")
