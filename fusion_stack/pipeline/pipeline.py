"""FusionPipeline: samples in, tracked fused 3D detections out, with per-stage latency.

``push(sample)`` takes any sample of a recording or a live source (LiDAR, camera, radar, ego poses, ground truth);
sensor samples go through the library's :class:`~fusion_stack.align.synchronizer.Synchronizer` (reference = the
configured sensor), every emitted group runs :meth:`FusionPipeline.process`:

``align`` (FrameAligner: deskew, ego motion, radar merge) -> ``camera_net`` -> ``painting`` -> each detector ->
``fusion`` -> ``tracker`` (in the ego poses' fixed frame when there are poses, else in the output frame).

Each :class:`FrameResult` carries the detections in the output frame, each detector's boxes, the ground truth at
that stamp (when the source has it), what was missing or degraded, and the wall time of every stage in ms. A sensor
that stops sending makes its groups go out without it after the synchronizer's timeout: the detectors that read it
return nothing, the fuser keeps the others, and the result's ``notes`` say so. Nothing is printed.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.pose_buffer import PoseBuffer
from fusion_stack.align.synchronizer import Synchronizer
from fusion_stack.calibration.rig import Rig
from fusion_stack.errors import FusionStackError
from fusion_stack.pipeline.config import PipelineConfig
from fusion_stack.pipeline.errors import PipelineError
from fusion_stack.pipeline.frame import AlignedFrame, FrameAligner
from fusion_stack.pipeline.stages import (
    DEFAULT_COMPONENTS,
    BoxFuser,
    CameraNetworkStage,
    Components,
    Detector,
    FrameStage,
    PaintingStage,
    Tracker,
    build_component,
    detector_modalities,
)
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, CameraImage, EgoPose, FrameSet, PointCloud, RadarScan

GROUND_TRUTH_ID = "ground_truth"
"""``sensor_id`` of ground-truth boxes in recordings and datasets (simulator bags, nuScenes/KITTI readers)."""

POSE_WAIT_NS = 200_000_000
"""Longest wait (clock time after the needed pose time) for ego poses before a group is processed without them."""
POSE_DISCOVERY_NS = 1_000_000_000
"""A stream without any ego pose in its first second is processed without waiting for poses."""
TRUTH_WINDOW_NS = 60_000_000
"""Largest distance (ns) from a result's stamp to the ground truth given for it (see ``FusionPipeline._truth_at``)."""


@dataclass(frozen=True, eq=False)
class FrameResult:
    """The output of one synchronised group: ``detections`` (final boxes in the output frame at ``stamp_ns``,
    ``sensor_id`` = the pipeline's name, with track ids when tracked), ``per_detector`` boxes (by detector name),
    ``ground_truth`` (in the output frame, or None), ``missing`` sensors, ``notes`` on degraded operation,
    ``timings_ms`` per stage, and the aligned ``frame`` (for pictures)."""

    stamp_ns: int
    detections: Boxes3D
    per_detector: Mapping[str, Boxes3D]
    ground_truth: Boxes3D | None
    missing: frozenset[str]
    notes: tuple[str, ...]
    timings_ms: Mapping[str, float]
    frame: AlignedFrame


@dataclass
class PipelineStats:
    """Counters of a pipeline run: groups processed, reference samples left out by ``reference_stride``, groups
    with missing sensors (per sensor), and the stage timings (ms) of every processed group."""

    frames: int = 0
    strided: int = 0
    missing: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    timings_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, result: FrameResult) -> None:
        """Count one result."""
        self.frames += 1
        self.missing.update(result.missing)
        self.notes.update(result.notes)
        for k, v in result.timings_ms.items():
            self.timings_ms.setdefault(k, []).append(v)

    def latency_table(self) -> dict[str, dict[str, float]]:
        """Per stage: p50, p95, mean and max in ms over the processed groups."""
        out = {}
        for k, v in self.timings_ms.items():
            a = np.asarray(v)
            out[k] = {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                      "mean": float(a.mean()), "max": float(a.max())}
        return out


def _empty_boxes(stamp_ns: int, frame_id: str, name: str, class_names: Sequence[str]) -> Boxes3D:
    return Boxes3D(stamp_ns, frame_id, name, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0),
                   np.zeros(0, np.int64), tuple(class_names))


class FusionPipeline:
    """One configured pipeline over one rig (see the module docstring). Build it with :meth:`from_config`.

    ``detectors`` maps names to :class:`~fusion_stack.pipeline.stages.Detector` objects; ``frame_stages`` run
    before them in order (camera network, painting); ``fuser`` combines several detectors (required when there
    are several); ``tracker`` optional. ``sensors``: the rig sensor ids fed to the synchronizer;
    ``reference_sensor``: whose stamps the results carry.
    """

    def __init__(self, *, name: str, rig: Rig, sensors: Sequence[str], reference_sensor: str,
                 detectors: Mapping[str, Detector], frame_stages: Sequence[FrameStage] = (),
                 fuser: BoxFuser | None = None, tracker: Tracker | None = None, output_frame: str | None = None,
                 synchronizer: Synchronizer | _SingleSensor, deskew: bool = True, max_range_m: float = 60.0,
                 class_names: Sequence[str] = BOX_CLASSES, config: PipelineConfig | None = None,
                 reference_stride: int = 1) -> None:
        if not detectors:
            raise PipelineError("a pipeline needs at least one detector", field="detectors")
        if len(detectors) > 1 and fuser is None:
            raise PipelineError(f"{len(detectors)} detectors need a fuser", field="fusion")
        self.name = name
        self.rig = rig
        self.sensors = tuple(sensors)
        self.reference_sensor = reference_sensor
        self.detectors = dict(detectors)
        self._modalities = dict(zip(self.detectors, detector_modalities(self.detectors)))
        self.frame_stages = tuple(frame_stages)
        self.fuser = fuser
        self.tracker = tracker
        self.synchronizer = synchronizer
        self.max_range_m = float(max_range_m)
        if isinstance(reference_stride, bool) or not isinstance(reference_stride, int) or reference_stride < 1:
            raise PipelineError(f"reference_stride must be an int >= 1, got {reference_stride!r}",
                                field="reference_stride")
        self.reference_stride = reference_stride
        self._references_seen = 0
        self.class_names = tuple(class_names)
        self.config = config
        self.poses = PoseBuffer(fixed_frame="map", body_frame=rig.base_frame, capacity=4096,
                                max_extrapolation_ns=100_000_000)
        self._poses_frame: str | None = None
        self.aligner = FrameAligner(rig, output_frame=output_frame, poses=self.poses, deskew=deskew)
        self.output_frame = self.aligner.output_frame
        self._twists: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=512)
        self._waiting: deque[FrameSet] = deque()
        self._clock_ns = -(1 << 62)
        self._first_clock_ns: int | None = None
        self._truth: OrderedDict[int, Boxes3D] = OrderedDict()
        self.stats = PipelineStats()
        self._pool: ThreadPoolExecutor | None = None
        self._concurrent_camera_network = (
            bool(self.frame_stages) and isinstance(self.frame_stages[0], CameraNetworkStage)
            and not any(isinstance(s, PaintingStage) for s in self.frame_stages))

    # --- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: PipelineConfig, rig: Rig, *, components: Components = DEFAULT_COMPONENTS,
                    camera_network: Any = None) -> FusionPipeline:
        """Build the pipeline ``config`` describes for ``rig``; ``components`` resolves the ``type`` names;
        ``camera_network`` reuses a loaded segmenter (else the configured checkpoint is loaded)."""
        src = config.source
        sensors = [s.sensor_id for kind in config.sensors for s in rig.sensors_of_kind(kind)]
        if not sensors:
            raise PipelineError(f"the rig {rig.name!r} has no sensor of the kinds {list(config.sensors)}",
                                source=src, field="sensors")
        ref = config.reference_sensor
        if ref is None:
            for kind in ("lidar", "camera", "radar"):
                cands = [s for s in sensors if rig.sensor(s).kind == kind]
                if cands:
                    ref = cands[0]
                    break
        assert ref is not None
        if ref not in sensors:
            raise PipelineError(f"{ref!r} is not among the pipeline's sensors {sensors}", source=src,
                                field="reference_sensor")
        if config.output_frame is not None and config.output_frame not in rig.frame_graph().frames:
            raise PipelineError(f"frame {config.output_frame!r} is not in the rig", source=src, field="output_frame")
        stages: list[FrameStage] = []
        if config.camera_network is not None:
            if not any(rig.sensor(s).kind == "camera" for s in sensors):
                raise PipelineError("camera_network needs camera sensors (add camera to `sensors`)", source=src,
                                    field="camera_network")
            stages.append(CameraNetworkStage(checkpoint=config.camera_network.checkpoint,
                                             num_threads=config.camera_network.num_threads,
                                             segmenter=camera_network))
        if config.painting is not None:
            stages.append(PaintingStage(radar_points=config.painting.radar_points))
        detectors = {k: build_component(components.detectors, c.type, c.options, source=src, key=f"detectors.{k}")
                     for k, c in config.detectors.items()}
        fuser = (build_component(components.fusers, config.fusion.type, config.fusion.options, source=src,
                                 key="fusion") if config.fusion is not None else None)
        tracker = (build_component(components.trackers, config.tracker.type, config.tracker.options, source=src,
                                   key="tracker") if config.tracker is not None else None)
        s = config.sync
        options: dict[str, Any] = {"policy": s.policy, "buffer_size": s.buffer_size}
        if s.policy != "approximate_time":
            options["windows_ns"] = int(s.window_ms * 1e6)
            options["timeout_ns"] = None if s.timeout_ms is None else int(s.timeout_ms * 1e6)
        sync: Synchronizer | _SingleSensor
        if len(sensors) == 1:
            sync = _SingleSensor(ref)
        else:
            sync = Synchronizer.from_rig(rig, reference=ref, sensors=[ref, *[x for x in sensors if x != ref]],
                                         **options)
        return cls(name=config.name, rig=rig, sensors=sensors, reference_sensor=ref, detectors=detectors,
                   frame_stages=stages, fuser=fuser, tracker=tracker, output_frame=config.output_frame,
                   synchronizer=sync, deskew=config.deskew, max_range_m=config.max_range_m, config=config,
                   reference_stride=config.sync.reference_stride)

    # --- feeding ----------------------------------------------------------------------------------------------------
    def push(self, sample: Any, *, now_ns: int | None = None) -> list[FrameResult]:
        """Feed one sample; returns the results of the groups it completed (possibly none). Ego poses feed the
        pose buffer, ground-truth boxes are kept for the result of their stamp, samples of other sensors and other
        types are ignored. ``now_ns``: arrival time for online use (see the synchronizer's docs)."""
        self._tick(sample, now_ns)
        if isinstance(sample, EgoPose):
            self.add_ego_pose(sample)
            groups = self.synchronizer.poll(now_ns) if now_ns is not None else []
            return self._process_ready(groups)
        if isinstance(sample, Boxes3D) and sample.sensor_id == GROUND_TRUTH_ID:
            self._truth[sample.stamp_ns] = sample
            while len(self._truth) > 256:
                self._truth.popitem(last=False)
            return []
        sid = getattr(sample, "sensor_id", None)
        if sid not in self.sensors or not isinstance(sample, (PointCloud, CameraImage, RadarScan)):
            return self._process_ready([])
        if sid == self.reference_sensor and self.reference_stride > 1:
            self._references_seen += 1
            if (self._references_seen - 1) % self.reference_stride:
                self.stats.strided += 1
                return self._process_ready([])
        return self._process_ready(self.synchronizer.push(sample, now_ns=now_ns))

    def poll(self, now_ns: int) -> list[FrameResult]:
        """Online: let groups whose sensors are late go out (call from a timer with the arrival clock)."""
        self._clock_ns = max(self._clock_ns, int(now_ns))
        return self._process_ready(self.synchronizer.poll(now_ns))

    def flush(self) -> list[FrameResult]:
        """End of the stream: process every group still waiting (for sensors or for ego poses)."""
        groups = self.synchronizer.flush()
        self._waiting.extend(groups)
        out = [self.process(fs) for fs in self._waiting]
        self._waiting.clear()
        return out

    def add_ego_pose(self, pose: EgoPose) -> None:
        """Add an ego pose (``fixed -> base``); its twist, when given, is used for radar Doppler compensation."""
        if pose.child_frame_id != self.rig.base_frame:
            raise PipelineError(f"ego pose of {pose.child_frame_id!r}, the rig's base frame is "
                                f"{self.rig.base_frame!r}", field="ego_pose.child_frame_id")
        if self._poses_frame is None:
            self._poses_frame = pose.frame_id
            self.poses.fixed_frame = pose.frame_id
        self.poses.add(pose.stamp_ns, pose.pose)
        if pose.linear_velocity is not None and pose.angular_velocity is not None:
            self._twists.append((pose.stamp_ns, np.asarray(pose.linear_velocity), np.asarray(pose.angular_velocity)))

    def _tick(self, sample: Any, now_ns: int | None) -> None:
        """Advance the pipeline's clock: arrival time online, the largest stamp seen offline."""
        t = now_ns if now_ns is not None else getattr(sample, "stamp_ns", None)
        if t is not None:
            self._clock_ns = max(self._clock_ns, int(t))
            if self._first_clock_ns is None:
                self._first_clock_ns = int(t)

    def _pose_time_needed(self, fs: FrameSet) -> int:
        """The latest time the alignment of ``fs`` reads ego poses at (reference stamp, sample stamps, the last
        point of a sweep)."""
        need = fs.stamp_ns
        for s in fs.samples.values():
            need = max(need, s.stamp_ns)
            offsets = getattr(s, "fields", {}).get("time_offset_ns")
            if offsets is not None and len(offsets):
                need = max(need, s.stamp_ns + int(np.max(offsets)))
        return need

    def _ready(self, fs: FrameSet) -> bool:
        """Ego poses cover the group (so online and offline runs interpolate the same poses), or waiting for them
        is pointless: no pose came in the first :data:`POSE_DISCOVERY_NS` of the stream, or they are
        :data:`POSE_WAIT_NS` late on the clock."""
        need = self._pose_time_needed(fs)
        if len(self.poses) and self.poses.time_range_ns[1] >= need:
            return True
        if not len(self.poses) and self._first_clock_ns is not None and (
                self._clock_ns - self._first_clock_ns > POSE_DISCOVERY_NS):
            return True
        return self._clock_ns - need > POSE_WAIT_NS

    def _process_ready(self, groups: list[FrameSet]) -> list[FrameResult]:
        self._waiting.extend(groups)
        out = []
        while self._waiting and self._ready(self._waiting[0]):
            out.append(self.process(self._waiting.popleft()))
        return out

    # --- processing -------------------------------------------------------------------------------------------------
    def process(self, frameset: FrameSet, *, track: bool = True) -> FrameResult:
        """Run every stage on one synchronised group (see the module docstring); ``track=False`` skips the
        tracker (independent dataset frames that are no sequence)."""
        timings: dict[str, float] = {}
        t_all = time.perf_counter()
        t0 = t_all
        truth = frameset.get(GROUND_TRUTH_ID)
        for sample in frameset.samples.values():
            if isinstance(sample, EgoPose) and sample.child_frame_id == self.rig.base_frame:
                self.add_ego_pose(sample)
        samples = {k: v for k, v in frameset.samples.items() if k in self.sensors}
        missing = frozenset(s for s in self.sensors if s not in samples)
        fs = FrameSet(frameset.stamp_ns, frameset.reference_sensor_id, samples, missing)
        lin, ang = self._twist_at(frameset.stamp_ns)
        frame = self.aligner.align(fs, ego_linear_velocity=lin, ego_angular_velocity=ang)
        timings["align"] = (time.perf_counter() - t0) * 1e3
        notes = list(frame.notes)
        per_detector: dict[str, Boxes3D] = {}
        by_modality: dict[str, Boxes3D | None] = {}

        def run_detector(name: str, frame: AlignedFrame) -> None:
            t0 = time.perf_counter()
            boxes = self.detectors[name](frame)
            timings[f"detect_{name}"] = (time.perf_counter() - t0) * 1e3
            if boxes is None:
                notes.append(f"detector {name}: no input ({self._modalities[name]} missing)")
            else:
                boxes = self._in_range(boxes)
                per_detector[name] = boxes
            by_modality[self._modalities[name]] = boxes

        def run_stage(stage: FrameStage, frame: AlignedFrame) -> AlignedFrame:
            t0 = time.perf_counter()
            out = stage(frame)
            timings[stage.name] = (time.perf_counter() - t0) * 1e3
            return out

        done: list[str] = []
        if self._concurrent_camera_network:
            # decision level: the LiDAR and radar detectors need no camera evidence, so they run while the camera
            # network and the camera detectors work in a second thread (torch and the numba kernels release the
            # GIL): two cores on one frame
            cams = [n for n, m in self._modalities.items() if m == "camera"]

            def camera_branch(frame: AlignedFrame) -> AlignedFrame:
                for stage in self.frame_stages:
                    frame = run_stage(stage, frame)
                for name in cams:
                    run_detector(name, frame)
                return frame

            future = self._executor().submit(camera_branch, frame)
            done = [n for n, m in self._modalities.items() if m in ("lidar", "radar")]
            for name in done:
                run_detector(name, frame)
            frame = future.result()
            done += cams
        else:
            for stage in self.frame_stages:
                frame = run_stage(stage, frame)
        for name in self.detectors:
            if name not in done:
                run_detector(name, frame)
        t0 = time.perf_counter()
        if self.fuser is not None:
            fused = self.fuser(frame, by_modality, name=self.name)
        else:
            only = next(iter(per_detector.values()), None)
            fused = (only if only is not None
                     else _empty_boxes(frame.stamp_ns, frame.frame_id, self.name, self.class_names))
        fused = _renamed(fused, self.name)
        timings["fusion"] = (time.perf_counter() - t0) * 1e3
        if self.tracker is not None and track:
            t0 = time.perf_counter()
            fused = self._track(fused, notes)
            timings["tracker"] = (time.perf_counter() - t0) * 1e3
        timings["total"] = (time.perf_counter() - t_all) * 1e3
        gt = self._truth_at(frameset.stamp_ns) if not isinstance(truth, Boxes3D) else self._to_output(truth)
        result = FrameResult(frame.stamp_ns, fused, MappingProxyType(per_detector), gt, missing,
                             tuple(dict.fromkeys(notes)), MappingProxyType(timings), frame)
        self.stats.add(result)
        return result

    def _twist_at(self, stamp_ns: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The body twist of the ego pose nearest to ``stamp_ns`` (None, None without twists)."""
        if not self._twists:
            return None, None
        best = min(self._twists, key=lambda t: abs(t[0] - stamp_ns))
        return best[1], best[2]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}_camera_net")
        return self._pool

    def _truth_at(self, stamp_ns: int) -> Boxes3D | None:
        """Ground truth at ``stamp_ns`` in the output frame: the nearest ground truth within
        :data:`TRUTH_WINDOW_NS`, moved to ``stamp_ns`` with each box's velocity and the ego motion (pipelines
        whose reference is a camera or radar run at other stamps than the LiDAR-rate ground truth)."""
        if not self._truth:
            return None
        stamps = np.fromiter(self._truth, dtype=np.int64)
        k = int(np.argmin(np.abs(stamps - stamp_ns)))
        t_gt = int(stamps[k])
        if abs(t_gt - stamp_ns) > TRUTH_WINDOW_NS:
            return None
        gt = self._to_output(self._truth[t_gt])
        if t_gt == stamp_ns:
            return gt
        m = self.aligner.motion(t_gt, stamp_ns)
        if m is None:
            return None
        dt = (stamp_ns - t_gt) * 1e-9
        v = np.nan_to_num(np.asarray(gt.velocities, np.float64))
        moved = Boxes3D(stamp_ns, gt.frame_id, gt.sensor_id, gt.centers + v * dt, gt.sizes, gt.yaws, gt.labels,
                        gt.class_names, gt.scores, gt.velocities, gt.track_ids)
        out_motion = self.aligner.base2out @ m @ self.aligner.base2out.inverse()
        return moved.transformed(out_motion, gt.frame_id)

    def _in_range(self, boxes: Boxes3D) -> Boxes3D:
        if not len(boxes):
            return boxes
        keep = np.hypot(boxes.centers[:, 0], boxes.centers[:, 1]) <= self.max_range_m
        return boxes if keep.all() else boxes.select(keep)

    def _to_output(self, boxes: Boxes3D) -> Boxes3D:
        """Ground truth (in any rig frame at the reference stamp) in the output frame."""
        if boxes.frame_id == self.output_frame:
            return boxes
        try:
            src2out = self.rig.transform(boxes.frame_id, self.output_frame)
        except FusionStackError as err:
            raise PipelineError(f"ground truth in frame {boxes.frame_id!r} cannot be moved to "
                                f"{self.output_frame!r}: {err}", field="ground_truth.frame_id") from err
        return boxes.transformed(src2out, self.output_frame)

    def _track(self, boxes: Boxes3D, notes: list[str]) -> Boxes3D:
        assert self.tracker is not None
        out2world = None
        if len(self.poses):
            try:
                out2world = self.poses.pose_at(boxes.stamp_ns) @ self.aligner.base2out.inverse()
            except AlignmentError:
                out2world = None
        if out2world is None:
            tracking_in = getattr(self.tracker, "frame_id", None)
            if tracking_in not in (None, boxes.frame_id):  # tracks live in the world frame: skip this frame
                notes.append("tracker: no ego pose at this stamp, boxes not tracked")
                return boxes
            notes.append("tracker: no ego poses, tracking in the output frame")
            return _renamed(self.tracker.update(boxes), self.name)
        world = boxes.transformed(out2world, self._poses_frame or "map")
        tracked = self.tracker.update(world)
        return _renamed(tracked.transformed(out2world.inverse(), boxes.frame_id), self.name)

    def reset(self) -> None:
        """Forget all state (poses, tracks, waiting samples, statistics) before a new stream."""
        self.synchronizer.reset()
        if self.tracker is not None:
            self.tracker.reset()
        self.poses = PoseBuffer(fixed_frame="map", body_frame=self.rig.base_frame, capacity=4096,
                                max_extrapolation_ns=100_000_000)
        self.aligner.poses = self.poses
        self._poses_frame = None
        self._twists.clear()
        self._waiting.clear()
        self._clock_ns = -(1 << 62)
        self._first_clock_ns = None
        self._references_seen = 0
        self._truth.clear()
        self.stats = PipelineStats()


def _renamed(boxes: Boxes3D, name: str) -> Boxes3D:
    if boxes.sensor_id == name:
        return boxes
    return Boxes3D(boxes.stamp_ns, boxes.frame_id, name, boxes.centers, boxes.sizes, boxes.yaws, boxes.labels,
                   boxes.class_names, boxes.scores, boxes.velocities, boxes.track_ids)


class _SingleSensor:
    """The synchronizer of a one-sensor pipeline: every sample is its own group."""

    def __init__(self, sensor_id: str) -> None:
        self.reference = sensor_id
        self._last: int | None = None

    def push(self, sample: Any, now_ns: int | None = None) -> list[FrameSet]:
        if self._last is not None and sample.stamp_ns <= self._last:
            return []
        self._last = sample.stamp_ns
        return [FrameSet(sample.stamp_ns, self.reference, {self.reference: sample})]

    def poll(self, now_ns: int | None) -> list[FrameSet]:
        return []

    def flush(self) -> list[FrameSet]:
        return []

    def reset(self) -> list[FrameSet]:
        self._last = None
        return []


__all__ = ["GROUND_TRUTH_ID", "FrameResult", "FusionPipeline", "PipelineStats"]
