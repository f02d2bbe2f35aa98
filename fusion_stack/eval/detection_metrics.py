"""nuScenes-style 3D detection metrics: AP, TP errors (ATE, ASE, AOE, AVE, AAE) and the NuScenes Detection Score.

The definitions follow the nuScenes detection benchmark (Caesar et al., "nuScenes: A multimodal dataset for
autonomous driving", CVPR 2020, section 4.1) as implemented by the nuScenes devkit
(``nuscenes/eval/detection/algo.py``: ``accumulate``, ``calc_ap``, ``calc_tp``; ``data_classes.py``:
``DetectionMetrics``; ``evaluate.py``: ``NuScenesEval.run``):

* **Matching.** Per class and per distance threshold ``d``, every detection of the class, over all frames, is taken
  in order of descending score (ties: the later detection first, as the devkit's sort) and matched to the closest
  not yet matched ground-truth box of the same class in its frame, by bird's-eye-view (x, y) centre distance in
  metres; it is a true positive when that distance is ``< d``.
* **AP.** Precision ``TP / (TP + FP)`` and recall ``TP / num_gt`` after each detection are linearly interpolated
  (no precision envelope) at the 101 recalls 0, 0.01, ..., 1 (precision 0 beyond the highest recall reached).
  AP is the mean, over the recall points strictly above ``min_recall`` (0.1), of ``max(0, precision -
  min_precision)`` (``min_precision`` 0.1), divided by ``1 - min_precision``, so that AP is in [0, 1].
* **TP errors**, from the matches at ``tp_dist_threshold`` (2 m): ATE, the BEV centre distance (m); ASE,
  ``1 - IoU`` of the two boxes after aligning centres and orientation (the 3D size IoU); AOE, the smallest yaw
  difference (rad, period pi for barriers, whose heading is ambiguous); AVE, the L2 error of the BEV velocity
  (m/s); AAE, ``1 - attribute accuracy``. Each is a running (cumulative) mean over the matches in score order,
  read off at the 101 recall points through the detection confidence, and averaged over the recall points above
  ``min_recall`` up to the highest recall reached; a class that never reaches ``min_recall`` gets error 1.
  Per-match errors that are NaN (unknown velocity, GT box without attribute) are skipped by the running mean.
* **Summary.** mAP is the mean over classes of the mean AP over the thresholds; each mTP error is the mean over
  classes ignoring NaN; ``NDS = (5 mAP + sum_e max(0, 1 - mTP_e)) / 10`` over the five errors, where a NaN mTP
  (no class has that error) scores 0, i.e. counts as the worst error 1, as in the devkit.

Classes the devkit reports NaN errors for (``DEVKIT_NAN_ERRORS``): ``traffic_cone`` (AOE, AVE, AAE) and
``barrier`` (AVE, AAE); NaN errors are excluded from the mTP means.

Input conventions: each frame is a pair ``(ground_truth, detections)`` of :class:`~fusion_stack.types.Boxes3D` in
the same ``frame_id`` (ego or LiDAR frame, as in the devkit's ego-frame evaluation; different frames raise
:class:`EvaluationError`). Box classes are resolved by name (``boxes.class_names[label]``), so ground truth and
detections may use different label tables; boxes of classes not in ``class_names`` are ignored. Filtering by range
(the devkit's per-class ``class_range``), by number of LiDAR points or by visibility is the caller's job and must be
applied to both ground truth and detections before calling :func:`evaluate_detections`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fusion_stack.errors import FusionStackError
from fusion_stack.types import Boxes3D

__all__ = [
    "DEVKIT_NAN_ERRORS",
    "TP_ERROR_NAMES",
    "ClassMetrics",
    "DetectionMetrics",
    "EvaluationError",
    "evaluate_detections",
]


class EvaluationError(FusionStackError, ValueError):
    """The inputs of an evaluation are inconsistent (frames, classes, thresholds or attributes)."""


TP_ERROR_NAMES: tuple[str, ...] = ("ate", "ase", "aoe", "ave", "aae")
"""The five true-positive errors: translation (m), scale (1 - IoU), orientation (rad), velocity (m/s), attribute."""

DEVKIT_NAN_ERRORS: Mapping[str, frozenset[str]] = MappingProxyType({
    "traffic_cone": frozenset({"aoe", "ave", "aae"}),
    "barrier": frozenset({"ave", "aae"}),
})
"""Errors the nuScenes devkit does not evaluate per class (reported NaN): cones have no heading, velocity or
attribute; barriers no velocity or attribute."""

_N_RECALL = 101  # recall points 0, 0.01, ..., 1 (DetectionMetricData.nelem in the devkit)
_FArr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ClassMetrics:
    """Metrics of one class.

    ``ap`` maps each distance threshold (m) to AP in [0, 1]; ``mean_ap`` is their mean. ``ate`` (m), ``ase``
    (1 - IoU), ``aoe`` (rad), ``ave`` (m/s) and ``aae`` (1 - accuracy) are the TP errors at the TP threshold, NaN
    where not evaluated. ``num_gt`` and ``num_detections`` count the boxes of the class over all frames. All NaN
    when the class has no ground truth and ``classes_without_gt="skip"``.
    """

    name: str
    num_gt: int
    num_detections: int
    ap: Mapping[float, float]
    mean_ap: float
    recall: Mapping[float, float]
    ate: float
    ase: float
    aoe: float
    ave: float
    aae: float

    def tp_error(self, name: str) -> float:
        """The TP error ``name`` (one of :data:`TP_ERROR_NAMES`)."""
        if name not in TP_ERROR_NAMES:
            raise EvaluationError(f"unknown TP error {name!r}; expected one of {', '.join(TP_ERROR_NAMES)}")
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (threshold keys as strings, NaN kept as float NaN)."""
        return {
            "name": self.name,
            "num_gt": self.num_gt,
            "num_detections": self.num_detections,
            "ap": {_th_key(t): v for t, v in self.ap.items()},
            "mean_ap": self.mean_ap,
            "recall": {_th_key(t): v for t, v in self.recall.items()},
            **{e: self.tp_error(e) for e in TP_ERROR_NAMES},
        }


@dataclass(frozen=True)
class DetectionMetrics:
    """Result of :func:`evaluate_detections` (nuScenes detection benchmark, Caesar et al. 2020).

    ``mean_ap`` (mAP) in [0, 1]; ``tp_errors`` maps ``ate``/``ase``/``aoe``/``ave``/``aae`` to the class mean
    (mATE ... mAAE, NaN ignored; NaN when no class has the error); ``nd_score`` is NDS in [0, 1];
    ``mean_ap_per_threshold`` maps each distance threshold to the class-mean AP; ``per_class`` holds a
    :class:`ClassMetrics` per evaluated class, in ``class_names`` order.
    """

    class_names: tuple[str, ...]
    dist_thresholds: tuple[float, ...]
    tp_dist_threshold: float
    per_class: Mapping[str, ClassMetrics]
    mean_ap: float
    mean_ap_per_threshold: Mapping[float, float]
    tp_errors: Mapping[str, float]
    tp_scores: Mapping[str, float]
    nd_score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every number (threshold keys as strings)."""
        return {
            "class_names": list(self.class_names),
            "dist_thresholds": list(self.dist_thresholds),
            "tp_dist_threshold": self.tp_dist_threshold,
            "mean_ap": self.mean_ap,
            "mean_ap_per_threshold": {_th_key(t): v for t, v in self.mean_ap_per_threshold.items()},
            "tp_errors": dict(self.tp_errors),
            "tp_scores": dict(self.tp_scores),
            "nd_score": self.nd_score,
            "per_class": {name: m.to_dict() for name, m in self.per_class.items()},
        }

    def table(self) -> str:
        """A plain-text table: one row per class (AP per threshold, TP errors), then mAP, mTP errors and NDS."""
        ap_cols = [f"AP@{_th_key(t)}" for t in self.dist_thresholds]
        err_cols = [e.upper() for e in TP_ERROR_NAMES]
        name_w = max([len("class"), *(len(n) for n in self.class_names)])
        head = ["class".ljust(name_w), "#gt".rjust(6), "#det".rjust(7), *(c.rjust(8) for c in ap_cols),
                "mAP".rjust(6), *(c.rjust(6) for c in err_cols)]
        lines = ["  ".join(head)]
        for m in self.per_class.values():
            row = [m.name.ljust(name_w), str(m.num_gt).rjust(6), str(m.num_detections).rjust(7),
                   *(f"{m.ap[t]:.3f}".rjust(8) for t in self.dist_thresholds), f"{m.mean_ap:.3f}".rjust(6),
                   *(f"{m.tp_error(e):.3f}".rjust(6) for e in TP_ERROR_NAMES)]
            lines.append("  ".join(row))
        lines.append("")
        lines.append(f"mAP: {self.mean_ap:.4f}")
        for e in TP_ERROR_NAMES:
            lines.append(f"m{e.upper()}: {self.tp_errors[e]:.4f}")
        lines.append(f"NDS: {self.nd_score:.4f}")
        return "\n".join(lines)


def _th_key(t: float) -> str:
    return str(float(t))


# ---------------------------------------------------------------------------------------------------------------
# per-box errors (devkit nuscenes/eval/common/utils.py)
# ---------------------------------------------------------------------------------------------------------------

def _yaw_error(gt: _FArr, det: _FArr, period: float) -> _FArr:
    """|smallest signed angle from det to gt| for the given period, in [0, pi] (devkit ``yaw_diff``)."""
    diff = np.mod(gt - det + period / 2, period) - period / 2
    diff = np.where(diff > np.pi, diff - 2 * np.pi, diff)
    return np.abs(diff)


def _scale_iou(gt_sizes: _FArr, det_sizes: _FArr) -> _FArr:
    """IoU of boxes (M, 3) aligned in centre and heading: the volume of the common (min) extents over the union."""
    inter = np.prod(np.minimum(gt_sizes, det_sizes), axis=1)
    union = np.prod(gt_sizes, axis=1) + np.prod(det_sizes, axis=1) - inter
    return np.asarray(inter / union, dtype=np.float64)


def _cummean(x: _FArr) -> _FArr:
    """NaN-skipping running mean; all-NaN input gives ones (the devkit's worst error), as ``utils.cummean``."""
    if x.size == 0 or bool(np.all(np.isnan(x))):
        return np.ones(len(x))
    sums = np.nancumsum(x)
    counts = np.cumsum(~np.isnan(x)).astype(np.float64)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts != 0)


# ---------------------------------------------------------------------------------------------------------------
# accumulation (devkit accumulate / calc_ap / calc_tp)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Curve:
    """The devkit's DetectionMetricData: values at the 101 recall points."""

    precision: _FArr
    confidence: _FArr
    errors: Mapping[str, _FArr]
    max_recall: float  # matched GT over num GT (the devkit keeps it only implicitly)

    @staticmethod
    def no_predictions() -> _Curve:
        return _Curve(np.zeros(_N_RECALL), np.zeros(_N_RECALL),
                      {e: np.ones(_N_RECALL) for e in TP_ERROR_NAMES}, 0.0)

    @property
    def max_recall_ind(self) -> int:
        nz = np.nonzero(self.confidence)[0]
        return int(nz[-1]) if len(nz) else 0


@dataclass(frozen=True)
class _ClassData:
    """One class over all frames: per frame the det-to-GT BEV distances and the box attributes needed."""

    num_gt: int
    dists: list[_FArr]  # per frame (n_det, n_gt)
    det_scores: list[_FArr]
    gt_boxes: list[dict[str, Any]]
    det_boxes: list[dict[str, Any]]


def _select(boxes: Boxes3D, name: str, attrs: Sequence[str] | None) -> dict[str, Any]:
    names = np.asarray(boxes.class_names, dtype=object)
    mask = (names[boxes.labels] == name) if len(boxes) else np.zeros(0, dtype=bool)
    idx = np.flatnonzero(mask)
    return {
        "xy": boxes.centers[idx, :2].astype(np.float64),
        "sizes": boxes.sizes[idx].astype(np.float64),
        "yaws": boxes.yaws[idx].astype(np.float64),
        "vel": boxes.velocities[idx, :2].astype(np.float64),
        "scores": boxes.scores[idx].astype(np.float64),
        "attrs": None if attrs is None else np.asarray([str(attrs[int(i)]) for i in idx], dtype=object),
    }


def _greedy_match(dist: _FArr, scores: _FArr, threshold: float) -> npt.NDArray[np.int64]:
    """Matched GT index per detection of one frame (-1 for a false positive), detections by descending score."""
    n_det, n_gt = dist.shape
    match = np.full(n_det, -1, dtype=np.int64)
    if n_gt == 0:
        return match
    taken = np.zeros(n_gt, dtype=bool)
    for i in np.lexsort((np.arange(n_det), scores))[::-1]:
        row = np.where(taken, np.inf, dist[i])
        j = int(np.argmin(row))
        if row[j] < threshold:
            taken[j] = True
            match[i] = j
    return match


def _accumulate(data: _ClassData, threshold: float, *, yaw_period: float) -> _Curve:
    if data.num_gt == 0:
        return _Curve.no_predictions()
    scores_all, tp_all, errs_all = [], [], []
    for dist, scores, gt, det in zip(data.dists, data.det_scores, data.gt_boxes, data.det_boxes):
        match = _greedy_match(dist, scores, threshold)
        tp = match >= 0
        errs = np.full((len(match), len(TP_ERROR_NAMES)), np.nan)
        i = np.flatnonzero(tp)
        j = match[i]
        if len(i):
            errs[i, 0] = dist[i, j]
            errs[i, 1] = 1.0 - _scale_iou(gt["sizes"][j], det["sizes"][i])
            errs[i, 2] = _yaw_error(gt["yaws"][j], det["yaws"][i], yaw_period)
            errs[i, 3] = np.linalg.norm(det["vel"][i] - gt["vel"][j], axis=1)  # NaN where either is unknown
            if gt["attrs"] is not None and det["attrs"] is not None:
                ga, da = gt["attrs"][j], det["attrs"][i]
                errs[i, 4] = np.where(ga == "", np.nan, 1.0 - (ga == da).astype(np.float64))
        scores_all.append(scores)
        tp_all.append(tp)
        errs_all.append(errs)
    scores = np.concatenate(scores_all) if scores_all else np.zeros(0)
    is_tp = np.concatenate(tp_all) if tp_all else np.zeros(0, dtype=bool)
    if not is_tp.any():
        return _Curve.no_predictions()
    errs = np.concatenate(errs_all)
    order = np.lexsort((np.arange(len(scores)), scores))[::-1]  # descending score, later box first on ties
    scores, is_tp, errs = scores[order], is_tp[order], errs[order]

    tp_cum = np.cumsum(is_tp).astype(np.float64)
    fp_cum = np.cumsum(~is_tp).astype(np.float64)
    prec = tp_cum / (tp_cum + fp_cum)
    rec = tp_cum / float(data.num_gt)
    rec_interp = np.linspace(0.0, 1.0, _N_RECALL)
    precision = np.interp(rec_interp, rec, prec, right=0)
    confidence = np.interp(rec_interp, rec, scores, right=0)

    match_conf = scores[is_tp]
    errors = {}
    for k, name in enumerate(TP_ERROR_NAMES):
        running = _cummean(errs[is_tp, k])
        # read the running mean off at each recall point's confidence (np.interp needs increasing abscissae)
        errors[name] = np.interp(confidence[::-1], match_conf[::-1], running[::-1])[::-1]
    return _Curve(precision, confidence, errors, float(rec[-1]))


def _calc_ap(curve: _Curve, min_recall: float, min_precision: float) -> float:
    prec = curve.precision[round(100 * min_recall) + 1:] - min_precision  # recall points above min_recall
    prec = np.clip(prec, 0.0, None)
    return float(np.mean(prec)) / (1.0 - min_precision)


def _calc_tp(curve: _Curve, min_recall: float, name: str) -> float:
    first = round(100 * min_recall) + 1
    last = curve.max_recall_ind
    if last < first:
        return 1.0  # never reached min_recall: worst error, as the devkit
    return float(np.mean(curve.errors[name][first:last + 1]))


def _nanmean(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0 or bool(np.all(np.isnan(a))):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(a))


# ---------------------------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------------------------

def _check_inputs(frames: Sequence[tuple[Boxes3D, Boxes3D]], class_names: Sequence[str],
                  dist_thresholds: Sequence[float], tp_dist_threshold: float, max_boxes_per_frame: int,
                  attributes: Sequence[tuple[Sequence[str], Sequence[str]]] | None, min_recall: float,
                  min_precision: float) -> None:
    if len(frames) == 0:
        raise EvaluationError("no frames to evaluate", field="frames")
    if len(class_names) == 0 or len(set(class_names)) != len(class_names):
        raise EvaluationError(f"class_names must be non-empty and unique, got {list(class_names)}",
                              field="class_names")
    if len(dist_thresholds) == 0 or not all(math.isfinite(t) and t > 0 for t in dist_thresholds):
        raise EvaluationError(f"dist_thresholds must be positive metres, got {list(dist_thresholds)}",
                              field="dist_thresholds")
    if not (math.isfinite(tp_dist_threshold) and tp_dist_threshold > 0):
        raise EvaluationError(f"tp_dist_threshold must be positive metres, got {tp_dist_threshold}",
                              field="tp_dist_threshold")
    if not (0 <= min_recall < 1 and 0 <= min_precision < 1):
        raise EvaluationError(f"min_recall and min_precision must be in [0, 1), got {min_recall}, {min_precision}")
    if attributes is not None and len(attributes) != len(frames):
        raise EvaluationError(f"attributes must have one (gt, det) pair per frame ({len(frames)}), "
                              f"got {len(attributes)}", field="attributes")
    for k, pair in enumerate(frames):
        if len(pair) != 2 or not all(isinstance(b, Boxes3D) for b in pair):
            raise EvaluationError(f"frame {k} must be a (ground_truth, detections) pair of Boxes3D",
                                  field=f"frames[{k}]")
        gt, det = pair
        if gt.frame_id != det.frame_id:
            raise EvaluationError(f"frame {k}: ground truth is in {gt.frame_id!r} but detections in "
                                  f"{det.frame_id!r}; transform them into one frame first", field=f"frames[{k}]")
        if len(det) > max_boxes_per_frame:
            raise EvaluationError(f"frame {k}: {len(det)} detections exceed max_boxes_per_frame="
                                  f"{max_boxes_per_frame}", field=f"frames[{k}]")
        if attributes is not None:
            ga, da = attributes[k]
            if len(ga) != len(gt) or len(da) != len(det):
                raise EvaluationError(f"frame {k}: attributes give {len(ga)} GT and {len(da)} detection labels "
                                      f"for {len(gt)} GT and {len(det)} detections", field=f"attributes[{k}]")


def evaluate_detections(
    frames: Sequence[tuple[Boxes3D, Boxes3D]],
    *,
    class_names: Sequence[str],
    dist_thresholds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    tp_dist_threshold: float = 2.0,
    max_boxes_per_frame: int = 500,
    attributes: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
    min_recall: float = 0.1,
    min_precision: float = 0.1,
    nan_errors: Mapping[str, Collection[str]] = DEVKIT_NAN_ERRORS,
    half_period_yaw_classes: Collection[str] = ("barrier",),
    classes_without_gt: Literal["zero", "skip"] = "zero",
) -> DetectionMetrics:
    """Evaluate 3D detections against ground truth with the nuScenes detection metrics (Caesar et al. 2020).

    ``frames``: ``(ground_truth, detections)`` :class:`Boxes3D` pairs, one per sample, each pair in one
    ``frame_id`` (positions in m, yaws in rad, velocities in m/s; only x, y of centres and velocities are used).
    Detection scores rank the detections; ground-truth scores are ignored. ``class_names``: the classes to
    evaluate (by name; other boxes are ignored). ``dist_thresholds``: BEV centre-distance match thresholds (m)
    for AP; ``tp_dist_threshold``: the threshold whose matches give the TP errors. ``max_boxes_per_frame``: more
    detections in a frame raise :class:`EvaluationError` (the devkit's submission limit). ``attributes``: per
    frame ``(gt_attributes, det_attributes)``, one string per box (``""`` for a GT box without attribute, which
    is skipped); without them AAE is NaN for every class (so NDS is at most 0.9, the NaN mAAE scoring 0).
    ``nan_errors`` maps a class to the errors reported NaN for it (default: the devkit's cone/barrier rules);
    ``half_period_yaw_classes`` have yaw error computed modulo pi. AVE is also NaN for a class none of whose GT
    boxes has a known velocity (the devkit would report the worst error 1 there).

    ``classes_without_gt``: ``"zero"`` (the devkit) gives a class with no ground-truth box AP 0 and TP errors 1
    and keeps it in every mean; ``"skip"`` reports it NaN and leaves it out of mAP and the mTP errors.

    Distance filtering (the devkit's per-class evaluation range), box point-count filtering and frame
    transforms are the caller's job. Raises :class:`EvaluationError` on inconsistent inputs.
    """
    _check_inputs(frames, class_names, dist_thresholds, tp_dist_threshold, max_boxes_per_frame, attributes,
                  min_recall, min_precision)
    if classes_without_gt not in ("zero", "skip"):
        raise EvaluationError(f"classes_without_gt must be 'zero' or 'skip', got {classes_without_gt!r}",
                              field="classes_without_gt")
    thresholds = tuple(float(t) for t in dist_thresholds)
    tp_th = float(tp_dist_threshold)
    per_class: dict[str, ClassMetrics] = {}
    for name in class_names:
        data = _class_data(frames, name, attributes)
        num_det = sum(len(s) for s in data.det_scores)
        if data.num_gt == 0 and classes_without_gt == "skip":
            nan_map = MappingProxyType(dict.fromkeys(thresholds, math.nan))
            per_class[name] = ClassMetrics(name, 0, num_det, nan_map, math.nan, nan_map,
                                           *([math.nan] * len(TP_ERROR_NAMES)))
            continue
        period = math.pi if name in half_period_yaw_classes else 2 * math.pi
        curves = {t: _accumulate(data, t, yaw_period=period) for t in sorted({*thresholds, tp_th})}
        aps = {t: _calc_ap(curves[t], min_recall, min_precision) for t in thresholds}
        skip = set(nan_errors.get(name, ()))
        if data.num_gt and not any(np.isfinite(g["vel"]).all(axis=1).any() for g in data.gt_boxes):
            skip.add("ave")
        if attributes is None:
            skip.add("aae")
        errs = [math.nan if e in skip else _calc_tp(curves[tp_th], min_recall, e) for e in TP_ERROR_NAMES]
        recalls = MappingProxyType({t: curves[t].max_recall for t in thresholds})
        per_class[name] = ClassMetrics(name, data.num_gt, num_det, MappingProxyType(aps),
                                       float(np.mean(list(aps.values()))), recalls, *errs)

    mean_ap = _nanmean([m.mean_ap for m in per_class.values()])
    ap_per_th = {t: _nanmean([m.ap[t] for m in per_class.values()]) for t in thresholds}
    tp_errors = {e: _nanmean([m.tp_error(e) for m in per_class.values()]) for e in TP_ERROR_NAMES}
    # devkit: score = max(0, 1 - mTP); Python's max(0.0, nan) is 0.0, so a NaN mTP scores 0
    tp_scores = {e: 0.0 if math.isnan(v) else max(0.0, 1.0 - v) for e, v in tp_errors.items()}
    nds = (5.0 * mean_ap + sum(tp_scores.values())) / (5.0 + len(tp_scores))
    return DetectionMetrics(
        class_names=tuple(class_names),
        dist_thresholds=thresholds,
        tp_dist_threshold=tp_th,
        per_class=MappingProxyType(per_class),
        mean_ap=mean_ap,
        mean_ap_per_threshold=MappingProxyType(ap_per_th),
        tp_errors=MappingProxyType(tp_errors),
        tp_scores=MappingProxyType(tp_scores),
        nd_score=nds,
    )


def _class_data(frames: Sequence[tuple[Boxes3D, Boxes3D]], name: str,
                attributes: Sequence[tuple[Sequence[str], Sequence[str]]] | None) -> _ClassData:
    dists, scores, gts, dets = [], [], [], []
    num_gt = 0
    for k, (gt_boxes, det_boxes) in enumerate(frames):
        ga, da = (None, None) if attributes is None else attributes[k]
        gt = _select(gt_boxes, name, ga)
        det = _select(det_boxes, name, da)
        num_gt += len(gt["xy"])
        d = np.linalg.norm(det["xy"][:, None, :] - gt["xy"][None, :, :], axis=2)
        dists.append(d.reshape(len(det["xy"]), len(gt["xy"])))
        scores.append(det["scores"])
        gts.append(gt)
        dets.append(det)
    return _ClassData(num_gt, dists, scores, gts, dets)
