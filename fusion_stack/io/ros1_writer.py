"""Writing ROS 1 bags (format 2.0) with ``rosbags``, and re-indexing a ROS 1 bag whose write was cut off.

:class:`Ros1BagWriter` is the ``storage="ros1"`` back end of :class:`fusion_stack.io.recording_writer.
RecordingWriter`. Messages are built by the conversion modules against the ROS 2 type store (one code path for
every storage) and then mapped field by field onto the ROS 1 (Noetic) definitions: same names, or the same name
in another case (``CameraInfo.k`` -> ``K``), ``Header.seq`` = 0, ROS 2-only fields (e.g. ``Marker.texture``)
left out. Connections carry the ROS 1 ``message_definition`` and md5sum of :func:`ros1_typestore` (Noetic, plus
``tf2_msgs/TFMessage`` and the definitions shipped in ``fusion_stack/io/msg``), so the standard types have their
usual md5sums and ``rosbag play`` / ROS 1 subscribers accept them. ``vision_msgs/Detection3DArray`` is written
with the shipped 4.x definition, which ROS 1's vision_msgs does not have: fusion_stack and rosbags read it,
ROS 1 nodes expecting Noetic's vision_msgs do not. ``/tf_static`` connections are marked latching.

Crash safety: a ROS 1 bag is only readable once its index (connection and chunk-info records after the last
chunk, and the index position in the bag header) is written, which happens at close. Until then the header says
"not indexed" and readers (rosbags, ``rosbag``) refuse the file. :meth:`Ros1BagWriter.flush` writes the open
chunk and its index-data records to the file, so a process killed mid-recording leaves complete chunks up to
the last flush (plus possibly a partial one); :func:`repair_ros1` (like ``rosbag reindex``, in place) rebuilds
the index from those chunks and cuts the partial tail, after which :func:`open_recording` reads everything
written up to the last flush.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.rosbag1 import Writer as _RosbagsRos1Writer
from rosbags.rosbag1.reader import decompressors
from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys.base import Nodetype

from fusion_stack.io.errors import RecordingError
from fusion_stack.io.message_types import build_typestore

_MAGIC = b"#ROSBAG V2.0\n"
_OP_MSGDATA, _OP_BAGHEADER, _OP_IDXDATA, _OP_CHUNK, _OP_CHUNK_INFO, _OP_CONNECTION = 2, 3, 4, 5, 6, 7
#: ROS 1 types rosbags' Noetic store lacks
_EXTRA_ROS1_DEFINITIONS = {"tf2_msgs/msg/TFMessage": "geometry_msgs/TransformStamped[] transforms\n"}
_BASE_DEFAULTS: dict[str, Any] = {"string": "", "bool": False, "float32": 0.0, "float64": 0.0}


def ros1_typestore() -> Any:
    """A rosbags ``Typestore`` for writing ROS 1: Noetic, ``tf2_msgs/msg/TFMessage`` and the shipped
    definitions."""
    extra: dict[str, Any] = {}
    for name, text in _EXTRA_ROS1_DEFINITIONS.items():
        extra.update(get_types_from_msg(text, name))
    return build_typestore(extra, base=Stores.ROS1_NOETIC)


# --- ROS 2 message objects -> ROS 1 message objects -----------------------------------------------------------
@dataclass(frozen=True)
class _FieldPlan:
    name: str  # the ROS 1 field
    source: str | None  # the ROS 2 attribute it is read from (None: not in ROS 2, written as default)
    kind: str  # "value" (base types and arrays of them), "message", "messages"
    msgtype: str = ""  # the ROS 1 type of "message"/"messages"
    default: Any = None


class Ros1MessageMapper:
    """Maps message objects of one rosbags store (the ROS 2 one the converters build with) onto the classes of a
    ROS 1 store, field by field (see the module docstring)."""

    def __init__(self, ros2_typestore: Any, ros1_typestore: Any) -> None:
        self.ros2 = ros2_typestore
        self.ros1 = ros1_typestore
        self._plans: dict[str, tuple[Any, tuple[_FieldPlan, ...]]] = {}

    def _plan(self, msgtype: str) -> tuple[Any, tuple[_FieldPlan, ...]]:
        if msgtype in self._plans:
            return self._plans[msgtype]
        if msgtype not in self.ros1.fielddefs:
            raise RecordingError(f"message type {msgtype} has no ROS 1 definition (Noetic, tf2_msgs or "
                                 f"fusion_stack/io/msg)", field="type")
        ros2_names = [f[0] for f in self.ros2.fielddefs[msgtype][1]] if msgtype in self.ros2.fielddefs else []
        by_lower = {n.lower(): n for n in ros2_names}
        plans = []
        for name, (nodetype, spec) in self.ros1.fielddefs[msgtype][1]:
            source = name if name in ros2_names else by_lower.get(name.lower())
            if nodetype == Nodetype.NAME:
                plan = _FieldPlan(name, source, "message", spec)
            elif nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE) and spec[0][0] == Nodetype.NAME:
                plan = _FieldPlan(name, source, "messages", spec[0][1])
            elif nodetype == Nodetype.BASE:
                plan = _FieldPlan(name, source, "value", default=_BASE_DEFAULTS.get(spec[0], 0))
            else:
                plan = _FieldPlan(name, source, "value")
            if source is None and plan.default is None:
                raise RecordingError(f"{msgtype}.{name} has no counterpart in the ROS 2 definition "
                                     f"(fields {ros2_names})", field=name)
            plans.append(plan)
        result = (self.ros1.types[msgtype], tuple(plans))
        self._plans[msgtype] = result
        return result

    def convert(self, msg: Any, msgtype: str) -> Any:
        """The ROS 1 message object of ``msg`` (a ``msgtype`` object of the ROS 2 store)."""
        cls, plans = self._plan(msgtype)
        values: dict[str, Any] = {}
        for p in plans:
            if p.source is None:
                values[p.name] = p.default
                continue
            value = getattr(msg, p.source)
            if p.kind == "message":
                value = self.convert(value, p.msgtype)
            elif p.kind == "messages":
                value = [self.convert(v, p.msgtype) for v in value]
            values[p.name] = value
        return cls(**values)


# --- the bag writer -------------------------------------------------------------------------------------------
class _FlushingWriter(_RosbagsRos1Writer):
    """rosbags' ROS 1 writer with :meth:`flush`: the open chunk (with its index data) goes to the file."""

    def flush(self) -> None:
        chunk = self.chunks[-1]
        if chunk.connections:  # holds messages (a chunk of connection records alone waits for them)
            self.write_chunk(chunk)
        if self.bio is not None:
            self.bio.flush()


class Ros1BagWriter:
    """A ROS 1 ``.bag`` being written: ``add_connection(topic, msgtype)``, ``write(connection, log stamp, ROS 2
    message object, msgtype)``, ``flush()``, ``close()`` (see the module docstring). ``chunk_size``: bytes of
    messages per chunk before it is written out (rosbag's default is 768 KiB)."""

    def __init__(self, path: str | os.PathLike[str], *, ros2_typestore: Any, chunk_size: int = 1 << 20) -> None:
        self.path = Path(path)
        if self.path.suffix != ".bag":
            raise RecordingError(f"a ROS 1 bag must be a file named *.bag (readers tell ROS 1 from ROS 2 by it), "
                                 f"got {self.path.name!r}", source=str(self.path), field="path")
        self.typestore = ros1_typestore()
        self.mapper = Ros1MessageMapper(ros2_typestore, self.typestore)
        self._writer = _FlushingWriter(self.path)
        self._writer.chunk_threshold = int(chunk_size)
        self._writer.open()
        self._writer.flush()  # the bag header: a crash before the first flush leaves an empty, repairable bag

    @property
    def is_open(self) -> bool:
        """Whether the bag is still being written."""
        return self._writer.bio is not None

    def add_connection(self, topic: str, msgtype: str) -> Any:
        """A new connection (its ROS 1 definition and md5sum from :func:`ros1_typestore`)."""
        self.mapper._plan(msgtype)  # an unknown type fails here, naming it
        latching = 1 if topic.rstrip("/").endswith("tf_static") else None
        return self._writer.add_connection(topic, msgtype, typestore=self.typestore, latching=latching)

    def write(self, connection: Any, log_stamp_ns: int, msg: Any, msgtype: str) -> None:
        """Write one message, given as an object of the ROS 2 store."""
        data = self.typestore.serialize_ros1(self.mapper.convert(msg, msgtype), msgtype)
        self._writer.write(connection, int(log_stamp_ns), data)

    def flush(self) -> None:
        """Write the open chunk to the file (recoverable with :func:`repair_ros1` after a crash)."""
        if self.is_open:
            self._writer.flush()

    def close(self) -> None:
        """Write the last chunk, the index and the bag header (idempotent)."""
        if self.is_open:
            self._writer.close()


# --- re-indexing ----------------------------------------------------------------------------------------------
def _parse_header(raw: bytes) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        (size,) = struct.unpack_from("<I", raw, pos)
        item = raw[pos + 4:pos + 4 + size]
        if len(item) != size or b"=" not in item:
            raise ValueError("bad header field")
        key, value = item.split(b"=", 1)
        fields[key.decode()] = value
        pos += 4 + size
    if pos != len(raw):
        raise ValueError("bad header length")
    return fields


def _header(fields: dict[str, bytes]) -> bytes:
    body = b"".join(struct.pack("<I", len(k) + 1 + len(v)) + k.encode() + b"=" + v for k, v in fields.items())
    return struct.pack("<I", len(body)) + body


def _record(fields: dict[str, bytes], data: bytes) -> bytes:
    return _header(fields) + struct.pack("<I", len(data)) + data


def _read_record(buf: memoryview, pos: int) -> tuple[dict[str, bytes], memoryview, int] | None:
    """(header fields, data, end) of the record at ``pos``, or None when it is incomplete or malformed."""
    if pos + 4 > len(buf):
        return None
    (hlen,) = struct.unpack_from("<I", buf, pos)
    if pos + 8 + hlen > len(buf):
        return None
    try:
        fields = _parse_header(bytes(buf[pos + 4:pos + 4 + hlen]))
    except (ValueError, UnicodeDecodeError):
        return None
    (dlen,) = struct.unpack_from("<I", buf, pos + 4 + hlen)
    start = pos + 8 + hlen
    if start + dlen > len(buf) or len(fields.get("op", b"")) != 1:
        return None
    return fields, buf[start:start + dlen], start + dlen


def _u32(fields: dict[str, bytes], key: str) -> int:
    return int(struct.unpack("<I", fields[key])[0])


def _time(value: bytes) -> int:
    sec, nsec = struct.unpack("<II", value)
    return int(sec) * 1_000_000_000 + int(nsec)


@dataclass
class _ChunkScan:
    pos: int
    connections: dict[int, tuple[dict[str, bytes], bytes]] = field(default_factory=dict)  # id -> record
    messages: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # id -> [(time, offset)]


def _scan_chunk(fields: dict[str, bytes], data: memoryview, pos: int) -> _ChunkScan | None:
    """The connections and message times of one chunk record, or None when it does not parse."""
    compression = fields.get("compression", b"none").decode(errors="replace")
    decompress: Callable[[bytes], bytes] | None = decompressors.get(compression)
    if decompress is None:
        return None
    try:
        content = memoryview(decompress(bytes(data)))
    except Exception:  # a cut-off or corrupt compressed chunk
        return None
    size = fields.get("size", b"")
    if len(size) != 4 or len(content) != struct.unpack("<I", size)[0]:
        return None
    scan = _ChunkScan(pos)
    inner = 0
    try:
        while inner < len(content):
            rec = _read_record(content, inner)
            if rec is None:
                return None
            head, body, end = rec
            op = head["op"][0]
            if op == _OP_CONNECTION:
                scan.connections[_u32(head, "conn")] = (head, bytes(body))
            elif op == _OP_MSGDATA:
                scan.messages.setdefault(_u32(head, "conn"), []).append((_time(head["time"]), inner))
            inner = end
    except (KeyError, struct.error):  # a record without its conn/time fields: corrupt
        return None
    return scan


def _index_data(conn: int, items: list[tuple[int, int]]) -> bytes:
    data = b"".join(struct.pack("<III", t // 1_000_000_000, t % 1_000_000_000, off) for t, off in items)
    return _record({"op": bytes([_OP_IDXDATA]), "ver": struct.pack("<I", 1), "conn": struct.pack("<I", conn),
                    "count": struct.pack("<I", len(items))}, data)


def _time_bytes(t: int) -> bytes:
    return struct.pack("<II", t // 1_000_000_000, t % 1_000_000_000)


def repair_ros1(path: str | os.PathLike[str]) -> int:
    """Re-index, in place, a ROS 1 bag whose write was cut off (or any unindexed ROS 1 bag, e.g. a ``.bag.active``
    of ``rosbag record``): keep every complete chunk, rewrite the index data of the last one when it was cut,
    cut what follows, then write the index and the bag header. Returns the number of bytes cut; 0 (and nothing
    changed) for a bag that is already indexed. RecordingError when the file is not a ROS 1 bag."""
    p = Path(path)
    raw = p.read_bytes()
    buf = memoryview(raw)
    if not raw.startswith(_MAGIC):
        raise RecordingError("not a ROS 1 bag (bad magic)", source=str(p), field="magic")
    head = _read_record(buf, len(_MAGIC))
    if head is None or head[0]["op"][0] != _OP_BAGHEADER:
        raise RecordingError("the bag header record is cut off or malformed", source=str(p), field="bag_header")
    header_end = head[2]
    if len(head[0].get("index_pos", b"")) != 8:
        raise RecordingError("the bag header has no index_pos", source=str(p), field="bag_header")
    index_pos = int(struct.unpack("<Q", head[0]["index_pos"])[0])
    if 0 < index_pos <= len(raw):
        return 0
    chunks: list[_ChunkScan] = []
    connections: dict[int, tuple[dict[str, bytes], bytes]] = {}
    pos = good = header_end
    tail = b""  # index data rewritten for a last chunk whose own was cut
    while True:
        rec = _read_record(buf, pos)
        if rec is None or rec[0]["op"][0] != _OP_CHUNK:
            break  # end of file, a cut-off record, or the start of an old index
        scan = _scan_chunk(rec[0], rec[1], pos)
        if scan is None:
            break
        after = rec[2]
        complete = True
        for _ in scan.messages:
            idx = _read_record(buf, after)
            if idx is None or idx[0]["op"][0] != _OP_IDXDATA:
                complete = False
                break
            after = idx[2]
        chunks.append(scan)
        connections.update(scan.connections)
        if not complete:
            good = rec[2]
            tail = b"".join(_index_data(c, items) for c, items in scan.messages.items())
            break
        pos = good = after
    index = bytearray(tail)
    for cid in sorted(connections):
        h, data = connections[cid]
        index += _record(h, data)
    for scan in chunks:
        times = [t for items in scan.messages.values() for t, _ in items]
        counts = b"".join(struct.pack("<II", c, len(items)) for c, items in scan.messages.items())
        index += _record({"op": bytes([_OP_CHUNK_INFO]), "ver": struct.pack("<I", 1),
                          "chunk_pos": struct.pack("<Q", scan.pos),
                          "start_time": _time_bytes(min(times, default=0)),
                          "end_time": _time_bytes(max(times, default=0)),
                          "count": struct.pack("<I", len(scan.messages))}, counts)
    new_index_pos = good + len(tail)
    header = _header({"op": bytes([_OP_BAGHEADER]), "index_pos": struct.pack("<Q", new_index_pos),
                      "conn_count": struct.pack("<I", len(connections)),
                      "chunk_count": struct.pack("<I", len(chunks))})
    pad = header_end - len(_MAGIC) - len(header) - 4
    if pad < 0:
        raise RecordingError("the bag header record is too short to rewrite", source=str(p), field="bag_header")
    with p.open("r+b") as f:
        f.seek(good)
        f.write(bytes(index))
        f.truncate()
        f.seek(len(_MAGIC))
        f.write(header + struct.pack("<I", pad) + b" " * pad)
    return len(raw) - good

