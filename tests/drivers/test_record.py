"""Recording drivers into a bag with :func:`record_drivers`, and reading it back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drivers_testlib import ars548_message, make_rig, synth_velodyne, write_video

from fusion_stack.drivers import (
    VLP16,
    CameraDriver,
    DriverError,
    Packet,
    UdpSource,
    ars548_driver,
    make_decoder,
    record_drivers,
    velodyne_driver,
)
from fusion_stack.io.recording import open_recording
from fusion_stack.types import Boxes3D, CameraImage, PointCloud, RadarScan


class ListSource:
    """A PacketSource over a list."""

    def __init__(self, packets: list[Packet]) -> None:
        self.packets = packets
        self.closed = False

    def __iter__(self) -> Iterator[Packet]:
        return iter(self.packets)

    def close(self) -> None:
        self.closed = True


def test_record_drivers_into_a_bag(tmp_path: Path) -> None:
    rig = make_rig(time_offsets={"top": 1_000, "front_radar": -2_000})
    lidar = velodyne_driver(ListSource(synth_velodyne(VLP16, 160).packets), rig=rig, sensor_id="top",
                            model="VLP-16")
    t0 = 1_708_578_204_000_000_000
    radar_packets = [Packet(t0 + i * 50_000_000, ars548_message(m, stamp_ns=t0 + i * 50_000_000))
                     for i in range(3) for m in (336, 329)]
    radar = ars548_driver(ListSource(radar_packets), rig=rig, sensor_id="front_radar")
    camera = CameraDriver(str(write_video(tmp_path / "cam.avi", frames=5)), rig=rig, sensor_id="cam")
    summary = record_drivers(tmp_path / "bag", [lidar, radar, camera], rig=rig, log_time="stamp")
    assert summary.stopped_by == "drivers_ended"
    assert dict(summary.samples) == {"top": 3, "front_radar": 6, "cam": 5}
    assert summary.counts[0]["packets"] == 160 and summary.counts[1]["detection_lists"] == 3
    with open_recording(tmp_path / "bag") as rec:
        topics = {t: i.message_count for t, i in rec.topics.items()}
        samples = list(rec)
    assert topics["/top/points"] == 3 and topics["/front_radar/points"] == 3
    assert topics["/front_radar/detections"] == 3 and topics["/cam/image_raw"] == 5
    assert topics["/cam/camera_info"] == 5 and "/tf_static" in topics
    clouds = [s for s in samples if isinstance(s, PointCloud) and s.sensor_id == "top"]
    assert len(clouds) == 3 and clouds[0].frame_id == "velodyne"
    assert {"intensity", "ring", "time_offset_ns"} <= set(clouds[0].fields)
    radar_scans = [s for s in samples if isinstance(s, (PointCloud, RadarScan)) and s.sensor_id == "front_radar"]
    assert len(radar_scans) == 3 and radar_scans[0].stamp_ns == t0 - 2_000
    boxes = [s for s in samples if isinstance(s, Boxes3D)]
    assert len(boxes) == 3 and len(boxes[0]) == 3 and boxes[0].frame_id == "base_link"
    assert len([s for s in samples if isinstance(s, CameraImage)]) == 5
    assert summary.messages >= 3 + 3 + 3 + 3 + 5 + 5


def test_record_stops_on_duration_and_closes_live_sources(tmp_path: Path) -> None:
    source = UdpSource("127.0.0.1", 0, timeout=None, poll_s=0.05)
    driver = velodyne_driver(source, model="VLP-16")
    stop = threading.Event()
    summary = record_drivers(tmp_path / "bag", [driver], duration_s=0.3, stop=stop)
    assert summary.stopped_by == "duration" and summary.messages == 0
    source2 = UdpSource("127.0.0.1", 0, timeout=None, poll_s=0.05)
    stop.set()
    assert record_drivers(tmp_path / "bag2", [velodyne_driver(source2)], stop=stop).stopped_by == "stop"


def test_record_reports_a_failing_driver(tmp_path: Path) -> None:
    def broken() -> Iterator[Any]:
        yield from velodyne_driver(ListSource(synth_velodyne(VLP16, 100).packets), model="VLP-16")
        raise OSError("cable unplugged")

    with pytest.raises(DriverError, match="cable unplugged"):
        record_drivers(tmp_path / "bag", [broken()], log_time="stamp")
    with open_recording(tmp_path / "bag") as rec:  # what came before the failure is in the bag
        assert sum(1 for _ in rec) == 2
    with pytest.raises(DriverError, match="log_time"):
        record_drivers(tmp_path / "bag3", [], log_time="later")


def test_make_decoder_from_rig() -> None:
    rig = make_rig(time_offsets={"top": 7})
    decoder = make_decoder("velodyne", rig=rig, sensor_id="top", model="VLP-16")
    assert (decoder.frame_id, decoder.time_offset_ns, decoder.sensor_id) == ("velodyne", 7, "top")  # type: ignore
    radar = make_decoder("ars548", rig=rig, sensor_id="front_radar")
    assert radar.object_frame_id == "base_link"  # type: ignore[attr-defined]
    with pytest.raises(DriverError, match="needs a lidar"):
        make_decoder("velodyne", rig=rig, sensor_id="front_radar")
    with pytest.raises(DriverError, match="no sensor"):
        make_decoder("velodyne", rig=rig, sensor_id="rear")
    with pytest.raises(DriverError, match="unknown decoder"):
        make_decoder("hesai")
    with pytest.raises(DriverError, match="bad options"):
        make_decoder("ars548", scan_phase_deg=3.0)
