"""Bad recordings and bad messages: typed errors naming file, topic, stamp and field; skipping and counting."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Writer1
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from fusion_stack.io.convert_image import image_to_msg
from fusion_stack.io.convert_pointcloud import pointcloud_to_msg
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.message_errors import BadMessageError
from fusion_stack.io.message_types import default_typestore
from fusion_stack.io.recording import open_recording
from fusion_stack.io.recording_writer import RecordingWriter, repair_mcap
from fusion_stack.types import CameraImage, PointCloud

IMG = "sensor_msgs/msg/Image"
PC2 = "sensor_msgs/msg/PointCloud2"


def _image_msg(typestore: Any, stamp: int) -> Any:
    return image_to_msg(CameraImage(stamp, "cam", "cam", np.full((4, 5, 3), 7, np.uint8), "rgb8"), typestore)


def _bad_stream(typestore: Any) -> list[tuple[str, str, int, Any]]:
    """A good image, an image whose data is shorter than its header says, corrupt bytes, a cloud with a field
    past point_step, and good messages after them."""
    short = _image_msg(typestore, 200)
    short.data = short.data[:-3]
    cloud = pointcloud_to_msg(PointCloud(400, "lidar", "lidar", np.zeros((3, 3))), typestore)
    cloud.fields[2].offset = 10  # z (4 bytes) now ends at byte 14, past point_step 12
    good = bytes(typestore.serialize_cdr(_image_msg(typestore, 100), IMG))
    return [("/cam/image_raw", IMG, 100, _image_msg(typestore, 100)),
            ("/cam/image_raw", IMG, 200, short),
            ("/cam/image_raw", IMG, 300, good[: len(good) // 2]),
            ("/lidar/points", PC2, 400, cloud),
            ("/cam/image_raw", IMG, 500, _image_msg(typestore, 500)),
            ("/lidar/points", PC2, 600, pointcloud_to_msg(PointCloud(600, "lidar", "lidar", np.ones((3, 3))),
                                                          typestore))]


def test_bad_image_raises_naming_file_topic_stamp_field(make_bag: Callable[..., Path], typestore: Any) -> None:
    path = make_bag(_bad_stream(typestore))
    with open_recording(path) as rec:
        it = iter(rec)
        assert next(it).stamp_ns == 100
        with pytest.raises(BadMessageError) as info:
            next(it)
    err = info.value
    assert isinstance(err, RecordingError)
    assert (err.topic, err.stamp_ns, err.field, err.reason_kind) == ("/cam/image_raw", 200, "data", "convert")
    text = str(err)
    assert str(path) in text and "/cam/image_raw" in text and "200 ns" in text and "data:" in text


def test_corrupt_bytes_and_bad_cloud_raise(make_bag: Callable[..., Path], typestore: Any) -> None:
    path = make_bag(_bad_stream(typestore))
    with open_recording(path, topics=["/lidar/points"]) as rec, pytest.raises(BadMessageError) as info:
        list(rec)
    assert (info.value.stamp_ns, info.value.field) == (400, "fields.z")
    assert "past point_step 12" in str(info.value)
    with open_recording(path, start_ns=300, stop_ns=301) as rec, pytest.raises(BadMessageError) as info:
        list(rec)
    assert (info.value.stamp_ns, info.value.reason_kind, info.value.field) == (300, "deserialize", "serialized_data")


def test_skip_bad_messages_continues_and_counts(make_bag: Callable[..., Path], typestore: Any) -> None:
    path = make_bag(_bad_stream(typestore), storage="mcap")
    with open_recording(path, skip_bad_messages=True) as rec:
        stamps = [s.stamp_ns for s in rec]
        assert stamps == [100, 500, 600]
        assert dict(rec.skipped) == {"convert": 2, "deserialize": 1}
        assert len(rec.skip_errors) == 3 and "400 ns" in rec.skip_errors[2]
        assert [s.stamp_ns for s in rec] == [100, 500, 600]  # counters restart with each pass
        assert sum(rec.skipped.values()) == 3


def test_unknown_type_without_definition(make_bag: Callable[..., Path], typestore: Any) -> None:
    store = default_typestore()
    store.register(get_types_from_msg("int32 value\n", "acme_msgs/msg/Blob"))
    blob = store.types["acme_msgs/msg/Blob"](value=3)
    path = make_bag([("/blob", "acme_msgs/msg/Blob", 5, blob), ("/cam/image_raw", IMG, 6, _image_msg(store, 6))],
                    store=store)
    db = sqlite3.connect(next(path.glob("*.db3")))
    db.execute("DELETE FROM message_definitions WHERE topic_type = 'acme_msgs/msg/Blob'")
    db.commit()
    db.close()
    with open_recording(path) as rec:  # not selected: no converter, so it does not get in the way
        info = rec.topics["/blob"]
        assert (info.has_definition, info.convertible, info.selected) == (False, False, False)
        assert [s.stamp_ns for s in rec] == [6]
    converters = {"acme_msgs/msg/Blob": lambda msg, ctx: None}
    with pytest.raises(RecordingError, match="acme_msgs/msg/Blob has no definition") as err:
        open_recording(path, topics=["/blob"], converters=converters)
    assert err.value.field == "type" and "/blob" in str(err.value)
    with open_recording(path, topics=["/blob"], converters=converters, skip_bad_messages=True) as rec:
        assert list(rec) == []
        assert dict(rec.skipped) == {"unknown_type": 1}
    with pytest.raises(RecordingError, match="no converter") as err:
        open_recording(path, topics=["/blob"])
    with pytest.raises(RecordingError, match="not in the recording"):
        open_recording(path, topics=["/nope"])


def test_truncated_sqlite3_bag(make_bag: Callable[..., Path], typestore: Any) -> None:
    msgs = [("/cam/image_raw", IMG, i, _image_msg(typestore, i)) for i in range(1, 400)]
    path = make_bag(msgs)
    db3 = next(path.glob("*.db3"))
    data = db3.read_bytes()
    db3.write_bytes(data[: len(data) // 2])
    for skip in (False, True):
        with pytest.raises(RecordingError, match="malformed") as info:
            open_recording(path, skip_bad_messages=skip)
        assert info.value.source == str(path)


def _chunk_offsets(data: bytes) -> list[int]:
    pos, out = 8, []
    while pos + 9 <= len(data):
        size = int.from_bytes(data[pos + 1: pos + 9], "little")
        if data[pos] == 0x06:
            out.append(pos)
        pos += 9 + size
    return out


def test_storage_failure_mid_stream(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    with RecordingWriter(path, flush_interval_ns=0) as writer:  # one chunk per message
        for i in range(10):
            writer.write(PointCloud(1000 + i, "lidar", "lidar", np.zeros((10, 3))))
    mcap = path / "bag.mcap"
    data = bytearray(mcap.read_bytes())
    first_record = _chunk_offsets(bytes(data))[5] + 9 + 8 + 8 + 8 + 4 + 4 + 8  # inside the 6th chunk
    data[first_record + 1: first_record + 9] = (10**9).to_bytes(8, "little")  # an impossible record length
    mcap.write_bytes(bytes(data))
    with open_recording(path) as rec, pytest.raises(BadMessageError, match="after 1004 ns: cannot read further"):
        list(rec)
    with open_recording(path, skip_bad_messages=True) as rec:
        assert [s.stamp_ns for s in rec] == [1000, 1001, 1002, 1003, 1004]
        assert dict(rec.skipped) == {"storage": 1}


def test_torn_mcap_write_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    with RecordingWriter(path, flush_interval_ns=0) as writer:
        for i in range(10):
            writer.write(PointCloud(1000 + i, "lidar", "lidar", np.zeros((10, 3))))
    (path / "metadata.yaml").unlink()
    mcap = path / "bag.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: _chunk_offsets(data)[7] + 100])  # the write stopped inside the 8th chunk
    with pytest.raises(RecordingError, match="cannot open recording"):
        open_recording(path)
    assert repair_mcap(mcap) == 100
    with open_recording(path) as rec:
        assert [s.stamp_ns for s in rec] == list(range(1000, 1007))


def test_truncated_ros1_bag(tmp_path: Path) -> None:
    store = get_typestore(Stores.ROS1_NOETIC)
    path = tmp_path / "t.bag"
    with Writer1(path) as writer:
        conn = writer.add_connection("/text", "std_msgs/msg/String", typestore=store)
        for i in range(50):
            writer.write(conn, i + 1, bytes(store.serialize_ros1(store.types["std_msgs/msg/String"](data="x" * 500),
                                                                 "std_msgs/msg/String")))
    with open_recording(path) as rec:
        assert len(list(rec)) == 50
    cut = tmp_path / "cut.bag"
    shutil.copy(path, cut)
    with cut.open("r+b") as f:
        f.truncate(cut.stat().st_size * 2 // 3)
    with pytest.raises(RecordingError, match="cannot open recording") as info:
        open_recording(cut)
    assert info.value.source == str(cut)


def test_missing_path_and_bag_folder_without_metadata(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        open_recording(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordingError, match=r"exactly one \.mcap or \.db3") as info:
        open_recording(empty)
    assert info.value.field == "metadata.yaml"
