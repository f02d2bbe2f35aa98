"""Recording live drivers into a ROS 2 bag with :class:`~fusion_stack.io.recording_writer.RecordingWriter`.

:func:`record_drivers` runs every driver (any iterable of samples: :class:`PacketDriver`,
:class:`CameraDriver`, ...) in its own thread, hands the samples through one bounded queue to the writer
thread (the caller's), and stops when every driver has ended, after ``duration_s``, after ``max_samples``, or
when ``stop`` is set; stopping closes the drivers (which ends their blocking reads), waits for their threads
and closes the bag (flushed every ``flush_interval_ns`` of log time, so a crash loses at most that much).
Topics are RecordingWriter's (``/<sensor_id>/points``, ``/<sensor_id>/image_raw`` + ``camera_info`` from the
rig, ...); radar object lists are written as boxes (``/<sensor_id>/detections``, see
:meth:`RadarObjectList.to_boxes`). A driver that raises stops the recording, and :class:`DriverError` is
raised after the bag is closed (what was recorded stays readable).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fusion_stack.calibration.rig import Rig
from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.radar_objects import RadarObjectList
from fusion_stack.errors import FusionStackError
from fusion_stack.io.recording_writer import RecordingWriter

_END = object()


@dataclass(frozen=True)
class RecordSummary:
    """What a recording run did: the bag ``path``, bag ``messages`` written, ``samples`` per sensor id,
    wall-clock ``duration_s``, why it stopped (``"drivers_ended"``, ``"duration"``, ``"max_samples"``,
    ``"stop"``) and each driver's ``counts`` (by position in the drivers list) where it has them."""

    path: Path
    messages: int
    samples: Mapping[str, int]
    duration_s: float
    stopped_by: str
    counts: tuple[Mapping[str, int], ...]


def _run(index: int, driver: Iterable[Any], out: queue.Queue[tuple[int, Any]], halt: threading.Event) -> None:
    def put(item: Any) -> bool:
        while not halt.is_set():
            try:
                out.put((index, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for sample in driver:
            if not put(sample):
                return
    except BaseException as err:  # handed to the writer thread, which raises it as a DriverError
        put(err)
        return
    put(_END)


def record_drivers(path: str | os.PathLike[str], drivers: Sequence[Iterable[Any]], *, rig: Rig | None = None,
                   storage: str = "mcap", duration_s: float | None = None, max_samples: int | None = None,
                   stop: threading.Event | None = None, log_time: str = "receive", queue_size: int = 1024,
                   flush_interval_ns: int = 1_000_000_000, box_height_m: float = 1.5,
                   compress_images: bool = False) -> RecordSummary:
    """Record ``drivers`` into a new bag at ``path`` (see the module docstring).

    Args:
        path: the bag directory to create.
        drivers: iterables of samples, each iterated in its own thread; objects with ``close()`` are closed when
            the recording stops.
        rig: written to ``/tf_static``; its cameras give ``camera_info`` next to the images.
        storage: ``"mcap"`` or ``"sqlite3"``.
        duration_s, max_samples, stop: when to stop (besides every driver ending).
        log_time: ``"receive"`` (the host time the writer got the sample, as ``ros2 bag record`` does) or
            ``"stamp"`` (the sample's own stamp).
        queue_size: samples buffered between the drivers and the writer.
        flush_interval_ns, compress_images: passed to RecordingWriter.
        box_height_m: height of the boxes radar object lists are written as.

    Raises:
        DriverError: a driver failed, or a sample cannot be written (after the bag is closed).
    """
    if log_time not in ("receive", "stamp"):
        raise DriverError(f"log_time must be 'receive' or 'stamp', got {log_time!r}", field="log_time")
    halt = threading.Event()
    samples_q: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=queue_size)
    threads = [threading.Thread(target=_run, args=(i, d, samples_q, halt), name=f"driver-{i}", daemon=True)
               for i, d in enumerate(drivers)]
    per_sensor: Counter[str] = Counter()
    written = 0
    failure: tuple[int, BaseException] | None = None
    stopped_by = "drivers_ended"
    start = time.monotonic()
    try:
        writer = RecordingWriter(path, storage=storage, rig=rig, compress_images=compress_images,
                                 flush_interval_ns=flush_interval_ns)
    except FusionStackError as err:
        raise DriverError(f"cannot create the bag: {err}", source=str(path)) from err
    try:
        for t in threads:
            t.start()
        running = len(threads)
        while running:
            if stop is not None and stop.is_set():
                stopped_by = "stop"
                break
            if duration_s is not None and time.monotonic() - start >= duration_s:
                stopped_by = "duration"
                break
            if max_samples is not None and written >= max_samples:
                stopped_by = "max_samples"
                break
            try:
                index, item = samples_q.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is _END:
                running -= 1
                continue
            if isinstance(item, BaseException):
                failure = (index, item)
                break
            sample = item.to_boxes(height_m=box_height_m) if isinstance(item, RadarObjectList) else item
            log_stamp = time.time_ns() if log_time == "receive" else None
            try:
                writer.write(sample, log_stamp_ns=log_stamp)
            except (FusionStackError, KeyError, TypeError) as err:
                failure = (index, err)
                break
            per_sensor[sample.sensor_id] += 1
            written += 1
    finally:
        halt.set()
        for d in drivers:
            close = getattr(d, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # a driver failing to close must not keep the bag open
                    close()
        for t in threads:
            t.join(timeout=2.0)
        writer.close()
    if failure is not None:
        index, cause = failure
        raise DriverError(f"driver {index} ({type(drivers[index]).__name__}) failed: {type(cause).__name__}: "
                          f"{cause}", source=str(path), field=f"drivers[{index}]") from cause
    counts = tuple(MappingProxyType(dict(getattr(d, "counts", {}))) for d in drivers)
    return RecordSummary(Path(path), writer.message_count, MappingProxyType(dict(per_sensor)),
                         time.monotonic() - start, stopped_by, counts)
