"""Writing recordings: nuScenes keyframe -> mcap/sqlite3 -> identical samples; crash safety."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.calibration_samples import StampedTransform, TransformSample
from fusion_stack.io.convert_detections import detections_converter
from fusion_stack.io.converters import DEFAULT_CONVERTERS
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.recording import open_recording
from fusion_stack.io.recording_writer import RecordingWriter, write_recording
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan


def _assert_same(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, (CameraImage, PointCloud, RadarScan)):
        assert isinstance(b, type(a))
        assert (a.stamp_ns, a.frame_id, a.sensor_id) == (b.stamp_ns, b.frame_id, b.sensor_id)
        for name in ("data", "positions", "radial_velocity", "rcs", "encoding"):
            if hasattr(a, name):
                va, vb = getattr(a, name), getattr(b, name)
                if isinstance(va, np.ndarray):
                    assert va.dtype == vb.dtype
                    np.testing.assert_array_equal(va, vb)
                else:
                    assert va == vb
        if not isinstance(a, CameraImage):
            assert isinstance(b, (PointCloud, RadarScan))
            assert set(a.fields) == set(b.fields)
            for k in a.fields:
                assert a.fields[k].dtype == b.fields[k].dtype
                np.testing.assert_array_equal(a.fields[k], b.fields[k])
    elif isinstance(a, Boxes3D):
        assert isinstance(b, Boxes3D)
        assert (a.stamp_ns, a.frame_id, a.sensor_id, a.class_names) == (b.stamp_ns, b.frame_id, b.sensor_id,
                                                                        b.class_names)
        for name in ("centers", "sizes", "labels", "scores", "track_ids"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_allclose(a.yaws, b.yaws, atol=1e-6)
    elif isinstance(a, EgoPose):
        assert isinstance(b, EgoPose)
        assert (a.stamp_ns, a.frame_id, a.sensor_id, a.child_frame_id) == (b.stamp_ns, b.frame_id, b.sensor_id,
                                                                            b.child_frame_id)
        assert a.pose.allclose(b.pose, atol=1e-12)
        assert a.linear_velocity is None and b.linear_velocity is None
    else:
        assert a == b


@pytest.mark.real_data
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_nuscenes_keyframe_round_trip(shared_data: Path, tmp_path: Path, storage: str) -> None:
    ds = open_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json")
    samples = list(ds)
    count = write_recording(tmp_path / "bag", samples, storage=storage, rig=ds.rig)
    assert count == len(samples) + 6 + 1 + 1  # + camera_info per image, /tf_static, box markers
    converters = {**DEFAULT_CONVERTERS, "vision_msgs/msg/Detection3DArray": detections_converter(ds.class_names)}
    with open_recording(tmp_path / "bag", converters=converters) as rec:
        assert rec.topics["/ground_truth/markers"].msgtype == "visualization_msgs/msg/MarkerArray"
        back = [s for s in rec if type(s).__name__ not in ("CameraInfoSample", "TransformSample")]
        statics = rec.static_transforms()
        infos = {r.sample.sensor_id: r.sample for r in rec.records() if r.topic.endswith("camera_info")}
        graph = rec.frame_graph()
    assert len(back) == len(samples)
    for a, b in zip(sorted(samples, key=lambda s: (s.stamp_ns, s.sensor_id)),
                    sorted(back, key=lambda s: (s.stamp_ns, s.sensor_id))):
        _assert_same(a, b)
    # Box velocities have no place in Detection3D (documented); everything else came back.
    assert {t.child for t in statics} == {"lidar_top", *(f"{c.lower()}_optical" for c in infos)}
    for cam, info in infos.items():
        assert info.camera == ds.rig.sensor(cam).camera  # type: ignore[attr-defined]
    assert graph.lookup("lidar_top", "cam_front_optical").allclose(
        ds.rig.extrinsic("LIDAR_TOP", "CAM_FRONT"), atol=1e-12)


def _misc_samples() -> list[object]:
    return [
        ImuSample(10, "imu", "imu", [0.1, 0.2, 0.3], [0.0, 0.0, 9.8], [0.0, 0.0, 0.0, 1.0], np.eye(3), np.eye(3),
                  np.eye(3)),
        TwistSample(20, "base_link", "wheels", [1.0, 0.0, 0.0], [0.0, 0.0, 0.1]),
        RawPackets(30, "velodyne", "velodyne", ((29, b"\x00" * 1206), (30, b"\x01" * 1206)),
                   "velodyne_msgs/msg/VelodyneScan"),
        RawPackets(40, "radar", "radar", ((40, b"abc"),), "nebula_msgs/msg/NebulaPackets"),
        TextMessage(50, "meta", "meta", "hello"),
        RadarScan(60, "radar", "radar", np.ones((4, 3)), np.arange(4.0), -np.arange(4.0), {"snr": np.ones(4)}),
        TransformSample(70, "odom", "tf", (StampedTransform(70, "odom", "base_link", SE3.identity()),)),
        EgoPose(80, "odom", "odom", "base_link", SE3.identity()),
    ]


def test_every_sample_type_round_trips(tmp_path: Path) -> None:
    samples = _misc_samples()
    write_recording(tmp_path / "bag", samples)
    with open_recording(tmp_path / "bag") as rec:
        back = list(rec)
    assert len(back) == len(samples)
    for a, b in zip(samples, back):
        if isinstance(a, RadarScan):
            assert isinstance(b, RadarScan)
            np.testing.assert_array_equal(a.rcs, b.rcs)
            np.testing.assert_array_equal(a.fields["snr"], b.fields["snr"].astype(a.fields["snr"].dtype))
        elif isinstance(a, (ImuSample, TwistSample)):
            assert type(a) is type(b) and a.stamp_ns == b.stamp_ns
        elif isinstance(a, TransformSample):
            assert isinstance(b, TransformSample) and b.transforms[0].child == "base_link"
        else:
            _assert_same(a, b)


def test_compressed_images(tmp_path: Path) -> None:
    data = np.broadcast_to(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (16, 32, 3)).copy()
    image = CameraImage(5, "cam_optical", "cam", data, "rgb8")
    write_recording(tmp_path / "bag", [image], compress_images=True)
    with open_recording(tmp_path / "bag") as rec:
        assert rec.topics["/cam/image_raw/compressed"].msgtype == "sensor_msgs/msg/CompressedImage"
        (back,) = list(rec)
    assert isinstance(back, CameraImage) and back.encoding == "bgr8" and back.sensor_id == "cam"
    assert np.abs(back.data[..., ::-1].astype(int) - data.astype(int)).max() <= 8


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_an_interrupted_write_leaves_a_readable_bag(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "bag"
    writer = RecordingWriter(path, storage=storage, flush_interval_ns=100)
    for i in range(20):
        writer.write(PointCloud(1000 + 100 * i, "lidar", "lidar", np.full((50, 3), float(i))))
    # The process dies here: no close, no metadata.yaml. What is on disk must read.
    assert not (path / "metadata.yaml").exists()
    with open_recording(path) as rec:
        got = [s.stamp_ns for s in rec]
    assert got == [1000 + 100 * i for i in range(len(got))] and len(got) >= 19
    writer.close()  # a later close still finishes the bag properly
    with open_recording(path) as rec:
        assert len(list(rec)) == 20


def test_leaving_with_an_exception_finishes_the_bag(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    def write_then_fail() -> None:
        with RecordingWriter(path) as writer:
            writer.write(TextMessage(5, "meta", "meta", "a"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert (path / "metadata.yaml").exists()
    with open_recording(path) as rec:
        assert [s.stamp_ns for s in rec] == [5]


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="storage must be"):
        RecordingWriter(tmp_path / "x", storage="bag")
    (tmp_path / "exists").mkdir()
    with pytest.raises(RecordingError, match="cannot create recording"):
        RecordingWriter(tmp_path / "exists")
    with RecordingWriter(tmp_path / "y") as writer:
        writer.write(TextMessage(5, "meta", "meta", "a"), topic="/t")
        with pytest.raises(RecordingError, match="already carries std_msgs/msg/String"):
            writer.write(TwistSample(6, "b", "b", [0, 0, 0], [0, 0, 0]), topic="/t")
