"""The classical LiDAR detector: ground removal, Euclidean clustering, oriented boxes, size-and-shape classes, and
camera paint (data-level fusion) when it is given: :class:`LidarClusterDetector`.

Input: one sweep, (N, 3) metres in a z-up frame (``base_link`` or a level LiDAR frame; the ground height is
estimated, not assumed). Output: :class:`~fusion_stack.types.Boxes3D` in the same frame.

1. **Crop** to ``min_range_m <= |xy - sensor_xy| <= max_range_m`` (the sensor's own mount and roof returns are
   inside ``min_range_m``).
2. **Ground** (:func:`fusion_stack.models.ground.segment_ground`): a slope-limited height field; points within
   ``ground_threshold_m`` of it are dropped, and so are points more than ``max_height_m`` above it (canopies and
   overhangs that would join the objects below them).
3. **Clusters** (:func:`fusion_stack.models.clustering.euclidean_clusters`): single linkage at ``cluster_eps_m``
   on ``(x, y, z * cluster_z_scale)`` (the rings of a spinning LiDAR are further apart vertically than
   horizontally), clusters of fewer than ``min_cluster_points`` points dropped.
4. **Rectangle** per cluster (:func:`fusion_stack.models.box_fitting.fit_rectangles`, L-shape by default) and the
   cluster's height above the ground (``top``) and the gap between the ground and its lowest point (``gap``).
5. **Class and score.** Each class has a :class:`SizePrior`. Per cluster and class, a log-likelihood of what is
   seen: the visible rectangle's sides may be *shorter* than the class's typical sides (a partial view) but not
   longer (a Gaussian penalty above typical, reaching 2 sigma at the class's high size; classes ``in_rows`` may be
   any number long at a fixed price), and its long side is at least 0.9 x the class's low width (one sees at least
   the width of a car); the top height is Gaussian around the class's typical height, wider below by the rings'
   vertical spacing at that range (``vertical_resolution_deg``); a cluster whose lowest point floats above the
   ground (more than 0.5 m plus a ring spacing), that stands under other points more than 0.5 m above its top
   (in the same ground cell: a trunk under its crown, a pole under its lamp, a wall's base under the part above
   ``max_height_m``), or whose lower half spans less of its footprint than the class's ``min_base_share`` (a crown
   on a trunk), is penalised (the last two by at most 6 nats, so that clear paint can outweigh them); plus the
   class's ``log_prior``. A *background* hypothesis has the
   fixed log-likelihood ``background_log_likelihood``. With paint, the mean class probabilities of the cluster's
   painted points (columns named by ``paint_classes``; columns that are no detection class, such as
   ``background``, vote for background) add ``paint_weight * log(p + 0.02)``, weighted by ``n / (n + 2)`` for
   ``n`` painted points (unpainted rows carry no evidence). Posterior over background + classes; ``label`` = the
   most probable class, ``score`` = its posterior times a point-count factor ``n / (n + count_half_score)``.
   Clusters under ``min_score`` are dropped, and so is a cluster whose rectangle's centre lies inside the box
   (grown by ``suppress_margin_m``) of a better-scored one (a fragment: a roof ring, a dark car's windscreen).
6. **Box.** The rectangle is grown to the class's typical length and width *away from the sensor* at
   ``sensor_xy`` (the visible faces stay on the points, ``grow_away_fraction`` < 1 hedges; an object seen end-on
   gets its length along the line of sight); the bottom is the ground under the centre and the top the highest
   point (at least the class's low height). A cluster of an ``in_rows`` class longer than the class's high length
   is split into ``round(length / typical)`` boxes. Barriers (whose prior length is shorter than their width, as
   nuScenes annotates them) get ``l < w`` with the yaw turned by 90 deg.
7. **Velocity.** Points with a known velocity (``point_velocities`` rows without NaN: radar detections appended
   by data-level fusion) are kept out of steps 1-4 (their positions are too coarse; ``velocity_points_in_geometry
   =True`` keeps them in) and each is assigned to the box whose footprint, grown by ``velocity_gate_m``, contains
   it (the nearest centre if several). A box's velocity is the per-component median of its points' velocities,
   NaN when it has none; a box moving faster than 1 m/s is turned to face its velocity.

The yaw of a static box is ambiguous by pi (a rectangle has no front): yaw is in ``(-pi/2, pi/2]`` then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

from fusion_stack.models.box_fitting import FIT_METHODS, fit_rectangles, grow_rectangles
from fusion_stack.models.clustering import Clusters, euclidean_clusters
from fusion_stack.models.ground import GroundSegmentation, segment_ground
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, SampleError, check_header

__all__ = ["SIZE_PRIORS", "LidarClusterDetector", "LidarDetections", "SizePrior"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SizePrior:
    """Box size statistics of one class, metres: ``length``, ``width``, ``height`` each ``(low, typical, high)``
    (length along the heading, as the annotations have it), ``log_prior`` (how common the class is, nats) and
    ``in_rows`` (objects that stand in touching rows, like barriers: a cluster longer than one is split) and
    ``min_base_share`` (the share of the visible footprint that the lower half of the object spans: about 1 for
    vehicles, whose bodies reach down, less for pedestrians; trees and signs on poles have small ones)."""

    length: tuple[float, float, float]
    width: tuple[float, float, float]
    height: tuple[float, float, float]
    log_prior: float = 0.0
    in_rows: bool = False
    min_base_share: float = 0.45

    def __post_init__(self) -> None:
        for name in ("length", "width", "height"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != 3 or not (0 < v[0] <= v[1] <= v[2]) or not np.isfinite(v).all():
                raise SampleError(f"SizePrior.{name} must be (low, typical, high) with 0 < low <= typical <= high, "
                                  f"got {getattr(self, name)!r}", field=name)
            object.__setattr__(self, name, v)


SIZE_PRIORS: Mapping[str, SizePrior] = MappingProxyType({
    # nuScenes-like statistics: typical ~ the mean size of the nuScenes training boxes, low/high ~ their 5-95 %
    "car": SizePrior((3.6, 4.6, 5.6), (1.6, 1.9, 2.2), (1.3, 1.7, 2.2), 0.0),
    "truck": SizePrior((5.0, 7.0, 12.0), (2.1, 2.5, 3.0), (2.2, 2.9, 4.0), -1.0),
    "bus": SizePrior((9.0, 11.0, 13.5), (2.4, 2.8, 3.2), (2.8, 3.4, 4.2), -1.5),
    "trailer": SizePrior((6.0, 12.0, 16.0), (2.3, 2.9, 3.2), (2.5, 3.8, 4.5), -2.5),
    "construction_vehicle": SizePrior((4.5, 6.4, 9.0), (2.2, 2.8, 3.4), (2.4, 3.2, 4.2), -2.5),
    "pedestrian": SizePrior((0.4, 0.7, 1.1), (0.4, 0.65, 1.0), (1.4, 1.75, 2.0), -0.5, min_base_share=0.3),
    "bicycle": SizePrior((1.4, 1.7, 2.0), (0.45, 0.6, 0.9), (1.0, 1.4, 1.9), -1.5),
    "motorcycle": SizePrior((1.7, 2.1, 2.5), (0.6, 0.8, 1.1), (1.2, 1.5, 1.8), -1.5),
    "barrier": SizePrior((0.4, 0.5, 0.8), (1.6, 2.4, 3.0), (0.8, 1.0, 1.2), -1.0, in_rows=True),
    "traffic_cone": SizePrior((0.25, 0.4, 0.55), (0.25, 0.4, 0.55), (0.5, 0.8, 1.2), -1.0),
})
"""Default priors of the nuScenes detection classes (:data:`fusion_stack.sim.classes.BOX_CLASSES` and the two
nuScenes classes the simulator lacks, ``trailer`` and ``construction_vehicle``)."""

_PAINT_FLOOR = 0.02
_MIN_VISIBLE = 0.9  # a class's visible long side is at least this share of its low short side (one sees its width)
_MIN_VISIBLE_SIGMA = 0.2  # metres
_ROW_LOG_PENALTY = 1.0  # nats: a row of several objects is less likely than one
_VEL_EPS = 1.0  # m/s: faster boxes face their velocity
_OVERHANG_REACH = 0  # ground cells around a point searched for something above it (1 also catches a crown beside its
# trunk, but hides pedestrians under trees: -10 % of them for +4 % precision on the simulator)
_OVERHANG_MARGIN_M = 0.5
_CUE_CAP = 6.0  # nats: the most the overhang and base-share cues take off a class


@dataclass(frozen=True, eq=False)
class LidarDetections:
    """Everything :meth:`LidarClusterDetector.detect_details` found in one sweep of N points.

    Attributes:
        boxes: the detections (as :meth:`LidarClusterDetector.detect` returns them).
        used: (N,) bool, the points inside the range crop that took part in the geometry.
        is_ground: (N,) bool, ground points (False outside ``used``).
        cluster: (N,) int64 cluster of each point, -1 for none (ground, noise, cropped).
        cluster_of_box: (M,) int64 cluster of each box (a row of barriers gives several boxes).
        class_probs: (K, C + 1) float64 posterior of each cluster over ``("background", *class_names)``.
        ground: the ground segmentation of the ``used`` points.
    """

    boxes: Boxes3D
    used: npt.NDArray[np.bool_]
    is_ground: npt.NDArray[np.bool_]
    cluster: npt.NDArray[np.int64]
    cluster_of_box: npt.NDArray[np.int64]
    class_probs: FloatArray
    ground: GroundSegmentation


def _number(name: str, value: object) -> float:
    """``value`` as a finite float, or SampleError naming the option."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v):
        raise SampleError(f"{name} must be a finite number, got {value!r}", field=name)
    return v


def _real_array(value: object, name: str, ndim: int, cols: int | None) -> npt.NDArray[Any]:
    a = np.asarray(value)
    ok = a.ndim == ndim and (cols is None or a.shape[1] == cols)
    if not ok or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        want = "(N,)" if ndim == 1 else f"(N, {'C' if cols is None else cols})"
        raise SampleError(f"{name} must be a real array of shape {want}, got shape {a.shape} dtype {a.dtype}",
                          field=name)
    return a


class LidarClusterDetector:
    """Ground removal + Euclidean clustering + oriented boxes + classes from size, shape and (optionally) paint.

    The module docstring gives the steps; options (metres, radians, m/s, all keyword-only):
    ``class_names`` (the output label table; each needs a prior in :data:`SIZE_PRIORS` or ``size_priors``),
    ``max_range_m`` / ``min_range_m`` (x-y distance from ``sensor_xy``, the LiDAR's position in the points' frame),
    ``ground_cell_m`` / ``ground_max_slope`` / ``ground_threshold_m`` (:func:`~fusion_stack.models.ground.
    segment_ground`'s cell, steepest slope and height threshold), ``max_height_m`` (points higher above the ground
    are left out of the clusters), ``cluster_eps_m`` / ``cluster_z_scale`` / ``min_cluster_points`` (the
    clustering), ``max_cluster_points`` (bigger clusters, facades, are no objects), ``fit_method``
    (``"lshape"`` or ``"min_area"``), ``size_priors`` (added to or replacing the defaults by class name),
    ``background_log_likelihood``, ``paint_weight``, ``count_half_score``, ``min_score``,
    ``vertical_resolution_deg`` (ring spacing: 1.33 for a 32-beam HDL-32E/nuScenes, ~0.4 for a 64-beam
    HDL-64E/KITTI), ``grow_away_fraction``, ``suppress_margin_m``, ``velocity_gate_m`` and
    ``velocity_points_in_geometry`` (see the module docstring).
    """

    def __init__(
        self,
        *,
        class_names: Sequence[str] = BOX_CLASSES,
        max_range_m: float = 60.0,
        min_range_m: float = 2.0,
        sensor_xy: tuple[float, float] = (0.0, 0.0),
        ground_cell_m: float = 0.5,
        ground_max_slope: float = 0.1,
        ground_threshold_m: float = 0.2,
        max_height_m: float = 4.0,
        cluster_eps_m: float = 0.6,
        cluster_z_scale: float = 0.5,
        min_cluster_points: int = 5,
        max_cluster_points: int = 20_000,
        fit_method: Literal["lshape", "min_area"] = "lshape",
        size_priors: Mapping[str, SizePrior] | None = None,
        background_log_likelihood: float = -4.0,
        paint_weight: float = 2.0,
        count_half_score: float = 5.0,
        min_score: float = 0.1,
        velocity_gate_m: float = 1.0,
        velocity_points_in_geometry: bool = False,
        vertical_resolution_deg: float = 1.33,
        grow_away_fraction: float = 1.0,
        suppress_margin_m: float = 0.3,
    ) -> None:
        names = tuple(class_names)
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise SampleError(f"class_names must be unique non-empty strings, got {class_names!r}",
                              field="class_names")
        priors = dict(SIZE_PRIORS)
        if size_priors is not None:
            priors.update(size_priors)
        missing = [n for n in names if n not in priors]
        if missing:
            raise SampleError(f"no size prior for classes {missing}: pass size_priors={{name: SizePrior(...)}} "
                              f"(known: {sorted(priors)})", field="class_names")
        positive = {"max_range_m": max_range_m, "ground_cell_m": ground_cell_m, "ground_max_slope": ground_max_slope,
                    "ground_threshold_m": ground_threshold_m, "max_height_m": max_height_m,
                    "cluster_eps_m": cluster_eps_m, "cluster_z_scale": cluster_z_scale,
                    "count_half_score": count_half_score, "vertical_resolution_deg": vertical_resolution_deg}
        for name, value in positive.items():
            if _number(name, value) <= 0:
                raise SampleError(f"{name} must be positive and finite, got {value!r}", field=name)
        non_negative = {"min_range_m": min_range_m, "paint_weight": paint_weight,
                        "grow_away_fraction": grow_away_fraction, "suppress_margin_m": suppress_margin_m,
                        "velocity_gate_m": velocity_gate_m, "min_score": min_score}
        for name, value in non_negative.items():
            if _number(name, value) < 0:
                raise SampleError(f"{name} must be >= 0 and finite, got {value!r}", field=name)
        if min_range_m >= max_range_m:
            raise SampleError(f"min_range_m ({min_range_m}) must be below max_range_m ({max_range_m})",
                              field="min_range_m")
        _number("background_log_likelihood", background_log_likelihood)
        if fit_method not in FIT_METHODS:
            raise SampleError(f"fit_method must be one of {FIT_METHODS}, got {fit_method!r}", field="fit_method")
        sxy = np.asarray(sensor_xy, dtype=np.float64)
        if sxy.shape != (2,) or not np.isfinite(sxy).all():
            raise SampleError(f"sensor_xy must be (x, y) metres, got {sensor_xy!r}", field="sensor_xy")
        for name, count in (("min_cluster_points", min_cluster_points), ("max_cluster_points", max_cluster_points)):
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
                raise SampleError(f"{name} must be an int >= 1, got {count!r}", field=name)
        self.class_names = names
        self.priors = tuple(priors[n] for n in names)
        self.max_range_m = float(max_range_m)
        self.min_range_m = float(min_range_m)
        self.sensor_xy = (float(sxy[0]), float(sxy[1]))
        self.ground_cell_m = float(ground_cell_m)
        self.ground_max_slope = float(ground_max_slope)
        self.ground_threshold_m = float(ground_threshold_m)
        self.max_height_m = float(max_height_m)
        self.cluster_eps_m = float(cluster_eps_m)
        self.cluster_z_scale = float(cluster_z_scale)
        self.min_cluster_points = int(min_cluster_points)
        self.max_cluster_points = int(max_cluster_points)
        self.fit_method: Literal["lshape", "min_area"] = fit_method
        self.background_log_likelihood = float(background_log_likelihood)
        self.paint_weight = float(paint_weight)
        self.count_half_score = float(count_half_score)
        self.min_score = float(min_score)
        self.velocity_gate_m = float(velocity_gate_m)
        self.velocity_points_in_geometry = bool(velocity_points_in_geometry)
        self.vertical_resolution_deg = float(vertical_resolution_deg)
        self.grow_away_fraction = float(grow_away_fraction)
        self.suppress_margin_m = float(suppress_margin_m)
        # (C, 3, 3): per class, (low, typical, high) of the long side, the short side and the height, the
        # long/short sides sorted (barriers: width > length)
        table = np.empty((len(names), 3, 3))
        for c, p in enumerate(self.priors):
            long_, short = (p.length, p.width) if p.length[1] >= p.width[1] else (p.width, p.length)
            table[c, 0], table[c, 1], table[c, 2] = long_, short, p.height
        self._table = table
        self._log_prior = np.array([p.log_prior for p in self.priors])
        self._across = np.array([p.length[1] < p.width[1] for p in self.priors])  # length across the long side
        self._rows = np.array([p.in_rows for p in self.priors])
        self._min_base = np.array([p.min_base_share for p in self.priors])

    # ------------------------------------------------------------------------------------------------ public API
    def detect(self, points: npt.ArrayLike, *, stamp_ns: int, frame_id: str, sensor_id: str = "lidar",
               paint: npt.ArrayLike | None = None, painted: npt.ArrayLike | None = None,
               paint_classes: Sequence[str] | None = None,
               point_velocities: npt.ArrayLike | None = None) -> Boxes3D:
        """Boxes of the objects in one sweep ``points`` (N, 3) metres in ``frame_id`` (z up).

        ``paint`` (N, C) class probabilities per point with ``paint_classes`` naming the C columns and ``painted``
        (N,) bool the rows that carry paint (default: all); ``point_velocities`` (N, 3) m/s, NaN rows where
        unknown. Returns :class:`~fusion_stack.types.Boxes3D` in ``frame_id`` stamped ``stamp_ns``, labels indexing
        ``class_names``, sorted by descending score. Raises :class:`~fusion_stack.types.SampleError` naming the
        argument that is malformed.
        """
        return self.detect_details(points, stamp_ns=stamp_ns, frame_id=frame_id, sensor_id=sensor_id, paint=paint,
                                   painted=painted, paint_classes=paint_classes,
                                   point_velocities=point_velocities).boxes

    def detect_details(self, points: npt.ArrayLike, *, stamp_ns: int, frame_id: str, sensor_id: str = "lidar",
                       paint: npt.ArrayLike | None = None, painted: npt.ArrayLike | None = None,
                       paint_classes: Sequence[str] | None = None,
                       point_velocities: npt.ArrayLike | None = None) -> LidarDetections:
        """:meth:`detect` with the intermediate results (ground, clusters, class posteriors)."""
        stamp = check_header("LidarClusterDetector.detect", stamp_ns, frame_id, sensor_id)
        pts, paint_mat, painted_mask, vel = self._check_inputs(points, paint, painted, paint_classes,
                                                               point_velocities)
        n = len(pts)
        vel_known = np.zeros(n, bool) if vel is None else np.isfinite(vel).all(axis=1)
        rng = np.hypot(pts[:, 0] - self.sensor_xy[0], pts[:, 1] - self.sensor_xy[1])
        used = (rng >= self.min_range_m) & (rng <= self.max_range_m)
        if not self.velocity_points_in_geometry:
            used &= ~vel_known
        idx_used = np.flatnonzero(used)
        p_used = pts[idx_used]
        ground = segment_ground(p_used, cell_size_m=self.ground_cell_m, max_slope=self.ground_max_slope,
                                height_threshold_m=self.ground_threshold_m)
        is_ground = np.zeros(n, bool)
        is_ground[idx_used] = ground.is_ground
        above = ~ground.is_ground
        obj_local = np.flatnonzero(above & (ground.height <= self.max_height_m))
        obj_idx = idx_used[obj_local]
        obj_pts = pts[obj_idx]
        clusters = euclidean_clusters(obj_pts, eps_m=self.cluster_eps_m, min_points=self.min_cluster_points,
                                      z_scale=self.cluster_z_scale)
        cluster = np.full(n, -1, np.int64)
        cluster[obj_idx] = clusters.labels
        k = clusters.num_clusters
        empty = Boxes3D(stamp, frame_id, sensor_id, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0),
                        np.zeros(0, np.int64), self.class_names)
        if k == 0:
            return LidarDetections(empty, used, is_ground, cluster, np.zeros(0, np.int64),
                                   np.zeros((0, len(self.class_names) + 1)), ground)
        heights = ground.height[obj_local].astype(np.float64)
        feats = _cluster_features(obj_pts, heights, clusters)
        feats["overhang"] = _overhang_share(obj_pts, heights, clusters, feats["top"], p_used[above],
                                        ground.height[above].astype(np.float64), ground)
        rects = fit_rectangles(obj_pts, clusters.order, clusters.offsets, method=self.fit_method)
        feats["base"] = _base_share(obj_pts, heights, clusters, rects, feats)
        loglik = self._shape_log_likelihood(rects, feats)
        if paint_mat is not None:
            loglik = loglik + self._paint_log_likelihood(paint_mat, painted_mask, paint_classes, obj_idx, clusters)
        post = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        label = np.argmax(post[:, 1:], axis=1)
        count = feats["count"]
        score = post[np.arange(k), 1 + label] * count / (count + self.count_half_score)
        keep = (score >= self.min_score) & (count <= self.max_cluster_points)
        boxes7 = self._boxes(rects, feats, label, ground)
        keep_idx = np.flatnonzero(keep)
        keep_idx = keep_idx[np.argsort(-score[keep_idx], kind="stable")]
        keep_idx = _suppress_contained(keep_idx, rects, boxes7, self.suppress_margin_m)
        b, cluster_of_box = self._split_rows(boxes7, rects, label, keep_idx)
        labels = label[cluster_of_box].astype(np.int64)
        velocities = np.full((len(b), 3), np.nan)
        if vel is not None and vel_known.any() and len(b):
            velocities = self._box_velocities(b, pts[vel_known], vel[vel_known])
            b[:, 6] = _face_velocity(b[:, 6], velocities, self._across[labels])
        boxes = Boxes3D(stamp, frame_id, sensor_id, b[:, :3], b[:, 3:6], b[:, 6], labels, self.class_names,
                        np.clip(score[cluster_of_box], 0.0, 1.0), velocities)
        return LidarDetections(boxes, used, is_ground, cluster, cluster_of_box, post, ground)

    # ------------------------------------------------------------------------------------------------ inputs
    def _check_inputs(self, points: npt.ArrayLike, paint: npt.ArrayLike | None, painted: npt.ArrayLike | None,
                      paint_classes: Sequence[str] | None, point_velocities: npt.ArrayLike | None
                      ) -> tuple[FloatArray, FloatArray | None, npt.NDArray[np.bool_] | None, FloatArray | None]:
        p = _real_array(points, "points", 2, 3).astype(np.float64)
        n = len(p)
        bad = ~np.isfinite(p).all(axis=1)
        if bad.any():
            raise SampleError(f"points must be finite, got {int(bad.sum())} rows with NaN/Inf of {n} (first at "
                              f"row {int(np.flatnonzero(bad)[0])})", field="points")
        paint_mat = None
        painted_mask = None
        if paint is None:
            if painted is not None:
                raise SampleError("painted was given without paint", field="painted")
        else:
            if paint_classes is None:
                raise SampleError("paint needs paint_classes naming its columns", field="paint_classes")
            names = tuple(paint_classes)
            if not names or not all(isinstance(s, str) for s in names) or len(set(names)) != len(names):
                raise SampleError(f"paint_classes must be unique strings, got {paint_classes!r}",
                                  field="paint_classes")
            a = _real_array(paint, "paint", 2, None)
            if a.shape != (n, len(names)):
                raise SampleError(f"paint must be (N, C) = ({n}, {len(names)}) (one row per point, one column per "
                                  f"paint_classes entry), got shape {a.shape}", field="paint")
            if painted is None:
                painted_mask = np.ones(n, bool)
            else:
                m = np.asarray(painted)
                if m.shape != (n,) or m.dtype != np.bool_:
                    raise SampleError(f"painted must be ({n},) bool, got shape {m.shape} dtype {m.dtype}",
                                      field="painted")
                painted_mask = m
            if not np.isfinite(a[painted_mask]).all():
                raise SampleError("paint has NaN/Inf in painted rows", field="paint")
            if (a[painted_mask] < 0).any():
                raise SampleError("paint has negative probabilities in painted rows", field="paint")
            paint_mat = a
        vel = None
        if point_velocities is not None:
            v = _real_array(point_velocities, "point_velocities", 2, 3)
            if len(v) != n:
                raise SampleError(f"point_velocities must be ({n}, 3) (one row per point), got shape {v.shape}",
                                  field="point_velocities")
            vel = v.astype(np.float64)
        return p, paint_mat, painted_mask, vel

    # ------------------------------------------------------------------------------------------------ scoring
    def _shape_log_likelihood(self, rects: FloatArray, feats: dict[str, FloatArray]) -> FloatArray:
        """(K, C + 1) log-likelihood of background and each class from the visible rectangle and heights."""
        t = self._table  # (C, 3, 3)
        long_obs = rects[:, 2:3]
        short_obs = rects[:, 3:4]
        top = feats["top"][:, None]
        gap = feats["gap"][:, None]
        # the vertical spacing of the rings at the cluster's range: tops and bottoms are seen that coarsely
        ring = (np.hypot(rects[:, 0] - self.sensor_xy[0], rects[:, 1] - self.sensor_xy[1])
                * np.tan(np.deg2rad(self.vertical_resolution_deg)))[:, None]
        ll = np.zeros((len(rects), len(self.class_names)))
        # a partial view only shortens the sides: sides longer than typical are penalised (Gaussian reaching 2 sigma
        # at the class's high size), shorter ones are not, unless the visible long side is shorter than most of
        # the class's short side (one sees at least the width of a car)
        for side, obs in ((0, long_obs), (1, short_obs)):
            mid, hi = t[None, :, side, 1], t[None, :, side, 2]
            sig = np.maximum((hi - mid) / 2.0, 0.1)
            pen = 0.5 * (np.maximum(obs - mid, 0.0) / sig) ** 2
            if side == 0:  # classes that stand in rows (barriers) may be any number long, at a price
                pen = np.where(self._rows[None, :], np.where(obs > hi, _ROW_LOG_PENALTY, 0.0), pen)
            ll -= pen
        ll -= 0.5 * (np.maximum(_MIN_VISIBLE * t[None, :, 1, 0] - long_obs, 0.0) / _MIN_VISIBLE_SIGMA) ** 2
        # the top is seen (down to a ring's spacing): a Gaussian of the class's spread, wider below
        lo_h, mid_h, hi_h = t[None, :, 2, 0], t[None, :, 2, 1], t[None, :, 2, 2]
        sig_up = np.maximum((hi_h - mid_h) / 2.0, 0.1)
        sig_dn = np.hypot(np.maximum(mid_h - lo_h, 0.2), ring)
        dz = top - mid_h
        ll -= 0.5 * np.where(dz > 0, dz / sig_up, dz / sig_dn) ** 2
        ll += self._log_prior[None, :]
        # objects stand on the ground: a cluster floating above it (by more than a ring spacing) is no object;
        # neither is one under structure taller than max_height_m (walls, trees, poles)
        ll -= 0.5 * (np.maximum(gap - 0.5 - ring, 0.0) / 0.25) ** 2
        # (capped: clear paint outweighs them, a pedestrian under a tree stays a pedestrian when painted as one)
        ll -= np.minimum(0.5 * (feats["overhang"][:, None] / 0.15) ** 2, _CUE_CAP)
        ll -= np.minimum(0.5 * (np.maximum(self._min_base[None, :] - feats["base"][:, None], 0.0) / 0.15) ** 2,
                         _CUE_CAP)
        bg = np.full((len(rects), 1), self.background_log_likelihood)
        return np.concatenate([bg, ll], axis=1)

    def _paint_log_likelihood(self, paint: FloatArray, painted: npt.NDArray[np.bool_] | None,
                              paint_classes: Sequence[str] | None, obj_idx: npt.NDArray[np.int64],
                              clusters: Clusters) -> FloatArray:
        assert painted is not None and paint_classes is not None
        names = tuple(paint_classes)
        # map paint columns to (background, *class_names); unknown columns are background
        col_map = np.zeros((len(names), len(self.class_names) + 1))
        for j, name in enumerate(names):
            if name in self.class_names:
                col_map[j, 1 + self.class_names.index(name)] = 1.0
            else:
                col_map[j, 0] = 1.0
        sel = obj_idx[clusters.order]
        pm = painted[sel]
        starts = clusters.offsets[:-1]
        rows = np.where(pm[:, None], paint[sel], 0.0)
        sums = np.add.reduceat(rows, starts, axis=0) @ col_map  # (K, C + 1) summed probabilities
        n_painted = np.add.reduceat(pm.astype(np.float64), starts)
        tot = sums.sum(axis=1, keepdims=True)
        mean = np.where(tot > 0, sums / np.maximum(tot, 1e-12), 1.0 / col_map.shape[1])
        weight = self.paint_weight * n_painted / (n_painted + 2.0)
        return weight[:, None] * np.log(mean + _PAINT_FLOOR)

    # ------------------------------------------------------------------------------------------------ boxes
    def _boxes(self, rects: FloatArray, feats: dict[str, FloatArray], label: npt.NDArray[np.int64],
               ground: GroundSegmentation) -> FloatArray:
        """(K, 7) boxes: rectangles grown to the class's typical size away from the sensor, on the ground."""
        t = self._table[label]  # (K, 3, 3)
        grown = grow_rectangles(rects, min_length=t[:, 0, 1], min_width=t[:, 1, 1], viewpoint=self.sensor_xy,
                                away_fraction=self.grow_away_fraction)
        bottom = ground.height_at(grown[:, :2])
        bottom = np.where(np.isfinite(bottom), bottom, feats["zmin"])
        top = np.maximum(feats["zmax"], bottom + t[:, 2, 0])
        out = np.empty((len(rects), 7))
        out[:, 0:2] = grown[:, 0:2]
        out[:, 2] = 0.5 * (bottom + top)
        out[:, 3] = grown[:, 2]
        out[:, 4] = grown[:, 3]
        out[:, 5] = top - bottom
        out[:, 6] = grown[:, 4]
        across = self._across[label]
        out[across, 3], out[across, 4] = grown[across, 3], grown[across, 2]
        out[across, 6] = _wrap_pi(grown[across, 4] + np.pi / 2)
        return out

    def _split_rows(self, boxes7: FloatArray, rects: FloatArray, label: npt.NDArray[np.int64],
                    keep_idx: npt.NDArray[np.int64]) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """The kept clusters' boxes, a cluster of a row class longer than the class's high length split into
        ``round(length / typical)`` boxes along its rectangle; returns (M, 7) boxes and their clusters (M,)."""
        out: list[FloatArray] = []
        owner: list[int] = []
        for i in keep_idx:
            c = label[i]
            long_typ, long_hi = self._table[c, 0, 1], self._table[c, 0, 2]
            if not self._rows[c] or rects[i, 2] <= long_hi:
                out.append(boxes7[i][None])
                owner.append(int(i))
                continue
            n = max(2, round(rects[i, 2] / long_typ))
            piece = rects[i, 2] / n
            u = np.array([np.cos(rects[i, 4]), np.sin(rects[i, 4])])
            offs = (np.arange(n) + 0.5) * piece - rects[i, 2] / 2
            parts = np.empty((n, 5))
            parts[:, :2] = rects[i, :2] + offs[:, None] * u
            parts[:, 2] = piece
            parts[:, 3] = rects[i, 3]
            parts[:, 4] = rects[i, 4]
            grown = grow_rectangles(parts, min_length=piece, min_width=self._table[c, 1, 1],
                                    viewpoint=self.sensor_xy, away_fraction=self.grow_away_fraction)
            b = np.repeat(boxes7[i][None], n, axis=0)
            b[:, :2] = grown[:, :2]
            long_, short, yaw = grown[:, 2], grown[:, 3], grown[:, 4]
            if self._across[c]:
                b[:, 3], b[:, 4], b[:, 6] = short, long_, _wrap_pi(yaw + np.pi / 2)
            else:
                b[:, 3], b[:, 4], b[:, 6] = long_, short, yaw
            out.append(b)
            owner.extend([int(i)] * n)
        if not out:
            return np.zeros((0, 7)), np.zeros(0, np.int64)
        return np.concatenate(out), np.asarray(owner, dtype=np.int64)

    def _box_velocities(self, boxes: FloatArray, vpts: FloatArray, vel: FloatArray) -> FloatArray:
        """(M, 3) median velocity of the velocity points inside each box's grown footprint, NaN if none."""
        gate = self.velocity_gate_m
        d = vpts[:, None, :2] - boxes[None, :, :2]  # (P, M, 2)
        c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
        along = d[..., 0] * c + d[..., 1] * s
        across = -d[..., 0] * s + d[..., 1] * c
        inside = (np.abs(along) <= boxes[:, 3] / 2 + gate) & (np.abs(across) <= boxes[:, 4] / 2 + gate)
        dist = np.where(inside, np.hypot(d[..., 0], d[..., 1]), np.inf)
        owner = np.argmin(dist, axis=1)
        owned = np.isfinite(dist[np.arange(len(vpts)), owner])
        out = np.full((len(boxes), 3), np.nan)
        for m in np.unique(owner[owned]):
            out[m] = np.median(vel[owned & (owner == m)], axis=0)
        return out


def _wrap_pi(a: FloatArray) -> FloatArray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _face_velocity(yaw: FloatArray, vel: FloatArray, across: npt.NDArray[np.bool_]) -> FloatArray:
    """Turn yaws by pi where the box moves backwards along its heading faster than 1 m/s."""
    speed = np.hypot(vel[:, 0], vel[:, 1])
    moving = np.isfinite(speed) & (speed > _VEL_EPS) & ~across
    heading = np.arctan2(vel[:, 1], vel[:, 0])
    flip = moving & (np.cos(np.where(moving, heading, 0.0) - yaw) < 0)
    return np.where(flip, _wrap_pi(yaw + np.pi), yaw)


def _suppress_contained(idx: npt.NDArray[np.int64], rects: FloatArray, boxes: FloatArray, margin: float
                        ) -> npt.NDArray[np.int64]:
    """Drop (in score order ``idx``) every cluster whose visible rectangle's centre lies inside the footprint,
    grown by ``margin``, of a better-scored kept box: a fragment of that object."""
    return _suppress_kernel(np.ascontiguousarray(idx, dtype=np.int64), np.ascontiguousarray(rects),
                            np.ascontiguousarray(boxes), float(margin))


@njit(cache=True)
def _suppress_kernel(idx: Any, rects: Any, boxes: Any, margin: float) -> Any:
    kept = np.empty(len(idx), np.int64)
    n = 0
    for i in idx:
        cx, cy = rects[i, 0], rects[i, 1]
        inside = False
        for t in range(n):
            b = boxes[kept[t]]
            dx, dy = cx - b[0], cy - b[1]
            c, s = np.cos(b[6]), np.sin(b[6])
            if abs(dx * c + dy * s) <= b[3] / 2 + margin and abs(-dx * s + dy * c) <= b[4] / 2 + margin:
                inside = True
                break
        if not inside:
            kept[n] = i
            n += 1
    return kept[:n].copy()


def _overhang_share(pts: FloatArray, heights: FloatArray, clusters: Clusters, top: FloatArray,
                    above_pts: FloatArray, above_heights: FloatArray, ground: GroundSegmentation,
                    margin: float = _OVERHANG_MARGIN_M) -> FloatArray:
    """(K,) share of each cluster's points with a non-ground point more than ``margin`` above the cluster's top
    within ``_OVERHANG_REACH`` ground-grid cells: the cluster is the lower part of something (a trunk under its
    crown, a pole under its sign or lamp, the base of a wall above the height cap)."""
    nx, ny = ground.surface.shape
    cell_max = _cell_max(above_pts, above_heights, ground.origin[0], ground.origin[1], ground.cell_size_m, nx, ny)
    seg = np.repeat(np.arange(clusters.num_clusters), clusters.sizes)
    under = _lookup_above(pts[clusters.order], top[seg] + margin, cell_max, ground.origin[0], ground.origin[1],
                          ground.cell_size_m, _OVERHANG_REACH)
    return np.add.reduceat(under, clusters.offsets[:-1]) / clusters.sizes


@njit(cache=True)
def _cell_max(pts: Any, h: Any, x0: float, y0: float, cell: float, nx: int, ny: int) -> Any:
    out = np.full((nx, ny), -np.inf)
    for k in range(pts.shape[0]):
        i = min(max(int(np.floor((pts[k, 0] - x0) / cell)), 0), nx - 1)
        j = min(max(int(np.floor((pts[k, 1] - y0) / cell)), 0), ny - 1)
        out[i, j] = max(out[i, j], h[k])
    return out


@njit(cache=True)
def _lookup_above(pts: Any, level: Any, cell_max: Any, x0: float, y0: float, cell: float, reach: int) -> Any:
    nx, ny = cell_max.shape
    out = np.zeros(pts.shape[0])
    for k in range(pts.shape[0]):
        i = min(max(int(np.floor((pts[k, 0] - x0) / cell)), 0), nx - 1)
        j = min(max(int(np.floor((pts[k, 1] - y0) / cell)), 0), ny - 1)
        for a in range(max(i - reach, 0), min(i + reach + 1, nx)):
            for b in range(max(j - reach, 0), min(j + reach + 1, ny)):
                if cell_max[a, b] > level[k]:
                    out[k] = 1.0
    return out


def _base_share(pts: FloatArray, heights: FloatArray, clusters: Clusters, rects: FloatArray,
                feats: dict[str, FloatArray]) -> FloatArray:
    """(K,) how much of each cluster's rectangle its lower half (in height) spans: the longer of the lower half's
    extents along the rectangle's axes over the rectangle's long side. About 1 for vehicles, whose bodies reach
    down; small for trees (a trunk under a crown) and for signs on poles."""
    order, starts = clusters.order, clusters.offsets[:-1]
    seg = np.repeat(np.arange(clusters.num_clusters), clusters.sizes)
    yaw = rects[seg, 4]
    x, y = pts[order, 0], pts[order, 1]
    a = x * np.cos(yaw) + y * np.sin(yaw)
    b = -x * np.sin(yaw) + y * np.cos(yaw)
    mid = 0.5 * (feats["gap"] + feats["top"])
    low = heights[order] <= mid[seg]
    spans = []
    for v in (a, b):
        hi = np.maximum.reduceat(np.where(low, v, -np.inf), starts)
        lo = np.minimum.reduceat(np.where(low, v, np.inf), starts)
        spans.append(hi - lo)
    return np.clip(np.maximum(spans[0], spans[1]) / np.maximum(rects[:, 2], 0.05), 0.0, 1.0)


def _cluster_features(pts: FloatArray, heights: FloatArray, clusters: Clusters) -> dict[str, FloatArray]:
    """Per cluster: ``count``, ``zmin``/``zmax`` (m, frame z), ``top`` (highest point above ground) and ``gap``
    (lowest point above ground)."""
    order, starts = clusters.order, clusters.offsets[:-1]
    z = pts[order, 2]
    h = heights[order]
    return {
        "count": clusters.sizes.astype(np.float64),
        "zmin": np.minimum.reduceat(z, starts),
        "zmax": np.maximum.reduceat(z, starts),
        "top": np.maximum.reduceat(h, starts),
        "gap": np.minimum.reduceat(h, starts),
    }
