"""The multi-object tracker: Kalman steps by hand, velocity accuracy against finite differences, id stability
(separated, missed, crossing targets), false alarms, options and errors, and simulator ground truth in ``map``."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from fusion_stack.align.errors import AlignmentError
from fusion_stack.models.tracker import MultiObjectTracker, Track, constant_velocity_model
from fusion_stack.types import Boxes3D

CLASSES = ("car", "pedestrian", "truck")
T0 = 1_700_000_000_000_000_000
DT_NS = 50_000_000  # 20 Hz


def dets(stamp_ns: int, xy: npt.ArrayLike, *, labels: Sequence[int] | None = None,
         velocities: npt.ArrayLike | None = None, scores: Sequence[float] | None = None, frame: str = "map",
         class_names: tuple[str, ...] = CLASSES) -> Boxes3D:
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(p)
    centers = np.concatenate([p, np.full((n, 1), 0.8)], axis=1)
    vel = np.full((n, 3), np.nan) if velocities is None else np.asarray(velocities, dtype=np.float64).reshape(n, -1)
    if vel.shape[1] == 2:
        vel = np.concatenate([vel, np.zeros((n, 1))], axis=1)
    return Boxes3D(stamp_ns, frame, "detector", centers, np.tile([4.0, 1.8, 1.6], (n, 1)), np.zeros(n),
                   np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64), class_names,
                   scores=np.full(n, 0.9) if scores is None else np.asarray(scores), velocities=vel)


def constant_velocity_run(rng: np.random.Generator, starts: npt.NDArray[np.float64], vels: npt.NDArray[np.float64],
                          n_frames: int, noise: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """True positions (F, T, 2) and noisy measurements (F, T, 2) of targets moving at constant velocity."""
    t = np.arange(n_frames)[:, None, None] * DT_NS * 1e-9
    truth = starts[None] + vels[None] * t
    return truth, truth + rng.normal(0.0, noise, truth.shape)


STARTS = np.array([[0.0, 0.0], [20.0, 15.0], [-25.0, 30.0], [40.0, -30.0], [-40.0, -40.0], [10.0, 50.0]])
VELS = np.array([[10.0, 0.0], [0.0, -5.0], [3.0, 4.0], [-8.0, 2.0], [0.0, 0.0], [1.2, -1.0]])


def track_targets(tracker: MultiObjectTracker, truth: npt.NDArray[np.float64], vels: npt.NDArray[np.float64],
                  meas: npt.NDArray[np.float64], *, drop: Collection[tuple[int, int]] = (),
                  extra: Sequence[npt.NDArray[np.float64]] | None = None) -> list[dict[int, tuple[int, np.ndarray]]]:
    """Run ``tracker`` over measurements (F, T, 2), leaving out (frame, target) pairs in ``drop`` and appending
    the clutter points ``extra[f]``; per frame: target index -> (track id, velocity (2,)) of the output box
    on it. Boxes are matched one-to-one to the true targets (F, T, 2) by position and velocity (targets that
    cross share a position, not a velocity); every output box must be within 1 m of its target."""
    out = []
    for f in range(meas.shape[0]):
        keep = [i for i in range(meas.shape[1]) if (f, i) not in drop]
        pts = meas[f, keep]
        if extra is not None:
            pts = np.concatenate([pts, extra[f]])
        boxes = tracker.update(dets(T0 + f * DT_NS, pts))
        dist = np.linalg.norm(boxes.centers[:, None, :2] - truth[f][None], axis=2)
        cost = dist + 0.1 * np.linalg.norm(boxes.velocities[:, None, :2] - vels[None], axis=2)
        rows, cols = linear_sum_assignment(cost)
        assert len(rows) == len(boxes), f"frame {f}: more boxes than targets"
        assert (dist[rows, cols] < 1.0).all(), f"frame {f}: output boxes {boxes.centers[rows]} on no target"
        out.append({int(c): (int(boxes.track_ids[r]), np.asarray(boxes.velocities[r, :2], dtype=np.float64))
                    for r, c in zip(rows, cols)})
    return out


def ids_per_target(frames: list[dict[int, tuple[int, np.ndarray]]]) -> dict[int, set[int]]:
    ids: dict[int, set[int]] = defaultdict(set)
    for frame in frames:
        for i, (tid, _) in frame.items():
            ids[i].add(tid)
    return ids


# --- the Kalman filter by hand --------------------------------------------------------------------------------


def test_constant_velocity_model_by_hand() -> None:
    F, Q = constant_velocity_model(0.1, 2.0)
    np.testing.assert_allclose(F, np.array([[1, 0, 0.1, 0], [0, 1, 0, 0.1], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    q = 4.0
    np.testing.assert_allclose(Q, q * np.array([[0.001 / 3, 0, 0.005, 0], [0, 0.001 / 3, 0, 0.005],
                                                [0.005, 0, 0.1, 0], [0, 0.005, 0, 0.1]]))


def _hand_update(x: np.ndarray, P: np.ndarray, z: np.ndarray, H: np.ndarray, R: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return x + K @ (z - H @ x), (np.eye(4) - K @ H) @ P


def test_predict_update_equals_hand_computed_step() -> None:
    r, rv, v0, qn = 0.3, 0.5, 4.0, 1.5
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1, measurement_noise=r, velocity_noise=rv,
                             initial_velocity_std=v0, process_noise=qn)
    trk.update(dets(T0, [[1.0, 2.0]]))
    (born,) = trk.tracks
    np.testing.assert_allclose(born.state, [1.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(born.covariance, np.diag([r**2, r**2, v0**2, v0**2]))

    # step 1: dt = 0.1 s, position only (measurements exact in float32, as Boxes3D stores them)
    dt = 0.1
    F = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    G = np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    Q = qn**2 * np.kron(G, np.eye(2))
    x = F @ np.array([1.0, 2.0, 0.0, 0.0])
    P = F @ np.diag([r**2, r**2, v0**2, v0**2]) @ F.T + Q
    H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    x, P = _hand_update(x, P, np.array([1.5, 2.25]), H, r**2 * np.eye(2))
    trk.update(dets(T0 + 100_000_000, [[1.5, 2.25]]))
    (t1,) = trk.tracks
    np.testing.assert_allclose(t1.state, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t1.covariance, P, rtol=1e-10, atol=1e-12)
    assert (t1.hits, t1.misses, t1.age) == (2, 0, 2)

    # step 2: dt = 0.25 s, position and a measured velocity: one joint 4-D update by hand
    dt = 0.25
    F = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    G = np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    x = F @ x
    P = F @ P @ F.T + qn**2 * np.kron(G, np.eye(2))
    x, P = _hand_update(x, P, np.array([2.875, 2.5, 5.5, 1.0]), np.eye(4), np.diag([r**2, r**2, rv**2, rv**2]))
    trk.update(dets(T0 + 350_000_000, [[2.875, 2.5]], velocities=[[5.5, 1.0]]))
    (t2,) = trk.tracks
    np.testing.assert_allclose(t2.state, x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t2.covariance, P, rtol=1e-9, atol=1e-12)
    assert not t2.state.flags.writeable and not t2.covariance.flags.writeable


def test_new_track_takes_a_measured_velocity() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1, velocity_noise=0.4)
    out = trk.update(dets(T0, [[5.0, 1.0]], velocities=[[3.0, -1.0]]))
    np.testing.assert_allclose(out.velocities, [[3.0, -1.0, 0.0]])
    np.testing.assert_allclose(trk.tracks[0].covariance[2:, 2:], 0.16 * np.eye(2))


# --- synthetic targets -----------------------------------------------------------------------------------------


def test_velocity_rmse_beats_finite_differences_and_ids_are_stable() -> None:
    rng = np.random.default_rng(0)
    noise = 0.2
    truth, meas = constant_velocity_run(rng, STARTS, VELS, 80, noise)
    trk = MultiObjectTracker(class_names=CLASSES, measurement_noise=noise, process_noise=0.5)
    frames = track_targets(trk, truth, VELS, meas)
    # every target is output from its third frame on (min_hits=3) but for the odd gated-out outlier
    # (a 4-sigma measurement: the track coasts through it), always under the same id, ids distinct
    shown = [len(frames[f]) for f in range(2, 80)]
    assert sum(shown) >= 0.98 * len(STARTS) * len(shown) and min(shown) >= len(STARTS) - 1
    ids = ids_per_target(frames)
    assert all(len(s) == 1 for s in ids.values()), ids
    assert len(set.union(*ids.values())) == len(STARTS)
    err = np.array([frames[f][i][1] - VELS[i] for f in range(20, 80) for i in frames[f]])
    rmse = float(np.sqrt((err**2).sum(axis=1).mean()))
    fd = (meas[20:] - meas[19:-1]) / (DT_NS * 1e-9) - VELS[None]
    rmse_fd = float(np.sqrt((fd**2).sum(axis=2).mean()))
    assert rmse_fd > 6.0  # 2-D: 2 * 0.2 m / 0.05 s
    assert rmse < 0.05 * rmse_fd, (rmse, rmse_fd)
    assert rmse < 0.35


def test_measured_velocities_lower_the_velocity_error() -> None:
    rng = np.random.default_rng(1)
    truth, meas = constant_velocity_run(rng, STARTS, VELS, 40, 0.2)
    radar_v = VELS[None] + rng.normal(0.0, 0.3, (40, *VELS.shape))

    def rmse(with_velocity: bool) -> float:
        trk = MultiObjectTracker(class_names=CLASSES, measurement_noise=0.2, velocity_noise=0.3)
        errs = []
        for f in range(40):
            out = trk.update(dets(T0 + f * DT_NS, meas[f], velocities=radar_v[f] if with_velocity else None))
            if f >= 10:
                for c, v in zip(out.centers, out.velocities):
                    i = int(np.argmin(np.hypot(*(truth[f] - c[:2]).T)))
                    errs.append(v[:2] - VELS[i])
        return float(np.sqrt((np.asarray(errs) ** 2).sum(axis=1).mean()))

    raw = float(np.sqrt(((radar_v[10:] - VELS[None]) ** 2).sum(axis=2).mean()))
    fused = rmse(True)
    assert fused < 0.75 * rmse(False) and fused < 0.9 * raw


def test_id_survives_missed_frames_and_coasting_is_not_output() -> None:
    rng = np.random.default_rng(2)
    truth, meas = constant_velocity_run(rng, STARTS, VELS, 40, 0.1)
    drop = {(20, 0), (21, 0), (22, 0), (25, 3)}
    trk = MultiObjectTracker(class_names=CLASSES, measurement_noise=0.1, max_misses=3)
    frames = track_targets(trk, truth, VELS, meas, drop=drop)
    assert all(len(s) == 1 for s in ids_per_target(frames).values())
    for f, i in drop:
        assert i not in frames[f]
    assert 0 in frames[23] and 3 in frames[26]


def test_coasted_tracks_are_output_when_asked_and_end_after_max_misses() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=2, max_misses=2, output_coasted=True)
    for f in range(5):
        out = trk.update(dets(T0 + f * DT_NS, [[0.5 * f, 0.0]]))
    score = float(out.scores[0])
    out = trk.update(dets(T0 + 5 * DT_NS, np.empty((0, 2))))
    assert len(out) == 1 and out.scores[0] < score
    assert out.centers[0, 0] == pytest.approx(2.5, abs=0.1)  # predicted at 10 m/s
    assert trk.tracks[0].misses == 1
    out = trk.update(dets(T0 + 6 * DT_NS, np.empty((0, 2))))
    assert len(out) == 1
    out = trk.update(dets(T0 + 7 * DT_NS, np.empty((0, 2))))
    assert len(out) == 0 and trk.tracks == ()


def test_false_alarms_seen_once_are_never_confirmed() -> None:
    rng = np.random.default_rng(3)
    truth, meas = constant_velocity_run(rng, STARTS, VELS, 40, 0.1)
    clutter = [rng.uniform(-150.0, 150.0, (4, 2)) for _ in range(40)]
    clutter = [c[np.min(np.hypot(*(c[:, None] - meas[f][None]).transpose(2, 0, 1)), axis=1) > 5.0]
               for f, c in enumerate(clutter)]
    trk = MultiObjectTracker(class_names=CLASSES, measurement_noise=0.1)
    frames = track_targets(trk, truth, VELS, meas, extra=clutter)  # asserts every output box is on a target
    assert all(len(s) == 1 for s in ids_per_target(frames).values())
    assert all(len(frames[f]) == len(STARTS) for f in range(2, 40))
    assert not any(t.confirmed for t in trk.tracks if np.min(np.hypot(*(meas[-1] - t.position).T)) > 5.0)


def test_two_targets_crossing_at_distinct_velocities_keep_their_ids() -> None:
    # both reach the origin at t = 2 s: A along +x at 6 m/s, B along +y at 4 m/s (same class)
    starts = np.array([[-12.0, 0.0], [0.0, -8.0]])
    vels = np.array([[6.0, 0.0], [0.0, 4.0]])
    for seed in range(5):
        truth, meas = constant_velocity_run(np.random.default_rng(seed), starts, vels, 80, 0.1)
        frames = track_targets(MultiObjectTracker(class_names=CLASSES, measurement_noise=0.1), truth, vels, meas)
        ids = ids_per_target(frames)
        assert all(len(s) == 1 for s in ids.values()) and ids[0] != ids[1], (seed, ids)


def test_head_on_targets_in_adjacent_lanes_keep_their_ids() -> None:
    starts = np.array([[-30.0, 1.75], [30.0, -1.75]])
    vels = np.array([[12.0, 0.0], [-12.0, 0.0]])
    truth, meas = constant_velocity_run(np.random.default_rng(7), starts, vels, 60, 0.2)
    frames = track_targets(MultiObjectTracker(class_names=CLASSES, measurement_noise=0.2), truth, vels, meas)
    ids = ids_per_target(frames)
    assert all(len(s) == 1 for s in ids.values()) and ids[0] != ids[1]


def test_min_hits_one_outputs_every_detection_from_the_first_frame() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1)
    out = trk.update(dets(T0, [[0.0, 0.0], [30.0, 0.0]], labels=[0, 1], scores=[0.8, 0.6]))
    assert len(out) == 2 and out.track_ids.tolist() == [0, 1]
    assert out.label_names() == ("car", "pedestrian")
    np.testing.assert_allclose(out.centers[:, :2], [[0.0, 0.0], [30.0, 0.0]])
    np.testing.assert_allclose(out.scores, [0.4, 0.3], rtol=1e-6)  # score * (1 - 0.5 ** hits)
    np.testing.assert_allclose(out.velocities, 0.0)
    assert out.frame_id == "map" and out.stamp_ns == T0 and out.sensor_id == "tracker"
    out = trk.update(dets(T0 + DT_NS, [[0.5, 0.0], [30.0, 0.1]], labels=[0, 1]))
    assert out.track_ids.tolist() == [0, 1]
    assert out.scores[0] > 0.6


def test_class_mismatch_penalty_and_strict_classes() -> None:
    # a car track whose detector calls it a truck for one frame keeps its id (class-agnostic with a penalty) ...
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1)
    for f, label in enumerate([0, 0, 0, 2, 0]):
        out = trk.update(dets(T0 + f * DT_NS, [[0.0, 0.0]], labels=[label]))
        assert out.track_ids.tolist() == [0] and out.label_names() == ("car",)
    # ... unless classes are strict; and a same-class detection wins over a closer other-class one
    strict = MultiObjectTracker(class_names=CLASSES, min_hits=1, class_mismatch_cost=float("inf"))
    strict.update(dets(T0, [[0.0, 0.0]], labels=[0]))
    out = strict.update(dets(T0 + DT_NS, [[0.0, 0.0]], labels=[2]))
    assert out.track_ids.tolist() == [1]
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1, measurement_noise=0.5)
    trk.update(dets(T0, [[0.0, 0.0]], labels=[0]))
    out = trk.update(dets(T0 + DT_NS, [[0.1, 0.0], [-0.3, 0.0]], labels=[1, 0]))
    assert dict(zip(out.track_ids.tolist(), out.label_names())) == {0: "car", 1: "pedestrian"}
    assert out.centers[0, 0] < 0.0


def test_detections_are_mapped_onto_the_tracker_classes_by_name() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1)
    out = trk.update(dets(T0, [[1.0, 1.0]], labels=[1], class_names=("truck", "car")))
    assert out.label_names() == ("car",) and out.class_names == CLASSES
    with pytest.raises(AlignmentError, match="bus"):
        trk.update(dets(T0 + DT_NS, [[1.0, 1.0]], labels=[0], class_names=("bus",)))


def test_low_score_detections_update_but_do_not_start_tracks() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1, min_birth_score=0.5)
    assert len(trk.update(dets(T0, [[0.0, 0.0], [20.0, 0.0]], scores=[0.9, 0.3]))) == 1
    out = trk.update(dets(T0 + DT_NS, [[0.0, 0.0]], scores=[0.2]))
    assert out.track_ids.tolist() == [0]


def test_stamp_going_backwards_frame_change_and_bad_options_raise() -> None:
    trk = MultiObjectTracker(class_names=CLASSES)
    trk.update(dets(T0, [[0.0, 0.0]]))
    trk.update(dets(T0, [[0.0, 0.0]]))  # equal stamps are fine
    with pytest.raises(AlignmentError, match="backwards") as err:
        trk.update(dets(T0 - 1, [[0.0, 0.0]]))
    assert err.value.field == "detections.stamp_ns"
    with pytest.raises(AlignmentError, match="odom") as err:
        trk.update(dets(T0 + DT_NS, [[0.0, 0.0]], frame="odom"))
    assert err.value.field == "detections.frame_id"
    trk.reset()
    assert trk.tracks == () and trk.stamp_ns is None
    out = trk.update(dets(T0 - 10 * DT_NS, [[0.0, 0.0]], frame="odom"))  # after reset anything goes
    assert out.frame_id == "odom"
    for kwargs in ({"min_hits": 0}, {"gate_m": -1.0}, {"measurement_noise": 0.0}, {"box_smoothing": 1.5},
                   {"class_mismatch_cost": float("nan")}, {"max_misses": -1}, {"class_names": ("a", "a")}):
        with pytest.raises(AlignmentError):
            MultiObjectTracker(**{"class_names": CLASSES, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(AlignmentError):
        trk.update(np.zeros((1, 7)))  # type: ignore[arg-type]


def test_box_attributes_are_smoothed_and_tracks_are_snapshots() -> None:
    trk = MultiObjectTracker(class_names=CLASSES, min_hits=1, box_smoothing=0.5)
    b0 = Boxes3D(T0, "map", "d", np.array([[0.0, 0.0, 1.0]]), np.array([[4.0, 2.0, 1.5]]), np.array([0.0]),
                 np.array([0]), CLASSES, scores=np.array([1.0]))
    b1 = Boxes3D(T0 + DT_NS, "map", "d", np.array([[0.0, 0.0, 2.0]]), np.array([[5.0, 2.0, 1.5]]), np.array([0.2]),
                 np.array([0]), CLASSES, scores=np.array([0.5]))
    trk.update(b0)
    before = trk.tracks[0]
    out = trk.update(b1)
    assert out.centers[0, 2] == pytest.approx(1.5)
    np.testing.assert_allclose(out.sizes[0], [4.5, 2.0, 1.5])
    assert out.yaws[0] == pytest.approx(0.1, abs=1e-6)
    assert out.scores[0] == pytest.approx(0.75 * 0.75)
    assert before.hits == 1 and trk.tracks[0].hits == 2
    assert isinstance(before, Track)


def test_update_of_fifty_tracks_is_fast() -> None:
    rng = np.random.default_rng(4)
    starts = np.stack(np.meshgrid(np.arange(10) * 12.0, np.arange(5) * 12.0), axis=-1).reshape(-1, 2)
    vels = rng.uniform(-10.0, 10.0, starts.shape)
    _, meas = constant_velocity_run(rng, starts, vels, 60, 0.1)
    trk = MultiObjectTracker(class_names=CLASSES, measurement_noise=0.1)
    for f in range(10):
        trk.update(dets(T0 + f * DT_NS, meas[f]))
    batches = [dets(T0 + f * DT_NS, meas[f]) for f in range(10, 60)]
    t = time.perf_counter()
    for b in batches:
        out = trk.update(b)
    ms = (time.perf_counter() - t) / len(batches) * 1e3
    assert len(out) == 50 and len(set(out.track_ids.tolist())) == 50
    assert ms < 25.0, f"{ms:.2f} ms per update"


# --- simulator ground truth -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_truth_in_map() -> list[Boxes3D]:
    """Ground truth of the built-in world (seed 3, 3 s) moved from the LiDAR frame into ``map`` with the ego pose
    (a LiDAR-only rig with a coarse LiDAR model: the boxes do not depend on it)."""
    from fusion_stack.calibration.rig import Rig
    from fusion_stack.sim.lidar import LidarModel
    from fusion_stack.sim.raycast import build_world
    from fusion_stack.sim.rig import default_rig
    from fusion_stack.sim.run import run_simulation
    from fusion_stack.sim.scene import make_scene
    from fusion_stack.sim.truth import GROUND_TRUTH_ID
    from fusion_stack.types import EgoPose

    full = default_rig()
    lidar = full.sensor("LIDAR_TOP")
    rig = Rig("lidar_only", full.base_frame, (lidar,),
              tuple(t for t in full.transforms if t.child == lidar.frame_id))
    lidar2base = rig.sensor2base("LIDAR_TOP")
    scene = make_scene(seed=3, duration_s=3.0)
    poses: dict[int, EgoPose] = {}
    truth: list[Boxes3D] = []
    # odometry at the LiDAR rate: every sweep stamp has its pose (errstate: the LiDAR model multiplies the
    # infinite range of rays that hit nothing)
    with np.errstate(invalid="ignore"):
        samples = list(run_simulation(scene, rig, world=build_world(scene), odometry_hz=20.0, with_tf=False,
                                      lidar=LidarModel(columns=60, elevations_deg=(-10.0, 0.0))))
    for s in samples:
        if isinstance(s.sample, EgoPose):
            poses[s.sample.stamp_ns] = s.sample
        elif isinstance(s.sample, Boxes3D) and s.sample.sensor_id == GROUND_TRUTH_ID:
            assert s.sample.frame_id == lidar.frame_id
            pose = poses[s.sample.stamp_ns]
            assert (pose.frame_id, pose.child_frame_id) == ("map", "base_link")
            truth.append(s.sample.transformed(pose.pose @ lidar2base, "map"))
    assert len(truth) == 60
    return truth


def test_simulated_truth_in_map_is_consistent(sim_truth_in_map: list[Boxes3D]) -> None:
    # in map, an object's position advances by its velocity (the frame chain is right)
    a, b = sim_truth_in_map[10], sim_truth_in_map[11]
    common, ia, ib = np.intersect1d(a.track_ids, b.track_ids, return_indices=True)
    assert len(common) > 20
    step = (b.centers[ib] - a.centers[ia])[:, :2] / 0.05
    v = 0.5 * (a.velocities[ia] + b.velocities[ib])[:, :2]
    np.testing.assert_allclose(step, v, atol=0.2)


def test_tracks_follow_simulated_truth_one_to_one(sim_truth_in_map: list[Boxes3D]) -> None:
    rng = np.random.default_rng(5)
    noise = 0.1
    trk = MultiObjectTracker(class_names=sim_truth_in_map[0].class_names, measurement_noise=noise)
    pairs: set[tuple[int, int]] = set()
    verr: list[float] = []
    seen: list[set[int]] = []
    expected = missing = 0
    for gt in sim_truth_in_map:
        jittered = Boxes3D(gt.stamp_ns, gt.frame_id, "jittered_truth",
                           gt.centers + rng.normal(0.0, noise, (len(gt), 3)), gt.sizes,
                           gt.yaws + rng.normal(0.0, 0.05, len(gt)), gt.labels, gt.class_names,
                           scores=np.full(len(gt), 0.9))  # velocities unknown (a LiDAR detector)
        out = trk.update(jittered)
        ages = {t.track_id: t.hits for t in trk.tracks}
        for c, tid, v in zip(out.centers, out.track_ids, out.velocities):
            d = np.linalg.norm(gt.centers - c, axis=1)
            i = int(np.argmin(d))
            assert d[i] < 0.5
            pairs.add((int(gt.track_ids[i]), int(tid)))
            if ages[int(tid)] >= 10:
                verr.append(float(np.linalg.norm(v[:2] - gt.velocities[i, :2])))
        # objects seen in the last three updates are output (min_hits=3), but for the odd gated-out outlier
        seen.append(set(gt.track_ids.tolist()))
        if len(seen) >= 3:
            due = seen[-1] & seen[-2] & seen[-3]
            shown = {g for g, t in pairs if t in set(out.track_ids.tolist())}
            expected += len(due)
            missing += len(due - shown)
    assert missing <= 0.02 * expected, (missing, expected)
    gt_ids = [g for g, _ in pairs]
    trk_ids = [t for _, t in pairs]
    assert len(set(gt_ids)) == len(gt_ids), "a ground-truth object got several track ids"
    assert len(set(trk_ids)) == len(trk_ids), "a track followed several ground-truth objects"
    assert set(gt_ids) == set(np.concatenate([g.track_ids for g in sim_truth_in_map]).tolist())
    assert np.mean(verr) < 0.4 and np.percentile(verr, 95) < 0.8, (np.mean(verr), np.percentile(verr, 95))


def test_yaw_follows_the_direction_of_travel_when_detections_flip_by_pi() -> None:
    tracker = MultiObjectTracker(class_names=CLASSES, min_hits=2)
    rng = np.random.default_rng(4)
    heading = np.deg2rad(30.0)
    v = 8.0 * np.array([np.cos(heading), np.sin(heading)])
    out = None
    for f in range(30):
        b = dets(T0 + f * DT_NS, v * f * DT_NS * 1e-9 + rng.normal(0, 0.05, 2))
        flipped = heading + (np.pi if f % 2 else 0.0)  # an L-shape fit cannot tell front from back
        b = Boxes3D(b.stamp_ns, b.frame_id, b.sensor_id, b.centers, b.sizes, [flipped], b.labels, b.class_names,
                    b.scores, b.velocities)
        out = tracker.update(b)
    assert out is not None and len(out) == 1
    assert abs(np.angle(np.exp(1j * (out.yaws[0] - heading)))) < np.deg2rad(3)
    static = MultiObjectTracker(class_names=CLASSES, min_hits=1, heading_speed_mps=np.inf)
    for f in range(5):
        out = static.update(dets(T0 + f * DT_NS, [[0.0, 0.0]]))
    assert out is not None and abs(out.yaws[0]) < 1e-9  # not moving: the detections' heading
