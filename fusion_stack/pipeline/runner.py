"""Replaying a recording or a dataset through one or several pipelines side by side, into sinks.

:func:`open_source` opens a bag (with a rig) or a dataset (nuScenes info file or tables, KITTI object folder:
their own rig); :func:`run_pipelines` reads it once, feeds every sample to every pipeline and every sink, filters
ground truth the nuScenes way (boxes without LiDAR points dropped, see :mod:`fusion_stack.eval.pipeline_metrics`),
collects metrics per pipeline and returns a :class:`RunSummary` with latency and real-time factors.

Sinks (:class:`Sink`) see every input sample and every pipeline result: :class:`AnnotatedBagSink` writes an mcap
with the detections, their markers, tf and the LiDAR; :mod:`fusion_stack.pipeline.pictures` draws pictures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fusion_stack.calibration.rig import Rig
from fusion_stack.errors import FusionStackError
from fusion_stack.eval.detection_metrics import DetectionMetrics
from fusion_stack.eval.pipeline_metrics import MetricsAccumulator, filter_ground_truth, harmonize_class_names
from fusion_stack.io.calibration_samples import TransformSample
from fusion_stack.pipeline.errors import PipelineError
from fusion_stack.pipeline.pipeline import GROUND_TRUTH_ID, FrameResult, FusionPipeline, PipelineStats
from fusion_stack.types import Boxes3D, EgoPose, FrameSet, PointCloud


class Sink(Protocol):
    """Receives the input samples (in log order) and each pipeline's results; ``close`` finishes it."""

    def on_sample(self, sample: Any, log_stamp_ns: int) -> None: ...

    def on_result(self, pipeline: str, result: FrameResult) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, eq=False)
class Source:
    """An opened input: ``kind`` (``bag``, ``nuscenes``, ``nuscenes-tables``, ``kitti``), its ``rig``, and either
    a sample stream (bags: :meth:`samples`) or dataset frames (:meth:`framesets`); ``count`` messages or frames
    for progress bars; ``start_ns``/``end_ns`` the time span (log time for bags)."""

    path: Path
    kind: str
    rig: Rig
    count: int
    start_ns: int
    end_ns: int
    handle: Any

    @property
    def is_dataset(self) -> bool:
        """True for datasets (frames come grouped already)."""
        return self.kind != "bag"

    def samples(self) -> Iterator[tuple[Any, int]]:
        """``(sample, log_stamp_ns)`` in log order (bags)."""
        for rec in self.handle.records():
            yield rec.sample, rec.log_stamp_ns

    def framesets(self) -> Iterator[FrameSet]:
        """Dataset frames in order."""
        return iter(self.handle.frames())

    def close(self) -> None:
        """Release the file."""
        close = getattr(self.handle, "close", None)
        if close is not None:
            close()


def open_source(path: str | os.PathLike[str], *, rig: Rig | str | os.PathLike[str] | None = None,
                sensor_map: Any = None, skip_bad_messages: bool = True) -> Source:
    """Open a bag or a dataset for :func:`run_pipelines`. Bags need ``rig`` (a Rig or a rig file in any supported
    format) whose sensor ids match the bag's sensor map (``sensor_map`` overrides the guessed one); datasets bring
    their own rig (``rig`` then replaces it). Bad messages in bags are skipped and counted by default."""
    from fusion_stack.io.dataset_reader import dataset_kind, open_dataset

    p = Path(path)
    if not p.exists():
        raise PipelineError("no such file or directory", source=str(p))
    the_rig: Rig | None = None
    if isinstance(rig, Rig):
        the_rig = rig
    elif rig is not None:
        from fusion_stack.calibration.formats import load_any

        the_rig = load_any(Path(rig))
    kind = dataset_kind(p)
    if kind is not None:
        ds = open_dataset(p, kind)
        n = len(ds)
        return Source(p, kind, the_rig or ds.rig, n, 0, n, ds)
    if the_rig is None:
        raise PipelineError("a bag needs a rig file (--rig): the sensors' intrinsics and mounts", source=str(p),
                            field="rig")
    from fusion_stack.io.recording import open_recording

    rec = open_recording(p, sensor_map=sensor_map, skip_bad_messages=skip_bad_messages)
    return Source(p, "bag", the_rig, rec.message_count, rec.recorded_start_ns, rec.recorded_end_ns, rec)


@dataclass(frozen=True)
class PipelineSummary:
    """One pipeline's run: its stats (frames, missing sensors, stage latency), metrics (None without ground
    truth), the wall time its stages took (s) and the data time it covered (s)."""

    name: str
    level: str
    stats: PipelineStats
    metrics: DetectionMetrics | None
    processing_s: float
    data_s: float

    @property
    def realtime_factor(self) -> float:
        """Data time / processing time (> 1: faster than real time)."""
        return self.data_s / self.processing_s if self.processing_s > 0 else float("inf")


@dataclass(frozen=True)
class RunSummary:
    """The whole run: per pipeline summaries (in the order given), input samples read, the time spent reading and
    decoding the input (s), and the recording's skipped-message counts."""

    pipelines: tuple[PipelineSummary, ...]
    samples: int
    read_s: float
    skipped: dict[str, int]


def _pose_from_tf(sample: TransformSample, rig: Rig) -> list[EgoPose]:
    """Dynamic tf edges that give the base frame's pose in a frame outside the rig (map/odom -> base_link)."""
    frames = rig.frame_graph().frames
    out = []
    for t in sample.transforms:
        if t.child == rig.base_frame and t.parent not in frames:
            out.append(EgoPose(t.stamp_ns, t.parent, "tf", t.child, t.child2parent))
    return out


class _TruthFilter:
    """Prepares ground truth for evaluation: maps other datasets' class names to the detection names (KITTI),
    drops boxes without LiDAR points (the devkit's rule) using the sweep of the same stamp, and fills unknown
    velocities (vision_msgs boxes carry none) by differencing each track's centre over consecutive ground-truth
    frames in the ego poses' fixed frame."""

    def __init__(self, rig: Rig) -> None:
        from fusion_stack.align.pose_buffer import PoseBuffer

        self.rig = rig
        lidars = rig.sensors_of_kind("lidar")
        self.lidar_id = lidars[0].sensor_id if lidars else None
        self.last: PointCloud | None = None
        self.poses = PoseBuffer(fixed_frame="world", body_frame=rig.base_frame, capacity=4096,
                                max_extrapolation_ns=100_000_000)
        self._previous: tuple[int, dict[int, np.ndarray]] | None = None

    def see(self, sample: Any) -> None:
        if isinstance(sample, PointCloud) and sample.sensor_id == self.lidar_id:
            self.last = sample
        elif isinstance(sample, EgoPose) and sample.child_frame_id == self.rig.base_frame:
            self.poses.add(sample.stamp_ns, sample.pose)

    def _box2world(self, boxes: Boxes3D) -> Any:
        from fusion_stack.align.errors import AlignmentError

        try:
            box2base = self.rig.transform(boxes.frame_id, self.rig.base_frame)
            return self.poses.pose_at(boxes.stamp_ns) @ box2base if len(self.poses) else None
        except (AlignmentError, FusionStackError):
            return None

    def _velocities(self, boxes: Boxes3D) -> Boxes3D:
        if not len(boxes) or np.isfinite(boxes.velocities).all() or (boxes.track_ids < 0).all():
            return boxes
        box2world = self._box2world(boxes)
        if box2world is None:
            return boxes
        centres = box2world.apply(np.asarray(boxes.centers, np.float64))
        now = {int(t): c for t, c in zip(boxes.track_ids, centres) if t >= 0}
        vel = np.array(boxes.velocities, dtype=np.float64)
        prev = self._previous
        self._previous = (boxes.stamp_ns, now)
        if prev is None or not 0 < boxes.stamp_ns - prev[0] <= 250_000_000:
            return boxes
        dt = (boxes.stamp_ns - prev[0]) * 1e-9
        world2box = box2world.inverse()
        for i, t in enumerate(boxes.track_ids):
            if not np.isfinite(vel[i]).all() and int(t) in prev[1]:
                vel[i] = world2box.apply_rotation((now[int(t)] - prev[1][int(t)]) / dt)
        return Boxes3D(boxes.stamp_ns, boxes.frame_id, boxes.sensor_id, boxes.centers, boxes.sizes, boxes.yaws,
                       boxes.labels, boxes.class_names, boxes.scores, vel, boxes.track_ids)

    def __call__(self, boxes: Boxes3D, cloud: PointCloud | None = None) -> Boxes3D:
        boxes = self._velocities(harmonize_class_names(boxes))
        cloud = cloud or self.last
        if cloud is None or cloud.stamp_ns != boxes.stamp_ns:
            return boxes
        pts = cloud.positions
        if cloud.frame_id != boxes.frame_id:
            try:
                pts = self.rig.transform(cloud.frame_id, boxes.frame_id).apply(pts)
            except FusionStackError:
                return boxes
        return filter_ground_truth(boxes, points=pts, ranges=None)


def run_pipelines(source: Source, pipelines: Sequence[FusionPipeline], *, sinks: Sequence[Sink] = (),
                  progress: Callable[[int, int], None] | None = None,
                  limit_s: float | None = None) -> RunSummary:
    """Replay ``source`` through ``pipelines`` (side by side, one reading pass) into ``sinks``; see the module
    docstring. ``progress(done, total)`` after each sample or frame; ``limit_s`` stops after that much data time.
    Pipelines are reset first."""
    for p in pipelines:
        p.reset()
    accs = {p.name: MetricsAccumulator(class_names=p.class_names) for p in pipelines}
    first_last: dict[str, list[int]] = {p.name: [] for p in pipelines}
    truth = _TruthFilter(source.rig)
    read_s = 0.0
    n = 0

    def deliver(p: FusionPipeline, results: list[FrameResult]) -> None:
        for r in results:
            fl = first_last[p.name]
            fl[:] = [r.stamp_ns, r.stamp_ns] if not fl else [fl[0], r.stamp_ns]
            if r.ground_truth is not None:
                accs[p.name].add(r.ground_truth, r.detections)
            for s in sinks:
                s.on_result(p.name, r)

    t_read = time.perf_counter()
    if source.is_dataset:
        for fs in source.framesets():
            read_s += time.perf_counter() - t_read
            n += 1
            samples = dict(fs.samples)
            for sample in fs:
                truth.see(sample)
            gt = samples.get(GROUND_TRUTH_ID)
            if isinstance(gt, Boxes3D):
                ref = samples.get(fs.reference_sensor_id)
                samples[GROUND_TRUTH_ID] = truth(gt, ref if isinstance(ref, PointCloud) else None)
            fs = FrameSet(fs.stamp_ns, fs.reference_sensor_id, samples, fs.missing)
            for s in sinks:
                for sample in fs:
                    s.on_sample(sample, sample.stamp_ns)
            for p in pipelines:  # dataset frames are independent keyframes: no tracking across them
                deliver(p, [p.process(fs, track=False)])
            if progress is not None:
                progress(n, source.count)
            t_read = time.perf_counter()
    else:
        start: int | None = None
        for sample, log_ns in source.samples():
            read_s += time.perf_counter() - t_read
            n += 1
            start = log_ns if start is None else start
            if limit_s is not None and log_ns - start > limit_s * 1e9:
                break
            truth.see(sample)
            if isinstance(sample, Boxes3D) and sample.sensor_id == GROUND_TRUTH_ID:
                sample = truth(sample)
            feed: list[Any] = [sample]
            if isinstance(sample, TransformSample) and not sample.static:
                feed = _pose_from_tf(sample, source.rig)
            for s in sinks:
                s.on_sample(sample, log_ns)
            for p in pipelines:
                for x in feed:
                    deliver(p, p.push(x))
            if progress is not None:
                progress(n, source.count)
            t_read = time.perf_counter()
        for p in pipelines:
            deliver(p, p.flush())
    for s in sinks:
        s.close()
    summaries = []
    for p in pipelines:
        acc = accs[p.name]
        metrics = acc.compute() if acc.frames else None
        fl = first_last[p.name]
        frames = p.stats.frames
        # the data time the frames cover: first to last stamp plus one mean period
        data_s = (fl[1] - fl[0]) * 1e-9 * frames / (frames - 1) if fl and frames > 1 else 0.0
        total = float(np.sum(p.stats.timings_ms.get("total", [0.0]))) * 1e-3
        level = p.config.level if p.config is not None else "custom"
        summaries.append(PipelineSummary(p.name, level, p.stats, metrics, total, data_s))
    skipped = dict(getattr(source.handle, "skipped", {}) or {})
    return RunSummary(tuple(summaries), n, read_s, skipped)


class CollectSink:
    """Keeps every result in memory: ``results[pipeline]`` is the list of its FrameResults in order."""

    def __init__(self) -> None:
        self.results: dict[str, list[FrameResult]] = {}

    def on_sample(self, sample: Any, log_stamp_ns: int) -> None:
        """Inputs are not kept."""

    def on_result(self, pipeline: str, result: FrameResult) -> None:
        self.results.setdefault(pipeline, []).append(result)

    def close(self) -> None:
        """Nothing to finish."""


class AnnotatedBagSink:
    """Writes an mcap bag: every pipeline's detections on ``/<pipeline>/detections`` (vision_msgs
    Detection3DArray) with markers on ``/<pipeline>/markers``, plus the inputs of the kinds in ``include``
    (``lidar``, ``radar``, ``camera``, ``tf``, ``odom``, ``ground_truth``), the rig on ``/tf_static``."""

    def __init__(self, path: str | os.PathLike[str], *, rig: Rig,
                 include: Sequence[str] = ("lidar", "tf", "odom", "ground_truth"),
                 compress_images: bool = True) -> None:
        from fusion_stack.io.recording_writer import RecordingWriter

        self.path = Path(path)
        self.rig = rig
        self.include = frozenset(include)
        self.writer = RecordingWriter(self.path, rig=rig, compress_images=compress_images)
        self.results = 0

    def _wanted(self, sample: Any) -> bool:
        from fusion_stack.types import CameraImage, RadarScan

        kinds = {PointCloud: "lidar", RadarScan: "radar", CameraImage: "camera", EgoPose: "odom"}
        if isinstance(sample, Boxes3D):
            return "ground_truth" in self.include and sample.sensor_id == GROUND_TRUTH_ID
        if isinstance(sample, TransformSample):
            return "tf" in self.include and not sample.static
        kind = kinds.get(type(sample))
        return kind is not None and kind in self.include

    def on_sample(self, sample: Any, log_stamp_ns: int) -> None:
        if self._wanted(sample):
            self.writer.write(sample, log_stamp_ns=log_stamp_ns)

    def on_result(self, pipeline: str, result: FrameResult) -> None:
        self.writer.write(result.detections, topic=f"/{pipeline}/detections", log_stamp_ns=result.stamp_ns)
        self.results += 1

    def close(self) -> None:
        self.writer.close()
