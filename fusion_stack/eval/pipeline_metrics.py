"""Evaluating a pipeline run the nuScenes way: ground truth filtered like the devkit, then detection metrics.

The devkit evaluates each class within a range of the ego vehicle (:data:`CLASS_RANGES_M`, metres in the BEV) and
drops ground-truth boxes without any LiDAR (or radar) point: :func:`filter_ground_truth` does both (points counted
with :func:`count_points_in_boxes` from the frame's own LiDAR sweep), :class:`MetricsAccumulator` collects
``(ground truth, detections)`` pairs frame by frame and :meth:`MetricsAccumulator.compute` returns
:class:`~fusion_stack.eval.detection_metrics.DetectionMetrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from fusion_stack.eval.detection_metrics import DetectionMetrics, EvaluationError, evaluate_detections
from fusion_stack.types import Boxes3D

CLASS_RANGES_M: Mapping[str, float] = MappingProxyType({
    "car": 50.0, "truck": 50.0, "bus": 50.0, "trailer": 50.0, "construction_vehicle": 50.0, "pedestrian": 40.0,
    "motorcycle": 40.0, "bicycle": 40.0, "traffic_cone": 30.0, "barrier": 30.0,
})
"""The nuScenes devkit's per-class evaluation range (BEV distance from the ego origin, metres)."""


CLASS_ALIASES: Mapping[str, str] = MappingProxyType({
    "Car": "car", "Van": "car", "Truck": "truck", "Pedestrian": "pedestrian", "Person_sitting": "pedestrian",
    "Cyclist": "bicycle", "Tram": "tram", "Misc": "misc",
})
"""Ground-truth class names of other datasets (KITTI) -> the nuScenes detection names the detectors use."""


def harmonize_class_names(boxes: Boxes3D, aliases: Mapping[str, str] = CLASS_ALIASES) -> Boxes3D:
    """``boxes`` with their class names mapped through ``aliases`` (names without alias stay); labels are
    re-indexed into the new, de-duplicated name tuple."""
    if not any(n in aliases for n in boxes.class_names):
        return boxes
    names = tuple(dict.fromkeys(aliases.get(n, n) for n in boxes.class_names))
    remap = np.array([names.index(aliases.get(n, n)) for n in boxes.class_names], dtype=np.int64)
    return Boxes3D(boxes.stamp_ns, boxes.frame_id, boxes.sensor_id, boxes.centers, boxes.sizes, boxes.yaws,
                   remap[boxes.labels] if len(boxes) else boxes.labels, names, boxes.scores, boxes.velocities,
                   boxes.track_ids)


def count_points_in_boxes(points: npt.ArrayLike, boxes: Boxes3D) -> npt.NDArray[np.int64]:
    """How many of ``points`` (N, 3), in ``boxes.frame_id``, lie inside each box (closed faces): (M,) int64."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    counts = np.zeros(len(boxes), np.int64)
    if not len(boxes) or not len(p):
        return counts
    centres = np.asarray(boxes.centers, np.float64)
    half = np.asarray(boxes.sizes, np.float64) / 2.0
    radius = np.linalg.norm(half, axis=1)
    c, s = np.cos(boxes.yaws.astype(np.float64)), np.sin(boxes.yaws.astype(np.float64))
    order = np.argsort(p[:, 0])
    xs = p[order, 0]
    for i in range(len(boxes)):
        lo, hi = np.searchsorted(xs, [centres[i, 0] - radius[i], centres[i, 0] + radius[i]])
        if lo == hi:
            continue
        d = p[order[lo:hi]] - centres[i]
        lx = c[i] * d[:, 0] + s[i] * d[:, 1]
        ly = -s[i] * d[:, 0] + c[i] * d[:, 1]
        inside = (np.abs(lx) <= half[i, 0]) & (np.abs(ly) <= half[i, 1]) & (np.abs(d[:, 2]) <= half[i, 2])
        counts[i] = int(np.count_nonzero(inside))
    return counts


def in_class_range(boxes: Boxes3D, ranges: Mapping[str, float] = CLASS_RANGES_M, *,
                   default_m: float = 50.0) -> npt.NDArray[np.bool_]:
    """(N,) mask of the boxes within their class's BEV range of the frame origin."""
    limit = np.array([ranges.get(name, default_m) for name in boxes.label_names()], dtype=np.float64)
    return np.asarray(np.hypot(boxes.centers[:, 0], boxes.centers[:, 1]) <= limit)


def filter_ground_truth(boxes: Boxes3D, *, points: npt.ArrayLike | None, min_points: int = 1,
                        ranges: Mapping[str, float] | None = CLASS_RANGES_M) -> Boxes3D:
    """Ground truth as the devkit evaluates it: within the class range (``ranges=None``: no range limit) and with
    at least ``min_points`` of ``points`` (the frame's LiDAR sweep, in ``boxes.frame_id``) inside;
    ``points=None`` keeps every box in range."""
    keep = in_class_range(boxes, ranges) if ranges is not None else np.ones(len(boxes), bool)
    if points is not None and min_points > 0:
        keep &= count_points_in_boxes(points, boxes) >= min_points
    return boxes.select(keep)


class MetricsAccumulator:
    """Collects ``(ground truth, detections)`` per frame (both in the same frame, its origin at the ego vehicle;
    both filtered to their class range as the devkit does) and computes the nuScenes detection metrics over
    ``class_names``."""

    def __init__(self, *, class_names: Sequence[str], ranges: Mapping[str, float] = CLASS_RANGES_M) -> None:
        self.class_names = tuple(class_names)
        self.ranges = ranges
        self.frames: list[tuple[Boxes3D, Boxes3D]] = []

    def add(self, ground_truth: Boxes3D, detections: Boxes3D) -> None:
        """One frame: ``ground_truth`` (boxes without LiDAR points already removed, see
        :func:`filter_ground_truth`) and the detections."""
        if ground_truth.frame_id != detections.frame_id:
            raise EvaluationError(f"ground truth in {ground_truth.frame_id!r}, detections in "
                                  f"{detections.frame_id!r}", field="frame_id")
        gt = ground_truth.select(in_class_range(ground_truth, self.ranges)) if len(ground_truth) else ground_truth
        dets = detections.select(in_class_range(detections, self.ranges)) if len(detections) else detections
        if len(dets) > 500:
            dets = dets.select(np.argsort(-dets.scores)[:500])
        self.frames.append((gt, dets))

    def compute(self) -> DetectionMetrics:
        """The metrics over every frame added (classes without ground truth are left out of the means)."""
        if not self.frames:
            raise EvaluationError("no frame with ground truth was evaluated", field="frames")
        return evaluate_detections(self.frames, class_names=self.class_names, classes_without_gt="skip")
