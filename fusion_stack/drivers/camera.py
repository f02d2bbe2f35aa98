"""A camera driver on OpenCV ``VideoCapture``: a device index, a video file, or a GStreamer / V4L2 pipeline.

Each frame is stamped when ``grab()`` returns, on the monotonic clock mapped to the system clock
(:class:`~fusion_stack.drivers.clock.MonotonicToSystem`), minus ``latency_ns`` (exposure + transfer, if
known), plus the rig's ``time_offset_ns``; with ``stamp_source="capture"`` the first frame is stamped so and
later ones by the container's presentation time (``CAP_PROP_POS_MSEC``, for files: deterministic stamps).
Frames come as :class:`~fusion_stack.types.CameraImage` (``bgr8`` as OpenCV gives them, or ``rgb8`` /
``mono8``) in the camera's optical frame, and the camera model of the rig is attached as
:attr:`CameraDriver.camera` (and, with ``with_camera_info``, yielded as a
:class:`~fusion_stack.io.calibration_samples.CameraInfoSample` after each image). A frame whose size differs
from the model's raises :class:`DriverError`. Iteration ends at the end of a file, after ``max_frames``, after
``timeout`` seconds without a frame from a live source, or when :meth:`CameraDriver.close` is called.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.calibration.rig import Rig
from fusion_stack.drivers.clock import MonotonicToSystem
from fusion_stack.drivers.errors import DriverError
from fusion_stack.io.calibration_samples import CameraInfoSample
from fusion_stack.types import CameraImage

CameraSample = CameraImage | CameraInfoSample


class CameraDriver:
    """Frames of one camera (see the module docstring).

    Args:
        source: a device index (``0``), a video file path, or a GStreamer/V4L2 pipeline string.
        rig, sensor_id: take ``frame_id``, ``time_offset_ns`` and the camera model from the rig's sensor.
        frame_id, time_offset_ns, camera: used when no rig is given.
        encoding: ``"bgr8"``, ``"rgb8"`` or ``"mono8"``.
        api_preference: an OpenCV ``CAP_*`` backend (``cv2.CAP_GSTREAMER``, ``cv2.CAP_V4L2``; default any).
        stamp_source: ``"clock"`` or ``"capture"`` (see the module docstring).
        latency_ns: subtracted from clock stamps.
        max_frames, timeout: bounds of the iteration (timeout: seconds without a frame; live sources only).
        with_camera_info: also yield a CameraInfoSample after every image (needs a camera model).
        clock: the monotonic-to-system mapping (a new one by default).
    """

    def __init__(self, source: int | str, *, rig: Rig | None = None, sensor_id: str = "camera",
                 frame_id: str | None = None, time_offset_ns: int = 0, camera: CameraModel | None = None,
                 encoding: str = "bgr8", api_preference: int = cv2.CAP_ANY, stamp_source: str = "clock",
                 latency_ns: int = 0, max_frames: int | None = None, timeout: float = 5.0,
                 with_camera_info: bool = False, clock: MonotonicToSystem | None = None) -> None:
        if encoding not in ("bgr8", "rgb8", "mono8"):
            raise DriverError(f"encoding must be bgr8, rgb8 or mono8, got {encoding!r}", field="encoding")
        if stamp_source not in ("clock", "capture"):
            raise DriverError(f"stamp_source must be 'clock' or 'capture', got {stamp_source!r}",
                              field="stamp_source")
        if rig is not None:
            sensor = rig.sensor(sensor_id)
            if sensor.kind != "camera":
                raise DriverError(f"rig sensor {sensor_id!r} is a {sensor.kind}, not a camera", field="sensor_id")
            frame_id, time_offset_ns, camera = sensor.frame_id, sensor.time_offset_ns, sensor.camera
        if with_camera_info and camera is None:
            raise DriverError("with_camera_info needs a camera model (from the rig or camera=)", field="camera")
        self.source = source
        self.sensor_id = sensor_id
        self.frame_id = frame_id or sensor_id
        self.time_offset_ns = int(time_offset_ns)
        self.camera = camera
        self.encoding = encoding
        self.stamp_source = stamp_source
        self.latency_ns = int(latency_ns)
        self.max_frames = max_frames
        self.timeout = timeout
        self.with_camera_info = with_camera_info
        self.clock = clock or MonotonicToSystem()
        self.frames = 0
        self.failed_reads = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._iterating = False
        self._released = False
        self._live = isinstance(source, int) or "!" in str(source) or str(source).startswith("/dev/")
        self._cap = cv2.VideoCapture(source, api_preference)
        if not self._cap.isOpened():
            self._cap.release()
            raise DriverError(f"cannot open video source {source!r}", source=str(source))
        self._first: tuple[int, float] | None = None

    def _stamp(self, grabbed_mono_ns: int) -> int:
        clock_ns = self.clock.to_system(grabbed_mono_ns) - self.latency_ns
        if self.stamp_source == "capture":
            pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            if self._first is None:
                self._first = (clock_ns, pos_ms)
            return self._first[0] + round((pos_ms - self._first[1]) * 1e6) + self.time_offset_ns
        return clock_ns + self.time_offset_ns

    def _convert(self, frame: Any) -> np.ndarray:
        if self.encoding == "rgb8":
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if self.encoding == "mono8":
            return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)

    def __iter__(self) -> Iterator[CameraSample]:
        with self._lock:
            if self._released:
                return
            self._iterating = True
        try:
            yield from self._frames()
        finally:
            with self._lock:
                self._iterating = False
                if self._closed.is_set():
                    self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._cap.release()

    def _frames(self) -> Iterator[CameraSample]:
        last_frame = time.monotonic()
        while not self._closed.is_set():
            if self.max_frames is not None and self.frames >= self.max_frames:
                return
            if not self._cap.grab():
                if not self._live or self._closed.is_set():
                    return
                self.failed_reads += 1
                if time.monotonic() - last_frame > self.timeout:
                    return
                time.sleep(0.005)
                continue
            stamp = self._stamp(time.monotonic_ns())
            ok, frame = self._cap.retrieve()
            if not ok or frame is None:
                self.failed_reads += 1
                continue
            last_frame = time.monotonic()
            image = self._convert(frame)
            if self.camera is not None and (image.shape[1], image.shape[0]) != (self.camera.width,
                                                                                 self.camera.height):
                raise DriverError(f"frame of {image.shape[1]}x{image.shape[0]} px, but the camera model is "
                                  f"{self.camera.width}x{self.camera.height}", source=str(self.source),
                                  field="camera")
            self.frames += 1
            yield CameraImage(stamp, self.frame_id, self.sensor_id, image, self.encoding)
            if self.with_camera_info and self.camera is not None:
                yield CameraInfoSample(stamp, self.frame_id, self.sensor_id, self.camera)

    def close(self) -> None:
        """Stop the iteration and release the capture (idempotent; callable from another thread: the capture is
        then released by the iterating thread when its current read returns)."""
        self._closed.set()
        with self._lock:
            if not self._iterating:
                self._release()

    def __enter__(self) -> CameraDriver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
