"""Tests of the nuScenes-style detection metrics (Caesar et al. 2020; devkit accumulate / calc_ap / calc_tp)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_stack.eval.detection_metrics import (
    TP_ERROR_NAMES,
    DetectionMetrics,
    EvaluationError,
    evaluate_detections,
)
from fusion_stack.types import Boxes3D

NAMES = ("car", "pedestrian", "barrier", "traffic_cone")
THS = (0.5, 1.0, 2.0, 4.0)


def boxes(centers: Any, labels: Any, *, sizes: Any = None, yaws: Any = None, scores: Any = None,
          velocities: Any = None, frame_id: str = "ego") -> Boxes3D:
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    n = len(c)
    return Boxes3D(
        stamp_ns=0, frame_id=frame_id, sensor_id="test", centers=c,
        sizes=np.tile([4.0, 2.0, 1.5], (n, 1)) if sizes is None else np.asarray(sizes, dtype=np.float64),
        yaws=np.zeros(n) if yaws is None else np.asarray(yaws, dtype=np.float64),
        labels=np.asarray(labels, dtype=np.int64).reshape(-1), class_names=NAMES,
        scores=np.empty(0) if scores is None else np.asarray(scores, dtype=np.float64),
        velocities=np.empty(0) if velocities is None else np.asarray(velocities, dtype=np.float64),
        track_ids=np.full(n, -1, dtype=np.int64),  # the default empty float array is rejected when n == 0
    )


def scene(n_frames: int = 3) -> list[tuple[Boxes3D, Boxes3D]]:
    """Cars and pedestrians on a line, with velocities; detections identical to the ground truth."""
    frames = []
    for f in range(n_frames):
        centers = [[10.0 * i + f, 3.0 * f, 0.0] for i in range(4)]
        labels = [0, 0, 1, 1]
        vel = [[1.0 + i, -0.5, 0.0] for i in range(4)]
        yaws = [0.1 * i for i in range(4)]
        gt = boxes(centers, labels, yaws=yaws, velocities=vel)
        det = boxes(centers, labels, yaws=yaws, velocities=vel, scores=[0.9 - 0.1 * i - 0.01 * f for i in range(4)])
        frames.append((gt, det))
    return frames


def single(gt_kw: dict[str, Any], det_kw: dict[str, Any], label: int = 0) -> list[tuple[Boxes3D, Boxes3D]]:
    gt = boxes([[0.0, 0.0, 0.0]], [label], **gt_kw)
    det = boxes(det_kw.pop("centers", [[0.0, 0.0, 0.0]]), [label], scores=[0.9], **det_kw)
    return [(gt, det)]


def hand_ap(prec_at: Any) -> float:
    """calc_ap by hand: recall points i/100 for i = 11..100, precision minus 0.1 clipped at 0, over 0.9."""
    return sum(max(0.0, prec_at(i / 100) - 0.1) for i in range(11, 101)) / 90 / 0.9


# --------------------------------------------------------------------------------------------------------------


def test_perfect_detections_with_attributes() -> None:
    frames = scene()
    attrs = [(["moving", "parked", "standing", ""], ["moving", "parked", "standing", "sitting"]) for _ in frames]
    m = evaluate_detections(frames, class_names=("car", "pedestrian"), attributes=attrs)
    assert m.mean_ap == pytest.approx(1.0)
    for e in TP_ERROR_NAMES:
        assert m.tp_errors[e] == pytest.approx(0.0, abs=1e-6), e
    assert m.nd_score == pytest.approx(1.0)
    assert m.per_class["car"].num_gt == 6
    assert m.per_class["car"].recall[0.5] == pytest.approx(1.0)


def test_perfect_detections_without_attributes_aae_nan_scores_zero() -> None:
    m = evaluate_detections(scene(), class_names=("car", "pedestrian"))
    assert m.mean_ap == pytest.approx(1.0)
    for e in ("ate", "ase", "aoe", "ave"):
        assert m.tp_errors[e] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(m.tp_errors["aae"])
    assert math.isnan(m.per_class["car"].aae)
    assert m.tp_scores["aae"] == 0.0  # devkit: max(0, 1 - nan) -> 0
    assert m.nd_score == pytest.approx(0.9)


def test_shift_0p3_gives_ate_0p3_and_full_ap() -> None:
    frames = []
    for gt, det in scene():
        shifted = boxes(np.asarray(det.centers) + np.array([0.3, 0.0, 0.0]), det.labels, yaws=det.yaws,
                        velocities=det.velocities, scores=det.scores)
        frames.append((gt, shifted))
    m = evaluate_detections(frames, class_names=("car", "pedestrian"))
    for c in ("car", "pedestrian"):
        for t in THS:
            assert m.per_class[c].ap[t] == pytest.approx(1.0)
        assert m.per_class[c].ate == pytest.approx(0.3, abs=1e-5)
    assert m.tp_errors["ate"] == pytest.approx(0.3, abs=1e-5)
    # at 0.25 m nothing matches
    m2 = evaluate_detections(frames, class_names=("car",), dist_thresholds=(0.25,))
    assert m2.per_class["car"].ap[0.25] == 0.0


def test_hand_made_precision_recall_curve() -> None:
    # 3 GT cars; 5 detections by score: TP, FP, TP, FP, TP (the FPs are 10 m away from every GT).
    gt = boxes([[0, 0, 0], [20, 0, 0], [40, 0, 0]], [0, 0, 0])
    det = boxes([[0, 0, 0], [10, 10, 0], [20, 0, 0], [30, 10, 0], [40, 0, 0]], [0] * 5,
                scores=[0.9, 0.8, 0.7, 0.6, 0.5])
    # after each detection: TP = 1,1,2,2,3; FP = 0,1,1,2,2; precision = 1, 1/2, 2/3, 1/2, 3/5;
    # recall = 1/3, 1/3, 2/3, 2/3, 1. Linear interpolation (numpy.interp on these points):
    #   r < 1/3: 1 (left value);  1/3 < r < 2/3: from (1/3, 1/2) to (2/3, 2/3): 1/2 + (r - 1/3) / 2;
    #   2/3 < r <= 1: from (2/3, 1/2) to (1, 3/5): 1/2 + 3 (r - 2/3) / 10.
    def prec(r: float) -> float:
        if r < 1 / 3:
            return 1.0
        if r < 2 / 3:
            return 0.5 + (r - 1 / 3) / 2
        return 0.5 + 3 * (r - 2 / 3) / 10

    expected = hand_ap(prec)
    # the same sum written out: i = 11..33 contribute 0.9 each (23 points), i = 34..66 and 67..100 the two lines
    written = (23 * 0.9 + sum(0.4 + (i / 100 - 1 / 3) / 2 for i in range(34, 67))
               + sum(0.4 + 3 * (i / 100 - 2 / 3) / 10 for i in range(67, 101))) / 90 / 0.9
    assert expected == pytest.approx(written)
    m = evaluate_detections([(gt, det)], class_names=("car",), dist_thresholds=(1.0,), tp_dist_threshold=1.0)
    assert m.per_class["car"].ap[1.0] == pytest.approx(expected, abs=1e-9)
    assert m.per_class["car"].recall[1.0] == pytest.approx(1.0)


def test_false_positive_with_highest_score_lowers_ap_by_hand() -> None:
    gt = boxes([[0, 0, 0], [20, 0, 0]], [0, 0])
    det_ok = boxes([[0, 0, 0], [20, 0, 0]], [0, 0], scores=[0.8, 0.7])
    det_fp = boxes([[50, 50, 0], [0, 0, 0], [20, 0, 0]], [0, 0, 0], scores=[0.9, 0.8, 0.7])
    ok = evaluate_detections([(gt, det_ok)], class_names=("car",))
    assert ok.per_class["car"].ap[2.0] == pytest.approx(1.0)
    # FP first: precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> p(r) = r on [0, 1/2], 1/2 + (r - 1/2)/3 on [1/2, 1].
    # sum_{i=11}^{50} (i/100 - 0.1) = sum_{k=1}^{40} k/100 = 8.2
    # sum_{i=51}^{100} (0.4 + (i/100 - 0.5)/3) = 50 * 0.4 + (1275/100)/3 = 24.25
    expected = (8.2 + 24.25) / 90 / 0.9
    m = evaluate_detections([(gt, det_fp)], class_names=("car",))
    for t in THS:
        assert m.per_class["car"].ap[t] == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(hand_ap(lambda r: r if r <= 0.5 else 0.5 + (r - 0.5) / 3))


def test_scale_error_double_length() -> None:
    frames = single({"sizes": [[4.0, 2.0, 1.5]]}, {"sizes": [[8.0, 2.0, 1.5]]})
    m = evaluate_detections(frames, class_names=("car",))
    assert m.per_class["car"].ase == pytest.approx(1 - 1 / 2)


def test_orientation_errors() -> None:
    m = evaluate_detections(single({"yaws": [0.0]}, {"yaws": [math.pi / 2]}), class_names=("car",))
    assert m.per_class["car"].aoe == pytest.approx(math.pi / 2, abs=1e-6)
    m = evaluate_detections(single({"yaws": [0.3]}, {"yaws": [0.3 + math.pi]}), class_names=("car",))
    assert m.per_class["car"].aoe == pytest.approx(math.pi, abs=1e-6)
    m = evaluate_detections(single({"yaws": [0.3]}, {"yaws": [0.3 + math.pi]}, label=2), class_names=("barrier",))
    assert m.per_class["barrier"].aoe == pytest.approx(0.0, abs=1e-6)
    m = evaluate_detections(single({"yaws": [-3.0]}, {"yaws": [3.0]}), class_names=("car",))
    assert m.per_class["car"].aoe == pytest.approx(2 * math.pi - 6.0, abs=1e-6)  # wraps around


def test_velocity_error_and_devkit_nan_classes() -> None:
    vel = {"velocities": [[1.0, 0.0, 0.0]]}
    m = evaluate_detections(single(vel, {"velocities": [[1.0, 2.0, 5.0]]}), class_names=("car",))
    assert m.per_class["car"].ave == pytest.approx(2.0)  # BEV only: z ignored
    cone = evaluate_detections(single(vel, {"velocities": [[1.0, 2.0, 0.0]]}, label=3),
                               class_names=("traffic_cone",), attributes=[(["a"], ["a"])])
    c = cone.per_class["traffic_cone"]
    assert math.isnan(c.aoe) and math.isnan(c.ave) and math.isnan(c.aae)
    assert c.ate == pytest.approx(0.0) and c.ase == pytest.approx(0.0)
    bar = evaluate_detections(single(vel, dict(vel), label=2), class_names=("barrier",), attributes=[(["a"], ["a"])])
    assert math.isnan(bar.per_class["barrier"].ave) and math.isnan(bar.per_class["barrier"].aae)
    assert bar.per_class["barrier"].aoe == pytest.approx(0.0)
    # GT without velocity: AVE not evaluated
    m = evaluate_detections(single({}, {"velocities": [[1.0, 2.0, 0.0]]}), class_names=("car",))
    assert math.isnan(m.per_class["car"].ave)


def test_attribute_error() -> None:
    gt = boxes([[0, 0, 0], [10, 0, 0]], [0, 0])
    det = boxes([[0, 0, 0], [10, 0, 0]], [0, 0], scores=[0.9, 0.8])
    m = evaluate_detections([(gt, det)], class_names=("car",), attributes=[(["moving", "parked"], ["moving", "x"])])
    # running mean of the attribute errors: 0 after the first match (score 0.9), 1/2 after both (0.8). The devkit
    # reads it off at each recall point's confidence: recall r <= 1/2 -> confidence 0.9 -> 0; 1/2 < r <= 1 ->
    # confidence 0.9 - 0.2 (r - 1/2), error linear in confidence -> (r - 1/2). Mean over i = 11..100:
    expected = sum(max(0.0, i / 100 - 0.5) for i in range(11, 101)) / 90
    assert expected == pytest.approx(12.75 / 90)
    assert m.per_class["car"].aae == pytest.approx(expected)


def test_classes_without_gt() -> None:
    frames = scene()
    zero = evaluate_detections(frames, class_names=("car", "pedestrian", "barrier"))
    assert zero.per_class["barrier"].ap[2.0] == 0.0
    assert zero.per_class["barrier"].ate == 1.0
    assert zero.mean_ap == pytest.approx(2 / 3)  # devkit: AP 0 counted in the mean
    skip = evaluate_detections(frames, class_names=("car", "pedestrian", "barrier"), classes_without_gt="skip")
    assert math.isnan(skip.per_class["barrier"].mean_ap)
    assert skip.mean_ap == pytest.approx(1.0)
    assert skip.tp_errors["ate"] == pytest.approx(0.0, abs=1e-6)


def test_unmatched_and_empty() -> None:
    gt = boxes([[0, 0, 0]], [0])
    none = boxes(np.zeros((0, 3)), [])
    m = evaluate_detections([(gt, none)], class_names=("car",))
    assert m.mean_ap == 0.0 and m.per_class["car"].ate == 1.0
    m = evaluate_detections([(none, none)], class_names=("car",))
    assert m.mean_ap == 0.0


def test_errors() -> None:
    gt = boxes([[0, 0, 0]], [0])
    det = boxes([[0, 0, 0]], [0], scores=[0.5], frame_id="lidar")
    with pytest.raises(EvaluationError, match="lidar"):
        evaluate_detections([(gt, det)], class_names=("car",))
    many = boxes(np.zeros((3, 3)), [0, 0, 0], scores=[0.1, 0.2, 0.3])
    with pytest.raises(EvaluationError, match="max_boxes_per_frame"):
        evaluate_detections([(gt, many)], class_names=("car",), max_boxes_per_frame=2)
    with pytest.raises(EvaluationError, match="attributes"):
        evaluate_detections([(gt, many)], class_names=("car",), attributes=[(["a"], ["a"])])
    with pytest.raises(ValueError, match="frames"):
        evaluate_detections([], class_names=("car",))
    with pytest.raises(EvaluationError, match="dist_thresholds"):
        evaluate_detections([(gt, many)], class_names=("car",), dist_thresholds=(0.0,))


def test_to_dict_and_table() -> None:
    m = evaluate_detections(scene(), class_names=("car", "pedestrian", "traffic_cone"))
    d = m.to_dict()
    json.dumps(d)
    assert set(d["per_class"]) == {"car", "pedestrian", "traffic_cone"}
    assert d["per_class"]["car"]["ap"]["2.0"] == pytest.approx(1.0)
    t = m.table()
    assert "AP@0.5" in t and "NDS:" in t and "traffic_cone" in t and "mATE" in t


# ---------------------------------------------------------------------------------------------------------------
# properties

@st.composite
def random_frames(draw: st.DrawFn) -> list[tuple[Boxes3D, Boxes3D]]:
    n_frames = draw(st.integers(1, 3))
    counts = [(draw(st.integers(0, 4)), draw(st.integers(0, 5))) for _ in range(n_frames)]
    total_det = sum(d for _, d in counts)
    scores = draw(st.lists(st.integers(1, 999), min_size=total_det, max_size=total_det, unique=True))
    coord = st.floats(0.0, 6.0, allow_nan=False, width=32)
    frames, k = [], 0
    for n_gt, n_det in counts:
        g = [[draw(coord), draw(coord), 0.0] for _ in range(n_gt)]
        d = [[draw(coord), draw(coord), 0.0] for _ in range(n_det)]
        gl = [draw(st.integers(0, 1)) for _ in range(n_gt)]
        dl = [draw(st.integers(0, 1)) for _ in range(n_det)]
        frames.append((boxes(np.reshape(g, (-1, 3)), gl),
                       boxes(np.reshape(d, (-1, 3)), dl, scores=[s / 1000 for s in scores[k:k + n_det]])))
        k += n_det
    return frames


def _all_aps(m: DetectionMetrics) -> list[float]:
    return [v for c in m.per_class.values() for v in c.ap.values()]


@settings(max_examples=40, deadline=None)
@given(random_frames())
def test_ap_in_unit_interval(frames: list[tuple[Boxes3D, Boxes3D]]) -> None:
    m = evaluate_detections(frames, class_names=("car", "pedestrian"))
    assert all(0.0 <= a <= 1.0 + 1e-12 for a in _all_aps(m))
    assert 0.0 <= m.nd_score <= 1.0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(random_frames(), st.data())
def test_adding_true_positive_never_lowers_recall(frames: list[tuple[Boxes3D, Boxes3D]], data: st.DataObject) -> None:
    with_gt = [k for k, (g, _) in enumerate(frames) if len(g)]
    if not with_gt:
        return
    k = data.draw(st.sampled_from(with_gt))
    gt, det = frames[k]
    j = data.draw(st.integers(0, len(gt) - 1))
    before = evaluate_detections(frames, class_names=("car", "pedestrian"))
    det2 = boxes(np.concatenate([det.centers, gt.centers[j:j + 1]]), np.append(det.labels, gt.labels[j]),
                 scores=np.append(det.scores, 1.0))
    after = evaluate_detections([*frames[:k], (gt, det2), *frames[k + 1:]], class_names=("car", "pedestrian"))
    for c in ("car", "pedestrian"):
        for t in THS:
            assert after.per_class[c].recall[t] >= before.per_class[c].recall[t] - 1e-12


@settings(max_examples=40, deadline=None)
@given(random_frames(), st.randoms(use_true_random=False))
def test_map_invariant_to_frame_order(frames: list[tuple[Boxes3D, Boxes3D]], rnd: Any) -> None:
    shuffled = list(frames)
    rnd.shuffle(shuffled)
    a = evaluate_detections(frames, class_names=("car", "pedestrian"))
    b = evaluate_detections(shuffled, class_names=("car", "pedestrian"))
    assert b.mean_ap == pytest.approx(a.mean_ap, abs=1e-12)
    assert _all_aps(b) == pytest.approx(_all_aps(a), abs=1e-12)
