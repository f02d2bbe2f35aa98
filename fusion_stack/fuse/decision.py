"""Decision-level (late) fusion of per-sensor 3D detections: LiDAR, radar and camera boxes -> one box list.

:class:`DecisionFuser` takes the object lists of up to three detectors of one instant, all as
:class:`~fusion_stack.types.Boxes3D` in ONE frame (the fusion output frame, e.g. ``base_link`` or the LiDAR
frame; x, y horizontal, metres), plus optional per-camera class evidence
(:class:`~fusion_stack.fuse.camera_view.CameraView`), and returns :class:`FusedBoxes`:

1. **BEV association LiDAR <-> radar**: one-to-one, by bird's-eye-view centre distance with
   :func:`fusion_stack.align.assignment.gated_assignment` (gate ``radar_gate_m``), as a global nearest
   neighbour with a non-assignment cost of half the gate per unmatched box (so the least total distance wins,
   not the most pairs). A matched pair keeps the LiDAR geometry and takes the radar velocity (when finite).
2. **Camera association**: camera (monocular) boxes, whose depth error grows with range, are matched one-to-one
   to the boxes of step 1 (LiDAR, LiDAR + radar and radar-only) with an elliptical, range-dependent gate: with
   ``r`` the camera box's BEV range from the frame origin, the distance along the line of sight is scaled by
   ``camera_gate_m + camera_gate_per_m * r`` and the distance across it by ``camera_gate_m``; a pair matches
   when the scaled distance is <= 1. A radar-only box matched by a camera box gets the camera's bearing and
   size and the radar's range (depth from radar, direction from the camera).
3. **Image-space class evidence**: every fused box is projected into every view and the mean class
   probabilities inside its projected rectangle are read (:func:`box_rectangles`, :func:`box_class_evidence`;
   nearer boxes occlude farther ones, whose evidence comes only from the cells left free). Its label is the
   maximum of the class posterior ``p(k) ~ size_prior(k) x prod_sources p(label_s | k) x camera_evidence(k)``:
   a log-normal size likelihood around :data:`SIZE_PRIORS` (when the size comes from LiDAR or camera), each
   contributing detector's label with confidence ``label_confidence[source]`` (a class name the fuser does not
   know, e.g. a radar's "unknown": no information), and the views' probabilities of the fuser's classes
   renormalised to sum to 1 (+ ``evidence_floor``; channels are matched by name, all other channels such as
   "background" count as background). A box the cameras see as background (foreground probability ``fg``
   below ``foreground_ref``) loses score: times ``1 - background_penalty * (1 - fg / foreground_ref)``.
4. **Scores and single-sensor boxes**: the score is the noisy-OR ``1 - prod_s (1 - w_s score_s)`` of the
   contributing sources' scores weighted by ``source_weights``. A box seen by one source only, while another
   source was given (not None), is kept (``keep_single_sensor``) with its score times
   ``single_source_factors[source]``; a source that is None did not miss anything, so a missing sensor
   degrades the output rather than failing it.

Association is class-aware through ``class_groups``: boxes of classes in different groups (vehicles,
two-wheelers, pedestrians, static objects) never match; an unknown class matches anything. A radar object faster
than ``class_max_speed_mps`` allows for a box's class (a cone, a pedestrian) never matches it either.

Attributes of a fused box, by priority: centre LiDAR > radar range along the camera bearing > radar > camera;
size and yaw LiDAR > camera > radar; velocity radar > LiDAR > camera (finite values only); track id LiDAR >
radar > camera. Defaults are tuned on the simulator's noisy detections (``tests/fuse/test_decision_fusion.py``).

Inputs are not moved in time: the caller gives boxes of (nearly) one instant (:mod:`fusion_stack.align`
synchronises and :meth:`Boxes3D.transformed` changes frames). Every input box's class is resolved by name in
its own ``class_names``. Errors are :class:`~fusion_stack.fuse.errors.FusionError`; nothing is printed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from fusion_stack.align.assignment import centre_distance_cost, gated_assignment
from fusion_stack.fuse.camera_view import CameraView, check_views
from fusion_stack.fuse.errors import FusionError
from fusion_stack.types import Boxes3D

__all__ = [
    "BOX_CLASSES",
    "DEFAULT_CLASS_GROUPS",
    "DEFAULT_MAX_SPEEDS",
    "SIZE_PRIORS",
    "SOURCES",
    "SOURCE_BITS",
    "DecisionFuser",
    "FusedBoxes",
    "box_class_evidence",
    "box_rectangles",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BOX_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "pedestrian", "bicycle", "motorcycle", "barrier",
                                "traffic_cone")
"""Default fused classes: the nuScenes detection names of the simulator (``fusion_stack.sim.classes.BOX_CLASSES``)."""

SOURCES: tuple[str, ...] = ("lidar", "radar", "camera")
SOURCE_BITS: Mapping[str, int] = MappingProxyType({"lidar": 1, "radar": 2, "camera": 4})
"""Bit of each source in :attr:`FusedBoxes.sources`."""

SIZE_PRIORS: Mapping[str, tuple[float, float, float]] = MappingProxyType({
    # typical (l, w, h) metres of nuScenes classes (close to the anchor sizes of common nuScenes detectors)
    "car": (4.6, 1.95, 1.7),
    "truck": (6.9, 2.5, 2.85),
    "bus": (11.0, 2.95, 3.5),
    "trailer": (12.3, 2.9, 3.9),
    "construction_vehicle": (6.4, 2.85, 3.2),
    "pedestrian": (0.73, 0.67, 1.77),
    "bicycle": (1.76, 0.6, 1.45),
    "motorcycle": (2.1, 0.77, 1.47),
    "barrier": (2.5, 0.5, 0.98),
    "traffic_cone": (0.41, 0.41, 1.07),
})
"""Mean box size (l, w, h) in metres per class for the size likelihood (l and w are compared sorted, so the
long side of a barrier counts as its length whatever its heading)."""

DEFAULT_CLASS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("car", "truck", "bus", "trailer", "construction_vehicle"),
    ("bicycle", "motorcycle"),
    ("pedestrian",),
    ("barrier", "traffic_cone"),
)
"""Classes that may be confused with each other and therefore associated across sensors."""

DEFAULT_MAX_SPEEDS: Mapping[str, float] = MappingProxyType({"pedestrian": 5.0, "barrier": 1.0, "traffic_cone": 1.0})
"""Fastest plausible speed (m/s) per class: a radar object moving faster is never associated with such a box."""

_DEFAULT_WEIGHTS = MappingProxyType({"lidar": 1.0, "radar": 0.5, "camera": 0.7})
_DEFAULT_SINGLE = MappingProxyType({"lidar": 1.0, "radar": 0.3, "camera": 0.5})
_DEFAULT_LABEL_CONF = MappingProxyType({"lidar": 0.7, "radar": 0.4, "camera": 0.8})

# Box edges (corner index pairs of Boxes3D.corners(): bottom ring, top ring, verticals).
_EDGES = np.array([(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)])


def _fold_radius(view: CameraView) -> float:
    """Largest undistorted normalised radius inside the camera's monotonic region (inf: unlimited)."""
    radius = float(getattr(view.camera, "max_radius", math.inf))
    theta = float(getattr(view.camera, "max_theta", math.inf))
    if theta < math.pi / 2:
        radius = min(radius, math.tan(theta))
    return radius


def box_rectangles(corners: npt.ArrayLike, view: CameraView, *, min_depth_m: float = 0.5
                   ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Image rectangles of boxes given by ``corners`` (N, 8, 3) metres in the output frame (the order of
    :meth:`Boxes3D.corners`), in full-image pixels of ``view``.

    The part of each box in front of the plane ``z = min_depth_m`` of the camera (the box clipped by that plane:
    its corners in front plus the points where its edges cross the plane) is projected with the camera model;
    the rectangle is the bounding box of those points (exact for a pinhole camera; for distorted lenses the
    curved edges are approximated by their end points, and points beyond the lens' monotonic region are pulled
    back onto its border along their direction), clipped to the image ``[0, W) x [0, H)``.

    Returns:
        rects (N, 4) float64 ``(u0, v0, u1, v1)`` (NaN where not seen) and seen (N,) bool: some part of the box is
        in front of the camera and its rectangle overlaps the image.
    """
    c = np.asarray(corners, dtype=np.float64)
    n = c.shape[0]
    rects = np.full((n, 4), np.nan)
    if n == 0:
        return rects, np.zeros(0, bool)
    near = float(min_depth_m)
    pc = view.out2cam.apply(c.reshape(-1, 3)).reshape(n, 8, 3)
    z = pc[:, :, 2]
    za, zb = z[:, _EDGES[:, 0]], z[:, _EDGES[:, 1]]
    crosses = (za - near) * (zb - near) < 0.0
    t = (near - za) / np.where(crosses, zb - za, 1.0)
    a = pc[:, _EDGES[:, 0]]
    inter = a + t[:, :, None] * (pc[:, _EDGES[:, 1]] - a)
    cand = np.concatenate([pc, inter], axis=1)  # (N, 20, 3)
    ok = np.concatenate([z >= near, crosses], axis=1)
    depth = np.where(ok, cand[:, :, 2], 1.0)
    xy = cand[:, :, :2] / depth[:, :, None]
    limit = _fold_radius(view)
    if math.isfinite(limit):
        r = np.hypot(xy[:, :, 0], xy[:, :, 1])
        shrink = np.where(r > limit, limit * (1.0 - 1e-9) / np.maximum(r, 1e-300), 1.0)
        xy = xy * shrink[:, :, None]
    with np.errstate(invalid="ignore", over="ignore"):
        uv = view.camera.project(np.concatenate([xy.reshape(-1, 2), np.ones((n * 20, 1))], axis=1),
                                 near=0.0).uv.reshape(n, 20, 2)
    ok &= np.isfinite(uv).all(axis=2)
    lo = np.where(ok[:, :, None], uv, np.inf).min(axis=1)
    hi = np.where(ok[:, :, None], uv, -np.inf).max(axis=1)
    width, height = view.image_width, view.image_height
    seen = ok.any(axis=1) & (hi[:, 0] >= 0.0) & (lo[:, 0] < width) & (hi[:, 1] >= 0.0) & (lo[:, 1] < height)
    edge_u, edge_v = np.nextafter(float(width), 0.0), np.nextafter(float(height), 0.0)
    rects[seen, 0] = np.clip(lo[seen, 0], 0.0, edge_u)
    rects[seen, 1] = np.clip(lo[seen, 1], 0.0, edge_v)
    rects[seen, 2] = np.clip(hi[seen, 0], 0.0, edge_u)
    rects[seen, 3] = np.clip(hi[seen, 1], 0.0, edge_v)
    return rects, seen


def box_class_evidence(boxes: Boxes3D, views: Sequence[CameraView], *, min_depth_m: float = 0.5,
                       occlusion: bool = True) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Camera class evidence of each box: the mean of the views' class probabilities over the cells inside the
    box's projected rectangle (:func:`box_rectangles`), over every view that sees it (views weighted by their
    number of cells). ``boxes`` must be in the output frame of the views (their ``out2cam``'s source frame).

    With ``occlusion`` (default), the boxes are drawn from the nearest to the farthest in each view (by the
    distance of their centres from the camera) and a box's evidence comes only from cells no nearer box's
    rectangle has claimed, so a pedestrian behind a bus does not read the bus; a box entirely behind nearer
    rectangles is not seen by that view. This assumes ``boxes`` holds the occluding objects too (e.g. all fused
    boxes); without occlusion every rectangle is read whole.

    Returns:
        evidence (N, C) float32 over the views' ``class_names`` (zeros where unseen; (N, 0) without views) and
        seen (N,) bool.

    Raises:
        FusionError: ``boxes`` not a Boxes3D, or views that are not CameraViews sharing one ``class_names``.
    """
    who = "box_class_evidence"
    if not isinstance(boxes, Boxes3D):
        raise FusionError(f"must be a Boxes3D, got {type(boxes).__name__}", source=who, field="boxes")
    items = check_views(views, who=who)
    n = len(boxes)
    if not items:
        return np.zeros((n, 0), np.float32), np.zeros(n, bool)
    ncls = len(items[0].class_names)
    total = np.zeros((n, ncls), np.float64)
    cells = np.zeros(n, np.int64)
    if n == 0:
        return total.astype(np.float32), cells > 0
    corners = boxes.corners()
    for view in items:
        rects, seen = box_rectangles(corners, view, min_depth_m=min_depth_m)
        idx = np.flatnonzero(seen)
        if not idx.size:
            continue
        if occlusion:
            distance = np.linalg.norm(view.out2cam.apply(boxes.centers[idx].astype(np.float64)), axis=1)
            idx = idx[np.argsort(distance, kind="stable")]
        r0, c0 = view.cells(rects[idx, :2])
        r1, c1 = view.cells(rects[idx, 2:])
        claimed = np.zeros(view.grid_shape, bool)
        for i, a, b, c, d in zip(idx.tolist(), r0.tolist(), (r1 + 1).tolist(), c0.tolist(), (c1 + 1).tolist()):
            block = view.probs[a:b, c:d]
            if not occlusion:
                total[i] += block.sum(axis=(0, 1), dtype=np.float64)
                cells[i] += block.shape[0] * block.shape[1]
                continue
            free = ~claimed[a:b, c:d]
            count = int(np.count_nonzero(free))
            if count:
                total[i] += block[free].sum(axis=0, dtype=np.float64)
                cells[i] += count
                claimed[a:b, c:d] = True
    seen_any = cells > 0
    total[seen_any] /= cells[seen_any, None]
    return total.astype(np.float32), seen_any


@dataclass(frozen=True, eq=False)
class FusedBoxes:
    """Result of :meth:`DecisionFuser.fuse` for N fused boxes (arrays read-only).

    Attributes:
        boxes: the fused boxes (Boxes3D in the requested frame, stamp and sensor id; labels index the fuser's
            ``class_names``; velocities NaN where no source knew them). Order: boxes with LiDAR in LiDAR order,
            then radar-only ones (in radar order, with or without camera), then camera-only ones.
        sources: (N,) uint8 bitmask of the contributing sources (1 LiDAR, 2 radar, 4 camera; :data:`SOURCE_BITS`).
        lidar_index, radar_index, camera_index: (N,) int64 row of the contributing box in each input (-1: none).
        class_probs: (N, K) float32 class posterior over the fuser's ``class_names``.
        camera_seen: (N,) bool, True where a view saw the box.
        camera_foreground: (N,) float32 share of the views' probability on the fuser's classes inside the box's
            rectangle (NaN where unseen).
    """

    boxes: Boxes3D
    sources: npt.NDArray[np.uint8]
    lidar_index: IntArray
    radar_index: IntArray
    camera_index: IntArray
    class_probs: npt.NDArray[np.float32]
    camera_seen: npt.NDArray[np.bool_]
    camera_foreground: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        for name in ("sources", "lidar_index", "radar_index", "camera_index", "class_probs", "camera_seen",
                     "camera_foreground"):
            view = np.asarray(getattr(self, name)).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)

    def __len__(self) -> int:
        return len(self.boxes)

    def has_source(self, source: str) -> npt.NDArray[np.bool_]:
        """(N,) bool: which boxes ``source`` ("lidar", "radar" or "camera") contributed to."""
        if source not in SOURCE_BITS:
            raise FusionError(f"must be one of {SOURCES}, got {source!r}", source="FusedBoxes", field="source")
        return (self.sources & SOURCE_BITS[source]) > 0


@dataclass
class _Input:
    """One source's boxes, with labels resolved into the fuser's classes (-1: unknown class)."""

    boxes: Boxes3D
    labels: IntArray
    group: IntArray


def _check_mapping(value: object, name: str, *, lo: float, hi: float) -> dict[str, float]:
    who = "DecisionFuser"
    if not isinstance(value, Mapping):
        raise FusionError(f"must be a mapping source -> number, got {type(value).__name__}", source=who, field=name)
    unknown = sorted(set(value) - set(SOURCES))
    missing = [s for s in SOURCES if s not in value]
    if unknown or missing:
        raise FusionError(f"needs exactly the keys {SOURCES}; unknown {unknown}, missing {missing} in {dict(value)}",
                          source=who, field=name)
    out: dict[str, float] = {}
    for key in SOURCES:
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not lo <= v <= hi:
            raise FusionError(f"{key}: must be a number in [{lo}, {hi}], got {v!r}", source=who, field=name)
        out[key] = float(v)
    return out


def _check_number(value: object, name: str, *, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not ok or not (lo < v if lo_open else lo <= v) or not v <= hi or math.isnan(v):
        interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
        raise FusionError(f"must be a number in {interval}, got {value!r}", source="DecisionFuser", field=name)
    return v


class DecisionFuser:
    """Late fusion of LiDAR, radar and camera boxes (module docstring for the method).

    Options (all keyword-only):
        class_names: the fused classes (labels of the output index them).
        radar_gate_m: largest BEV centre distance (m) of an associated LiDAR/radar pair.
        camera_gate_m, camera_gate_per_m: camera association gate (m) across the line of sight, and along it
            ``camera_gate_m + camera_gate_per_m * range`` (range in m from the frame origin).
        source_weights: weight of each source's score in the noisy-OR, in [0, 1].
        single_source_factors: score factor of a box only one source saw while another source was given.
        keep_single_sensor: False drops such boxes (boxes of the only given source are always kept).
        label_confidence: probability that each source's label is right, in [1/K, 1].
        class_groups: groups of classes that may be associated with each other (None: class-agnostic).
        class_max_speed_mps: fastest plausible speed per class (m/s); a radar object with a faster (finite)
            BEV velocity is not associated with a LiDAR or camera box of that class.
        size_priors: mean (l, w, h) m per class for the size likelihood (classes missing: flat);
            size_log_std: its standard deviation in log-size (the same for l, w, h).
        evidence_weight: exponent of the camera evidence in the posterior (0 disables it);
            evidence_floor: added to each renormalised class probability before the logarithm.
        foreground_ref, background_penalty: score factor ``1 - background_penalty * max(0, 1 - fg /
            foreground_ref)`` of a box whose rectangle holds foreground probability ``fg``.
        min_depth_m: near plane (m) for projecting boxes into views.
        min_score: boxes with a lower fused score are dropped.

    Raises:
        FusionError: an option out of range (the message names it).
    """

    def __init__(
        self,
        *,
        class_names: Sequence[str] = BOX_CLASSES,
        radar_gate_m: float = 2.5,
        camera_gate_m: float = 1.5,
        camera_gate_per_m: float = 0.1,
        source_weights: Mapping[str, float] = _DEFAULT_WEIGHTS,
        single_source_factors: Mapping[str, float] = _DEFAULT_SINGLE,
        keep_single_sensor: bool = True,
        label_confidence: Mapping[str, float] = _DEFAULT_LABEL_CONF,
        class_groups: Sequence[Sequence[str]] | None = DEFAULT_CLASS_GROUPS,
        class_max_speed_mps: Mapping[str, float] = DEFAULT_MAX_SPEEDS,
        size_priors: Mapping[str, tuple[float, float, float]] = SIZE_PRIORS,
        size_log_std: float = 0.25,
        evidence_weight: float = 1.0,
        evidence_floor: float = 0.03,
        foreground_ref: float = 0.2,
        background_penalty: float = 0.7,
        min_depth_m: float = 0.5,
        min_score: float = 0.0,
    ) -> None:
        who = "DecisionFuser"
        names = (class_names,) if isinstance(class_names, str) else tuple(class_names)
        if not names or len(set(names)) != len(names) or not all(isinstance(c, str) and c for c in names):
            raise FusionError(f"must be unique non-empty names, got {names!r}", source=who, field="class_names")
        self.class_names: tuple[str, ...] = names
        self.radar_gate_m = _check_number(radar_gate_m, "radar_gate_m", lo=0.0, lo_open=True)
        self.camera_gate_m = _check_number(camera_gate_m, "camera_gate_m", lo=0.0, lo_open=True)
        self.camera_gate_per_m = _check_number(camera_gate_per_m, "camera_gate_per_m", lo=0.0)
        self.source_weights = MappingProxyType(_check_mapping(source_weights, "source_weights", lo=0.0, hi=1.0))
        self.single_source_factors = MappingProxyType(
            _check_mapping(single_source_factors, "single_source_factors", lo=0.0, hi=1.0))
        if not isinstance(keep_single_sensor, bool):
            raise FusionError(f"must be a bool, got {keep_single_sensor!r}", source=who, field="keep_single_sensor")
        self.keep_single_sensor = keep_single_sensor
        self.label_confidence = MappingProxyType(
            _check_mapping(label_confidence, "label_confidence", lo=1.0 / len(names), hi=1.0))
        self.class_groups = self._groups(class_groups)
        if not isinstance(class_max_speed_mps, Mapping):
            raise FusionError(f"must be a mapping class -> m/s, got {type(class_max_speed_mps).__name__}",
                              source=who, field="class_max_speed_mps")
        self.class_max_speed_mps = MappingProxyType({
            str(k): _check_number(v, f"class_max_speed_mps[{k!r}]", lo=0.0) for k, v in class_max_speed_mps.items()})
        self._max_speed = np.array([self.class_max_speed_mps.get(c, math.inf) for c in names], dtype=np.float64)
        priors: dict[str, tuple[float, float, float]] = {}
        if not isinstance(size_priors, Mapping):
            raise FusionError(f"must be a mapping class -> (l, w, h), got {type(size_priors).__name__}", source=who,
                              field="size_priors")
        for key, size in size_priors.items():
            s = np.asarray(size, dtype=np.float64) if not isinstance(size, str) else np.empty(0)
            if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise FusionError(f"{key!r}: must be a positive (l, w, h) in metres, got {size!r}", source=who,
                                  field="size_priors")
            priors[str(key)] = (float(s[0]), float(s[1]), float(s[2]))
        self.size_priors = MappingProxyType(priors)
        self.size_log_std = _check_number(size_log_std, "size_log_std", lo=0.0, lo_open=True)
        self.evidence_weight = _check_number(evidence_weight, "evidence_weight", lo=0.0)
        self.evidence_floor = _check_number(evidence_floor, "evidence_floor", lo=0.0, lo_open=True)
        self.foreground_ref = _check_number(foreground_ref, "foreground_ref", lo=0.0, hi=1.0, lo_open=True)
        self.background_penalty = _check_number(background_penalty, "background_penalty", lo=0.0, hi=1.0)
        self.min_depth_m = _check_number(min_depth_m, "min_depth_m", lo=0.0)
        self.min_score = _check_number(min_score, "min_score", lo=0.0, hi=1.0)
        # log-size means (sorted l/w) per fused class; NaN rows: no prior
        self._log_size = np.full((len(names), 3), np.nan)
        for k, name in enumerate(names):
            if name in priors:
                self._log_size[k] = np.log(_sorted_size(np.array([priors[name]])))[0]

    def _groups(self, class_groups: Sequence[Sequence[str]] | None) -> IntArray | None:
        """Group index per fused class (a class in no group is its own group); None: class-agnostic."""
        if class_groups is None:
            return None
        if isinstance(class_groups, str) or not isinstance(class_groups, Sequence):
            raise FusionError(f"must be a sequence of class-name sequences or None, got {class_groups!r}",
                              source="DecisionFuser", field="class_groups")
        group = np.arange(len(self.class_names), dtype=np.int64) + len(class_groups)
        for g, members in enumerate(class_groups):
            if isinstance(members, str) or not isinstance(members, Sequence):
                raise FusionError(f"group {g} must be a sequence of class names, got {members!r}",
                                  source="DecisionFuser", field="class_groups")
            for name in members:
                if name in self.class_names:
                    group[self.class_names.index(name)] = g
        return group

    # ------------------------------------------------------------------------------------------------------
    def fuse(
        self,
        *,
        lidar: Boxes3D | None,
        radar: Boxes3D | None = None,
        camera: Boxes3D | None = None,
        views: Sequence[CameraView] = (),
        stamp_ns: int,
        frame_id: str,
        sensor_id: str = "fusion",
    ) -> FusedBoxes:
        """Fuse the detections of one instant (module docstring). Each given Boxes3D must be in ``frame_id``;
        ``views`` map ``frame_id`` into their cameras. Any source may be None (or empty).

        Returns:
            :class:`FusedBoxes` with ``boxes`` stamped ``stamp_ns`` in ``frame_id`` under ``sensor_id``.

        Raises:
            FusionError: an input that is not a Boxes3D, a frame mismatch, bad ``views`` or header values.
        """
        who = "DecisionFuser.fuse"
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
            raise FusionError(f"must be an int of nanoseconds, got {stamp_ns!r}", source=who, field="stamp_ns")
        for name, value in (("frame_id", frame_id), ("sensor_id", sensor_id)):
            if not isinstance(value, str) or not value:
                raise FusionError(f"must be a non-empty string, got {value!r}", source=who, field=name)
        given = {"lidar": lidar, "radar": radar, "camera": camera}
        inputs: dict[str, _Input | None] = {}
        for name, boxes in given.items():
            if boxes is None:
                inputs[name] = None
                continue
            if not isinstance(boxes, Boxes3D):
                raise FusionError(f"must be a Boxes3D or None, got {type(boxes).__name__}", source=who, field=name)
            if boxes.frame_id != frame_id:
                raise FusionError(
                    f"{name} boxes ({boxes.sensor_id!r}, {len(boxes)} boxes) are in frame {boxes.frame_id!r}, fusion "
                    f"output is {frame_id!r}; transform them first (Boxes3D.transformed)", source=who,
                    field=f"{name}.frame_id")
            inputs[name] = self._resolve(boxes)
        items = check_views(views, who=who)
        n_given = sum(v is not None for v in inputs.values())
        return self._fuse(inputs, items, n_given, int(stamp_ns), frame_id, sensor_id)

    def _resolve(self, boxes: Boxes3D) -> _Input:
        lut = np.array([self.class_names.index(c) if c in self.class_names else -1 for c in boxes.class_names],
                       dtype=np.int64)
        labels = lut[boxes.labels] if len(boxes) else np.zeros(0, np.int64)
        if self.class_groups is None:
            group = np.zeros(len(boxes), np.int64)
        else:
            group = np.where(labels >= 0, self.class_groups[np.maximum(labels, 0)], -1)
        return _Input(boxes, labels, group)

    @staticmethod
    def _compatible(a: _Input, b: _Input) -> npt.NDArray[np.bool_]:
        ga, gb = a.group[:, None], b.group[None, :]
        return np.asarray((ga == gb) | (ga < 0) | (gb < 0), dtype=bool)

    def _plausible(self, boxes: _Input, radar: _Input) -> npt.NDArray[np.bool_]:
        """(N, M) bool: radar object j's BEV speed is possible for box i's class (unknown speed or class: yes)."""
        vel = radar.boxes.velocities[:, :2].astype(np.float64)
        speed = np.where(np.isfinite(vel).all(axis=1), np.hypot(vel[:, 0], vel[:, 1]), 0.0)
        limit = np.where(boxes.labels >= 0, self._max_speed[np.maximum(boxes.labels, 0)], np.inf)
        return np.asarray(speed[None, :] <= limit[:, None], dtype=bool)

    def _fuse(self, inputs: Mapping[str, _Input | None], views: tuple[CameraView, ...], n_given: int,
              stamp_ns: int, frame_id: str, sensor_id: str) -> FusedBoxes:
        lid, rad, cam = inputs["lidar"], inputs["radar"], inputs["camera"]
        n_lid = len(lid.boxes) if lid is not None else 0
        # 1. LiDAR <-> radar in BEV
        li = list(range(n_lid))
        ri = [-1] * n_lid
        if lid is not None and rad is not None and n_lid and len(rad.boxes):
            cost = centre_distance_cost(lid.boxes.centers[:, :2], rad.boxes.centers[:, :2])
            cost[~(self._compatible(lid, rad) & self._plausible(lid, rad))] = np.inf
            for row, col in _associate(cost, self.radar_gate_m):
                ri[row] = col
        if rad is not None:
            used = set(ri)
            for j in range(len(rad.boxes)):
                if j not in used:
                    li.append(-1)
                    ri.append(j)
        ci = [-1] * len(li)
        # 2. camera boxes <-> the boxes of step 1
        if cam is not None and len(cam.boxes):
            if li:
                pos = np.array([lid.boxes.centers[i, :2] if i >= 0 and lid is not None else
                                rad.boxes.centers[j, :2] if rad is not None else (np.nan, np.nan)
                                for i, j in zip(li, ri)], dtype=np.float64)
                cost = self._camera_cost(pos, cam.boxes.centers[:, :2].astype(np.float64))
                compat = np.ones_like(cost, dtype=bool)
                if lid is not None and n_lid:
                    rows = np.array(li) >= 0
                    compat[rows] = self._compatible(lid, cam)[np.array(li)[rows]]
                if rad is not None:
                    rows = np.array(li) < 0
                    compat[rows] = (self._compatible(rad, cam) & self._plausible(cam, rad).T)[np.array(ri)[rows]]
                cost[~compat] = np.inf
                for row, col in _associate(cost, 1.0):
                    ci[row] = col
            used = set(ci)
            for k in range(len(cam.boxes)):
                if k not in used:
                    li.append(-1)
                    ri.append(-1)
                    ci.append(k)
        return self._combine(inputs, np.array(li, np.int64), np.array(ri, np.int64), np.array(ci, np.int64),
                             views, n_given, stamp_ns, frame_id, sensor_id)

    def _camera_cost(self, pos: FloatArray, cam_xy: FloatArray) -> FloatArray:
        """(N, M) elliptical distances of ``pos`` (N, 2) to camera centres (M, 2), in gate units."""
        rng = np.hypot(cam_xy[:, 0], cam_xy[:, 1])
        safe = np.maximum(rng, 1e-9)
        radial = np.where(rng[:, None] > 1e-9, cam_xy / safe[:, None], np.array([1.0, 0.0]))
        tangential = np.stack([-radial[:, 1], radial[:, 0]], axis=1)
        diff = pos[:, None, :] - cam_xy[None, :, :]
        along = np.einsum("nmd,md->nm", diff, radial) / (self.camera_gate_m + self.camera_gate_per_m * rng)[None]
        across = np.einsum("nmd,md->nm", diff, tangential) / self.camera_gate_m
        return np.hypot(along, across)

    def _combine(self, inputs: Mapping[str, _Input | None], li: IntArray, ri: IntArray, ci: IntArray,
                 views: tuple[CameraView, ...], n_given: int, stamp_ns: int, frame_id: str,
                 sensor_id: str) -> FusedBoxes:
        n = len(li)
        ncls = len(self.class_names)
        idx = {"lidar": li, "radar": ri, "camera": ci}
        has = {s: idx[s] >= 0 for s in SOURCES}
        sources = sum((has[s].astype(np.uint8) * np.uint8(SOURCE_BITS[s]) for s in SOURCES),
                      np.zeros(n, np.uint8)).astype(np.uint8)
        centers = np.zeros((n, 3))
        sizes = np.ones((n, 3))
        yaws = np.zeros(n)
        velocities = np.full((n, 3), np.nan)
        track_ids = np.full(n, -1, np.int64)
        size_known = np.zeros(n, bool)
        log_post = np.zeros((n, ncls))
        noisy_or = np.ones(n)
        # attributes in increasing priority, each source overwriting the previous one where it contributes
        for name in ("camera", "radar", "lidar"):
            src = inputs[name]
            if src is None:
                continue
            rows = np.flatnonzero(has[name])
            sel = idx[name][rows]
            b = src.boxes
            centers[rows] = b.centers[sel]
            if name != "radar":
                sizes[rows] = b.sizes[sel]
                yaws[rows] = b.yaws[sel]
                size_known[rows] = True
            else:  # radar geometry only where no camera box gives a better one
                free = rows[~has["camera"][rows]]
                sizes[free] = b.sizes[idx[name][free]]
                yaws[free] = b.yaws[idx[name][free]]
            tid = b.track_ids[sel]
            track_ids[rows] = np.where(tid >= 0, tid, track_ids[rows])
            noisy_or[rows] *= 1.0 - self.source_weights[name] * b.scores[sel].astype(np.float64)
            conf = self.label_confidence[name]
            lab = src.labels[sel]
            known = lab >= 0
            like = np.full((len(rows), ncls), math.log((1.0 - conf) / max(ncls - 1, 1)) if ncls > 1 else 0.0)
            like[np.flatnonzero(known), lab[known]] = math.log(conf)
            like[~known] = 0.0
            log_post[rows] += like
        # velocities: camera < LiDAR < radar, only finite values overwrite
        for name in ("camera", "lidar", "radar"):
            src = inputs[name]
            if src is None:
                continue
            rows = np.flatnonzero(has[name])
            vel = src.boxes.velocities[idx[name][rows]].astype(np.float64)
            fin = np.isfinite(vel[:, :2]).all(axis=1)
            velocities[rows[fin]] = vel[fin]
        # radar + camera without LiDAR: direction from the camera, range from the radar
        rc = np.flatnonzero(has["radar"] & has["camera"] & ~has["lidar"])
        cam_in, rad_in = inputs["camera"], inputs["radar"]
        if rc.size and cam_in is not None and rad_in is not None:
            cxy = cam_in.boxes.centers[ci[rc], :2].astype(np.float64)
            rxy = rad_in.boxes.centers[ri[rc], :2].astype(np.float64)
            bearing = cxy / np.maximum(np.hypot(cxy[:, 0], cxy[:, 1]), 1e-9)[:, None]
            centers[rc, :2] = bearing * np.hypot(rxy[:, 0], rxy[:, 1])[:, None]
            centers[rc, 2] = cam_in.boxes.centers[ci[rc], 2]
        # size likelihood where the size came from LiDAR or camera
        if size_known.any():
            have = np.isfinite(self._log_size[:, 0])
            d = (np.log(_sorted_size(sizes[size_known]))[:, None, :] - self._log_size[None, have]) / self.size_log_std
            ll = np.zeros((int(size_known.sum()), ncls))
            ll[:, have] = -0.5 * (d * d).sum(axis=2)
            ll[:, ~have] = ll[:, have].max(axis=1, keepdims=True) if have.any() else 0.0
            log_post[size_known] += ll
        # image evidence on the fused geometry
        fused_geom = Boxes3D(stamp_ns, frame_id, sensor_id, centers, sizes, yaws, np.zeros(n, np.int64),
                             self.class_names)
        seen = np.zeros(n, bool)
        foreground = np.full(n, np.nan, np.float32)
        score_factor = np.ones(n)
        if views and n:
            evidence, seen = box_class_evidence(fused_geom, views, min_depth_m=self.min_depth_m)
            channel = {c: i for i, c in enumerate(views[0].class_names)}
            q = np.zeros((n, ncls))
            for k, name in enumerate(self.class_names):
                if name in channel:
                    q[:, k] = evidence[:, channel[name]]
            fg = q.sum(axis=1)
            foreground[seen] = fg[seen]
            qn = q / np.maximum(fg, 1e-12)[:, None]
            log_post[seen] += self.evidence_weight * np.log(qn[seen] + self.evidence_floor)
            deficit = np.maximum(0.0, 1.0 - fg[seen] / self.foreground_ref)
            score_factor[seen] = 1.0 - self.background_penalty * deficit
        log_post -= log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post)
        post /= post.sum(axis=1, keepdims=True)
        labels = np.argmax(post, axis=1).astype(np.int64)
        scores = (1.0 - noisy_or) * score_factor
        count = sum(has[s].astype(np.int64) for s in SOURCES)
        keep = np.ones(n, bool)
        if n_given > 1:
            single = count == 1
            for name in SOURCES:
                scores[single & has[name]] *= self.single_source_factors[name]
            if not self.keep_single_sensor:
                keep &= ~single
        scores = np.clip(scores, 0.0, 1.0)
        keep &= scores >= self.min_score
        out = Boxes3D(stamp_ns, frame_id, sensor_id, centers[keep], sizes[keep], yaws[keep], labels[keep],
                      self.class_names, scores[keep], velocities[keep], track_ids[keep])
        return FusedBoxes(out, sources[keep], li[keep], ri[keep], ci[keep], post[keep].astype(np.float32),
                          seen[keep], foreground[keep])


def _associate(cost: FloatArray, gate: float) -> list[tuple[int, int]]:
    """Global-nearest-neighbour one-to-one matching of rows to columns of ``cost`` (N, M) (inf: never).

    A row or column left unmatched costs ``gate / 2``, so a pair is matched only where that lowers the total
    cost (``cost <= gate``), and a matching never trades one good pair for two poor ones (plain maximum
    cardinality would: a near radar object taken from its own car to give a neighbouring cone a match). Solved
    with :func:`gated_assignment` on the (N + M) x (M + N) matrix augmented with the non-assignment costs.
    """
    n, m = cost.shape
    aug = np.full((n + m, m + n), np.inf)
    aug[:n, :m] = np.where(cost <= gate, cost, np.inf)
    aug[np.arange(n), m + np.arange(n)] = 0.5 * gate
    aug[n + np.arange(m), np.arange(m)] = 0.5 * gate
    aug[n:, m:] = 0.0
    pairs = gated_assignment(aug, gate=gate).matches
    keep = (pairs[:, 0] < n) & (pairs[:, 1] < m)
    return [(int(r), int(c)) for r, c in pairs[keep]]


def _sorted_size(sizes: FloatArray) -> FloatArray:
    """(N, 3) sizes with l and w sorted (long side first), h unchanged."""
    s = np.asarray(sizes, dtype=np.float64)
    return np.stack([np.maximum(s[:, 0], s[:, 1]), np.minimum(s[:, 0], s[:, 1]), s[:, 2]], axis=1)
