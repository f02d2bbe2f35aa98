"""Writing ROS 1 bags: every sample kind round-trips, ROS 1 definitions and md5sums, the real Ouster bag
ROS 1 -> mcap -> ROS 1, and what an interrupted write leaves (and its repair)."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag1 import Reader as Ros1Reader
from rosbags.rosbag1 import Writer as Ros1Writer

from fusion_stack.calibration.camera_models import PinholeCamera
from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.calibration_samples import CameraInfoSample, StampedTransform, TransformSample
from fusion_stack.io.convert_detections import detections_converter
from fusion_stack.io.converters import DEFAULT_CONVERTERS
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.motion_samples import ImuSample, TwistSample
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.io.packet_samples import RawPackets, TextMessage
from fusion_stack.io.recording import open_recording
from fusion_stack.io.recording_writer import RecordingWriter, write_recording
from fusion_stack.io.ros1_writer import repair_ros1, ros1_typestore
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, PointCloud, RadarScan

RNG = np.random.default_rng(11)
CLASSES = ("car", "pedestrian", "cyclist")
CONVERTERS = {**DEFAULT_CONVERTERS, "vision_msgs/msg/Detection3DArray": detections_converter(CLASSES)}
#: md5sums of the ROS 1 (Noetic) definitions, as ROS 1 computes them
NOETIC_MD5 = {
    "sensor_msgs/msg/Image": "060021388200f6f0f447d0fcd9c64743",
    "sensor_msgs/msg/CompressedImage": "8f7a12909da2c9d3332d540a0977563f",
    "sensor_msgs/msg/CameraInfo": "c9a58c1b0b154e0e6da7578cb991d214",
    "sensor_msgs/msg/PointCloud2": "1158d486dd51d683ce2f1be655c3c181",
    "sensor_msgs/msg/Imu": "6a62c6daae103f4ff57a132d6f95cec2",
    "nav_msgs/msg/Odometry": "cd5e73d190d741a2f92e81eda573aca7",
    "geometry_msgs/msg/TwistStamped": "98d34b0043a2093cf9d9345ab6eef12e",
    "tf2_msgs/msg/TFMessage": "94810edda583a504dfda3829e70d7eec",
    "std_msgs/msg/String": "992ce8a1687cec8c8bd883ec73ca41d1",
    "visualization_msgs/msg/MarkerArray": "d155b9ce5188fbaf89745847fd5882d7",
    "velodyne_msgs/msg/VelodyneScan": "50804fc9533a0e579e6322c04ae70566",
}


def _assert_identical(a: Any, b: Any, where: str = "sample", *, atol: float = 0.0) -> None:
    """Same types, same values (arrays: same dtype and shape, NaN == NaN; float arrays within ``atol``),
    recursively."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        if atol and a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}", atol=atol)
    elif isinstance(a, Mapping):
        assert set(a) == set(b), where
        for k in a:
            _assert_identical(a[k], b[k], f"{where}[{k!r}]", atol=atol)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]", atol=atol)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _samples() -> list[Any]:
    """One or more samples of every kind the writer knows, in log-time order."""
    n = 50
    pose = SE3.from_quaternion([0.0, 0.0, np.sin(0.2), np.cos(0.2)], [1.0, -2.0, 0.5])
    return [
        TransformSample(1, "base_link", "tf_static", (StampedTransform(1, "base_link", "lidar", pose),
                                                       StampedTransform(1, "base_link", "cam_optical", pose)),
                        static=True),
        CameraImage(10, "cam_optical", "cam", RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8), "rgb8"),
        CameraImage(11, "depth_optical", "depth", RNG.integers(0, 65535, (4, 5), dtype=np.uint16), "mono16"),
        CameraInfoSample(12, "cam_optical", "cam", PinholeCamera(8, 6, 5.0, 5.5, 4.0, 3.0)),
        PointCloud(20, "lidar", "lidar", RNG.normal(size=(n, 3)).astype(np.float32), {
            "intensity": RNG.random(n).astype(np.float32), "ring": (np.arange(n) % 16).astype(np.uint16),
            "time_offset_ns": np.arange(n, dtype=np.int64) * 1000}),
        RadarScan(25, "radar", "radar", RNG.normal(size=(4, 3)), RNG.normal(size=4), RNG.normal(size=4),
                  {"snr": np.ones(4, np.float32)}),
        EgoPose(30, "odom", "odom", "base_link", pose),
        EgoPose(31, "odom", "odom", "base_link", pose, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.1])),
        TransformSample(40, "odom", "tf", (StampedTransform(40, "odom", "base_link", pose),)),
        Boxes3D(50, "lidar", "detector", np.array([[1.0, 2.0, 0.5], [5.0, -1.0, 0.8]]),
                np.array([[4.0, 1.8, 1.5], [0.6, 0.6, 1.7]]), np.array([0.3, -1.2]), np.array([0, 1]), CLASSES,
                np.array([0.9, 0.4]), track_ids=np.array([7, -1])),
        ImuSample(60, "imu", "imu", [0.1, 0.2, 0.3], [0.0, 0.0, 9.8], [0.0, 0.0, 0.0, 1.0], np.eye(3), np.eye(3),
                  np.eye(3)),
        TwistSample(70, "base_link", "wheels", [1.0, 0.0, 0.0], [0.0, 0.0, 0.1]),
        RawPackets(80, "velodyne", "velodyne", ((79, b"\x00" * 1206), (80, b"\x01" * 1206)),
                   "velodyne_msgs/msg/VelodyneScan"),
        RawPackets(85, "radar", "radar_raw", ((85, b"abc"),), "nebula_msgs/msg/NebulaPackets"),
        RawPackets(90, "ouster", "ouster", ((90, bytes(range(256)) * 3),), "ouster_ros/msg/PacketMsg"),
        TextMessage(95, "meta", "meta", "hello ROS 1"),
    ]


def _read(path: Path) -> list[Any]:
    with open_recording(path, converters=CONVERTERS) as rec:
        return list(rec)


@pytest.mark.parametrize("compress_images", [False, True])
def test_every_sample_kind_reads_back_identical_from_ros1(tmp_path: Path, compress_images: bool) -> None:
    samples = _samples()
    if compress_images:  # JPEG takes 8-bit images only
        samples = [s for s in samples if not (isinstance(s, CameraImage) and s.encoding == "mono16")]
    n_ros1 = write_recording(tmp_path / "out.bag", samples, storage="ros1", compress_images=compress_images)
    n_mcap = write_recording(tmp_path / "mcap", samples, compress_images=compress_images)
    assert n_ros1 == n_mcap == len(samples) + 1  # + the box markers
    with open_recording(tmp_path / "out.bag", converters=CONVERTERS) as rec:
        assert rec.ros_version == 1
        assert rec.topics["/detector/markers"].msgtype == "visualization_msgs/msg/MarkerArray"
        from_ros1 = list(rec)
    from_mcap = _read(tmp_path / "mcap")
    assert len(from_ros1) == len(from_mcap) == len(samples)
    for a, b in zip(from_mcap, from_ros1):
        _assert_identical(a, b)
    # and they are the samples written (up to what a message cannot hold, see the conversion modules)
    by_kind = {(type(s).__name__, s.sensor_id, s.stamp_ns): s for s in from_ros1}
    for s in samples:
        back = by_kind[(type(s).__name__, s.sensor_id, s.stamp_ns)]
        if isinstance(s, CameraImage) and compress_images:
            assert isinstance(back, CameraImage) and back.encoding == "bgr8"
        elif not isinstance(s, Boxes3D):  # rotations go through quaternions: atol
            _assert_identical(s, back, atol=1e-12)
        else:
            assert isinstance(back, Boxes3D)
            for name in ("centers", "sizes", "labels", "scores", "track_ids"):
                np.testing.assert_array_equal(getattr(s, name), getattr(back, name), err_msg=name)
            np.testing.assert_allclose(back.yaws, s.yaws, atol=1e-6)


def test_ros1_connections_carry_noetic_definitions(tmp_path: Path) -> None:
    write_recording(tmp_path / "out.bag", _samples(), storage="ros1")
    with Ros1Reader(tmp_path / "out.bag") as reader:
        conns = {c.topic: c for c in reader.connections}
        digests = {c.msgtype: c.digest for c in reader.connections}
    for msgtype, md5 in NOETIC_MD5.items():
        if msgtype != "sensor_msgs/msg/CompressedImage":
            assert digests[msgtype] == md5, msgtype
    assert "uint32 seq" in conns["/cam/image_raw"].msgdef.data
    assert "float64[9] K" in conns["/cam/camera_info"].msgdef.data
    assert conns["/tf_static"].ext.latching == 1 and conns["/tf"].ext.latching is None
    write_recording(tmp_path / "c.bag", _samples()[1:2], storage="ros1", compress_images=True)
    with Ros1Reader(tmp_path / "c.bag") as reader:
        assert {c.digest for c in reader.connections} == {NOETIC_MD5["sensor_msgs/msg/CompressedImage"]}


def _messages(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    """topic -> [(log stamp, serialized bytes)] of a ROS 1 bag."""
    out: dict[str, list[tuple[int, bytes]]] = {}
    with Ros1Reader(path) as reader:
        for conn, stamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((stamp, bytes(raw)))
    return out


@pytest.mark.real_data
def test_ouster_ros1_bag_through_mcap_back_to_ros1(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "rosbag1_ouster" / "512x10_raw.bag"
    with open_recording(src) as rec:
        keep_topics = {rec.topics[t].sensor.sensor_id: t for t in rec.selected_topics}
        assert write_recording(tmp_path / "mcap", rec, topics=keep_topics) == 43
        original = list(rec)
    with open_recording(tmp_path / "mcap") as rec:
        assert rec.ros_version == 2
        assert write_recording(tmp_path / "back.bag", rec, storage="ros1", topics=keep_topics) == 43
    # Same topics, log stamps and bytes, message for message; same types, definitions and md5sums.
    assert _messages(tmp_path / "back.bag") == _messages(src)
    with Ros1Reader(src) as a, Ros1Reader(tmp_path / "back.bag") as b:
        assert ({(c.topic, c.msgtype, c.digest, c.msgdef.data) for c in a.connections}
                == {(c.topic, c.msgtype, c.digest, c.msgdef.data) for c in b.connections})
    # The default topics (what `fusion-stack convert` writes) give the same samples.
    write_recording(tmp_path / "default.bag", original, storage="ros1")
    for a, b in zip(original, _read(tmp_path / "default.bag")):
        _assert_identical(a, b)


@pytest.mark.real_data
def test_nuscenes_keyframe_round_trips_through_ros1(shared_data: Path, tmp_path: Path) -> None:
    ds = open_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json")
    samples = list(ds)
    write_recording(tmp_path / "out.bag", samples, storage="ros1", rig=ds.rig)
    write_recording(tmp_path / "mcap", samples, rig=ds.rig)
    converters = {**DEFAULT_CONVERTERS, "vision_msgs/msg/Detection3DArray": detections_converter(ds.class_names)}
    with open_recording(tmp_path / "out.bag", converters=converters) as rec:
        from_ros1 = list(rec)
        graph = rec.frame_graph()
    with open_recording(tmp_path / "mcap", converters=converters) as rec:
        from_mcap = list(rec)
    assert len(from_ros1) == len(from_mcap) == len(samples) + 6 + 1  # + camera_info per image, /tf_static
    for a, b in zip(from_mcap, from_ros1):
        _assert_identical(a, b)
    assert graph.lookup("lidar_top", "cam_front_optical").allclose(
        ds.rig.extrinsic("LIDAR_TOP", "CAM_FRONT"), atol=1e-12)


# --- crash behaviour ------------------------------------------------------------------------------------------
def _cloud(i: int) -> PointCloud:
    return PointCloud(1000 + 100 * i, "lidar", "lidar", np.full((50, 3), float(i)))


def test_an_interrupted_ros1_write_is_unindexed_until_repaired(tmp_path: Path) -> None:
    path = tmp_path / "rec.bag"
    writer = RecordingWriter(path, storage="ros1", flush_interval_ns=100)
    for i in range(20):
        writer.write(_cloud(i))
    # The process dies here: no close, so no index. Readers refuse the bag ...
    with pytest.raises(RecordingError, match="not indexed"):
        open_recording(path)
    # ... until it is re-indexed: then everything up to the last flush reads.
    crashed = tmp_path / "crashed.bag"
    shutil.copyfile(path, crashed)
    assert repair_ros1(crashed) == 0  # flushes end on chunk boundaries: nothing to cut
    with open_recording(crashed) as rec:
        got = [s.stamp_ns for s in rec]
    assert got == [1000 + 100 * i for i in range(len(got))] and len(got) >= 19
    assert repair_ros1(crashed) == 0  # indexed now: left alone
    writer.close()  # a later close still finishes the bag properly
    with open_recording(path) as rec:
        assert len(list(rec)) == 20


def test_a_ros1_write_killed_before_its_first_flush_repairs_to_an_empty_bag(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "rec.bag", storage="ros1")
    writer.write(TextMessage(5, "meta", "meta", "still in memory"))
    shutil.copyfile(tmp_path / "rec.bag", tmp_path / "crashed.bag")
    assert repair_ros1(tmp_path / "crashed.bag") == 0
    with open_recording(tmp_path / "crashed.bag") as rec:
        assert (rec.message_count, list(rec)) == (0, [])
    writer.close()
    assert [s.stamp_ns for s in _read(tmp_path / "rec.bag")] == [5]


def _chunk_positions(path: Path) -> list[tuple[int, int]]:
    """(start, end of the chunk record) of each chunk of a bag, from its index."""
    with Ros1Reader(path) as reader:
        starts = [c.pos for c in reader.chunk_infos]
    data = path.read_bytes()
    out = []
    for pos in starts:
        hlen = struct.unpack_from("<I", data, pos)[0]
        dlen = struct.unpack_from("<I", data, pos + 4 + hlen)[0]
        out.append((pos, pos + 8 + hlen + dlen))
    return out


def _unindexed_copy(src: Path, dst: Path, cut: int) -> None:
    """``src`` cut at byte ``cut`` with its header's index position zeroed: what a crash leaves."""
    data = bytearray(src.read_bytes()[:cut])
    at = data.index(b"index_pos=") + len(b"index_pos=")
    data[at:at + 8] = bytes(8)
    dst.write_bytes(bytes(data))


def test_repair_cuts_a_partial_chunk_and_rebuilds_cut_index_data(tmp_path: Path) -> None:
    path = tmp_path / "full.bag"
    with RecordingWriter(path, storage="ros1", flush_interval_ns=100) as writer:
        for i in range(10):
            writer.write(_cloud(i))
    chunks = _chunk_positions(path)
    assert len(chunks) == 9  # a flush one interval after the first message, then one per message
    # cut in the middle of the last chunk: the first nine messages come back
    _unindexed_copy(path, tmp_path / "a.bag", (chunks[-1][0] + chunks[-1][1]) // 2)
    assert repair_ros1(tmp_path / "a.bag") == (chunks[-1][1] - chunks[-1][0]) // 2
    assert [s.stamp_ns for s in _read(tmp_path / "a.bag")] == [1000 + 100 * i for i in range(9)]
    # cut in the index data after the last chunk: its index data is rebuilt, all ten come back
    _unindexed_copy(path, tmp_path / "b.bag", chunks[-1][1] + 7)
    assert repair_ros1(tmp_path / "b.bag") == 7
    assert [s.stamp_ns for s in _read(tmp_path / "b.bag")] == [1000 + 100 * i for i in range(10)]
    # cut inside the bag header
    _unindexed_copy(path, tmp_path / "c.bag", 60)
    with pytest.raises(RecordingError, match="bag header"):
        repair_ros1(tmp_path / "c.bag")
    (tmp_path / "d.bag").write_bytes(b"not a bag")
    with pytest.raises(RecordingError, match="bad magic"):
        repair_ros1(tmp_path / "d.bag")


@pytest.mark.parametrize("fmt", ["LZ4", "BZ2"])
def test_repair_reads_compressed_chunks(tmp_path: Path, fmt: str) -> None:
    store = ros1_typestore()
    path = tmp_path / "z.bag"
    writer = Ros1Writer(path)
    writer.set_compression(Ros1Writer.CompressionFormat[fmt])
    writer.chunk_threshold = 100
    with writer:
        conn = writer.add_connection("/t", "std_msgs/msg/String", typestore=store)
        for i in range(5):
            msg = store.types["std_msgs/msg/String"](data=f"message {i}" * 20)
            writer.write(conn, 10 + i, store.serialize_ros1(msg, "std_msgs/msg/String"))
    data = path.read_bytes()
    index_pos = struct.unpack_from("<Q", data, data.index(b"index_pos=") + len(b"index_pos="))[0]
    _unindexed_copy(path, tmp_path / "cut.bag", index_pos)
    assert repair_ros1(tmp_path / "cut.bag") == 0
    assert _messages(tmp_path / "cut.bag") == _messages(path)


@pytest.mark.real_data
def test_repair_reindexes_the_real_ouster_bag(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "rosbag1_ouster" / "512x10_raw.bag"
    with Ros1Reader(src) as reader:
        (chunk,) = reader.chunk_infos
    data = src.read_bytes()
    index_pos = struct.unpack_from("<Q", data, data.index(b"index_pos=") + len(b"index_pos="))[0]
    assert chunk.pos < index_pos < len(data)
    _unindexed_copy(src, tmp_path / "active.bag", index_pos)  # a `rosbag record` .bag.active: no index
    with pytest.raises(RecordingError, match="not indexed"):
        open_recording(tmp_path / "active.bag")
    assert repair_ros1(tmp_path / "active.bag") == 0
    assert _messages(tmp_path / "active.bag") == _messages(src)


def test_ros1_writer_errors_and_exceptions(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="'mcap', 'sqlite3' or 'ros1'"):
        RecordingWriter(tmp_path / "x.bag", storage="rosbag")
    with pytest.raises(RecordingError, match=r"\*\.bag"):
        RecordingWriter(tmp_path / "x.db3", storage="ros1")
    (tmp_path / "exists.bag").write_bytes(b"")
    with pytest.raises(RecordingError, match="cannot create recording"):
        RecordingWriter(tmp_path / "exists.bag", storage="ros1")

    def write_then_fail() -> None:
        with RecordingWriter(tmp_path / "y.bag", storage="ros1") as writer:
            writer.write(TextMessage(5, "meta", "meta", "a"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert [s.stamp_ns for s in _read(tmp_path / "y.bag")] == [5]
