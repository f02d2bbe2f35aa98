"""The pipeline's pluggable stages: one small Protocol per role and plain dicts of implementations.

A pipeline is: camera network (optional) -> painting (optional, data level) -> detectors -> fuser (optional) ->
tracker (optional). Each role is a Protocol; :data:`DEFAULT_COMPONENTS` maps the ``type`` names of the YAML
configuration to builders (classes or functions taking the YAML options as keyword arguments). A user's model
plugs in by passing a :class:`Components` with one more entry, e.g.::

    class MyBevDetector:
        modality = "multi"
        def __call__(self, frame: AlignedFrame) -> Boxes3D | None: ...

    components = DEFAULT_COMPONENTS.with_detector("my_bev", MyBevDetector)
    pipeline = FusionPipeline.from_config(config, rig, components=components)   # detectors: {bev: {type: my_bev}}
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from fusion_stack.fuse.camera_view import CameraView
from fusion_stack.pipeline.errors import PipelineError
from fusion_stack.pipeline.frame import AlignedFrame
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, PointCloud

MODALITIES = ("lidar", "radar", "camera", "multi")


class Detector(Protocol):
    """Boxes from an aligned frame, in ``frame.frame_id`` at ``frame.stamp_ns``; None when its sensors are
    missing from the frame. ``modality`` names what it reads (``lidar``, ``radar``, ``camera`` or ``multi``)."""

    modality: str

    def __call__(self, frame: AlignedFrame) -> Boxes3D | None: ...


class BoxFuser(Protocol):
    """Combines the detectors' boxes (by detector modality; None for a detector whose sensors were missing)
    into one set of boxes in ``frame.frame_id``, with ``sensor_id`` = ``name``."""

    def __call__(self, frame: AlignedFrame, detections: Mapping[str, Boxes3D | None], *, name: str) -> Boxes3D: ...


class Tracker(Protocol):
    """Turns per-frame detections (in a fixed world frame, increasing stamps) into tracked boxes with ids."""

    def update(self, detections: Boxes3D) -> Boxes3D: ...

    def reset(self) -> None: ...


class FrameStage(Protocol):
    """Adds evidence to an aligned frame (camera class maps, painted points) and returns the new frame."""

    name: str

    def __call__(self, frame: AlignedFrame) -> AlignedFrame: ...


# --- camera network ------------------------------------------------------------------------------------------------
class CameraNetworkStage:
    """Runs the camera segmentation network on every image of the frame (each image once: results are cached by
    camera and stamp, so a 12 Hz camera beside a 20 Hz LiDAR is not segmented twice) and fills ``frame.views``."""

    name = "camera_net"

    def __init__(self, *, checkpoint: str | None = None, num_threads: int | None = None, cache_size: int = 32,
                 segmenter: Any = None) -> None:
        if segmenter is None:
            from fusion_stack.models.camera_net import CameraSegmenter

            segmenter = CameraSegmenter(checkpoint=checkpoint, num_threads=num_threads)
        self.segmenter = segmenter
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.cache_size = int(cache_size)
        self.images_segmented = 0

    def __call__(self, frame: AlignedFrame) -> AlignedFrame:
        todo = [sid for sid, img in sorted(frame.images.items()) if (sid, img.stamp_ns) not in self._cache]
        if todo:
            maps = self.segmenter.predict_batch([frame.images[s] for s in todo])
            self.images_segmented += len(todo)
            for sid, m in zip(todo, maps):
                self._cache[(sid, frame.images[sid].stamp_ns)] = m
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        views = []
        for sid, img in sorted(frame.images.items()):
            m = self._cache[(sid, img.stamp_ns)]
            pose = frame.cameras[sid]
            views.append(CameraView(sid, m.probs, tuple(m.class_names), int(m.image_width), int(m.image_height),
                                    pose.camera, pose.out2cam))
        return replace(frame, views=tuple(views))


class PaintingStage:
    """Data-level fusion: LiDAR points get the class probabilities of the pixel they project to (fields
    ``paint`` (N, C) float32 and ``painted`` (N,) bool, columns = the network's classes); with ``radar_points`` the
    radar detections are appended to the cloud with a ``velocity`` field (N, 3) m/s over ground along their line
    of sight (NaN for LiDAR points), and painted too."""

    name = "painting"

    def __init__(self, *, radar_points: bool = False) -> None:
        self.radar_points = bool(radar_points)

    def __call__(self, frame: AlignedFrame) -> AlignedFrame:
        from fusion_stack.fuse.painting import append_radar_points, paint_points

        cloud = frame.lidar
        if cloud is None:
            return frame
        positions = np.asarray(cloud.positions)
        fields: dict[str, Any] = {k: v for k, v in cloud.fields.items() if k in ("intensity",)}
        if self.radar_points and frame.radar is not None and len(frame.radar.positions):
            r = frame.radar
            radar_vel = r.lines_of_sight() * np.asarray(r.radial_velocity, np.float64)[:, None]
            positions, velocities, is_radar = append_radar_points(positions, r.positions, radar_vel)
            n_lidar = len(cloud)
            fields = {k: np.concatenate([np.asarray(v), np.zeros(len(positions) - n_lidar, np.asarray(v).dtype)])
                      for k, v in fields.items()}
            fields["velocity"] = np.asarray(velocities, np.float32)
            fields["is_radar"] = np.asarray(is_radar, bool)
        if frame.views:
            painted = paint_points(positions, frame.views)
            fields["paint"] = painted.paint
            fields["painted"] = painted.painted
        new_cloud = PointCloud(cloud.stamp_ns, cloud.frame_id, cloud.sensor_id, positions, fields)
        return replace(frame, lidar=new_cloud)


# --- detectors ------------------------------------------------------------------------------------------------------
class LidarClusters:
    """The classical LiDAR detector (:class:`fusion_stack.models.lidar_detector.LidarClusterDetector`) on the
    frame's points; uses the ``paint`` and ``velocity`` fields when a painting stage ran. Unless ``sensor_xy`` is
    given, it is the LiDAR's position in the output frame, from the rig."""

    modality = "lidar"

    def __init__(self, **options: Any) -> None:
        from fusion_stack.models.lidar_detector import LidarClusterDetector

        self.detector = LidarClusterDetector(**options)
        self._own_origin = "sensor_xy" not in options

    def __call__(self, frame: AlignedFrame) -> Boxes3D | None:
        cloud = frame.lidar
        if cloud is None:
            return None
        origin = frame.sensor_origins.get(cloud.sensor_id)
        if self._own_origin and origin is not None:
            self.detector.sensor_xy = (float(origin[0]), float(origin[1]))
        paint = cloud.fields.get("paint")
        classes = frame.views[0].class_names if (paint is not None and frame.views) else None
        return self.detector.detect(
            cloud.positions, stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, sensor_id="lidar",
            paint=paint if classes is not None else None, painted=cloud.fields.get("painted") if classes else None,
            paint_classes=classes, point_velocities=cloud.fields.get("velocity"))


class RadarClusters:
    """The radar detector (:class:`fusion_stack.models.radar_detector.RadarClusterDetector`) on all radars."""

    modality = "radar"

    def __init__(self, **options: Any) -> None:
        from fusion_stack.models.radar_detector import RadarClusterDetector

        self.detector = RadarClusterDetector(**options)

    def __call__(self, frame: AlignedFrame) -> Boxes3D | None:
        if frame.radar is None:
            return None
        return self.detector.detect(frame.radar, stamp_ns=frame.stamp_ns, sensor_id="radar")


class CameraBoxes:
    """Camera-only 3D boxes (:class:`fusion_stack.models.camera_boxes.CameraBoxDetector`) from the camera
    network's class maps placed on the ground plane ``z = ground_z`` of the rig's base frame (m). Each image is
    processed once, in the vehicle frame at its own stamp (results cached by camera and stamp); every frame moves
    those boxes by the ego motion to the reference stamp and merges the cameras' boxes."""

    modality = "camera"

    def __init__(self, *, ground_z: float = 0.0, cache_size: int = 32, **options: Any) -> None:
        from fusion_stack.models.camera_boxes import CameraBoxDetector

        self.detector = CameraBoxDetector(**options)
        self.ground_z = float(ground_z)
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.cache_size = int(cache_size)

    def __call__(self, frame: AlignedFrame) -> Boxes3D | None:
        if not frame.views:
            return None
        from fusion_stack.models.camera_net import ClassMaps

        groups = []
        for v in frame.views:
            pose = frame.cameras[v.sensor_id]
            key = (v.sensor_id, frame.images[v.sensor_id].stamp_ns)
            cands = self._cache.get(key)
            if cands is None:
                maps = ClassMaps(v.probs, v.image_width, v.image_height, v.class_names)
                cands = self.detector.view_candidates(maps, v.camera, pose.cam2base, ground_z=self.ground_z)
                self._cache[key] = cands
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            # vehicle frame at the image's stamp -> output frame at the reference stamp
            groups.append((cands, pose.out2cam.inverse() @ pose.cam2base.inverse()))
        return self.detector.boxes_from_candidates(groups, stamp_ns=frame.stamp_ns, frame_id=frame.frame_id,
                                                   sensor_id="camera")


# --- fusion and tracking --------------------------------------------------------------------------------------------
class DecisionFusion:
    """Decision-level fusion (:class:`fusion_stack.fuse.decision.DecisionFuser`): LiDAR boxes checked against the
    cameras' class evidence, associated with radar objects (velocity) and mono camera boxes in bird's-eye view;
    single-sensor boxes kept."""

    def __init__(self, **options: Any) -> None:
        from fusion_stack.fuse.decision import DecisionFuser

        self.fuser = DecisionFuser(**options)

    def __call__(self, frame: AlignedFrame, detections: Mapping[str, Boxes3D | None], *, name: str) -> Boxes3D:
        fused = self.fuser.fuse(lidar=detections.get("lidar"), radar=detections.get("radar"),
                                camera=detections.get("camera"), views=frame.views, stamp_ns=frame.stamp_ns,
                                frame_id=frame.frame_id, sensor_id=name)
        return fused.boxes


def kalman_tracker(**options: Any) -> Tracker:
    """The constant-velocity Kalman tracker (:class:`fusion_stack.models.tracker.MultiObjectTracker`) over the
    nuScenes detection classes (``class_names`` may be overridden)."""
    from fusion_stack.models.tracker import MultiObjectTracker

    options.setdefault("class_names", BOX_CLASSES)
    tracker: Tracker = MultiObjectTracker(**options)
    return tracker


@dataclass(frozen=True)
class Components:
    """The implementations a configuration's ``type`` names resolve to (plain dicts of builders)."""

    detectors: Mapping[str, Callable[..., Detector]]
    fusers: Mapping[str, Callable[..., BoxFuser]]
    trackers: Mapping[str, Callable[..., Tracker]]

    def with_detector(self, name: str, builder: Callable[..., Detector]) -> Components:
        """A copy with one more (or a replaced) detector implementation."""
        return replace(self, detectors=MappingProxyType({**self.detectors, name: builder}))

    def with_fuser(self, name: str, builder: Callable[..., BoxFuser]) -> Components:
        """A copy with one more (or a replaced) fuser implementation."""
        return replace(self, fusers=MappingProxyType({**self.fusers, name: builder}))


DEFAULT_COMPONENTS = Components(
    detectors=MappingProxyType({"lidar_clusters": LidarClusters, "radar_clusters": RadarClusters,
                                "camera_boxes": CameraBoxes}),
    fusers=MappingProxyType({"decision": DecisionFusion}),
    trackers=MappingProxyType({"kalman": kalman_tracker}),
)


def _signature_target(builder: Callable[..., Any]) -> Callable[..., Any]:
    return builder.__init__ if inspect.isclass(builder) else builder


def accepted_options(builder: Callable[..., Any]) -> tuple[tuple[str, ...], bool]:
    """The keyword options a builder accepts (following ``**options`` into the wrapped model's constructor for
    the default adapters) and whether it accepts any keyword."""
    names: list[str] = []
    any_kw = False
    for p in list(inspect.signature(_signature_target(builder)).parameters.values()):
        if p.name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            any_kw = True
        elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    wrapped = _WRAPS.get(builder)
    if any_kw and wrapped is not None:
        inner, inner_any = accepted_options(wrapped())
        return (*names, *inner), inner_any
    return tuple(names), any_kw


def _lidar_model() -> Callable[..., Any]:
    from fusion_stack.models.lidar_detector import LidarClusterDetector

    return LidarClusterDetector


def _radar_model() -> Callable[..., Any]:
    from fusion_stack.models.radar_detector import RadarClusterDetector

    return RadarClusterDetector


def _camera_model() -> Callable[..., Any]:
    from fusion_stack.models.camera_boxes import CameraBoxDetector

    return CameraBoxDetector


def _fuser_model() -> Callable[..., Any]:
    from fusion_stack.fuse.decision import DecisionFuser

    return DecisionFuser


def _tracker_model() -> Callable[..., Any]:
    from fusion_stack.models.tracker import MultiObjectTracker

    return MultiObjectTracker


_WRAPS: dict[Callable[..., Any], Callable[[], Callable[..., Any]]] = {
    LidarClusters: _lidar_model, RadarClusters: _radar_model, CameraBoxes: _camera_model,
    DecisionFusion: _fuser_model, kalman_tracker: _tracker_model,
}


def build_component(builders: Mapping[str, Callable[..., Any]], kind: str, options: Mapping[str, Any], *,
                    source: str | None, key: str) -> Any:
    """Build implementation ``kind`` with ``options``, checking the names first; errors name the file and key."""
    if kind not in builders:
        raise PipelineError(f"unknown implementation {kind!r}; available: {', '.join(sorted(builders))}",
                            source=source, field=f"{key}.type")
    builder = builders[kind]
    names, any_kw = accepted_options(builder)
    if not any_kw:
        for k in options:
            if k not in names:
                raise PipelineError(f"{kind} has no option {k!r}; options: {', '.join(names) or 'none'}",
                                    source=source, field=f"{key}.{k}")
    try:
        return builder(**dict(options))
    except PipelineError:
        raise
    except (TypeError, ValueError) as err:
        raise PipelineError(f"cannot build {kind}: {err}", source=source, field=key) from err


def detector_modalities(detectors: Mapping[str, Detector]) -> Sequence[str]:
    """The modality of each detector, checked to be one of :data:`MODALITIES`."""
    out = []
    for name, det in detectors.items():
        m = getattr(det, "modality", None)
        if m not in MODALITIES:
            raise PipelineError(f"detector {name!r} has modality {m!r}; expected one of {MODALITIES}",
                                field=f"detectors.{name}")
        out.append(str(m))
    return out
