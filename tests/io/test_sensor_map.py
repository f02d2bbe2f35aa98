"""Topic -> sensor maps: the YAML file and the guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion_stack.io.errors import RecordingError
from fusion_stack.io.sensor_map import (
    SensorMap,
    TopicSensor,
    guess_sensor_id,
    guess_sensor_map,
    load_sensor_map,
)


@pytest.mark.parametrize(("topic", "sensor_id"), [
    ("/camera/front/image_raw", "camera_front"), ("/camera/front/image_raw/compressed", "camera_front"),
    ("/camera/front/camera_info", "camera_front"), ("/velodyne_packets", "velodyne"),
    ("/sensing/lidar/top/pointcloud_raw", "sensing_lidar_top_pointcloud_raw"), ("/lidar/points", "lidar"),
    ("/os_node0/lidar_packets", "os_node0_lidar"), ("/os_node0/imu_packets", "os_node0_imu"), ("/imu/data", "imu"),
    ("/tf_static", "tf_static"), ("/", "unknown"), ("/LIDAR_TOP/points", "LIDAR_TOP"),
])
def test_guess_sensor_id(topic: str, sensor_id: str) -> None:
    assert guess_sensor_id(topic) == sensor_id


def test_guess_kinds() -> None:
    m = guess_sensor_map({"/cam/image_raw": "sensor_msgs/msg/Image", "/cam/camera_info": "sensor_msgs/msg/CameraInfo",
                          "/radar/front/points": "sensor_msgs/msg/PointCloud2", "/imu": "sensor_msgs/msg/Imu",
                          "/top/points": "sensor_msgs/msg/PointCloud2", "/odom": "nav_msgs/msg/Odometry"})
    assert {t: (s.sensor_id, s.kind) for t, s in m.topics.items()} == {
        "/cam/image_raw": ("cam", "camera"), "/cam/camera_info": ("cam", "camera"),
        "/radar/front/points": ("radar_front", "radar"), "/imu": ("imu", "imu"), "/top/points": ("top", "lidar"),
        "/odom": ("odom", "other")}
    assert m.guessed == set(m.topics)


def test_yaml_round_trip_and_merge(tmp_path: Path) -> None:
    text = ("topics:\n  /lidar/points: {sensor_id: LIDAR_TOP}\n"
            "  /cam/image_raw: {sensor_id: CAM_FRONT, kind: camera, frame_id: cam_front_optical}\n")
    m = load_sensor_map(text, topic_types={"/lidar/points": "sensor_msgs/msg/PointCloud2"})
    assert m.get("/lidar/points") == TopicSensor("LIDAR_TOP", "lidar")
    assert m.get("/cam/image_raw") == TopicSensor("CAM_FRONT", "camera", "cam_front_optical")
    path = tmp_path / "map.yaml"
    path.write_text(m.to_yaml())
    assert load_sensor_map(path) == SensorMap(m.topics)
    merged = guess_sensor_map({"/lidar/points": "sensor_msgs/msg/PointCloud2", "/x": "std_msgs/msg/String"}).merged(m)
    assert merged.get("/lidar/points").sensor_id == "LIDAR_TOP"  # type: ignore[union-attr]
    assert merged.guessed == {"/x"}


@pytest.mark.parametrize(("text", "field"), [
    ("topics: 3\n", "topics"), ("topics:\n  /a: {kind: lidar}\n", "topics./a.sensor_id"),
    ("topics:\n  /a: {sensor_id: A, kind: sonar}\n", "topics./a.kind"),
    ("topics:\n  /a: {sensor_id: A, frame: x}\n", "topics./a"), ("topics:\n  /a: [1]\n", "topics./a"),
])
def test_bad_yaml(text: str, field: str) -> None:
    with pytest.raises(RecordingError) as info:
        load_sensor_map(text)
    assert info.value.field == field


def test_unreadable_yaml(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read sensor map"):
        load_sensor_map(tmp_path / "missing.yaml")
    with pytest.raises(RecordingError, match="invalid YAML"):
        load_sensor_map("topics: [\n")
