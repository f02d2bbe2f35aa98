"""Reading ROS recordings as streams of typed samples, on ``rosbags``.

:func:`open_recording` opens a ROS 1 ``.bag``, a ROS 2 bag directory (sqlite3 or mcap, with or without
``metadata.yaml``) or a single ``.db3``/``.mcap`` file, and returns a :class:`Recording`. Iterating it yields one
sample per message of the selected topics, converted by the converter of the message type (see
:mod:`fusion_stack.io.converters`), in log-time order (the order the recorder received them; each sample's
``stamp_ns`` is its header stamp), streaming: memory does not grow with the recording.

Message types are resolved from the definitions stored in the recording, then the ``.msg`` files shipped with
fusion_stack, then the rosbags store of the recording's ROS distribution (:mod:`fusion_stack.io.message_types`).

Bad input raises :class:`BadMessageError` (a RecordingError) naming the file, topic, log stamp and field. With
``skip_bad_messages=True`` the stream goes on instead and ``Recording.skipped`` counts by reason:
``unknown_type`` (no definition anywhere), ``deserialize`` (corrupt bytes), ``convert`` (content our types
reject), ``storage`` (the file ends or breaks: the stream stops there); ``Recording.skip_errors`` keeps the
first 100 messages.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from fusion_stack.errors import FusionStackError
from fusion_stack.geometry.errors import GeometryError
from fusion_stack.geometry.frame_graph import FrameGraph
from fusion_stack.io.calibration_samples import StampedTransform, TransformSample
from fusion_stack.io.convert_common import ConversionContext, Converter, RecordingSample
from fusion_stack.io.converters import DEFAULT_CONVERTERS
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.message_errors import BadMessageError
from fusion_stack.io.message_types import build_typestore, store_for_distro
from fusion_stack.io.sensor_map import SensorMap, TopicSensor, guess_sensor_map, load_sensor_map

MAX_SKIP_ERRORS = 100
#: ROS 2 messages of at least this many bytes are deserialized without copying (see Recording._deserialize)
ZERO_COPY_BYTES = 1 << 16
_CONVERT_ERRORS = (FusionStackError, ValueError, TypeError, AttributeError, KeyError, IndexError)


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a recording: its type and message count, its sensor, whether its type has a definition
    and a converter, and whether this Recording streams it."""

    topic: str
    msgtype: str
    message_count: int
    sensor: TopicSensor
    has_definition: bool
    convertible: bool
    selected: bool


@dataclass(frozen=True)
class RecordedSample:
    """A sample with where it came from: its topic and its log (receive) stamp in the recording."""

    topic: str
    log_stamp_ns: int
    sample: RecordingSample


def _storage_path(path: Path) -> Path:
    """The path rosbags should open: a ROS 2 directory without metadata.yaml is opened through its one storage
    file."""
    if path.is_dir() and not (path / "metadata.yaml").exists():
        files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        if len(files) != 1:
            raise RecordingError(
                f"a ROS 2 bag directory without metadata.yaml must hold exactly one .mcap or .db3 file, found "
                f"{[p.name for p in files]}", source=str(path), field="metadata.yaml")
        return files[0]
    return path


class Recording:
    """An open recording (use as a context manager, or call :meth:`close`). See the module docstring.

    Attributes: ``path``; ``topics`` (topic -> :class:`TopicInfo`, all topics of the file); ``sensor_map`` (the
    effective map: given entries over guessed ones); ``recorded_start_ns``/``recorded_end_ns`` (log stamps of
    the first message and just after the last); ``start_ns``/``stop_ns`` (the window streamed);
    ``message_count``; ``ros_version`` (1 or 2); ``skipped`` and ``skip_errors`` (reset at the start of each
    pass over the selected topics, added to by passes over other topics).
    """

    def __init__(self, path: str | os.PathLike[str], *, topics: Collection[str] | None = None,
                 start_ns: int | None = None, stop_ns: int | None = None,
                 sensor_map: SensorMap | str | os.PathLike[str] | None = None, skip_bad_messages: bool = False,
                 converters: Mapping[str, Converter] | None = None) -> None:
        self.path = Path(path)
        self._source = str(self.path)
        if not self.path.exists():
            raise RecordingError("no such file or directory", source=self._source)
        self._converters: Mapping[str, Converter] = DEFAULT_CONVERTERS if converters is None else converters
        self.skip_bad_messages = bool(skip_bad_messages)
        self.start_ns = start_ns
        self.stop_ns = stop_ns
        self.skipped: Counter[str] = Counter()
        self.skip_errors: list[str] = []
        try:
            self._reader = AnyReader([_storage_path(self.path)], default_typestore=get_typestore(Stores.EMPTY))
            self._reader.open()
        except RecordingError:
            raise
        except Exception as err:  # rosbags, sqlite, apsw and OS errors all mean "cannot open"
            hint = ""
            if "not indexed" in str(err).lower():
                hint = " (an interrupted ROS 1 recording: fusion_stack.io.ros1_writer.repair_ros1 re-indexes it)"
            raise RecordingError(f"cannot open recording: {type(err).__name__}: {err}{hint}",
                                 source=self._source) from err
        try:
            self._setup(topics, sensor_map)
        except BaseException:
            self.close()
            raise

    def _setup(self, topics: Collection[str] | None, sensor_map: SensorMap | str | os.PathLike[str] | None) -> None:
        reader = self._reader
        self.ros_version = 2 if reader.is2 else 1
        distro = None
        if reader.is2:
            distro = getattr(reader.readers[0], "ros_distro", None)
        self._typestore = build_typestore(dict(reader.typestore.fielddefs),
                                          base=store_for_distro(distro, ros1=not reader.is2))
        topic_types = {c.topic: c.msgtype for c in reader.connections}
        guessed = guess_sensor_map(topic_types)
        if sensor_map is None:
            self.sensor_map = guessed
        else:
            given = (sensor_map if isinstance(sensor_map, SensorMap)
                     else load_sensor_map(sensor_map, topic_types=topic_types))
            self.sensor_map = guessed.merged(given)
        counts: Counter[str] = Counter()
        for c in reader.connections:
            counts[c.topic] += c.msgcount
        if topics is not None:
            unknown = sorted(set(topics) - set(topic_types))
            if unknown:
                raise RecordingError(f"topics {unknown} are not in the recording (topics: {sorted(topic_types)})",
                                     source=self._source, field="topics")
        infos: dict[str, TopicInfo] = {}
        for topic in sorted(topic_types):
            msgtype = topic_types[topic]
            defined = msgtype in self._typestore.fielddefs
            convertible = msgtype in self._converters
            selected = convertible if topics is None else topic in topics
            sensor = self.sensor_map.get(topic)
            assert sensor is not None
            infos[topic] = TopicInfo(topic, msgtype, counts[topic], sensor, defined, convertible, selected)
            if topics is not None and topic in topics and not convertible:
                raise RecordingError(
                    f"topic {topic} has type {msgtype}, which has no converter (converters: "
                    f"{', '.join(sorted(self._converters))}); pass converters={{..., {msgtype!r}: fn}}",
                    source=self._source, field="type")
            if selected and not defined and not self.skip_bad_messages:
                raise RecordingError(
                    f"topic {topic}: message type {msgtype} has no definition in the recording, in "
                    f"fusion_stack/io/msg or in the ROS store; add its .msg file or pass skip_bad_messages=True",
                    source=self._source, field="type")
        self.topics: Mapping[str, TopicInfo] = infos
        self.message_count = int(reader.message_count)
        self.recorded_start_ns = int(reader.start_time) if self.message_count else 0
        self.recorded_end_ns = int(reader.end_time) if self.message_count else 0

    # --- info -----------------------------------------------------------------------------------------------
    @property
    def typestore(self) -> Any:
        """The rosbags ``Typestore`` used to deserialize (recording + shipped + distribution definitions)."""
        return self._typestore

    @property
    def selected_topics(self) -> tuple[str, ...]:
        """The topics this Recording streams, sorted."""
        return tuple(t for t, i in self.topics.items() if i.selected)

    # --- streaming ------------------------------------------------------------------------------------------
    def _bad(self, kind: str, message: str, *, field: str | None, topic: str, stamp: int, msgtype: str,
             cause: BaseException | None) -> None:
        err = BadMessageError(message, source=self._source, field=field, topic=topic, stamp_ns=stamp,
                              msgtype=msgtype, reason_kind=kind)
        if not self.skip_bad_messages:
            raise err from cause
        self.skipped[kind] += 1
        if len(self.skip_errors) < MAX_SKIP_ERRORS:
            self.skip_errors.append(str(err))

    def _raw(self, topics: Collection[str]) -> Iterator[tuple[Any, int, bytes]]:
        """(connection, log stamp, raw bytes) of ``topics``; storage failures reported as RecordingError."""
        conns = [c for c in self._reader.connections if c.topic in topics]
        if not conns:
            return
        it = self._reader.messages(connections=conns, start=self.start_ns, stop=self.stop_ns)
        last = self.start_ns or 0
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except Exception as err:
                self._bad("storage", f"cannot read further: {type(err).__name__}: {err}", field="storage",
                          topic="", stamp=last, msgtype="", cause=err)
                return
            last = item[1]
            yield item

    def serialized_messages(self, topics: Collection[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
        """``(topic, message type, log stamp, CDR bytes)`` of ``topics`` (default: all topics) in log order,
        without deserializing (ROS 1 messages are converted to CDR): what a bag player publishes."""
        chosen = set(self.topics if topics is None else topics)
        for conn, stamp, raw in self._raw(chosen):
            if self.ros_version == 2:
                yield conn.topic, conn.msgtype, stamp, bytes(raw)
                continue
            try:
                cdr = self._typestore.ros1_to_cdr(raw, conn.msgtype)
            except Exception as err:
                self._bad("deserialize", f"cannot convert {len(raw)} bytes to CDR: {type(err).__name__}: {err}",
                          field="serialized_data", topic=conn.topic, stamp=stamp, msgtype=conn.msgtype, cause=err)
                continue
            yield conn.topic, conn.msgtype, stamp, bytes(cdr)

    def log_stamps(self, topics: Collection[str] | None = None) -> Iterator[tuple[str, int]]:
        """(topic, log stamp) of every message of ``topics`` (default: all topics), without deserializing."""
        chosen = set(self.topics if topics is None else topics)
        for conn, stamp, _raw in self._raw(chosen):
            yield conn.topic, stamp

    def records(self, topics: Collection[str] | None = None) -> Iterator[RecordedSample]:
        """The converted samples of ``topics`` (default: the selected topics) with topic and log stamp."""
        chosen = set(self.selected_topics if topics is None else topics)
        if topics is None:
            self.skipped.clear()
            self.skip_errors.clear()
        for conn, stamp, raw in self._raw(chosen):
            topic, msgtype = conn.topic, conn.msgtype
            info = self.topics[topic]
            if not info.has_definition:
                self._bad("unknown_type", f"message type {msgtype} has no definition", field="type", topic=topic,
                          stamp=stamp, msgtype=msgtype, cause=None)
                continue
            try:
                msg = self._deserialize(raw, msgtype)
            except Exception as err:
                self._bad("deserialize", f"cannot deserialize {len(raw)} bytes: {type(err).__name__}: {err}",
                          field="serialized_data", topic=topic, stamp=stamp, msgtype=msgtype, cause=err)
                continue
            converter = self._converters.get(msgtype)
            if converter is None:
                raise RecordingError(f"topic {topic}: no converter for {msgtype}", source=self._source,
                                     field="type")
            ctx = ConversionContext(topic, msgtype, stamp, info.sensor.sensor_id, info.sensor.frame_id)
            try:
                sample = converter(msg, ctx)
            except _CONVERT_ERRORS as err:
                reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
                self._bad("convert", reason, field=getattr(err, "field", None) or "message", topic=topic,
                          stamp=stamp, msgtype=msgtype, cause=err)
                continue
            yield RecordedSample(topic, stamp, sample)

    def __iter__(self) -> Iterator[RecordingSample]:
        """The converted samples of the selected topics, in log-time order."""
        return (r.sample for r in self.records())

    def _deserialize(self, raw: bytes, msgtype: str) -> Any:
        if self.ros_version == 2:
            # rosbags slices the 4-byte CDR header off ``raw``, which copies a bytes object but not a memoryview.
            # Large messages (images, clouds) skip that copy; small ones keep it, so their 8-byte arrays stay
            # 8-byte aligned (a view is offset by those 4 bytes).
            data = memoryview(raw) if len(raw) >= ZERO_COPY_BYTES else raw
            return self._typestore.deserialize_cdr(data, msgtype)
        return self._typestore.deserialize_ros1(raw, msgtype)

    def raw_messages(self, topics: Collection[str]) -> Iterator[tuple[str, int, Any]]:
        """(topic, log stamp, deserialized rosbags message) of ``topics``, whatever their type (no conversion).
        Undeserializable messages are handled as in :meth:`records`."""
        for conn, stamp, raw in self._raw(set(topics)):
            try:
                yield conn.topic, stamp, self._deserialize(raw, conn.msgtype)
            except Exception as err:
                self._bad("deserialize", f"cannot deserialize {len(raw)} bytes: {type(err).__name__}: {err}",
                          field="serialized_data", topic=conn.topic, stamp=stamp, msgtype=conn.msgtype, cause=err)

    # --- transforms -----------------------------------------------------------------------------------------
    def _tf_topics(self, *, static: bool) -> list[str]:
        return [t for t, i in self.topics.items() if i.msgtype == "tf2_msgs/msg/TFMessage"
                and t.rstrip("/").endswith("tf_static") == static]

    def transform_samples(self, *, static: bool = True) -> Iterator[TransformSample]:
        """The TFMessages of the ``/tf_static`` topics (``static=True``) or the ``/tf`` topics."""
        for r in self.records(self._tf_topics(static=static)):
            assert isinstance(r.sample, TransformSample)
            yield r.sample

    def static_transforms(self) -> tuple[StampedTransform, ...]:
        """Every transform published on ``/tf_static`` (later messages replace earlier edges)."""
        edges: dict[str, StampedTransform] = {}
        for sample in self.transform_samples(static=True):
            for t in sample.transforms:
                edges[t.child] = t
        return tuple(edges.values())

    def frame_graph(self, *, include_dynamic: bool = True, cache_ns: int = 10**18) -> FrameGraph:
        """A FrameGraph of ``/tf_static`` (static edges) and, when ``include_dynamic``, every ``/tf``
        transform (stamped edges; ``cache_ns`` bounds the history kept per edge)."""
        graph = FrameGraph(cache_ns=cache_ns)
        try:
            for t in self.static_transforms():
                graph.add_static(t.parent, t.child, t.child2parent)
            if include_dynamic:
                for sample in self.transform_samples(static=False):
                    for t in sample.transforms:
                        graph.add_transform(t.parent, t.child, t.stamp_ns, t.child2parent)
        except GeometryError as err:
            raise RecordingError(f"inconsistent transforms: {err.reason}", source=self._source,
                                 field=err.field) from err
        return graph

    # --- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the files (idempotent)."""
        reader = getattr(self, "_reader", None)
        if reader is not None and reader.stack is not None:
            reader.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_recording(path: str | os.PathLike[str], *, topics: Collection[str] | None = None,
                   start_ns: int | None = None, stop_ns: int | None = None,
                   sensor_map: SensorMap | str | os.PathLike[str] | None = None, skip_bad_messages: bool = False,
                   converters: Mapping[str, Converter] | None = None) -> Recording:
    """Open a recording for streaming (see the module docstring).

    Args:
        path: a ROS 1 ``.bag``, a ROS 2 bag directory, or a ``.db3``/``.mcap`` file.
        topics: the topics to stream (default: every topic whose type has a converter). Naming a topic that is
            not in the file, or one without a converter, is an error.
        start_ns, stop_ns: stream only messages with log stamps in ``[start_ns, stop_ns)``.
        sensor_map: a SensorMap or the path of its YAML file; its entries replace the guessed ones
            (``Recording.sensor_map`` shows the result, ``guess_sensor_map`` the guess alone).
        skip_bad_messages: skip and count bad messages instead of raising.
        converters: ``{message type: Converter}`` replacing :data:`DEFAULT_CONVERTERS`.

    Raises:
        RecordingError: unreadable file, unknown topics, a selected type without definition or converter.
    """
    return Recording(path, topics=topics, start_ns=start_ns, stop_ns=stop_ns, sensor_map=sensor_map,
                     skip_bad_messages=skip_bad_messages, converters=converters)
