"""Fixtures of the io tests: a type store, a context maker and a small bag builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from fusion_stack.io.convert_common import ConversionContext
from fusion_stack.io.message_types import default_typestore


@pytest.fixture(scope="session")
def typestore() -> Any:
    """The latest ROS 2 store plus fusion_stack's shipped definitions."""
    return default_typestore()


@pytest.fixture
def ctx() -> Callable[..., ConversionContext]:
    """``ctx(msgtype, topic=..., sensor_id=..., log_stamp_ns=...)`` builds a ConversionContext."""

    def make(msgtype: str, *, topic: str = "/test", sensor_id: str = "sensor", log_stamp_ns: int = 7,
             frame_id: str | None = None) -> ConversionContext:
        return ConversionContext(topic, msgtype, log_stamp_ns, sensor_id, frame_id)

    return make


BagMessage = tuple[str, str, int, Any]  # topic, msgtype, log stamp, message object or raw bytes


@pytest.fixture
def make_bag(tmp_path: Path, typestore: Any) -> Callable[..., Path]:
    """``make_bag(messages, name=..., storage=...)`` writes (topic, msgtype, stamp, msg-or-bytes) to a ROS 2 bag
    (raw bytes are written as they are, to build corrupt messages) and returns its directory."""

    def make(messages: Sequence[BagMessage], *, name: str = "bag", storage: str = "sqlite3",
             store: Any = None) -> Path:
        ts = store if store is not None else typestore
        path = tmp_path / name
        plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
        with Writer(path, version=9, storage_plugin=plugin) as writer:
            conns: dict[str, Any] = {}
            for topic, msgtype, stamp, msg in messages:
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=ts)
                data = msg if isinstance(msg, (bytes, bytearray)) else bytes(ts.serialize_cdr(msg, msgtype))
                writer.write(conns[topic], stamp, data)
        return path

    return make
