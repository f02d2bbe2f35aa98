"""Tests of fusion_stack.calibration.ros_camera_info (ROS camera_info YAML import/export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from fusion_stack.calibration.camera_models import CameraModel, FisheyeCamera, PinholeCamera, RadTanCamera
from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.ros_camera_info import (
    camera_from_ros_dict,
    camera_from_ros_yaml,
    camera_to_ros_dict,
    camera_to_ros_yaml,
)

# As written by ROS camera_calibration (camera_calibration_parsers), with its odd spacing.
NARROW_STEREO_YAML = """\
image_width: 752
image_height: 480
camera_name: narrow_stereo/left
camera_matrix:
  rows: 3
  cols: 3
  data: [ 424.5217,    0.    , 377.3346,
            0.    ,  425.1763, 240.8093,
            0.    ,    0.    ,   1.    ]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.295713, 0.080513, 0.000476, -0.000226, 0.000000]
rectification_matrix:
  rows: 3
  cols: 3
  data: [ 0.99985,  0.00012, -0.01719,
         -0.00013,  1.     , -0.00078,
          0.01719,  0.00078,  0.99985]
projection_matrix:
  rows: 3
  cols: 4
  data: [ 389.2105,    0.    , 388.0512, 0.    ,
            0.    ,  389.2105, 241.6631, 0.    ,
            0.    ,    0.    ,   1.    , 0.    ]
"""

CAMERAS: list[CameraModel] = [
    PinholeCamera(640, 480, 500.0, 510.0, 319.5, 239.5),
    PinholeCamera(640, 480, 500.0, 510.0, 319.5, 239.5, skew=0.25),
    RadTanCamera(
        752, 480, 424.5217, 425.1763, 377.3346, 240.8093, (-0.295713, 0.080513, 0.000476, -0.000226)
    ),
    RadTanCamera(640, 480, 500.0, 510.0, 319.5, 239.5, (0.0, 0.0, 0.0, 0.0, 0.0)),
    RadTanCamera(640, 480, 500.1, 510.2, 319.5, 239.5, (0.5, -0.2, 1e-5, 2e-3, 0.05, 0.3, -0.1, 1e-17)),
    FisheyeCamera(1280, 960, 381.36, 381.19, 643.1, 480.9, (0.0148, -0.0072, 0.0012, -2.3e-4), skew=0.1),
]


def _ids(camera: CameraModel) -> str:
    return f"{camera.model_name}-{camera.distortion_coefficients.size}-{camera.skew}"


@pytest.mark.parametrize("camera", CAMERAS, ids=_ids)
def test_yaml_round_trip(camera: CameraModel) -> None:
    text = camera_to_ros_yaml("front/left", camera)
    name, back = camera_from_ros_yaml(text)
    assert name == "front/left"
    assert type(back) is type(camera)
    assert back == camera


@pytest.mark.parametrize("camera", CAMERAS, ids=_ids)
def test_dict_round_trip(camera: CameraModel) -> None:
    assert camera_from_ros_dict(camera_to_ros_dict("cam", camera)) == ("cam", camera)


def test_file_round_trip_with_path_and_string(tmp_path: Path) -> None:
    path = tmp_path / "left.yaml"
    path.write_text(camera_to_ros_yaml("left", CAMERAS[2]), encoding="utf-8")
    assert camera_from_ros_yaml(path) == ("left", CAMERAS[2])
    assert camera_from_ros_yaml(str(path)) == ("left", CAMERAS[2])


def test_export_matches_the_ros_layout() -> None:
    camera = CAMERAS[5]
    d = camera_to_ros_dict("fish", camera)
    assert list(d) == [
        "image_width",
        "image_height",
        "camera_name",
        "camera_matrix",
        "distortion_model",
        "distortion_coefficients",
        "rectification_matrix",
        "projection_matrix",
    ]
    assert d["distortion_model"] == "equidistant"
    assert d["distortion_coefficients"] == {"rows": 1, "cols": 4, "data": [0.0148, -0.0072, 0.0012, -2.3e-4]}
    assert d["camera_matrix"]["data"] == camera.K.ravel().tolist()
    np.testing.assert_array_equal(np.reshape(d["rectification_matrix"]["data"], (3, 3)), np.eye(3))
    projection = np.reshape(d["projection_matrix"]["data"], (3, 4))
    np.testing.assert_array_equal(projection, np.column_stack([camera.K, np.zeros(3)]))
    text = camera_to_ros_yaml("fish", camera)
    assert yaml.safe_load(text) == d
    assert "data: [" in text  # flow-style lists, as ROS writes them
    pinhole = camera_to_ros_dict("p", CAMERAS[0])
    assert pinhole["distortion_model"] == "plumb_bob"
    assert pinhole["distortion_coefficients"] == {"rows": 1, "cols": 0, "data": []}
    assert camera_to_ros_dict("r", CAMERAS[4])["distortion_model"] == "rational_polynomial"


def test_realistic_camera_info_parses_to_expected_numbers() -> None:
    name, camera = camera_from_ros_yaml(NARROW_STEREO_YAML)
    assert name == "narrow_stereo/left"
    assert isinstance(camera, RadTanCamera)
    assert (camera.width, camera.height) == (752, 480)
    assert (camera.fx, camera.fy, camera.cx, camera.cy, camera.skew) == (
        424.5217,
        425.1763,
        377.3346,
        240.8093,
        0.0,
    )
    assert camera.distortion == (-0.295713, 0.080513, 0.000476, -0.000226, 0.0)
    assert camera.model_name == "plumb_bob"


def test_plumb_bob_with_zero_coefficients_stays_radtan() -> None:
    text = NARROW_STEREO_YAML.replace(
        "[-0.295713, 0.080513, 0.000476, -0.000226, 0.000000]", "[0, 0, 0, 0, 0]"
    )
    _, camera = camera_from_ros_yaml(text)
    assert isinstance(camera, RadTanCamera)
    assert camera.distortion == (0.0,) * 5


def test_equidistant_and_rational_models_are_read() -> None:
    fish = NARROW_STEREO_YAML.replace("plumb_bob", "equidistant").replace(
        "cols: 5\n  data: [-0.295713, 0.080513, 0.000476, -0.000226, 0.000000]",
        "cols: 4\n  data: [0.01, -0.002, 0.0003, -4e-05]",
    )
    _, camera = camera_from_ros_yaml(fish)
    assert isinstance(camera, FisheyeCamera)
    # PyYAML reads "-4e-05" (no dot, as yaml-cpp writes it) as a string; it is accepted as a number.
    assert camera.distortion == (0.01, -0.002, 0.0003, -4e-05)
    rational = NARROW_STEREO_YAML.replace("plumb_bob", "rational_polynomial").replace(
        "cols: 5\n  data: [-0.295713, 0.080513, 0.000476, -0.000226, 0.000000]",
        "cols: 8\n  data: [1, 2, 0, 0, 3, 4, 5, 6]",
    )
    _, camera = camera_from_ros_yaml(rational)
    assert isinstance(camera, RadTanCamera)
    assert camera.distortion == (1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 5.0, 6.0)


def test_optional_keys_default_as_in_ros() -> None:
    d = yaml.safe_load(NARROW_STEREO_YAML)
    for key in ("camera_name", "distortion_model", "rectification_matrix", "projection_matrix"):
        del d[key]
    name, camera = camera_from_ros_dict(d)
    assert name == "unknown"
    assert camera.model_name == "plumb_bob"


def _broken(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = yaml.safe_load(NARROW_STEREO_YAML)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = d
        for key in keys[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return d


_DELETE = object()


@pytest.mark.parametrize(
    ("changes", "field", "shown"),
    [
        ({"image_width": _DELETE}, "image_width", "missing key"),
        ({"camera_matrix": _DELETE}, "camera_matrix", "missing key"),
        ({"distortion_coefficients": _DELETE}, "distortion_coefficients", "missing key"),
        ({"camera_matrix__data": _DELETE}, "camera_matrix.data", "missing key"),
        ({"camera_matrix__rows": _DELETE}, "camera_matrix.rows", "missing key"),
        ({"camera_matrix__data": [1.0] * 8}, "camera_matrix.data", "8 elements"),
        ({"camera_matrix__rows": 4, "camera_matrix__data": [0.0] * 12}, "camera_matrix.rows", "3x3"),
        ({"camera_matrix__cols": "3"}, "camera_matrix.cols", "'3'"),
        ({"camera_matrix__data": [1, "x", 2, 0, 1, 2, 0, 0, 1]}, "camera_matrix.data", "'x'"),
        ({"camera_matrix__data": [1, 0, 2, 0, 1, 2, 0, 0, 2]}, "camera_matrix.data", "not a camera matrix"),
        (
            {"camera_matrix__data": [-4, 0, 377, 0, 425, 240, 0, 0, 1]},
            "camera_matrix.data",
            "fx: non-positive",
        ),
        ({"camera_matrix__data": ".nan"}, "camera_matrix.data", "expected a list"),
        ({"camera_matrix": [1, 2]}, "camera_matrix", "expected a mapping"),
        ({"distortion_coefficients__data": [0.1] * 4}, "distortion_coefficients.data", "4 elements"),
        ({"distortion_model": "kannala_brandt"}, "distortion_model", "kannala_brandt"),
        ({"distortion_model": "equidistant"}, "distortion_coefficients.data", "got 5"),
        ({"rectification_matrix__data": [1.0] * 8}, "rectification_matrix.data", "8 elements"),
        (
            {"projection_matrix__cols": 3, "projection_matrix__data": [0.0] * 9},
            "projection_matrix.cols",
            "3x4",
        ),
        ({"image_width": 0}, "image_width", "width: must be a positive int"),
        ({"image_height": 480.5}, "image_height", "480.5"),
        ({"camera_name": 7}, "camera_name", "7"),
    ],
)
def test_bad_documents_name_source_and_field(changes: dict[str, Any], field: str, shown: str) -> None:
    with pytest.raises(CalibrationError) as info:
        camera_from_ros_dict(_broken(**changes), source="calib/left.yaml")
    err = info.value
    assert err.source == "calib/left.yaml"
    assert err.field == field
    assert str(err).startswith(f"calib/left.yaml: {field}: ")
    assert shown in str(err)


def test_non_finite_matrix_entry_names_the_field() -> None:
    text = NARROW_STEREO_YAML.replace("424.5217", ".nan")
    with pytest.raises(CalibrationError, match=r"^<camera_info yaml>: camera_matrix\.data: .*nan"):
        camera_from_ros_yaml(text)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "", "42\n"])
def test_non_mapping_document_is_rejected(text: str) -> None:
    with pytest.raises(CalibrationError, match=r"^left_cam: expected a mapping"):
        camera_from_ros_yaml(text, source="left_cam")


def test_invalid_yaml_is_rejected() -> None:
    with pytest.raises(CalibrationError, match=r"^left_cam: invalid YAML"):
        camera_from_ros_yaml("image_width: [1, 2\nfoo: : :\n", source="left_cam")


def test_missing_file_is_rejected_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CalibrationError, match="cannot read camera_info file") as info:
        camera_from_ros_yaml(missing)
    assert info.value.source == str(missing)
    with pytest.raises(CalibrationError) as info:
        camera_from_ros_yaml(str(missing))
    assert str(missing) in str(info.value)


def test_bad_file_content_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "left.yaml"
    path.write_text(NARROW_STEREO_YAML.replace("distortion_model: plumb_bob", "distortion_model: fov"))
    with pytest.raises(CalibrationError) as info:
        camera_from_ros_yaml(path)
    assert str(info.value).startswith(f"{path}: distortion_model: ")


def test_export_rejects_bad_camera_name() -> None:
    with pytest.raises(CalibrationError, match="camera_name"):
        camera_to_ros_dict(3, CAMERAS[0])  # type: ignore[arg-type]
