"""The real ROS bags in ../shared/data open and stream their messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.recording import Recording, open_recording
from fusion_stack.io.recording_writer import write_recording
from fusion_stack.io.sensor_map import SensorMap, TopicSensor

pytestmark = pytest.mark.real_data


def _bag(root: Path, pattern: str) -> Path:
    found = sorted(p.parent for p in root.glob(pattern))
    assert found, f"no {pattern} under {root}"
    return found[0]


def _log_order(rec: Recording) -> list[int]:
    return [r.log_stamp_ns for r in rec.records()]


@pytest.mark.parametrize(("folder", "topic", "count", "packets", "frame"), [
    ("rosbag2_velodyne/vlp16", "/velodyne_packets", 4, 151, "velodyne"),
    ("rosbag2_velodyne/vlp32", "/sensing/lidar/front/velodyne_packets", 5, 76, "velodyne_front"),
])
def test_velodyne_bags_stream_scans(shared_data: Path, folder: str, topic: str, count: int, packets: int,
                                    frame: str) -> None:
    path = _bag(shared_data / folder, "*/metadata.yaml")
    with open_recording(path) as rec:
        assert rec.ros_version == 2
        info = rec.topics[topic]
        assert (info.msgtype, info.message_count, info.has_definition, info.selected) == (
            "velodyne_msgs/msg/VelodyneScan", count, True, True)
        assert info.sensor.kind == "lidar"
        samples = list(rec)
        stamps = _log_order(rec)
    assert len(samples) == count
    assert stamps == sorted(stamps)
    assert all(isinstance(s, RawPackets) for s in samples)
    scan = samples[0]
    assert isinstance(scan, RawPackets)
    assert scan.frame_id == frame
    assert scan.packet_format == "velodyne_msgs/msg/VelodyneScan"
    assert len(scan) == packets
    assert {len(p) for _, p in scan.packets} == {1206}
    assert [s for s, _ in scan.packets] == sorted(s for s, _ in scan.packets)
    # A Velodyne data packet: 12 blocks, each starting with the 0xFFEE flag.
    assert scan.packets[0][1][:2] == b"\xff\xee"


def test_ars548_radar_bag_streams_packets(shared_data: Path) -> None:
    path = _bag(shared_data / "rosbag2_radar" / "ars548", "*/metadata.yaml")
    with open_recording(path) as rec:
        (topic,) = rec.topics
        assert rec.topics[topic].msgtype == "nebula_msgs/msg/NebulaPackets"
        assert rec.topics[topic].sensor.kind == "radar"
        samples = list(rec)
        stamps = _log_order(rec)
    assert len(samples) == 2 and stamps == sorted(stamps)
    assert all(isinstance(s, RawPackets) and len(s) == 1 for s in samples)
    # The header stamps are the sensor's, matching the decoded ground-truth files next to the bag.
    names = {p.name for p in (shared_data / "rosbag2_radar" / "ars548").glob("*.yaml")}
    for s in samples:
        sec, nsec = divmod(s.stamp_ns, 1_000_000_000)
        assert any(n.startswith(f"{sec}_{nsec}") for n in names)
    assert {len(s.packets[0][1]) for s in samples} == {9401, 35336}


def test_ouster_ros1_bag_streams_packets_and_metadata(shared_data: Path) -> None:
    path = shared_data / "rosbag1_ouster" / "512x10_raw.bag"
    with open_recording(path) as rec:
        assert rec.ros_version == 1
        assert {t: (i.msgtype, i.message_count) for t, i in rec.topics.items()} == {
            "/os_node0/imu_packets": ("ouster_ros/msg/PacketMsg", 10),
            "/os_node0/lidar_packets": ("ouster_ros/msg/PacketMsg", 32),
            "/os_node0/metadata": ("std_msgs/msg/String", 1),
        }
        assert rec.sensor_map.get("/os_node0/imu_packets") == TopicSensor("os_node0_imu", "imu")
        records = list(rec.records())
    assert len(records) == 43
    stamps = [r.log_stamp_ns for r in records]
    assert stamps == sorted(stamps)
    lidar = [r.sample for r in records if r.topic == "/os_node0/lidar_packets"]
    assert all(isinstance(s, RawPackets) and len(s.packets[0][1]) == 8448 for s in lidar)
    assert all(s.stamp_ns == r.log_stamp_ns for r, s in zip(records, (r.sample for r in records)))
    (meta,) = [r.sample for r in records if r.topic == "/os_node0/metadata"]
    assert isinstance(meta, TextMessage) and '"beam_intrinsics"' in meta.text


def test_topic_selection_time_window_and_sensor_map(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "rosbag1_ouster" / "512x10_raw.bag"
    yaml_path = tmp_path / "sensors.yaml"
    yaml_path.write_text("topics:\n  /os_node0/lidar_packets: {sensor_id: LIDAR_TOP, frame_id: os_lidar}\n")
    with open_recording(path, topics=["/os_node0/lidar_packets"], sensor_map=yaml_path) as rec:
        assert rec.selected_topics == ("/os_node0/lidar_packets",)
        first, *rest = list(rec.records())
        assert rec.sensor_map.get("/os_node0/lidar_packets") == TopicSensor("LIDAR_TOP", "lidar", "os_lidar")
        assert "/os_node0/lidar_packets" not in rec.sensor_map.guessed
    assert len(rest) == 31
    assert (first.sample.sensor_id, first.sample.frame_id) == ("LIDAR_TOP", "os_lidar")
    start, stop = rest[4].log_stamp_ns, rest[10].log_stamp_ns
    with open_recording(path, topics=["/os_node0/lidar_packets"], start_ns=start, stop_ns=stop) as rec:
        window = [r.log_stamp_ns for r in rec.records()]
    assert window == [r.log_stamp_ns for r in rest[4:10]]
    assert isinstance(SensorMap().merged(rec.sensor_map), SensorMap)


def test_ros1_bag_converts_to_mcap(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "rosbag1_ouster" / "512x10_raw.bag"
    with open_recording(src) as rec:
        written = write_recording(tmp_path / "out", rec)
        original = list(rec.records())
    assert written == 43
    with open_recording(tmp_path / "out") as rec:
        assert rec.ros_version == 2
        assert {i.msgtype for i in rec.topics.values()} == {"ouster_ros/msg/PacketMsg", "std_msgs/msg/String"}
        back = list(rec)
    assert sorted((s.sensor_id, s.stamp_ns) for s in back) == sorted((r.sample.sensor_id, r.sample.stamp_ns)
                                                                    for r in original)
    packets = {(s.sensor_id, s.stamp_ns): s for s in back}
    for r in original:
        assert packets[(r.sample.sensor_id, r.sample.stamp_ns)] == r.sample
