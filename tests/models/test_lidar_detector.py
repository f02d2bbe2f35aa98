"""The classical LiDAR detector on simulated sweeps (recall, precision, classes against the ground truth; with and
without perfect camera paint), on the nuScenes keyframe and the KITTI frame, and its input checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fusion_stack.eval.detection_metrics import evaluate_detections
from fusion_stack.io.dataset_reader import GROUND_TRUTH_ID
from fusion_stack.models.lidar_detector import SIZE_PRIORS, LidarClusterDetector, SizePrior
from fusion_stack.sim.classes import BOX_CLASSES, SEMANTIC_CLASSES
from fusion_stack.sim.lidar import LidarTruth
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.sim.truth import BoxTruth
from fusion_stack.types import Boxes3D, PointCloud, SampleError

PAINT_CLASSES = ("background", *BOX_CLASSES)
SEM_TO_PAINT = np.array([PAINT_CLASSES.index(c) if c in PAINT_CLASSES else 0 for c in SEMANTIC_CLASSES])
NUSCENES_CLASSES = ("car", "truck", "bus", "trailer", "construction_vehicle", "pedestrian", "motorcycle", "bicycle",
                    "traffic_cone", "barrier")


@dataclass(frozen=True)
class Sweep:
    """One simulated sweep in base_link: points, per-point semantic class, ground-truth boxes and their counts."""

    points: np.ndarray
    semantic: np.ndarray
    boxes: Boxes3D
    num_lidar_pts: np.ndarray


@pytest.fixture(scope="module")
def rig_lidar_xy() -> tuple[float, float]:
    t = default_rig().sensor2base("LIDAR_TOP").translation
    return float(t[0]), float(t[1])


@pytest.fixture(scope="module")
def sweeps() -> list[Sweep]:
    """0.5 s (10 sweeps) of three seeded scenes, on a LiDAR-only copy of the default rig (no camera rendering)."""
    rig = default_rig()
    lidar_rig = dataclasses.replace(rig, sensors=tuple(s for s in rig.sensors if s.kind == "lidar"))
    lidar2base = rig.sensor2base("LIDAR_TOP")
    out = []
    for seed in (3, 7, 11):
        scene = make_scene(seed=seed, duration_s=0.5)
        last: tuple[np.ndarray, np.ndarray] | None = None
        for s in run_simulation(scene, lidar_rig, world=build_world(scene), with_tf=False):
            if isinstance(s.sample, PointCloud) and isinstance(s.truth, LidarTruth):
                last = (lidar2base.apply(s.sample.positions), s.truth.semantic)
            elif isinstance(s.sample, Boxes3D) and isinstance(s.truth, BoxTruth) and last is not None:
                out.append(Sweep(last[0], last[1], s.sample.transformed(lidar2base, "base_link"),
                                 s.truth.num_lidar_pts))
    return out


def _perfect_paint(semantic: np.ndarray) -> np.ndarray:
    paint = np.zeros((len(semantic), len(PAINT_CLASSES)), np.float32)
    paint[np.arange(len(semantic)), SEM_TO_PAINT[semantic]] = 1.0
    return paint


def _match(gt_xy: np.ndarray, det_xy: np.ndarray, scores: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    """Class-agnostic greedy matching by descending score at ``threshold`` m BEV centre distance (as nuScenes):
    the ground-truth index of each detection, -1 where none."""
    out = np.full(len(det_xy), -1)
    used = np.zeros(len(gt_xy), bool)
    for i in np.argsort(-scores, kind="stable"):
        if not len(gt_xy):
            break
        d = np.hypot(gt_xy[:, 0] - det_xy[i, 0], gt_xy[:, 1] - det_xy[i, 1])
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] < threshold:
            out[i], used[j] = j, True
    return out


@dataclass
class SimStats:
    n_gt: int = 0
    hit: int = 0
    n_car: int = 0
    hit_car: int = 0
    n_det: int = 0
    tp_det: int = 0
    matched: int = 0
    matched_ok: int = 0
    matched_car: int = 0
    matched_car_ok: int = 0
    background_dets: int = 0

    def line(self) -> str:
        return (f"recall(>=20 pts) {self.hit / self.n_gt:.3f} ({self.hit}/{self.n_gt}), cars "
                f"{self.hit_car / self.n_car:.3f}; precision(score>=0.3) {self.tp_det / self.n_det:.3f} "
                f"({self.tp_det}/{self.n_det}); class accuracy {self.matched_ok / self.matched:.3f}, cars "
                f"{self.matched_car_ok / self.matched_car:.3f}; detections on background "
                f"{self.background_dets / self.n_det:.3f}")


def _sim_stats(sweeps: list[Sweep], detector: LidarClusterDetector, *, paint: bool) -> tuple[SimStats, list]:
    st = SimStats()
    frames = []
    car = BOX_CLASSES.index("car")
    for sw in sweeps:
        kw = {"paint": _perfect_paint(sw.semantic), "paint_classes": PAINT_CLASSES} if paint else {}
        res = detector.detect_details(sw.points, stamp_ns=sw.boxes.stamp_ns, frame_id="base_link", **kw)
        det = res.boxes
        gt_in = np.hypot(sw.boxes.centers[:, 0] - detector.sensor_xy[0],
                         sw.boxes.centers[:, 1] - detector.sensor_xy[1]) <= detector.max_range_m
        gt = sw.boxes.select(gt_in)
        n_pts = sw.num_lidar_pts[gt_in]
        m = _match(gt.centers[:, :2], det.centers[:, :2], det.scores)
        big = n_pts >= 20
        hit = np.zeros(len(gt), bool)
        hit[m[m >= 0]] = True
        st.n_gt += int(big.sum())
        st.hit += int((hit & big).sum())
        st.n_car += int((big & (gt.labels == car)).sum())
        st.hit_car += int((hit & big & (gt.labels == car)).sum())
        confident = det.scores >= 0.3
        st.n_det += int(confident.sum())
        st.tp_det += int((confident & (m >= 0)).sum())
        for i in np.flatnonzero(m >= 0):
            if big[m[i]]:
                st.matched += 1
                st.matched_ok += int(det.labels[i] == gt.labels[m[i]])
                if gt.labels[m[i]] == car:
                    st.matched_car += 1
                    st.matched_car_ok += int(det.labels[i] == car)
        for i in np.flatnonzero(confident):  # detections made of walls, trees, poles, road
            sem = sw.semantic[res.cluster == res.cluster_of_box[i]]
            st.background_dets += int(PAINT_CLASSES[SEM_TO_PAINT[np.bincount(sem).argmax()]] == "background")
        frames.append((gt.select(big), det))
    return st, frames


def test_simulated_sweeps_without_paint(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    """Classes from size and shape alone: most objects found, cars recognised, some walls and trees detected."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    st, frames = _sim_stats(sweeps, det, paint=False)
    metrics = evaluate_detections(frames, class_names=("car", "truck", "bus", "pedestrian"))
    print(f"\nsim, no paint ({len(sweeps)} sweeps): {st.line()}; mAP(car, truck, bus, ped) {metrics.mean_ap:.3f}, "
          f"car AP {metrics.per_class['car'].mean_ap:.3f}")
    assert st.n_gt > 150
    assert st.hit / st.n_gt > 0.85
    assert st.hit_car / st.n_car > 0.9
    assert st.tp_det / st.n_det > 0.5
    assert st.matched_car_ok / st.matched_car > 0.9
    assert st.matched_ok / st.matched > 0.85
    assert metrics.per_class["car"].mean_ap > 0.5


def test_perfect_paint_improves_classes_and_precision(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]
                                                      ) -> None:
    """One-hot paint from the simulator's labels: classes become right and walls, trees and poles disappear."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    shape, _ = _sim_stats(sweeps, det, paint=False)
    painted, frames = _sim_stats(sweeps, det, paint=True)
    metrics = evaluate_detections(frames, class_names=("car", "truck", "bus", "pedestrian"))
    print(f"\nsim, perfect paint: {painted.line()}; mAP {metrics.mean_ap:.3f}")
    assert painted.matched_ok / painted.matched >= max(shape.matched_ok / shape.matched, 0.97)
    assert painted.tp_det / painted.n_det > shape.tp_det / shape.n_det + 0.1
    assert painted.background_dets / painted.n_det < 0.02 < shape.background_dets / shape.n_det
    assert painted.hit / painted.n_gt >= shape.hit / shape.n_gt - 0.02


def test_unpainted_rows_carry_no_evidence(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    """Rows with ``painted`` False are ignored whatever they hold: all unpainted == no paint, exactly."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    sw = sweeps[4]
    plain = det.detect(sw.points, stamp_ns=1, frame_id="base_link")
    garbage = np.full((len(sw.points), 3), np.nan, np.float32)
    none = det.detect(sw.points, stamp_ns=1, frame_id="base_link", paint=garbage, paint_classes=("a", "car", "b"),
                      painted=np.zeros(len(sw.points), bool))
    np.testing.assert_array_equal(plain.as_array(), none.as_array())
    np.testing.assert_array_equal(plain.scores, none.scores)
    # half painted (the front half, as cameras that see forward only): still better than no paint on the front
    paint = _perfect_paint(sw.semantic)
    front = sw.points[:, 0] > 0
    half = det.detect(sw.points, stamp_ns=1, frame_id="base_link", paint=paint, paint_classes=PAINT_CLASSES,
                      painted=front)
    assert len(half) <= len(plain)


def test_box_geometry_on_simulated_cars(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    """Matched cars (>= 50 points): centre, bottom on the ground, yaw (modulo pi) and length near the truth."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    centre, bottom, yaw, length = [], [], [], []
    car = BOX_CLASSES.index("car")
    for sw in sweeps:
        b = det.detect(sw.points, stamp_ns=0, frame_id="base_link")
        m = _match(sw.boxes.centers[:, :2], b.centers[:, :2], b.scores)
        for i in np.flatnonzero(m >= 0):
            g = m[i]
            if sw.boxes.labels[g] != car or sw.num_lidar_pts[g] < 50 or b.labels[i] != car:
                continue
            gb, db = sw.boxes.as_array()[g], b.as_array()[i]
            centre.append(np.hypot(*(gb[:2] - db[:2])))
            bottom.append((db[2] - db[5] / 2) - (gb[2] - gb[5] / 2))
            yaw.append(abs((db[6] - gb[6] + np.pi / 2) % np.pi - np.pi / 2))
            length.append(db[3] - gb[3])
    print(f"\nsim cars: {len(centre)} matched, centre error median {np.median(centre):.2f} m, bottom error median "
          f"{np.median(np.abs(bottom)):.3f} m, yaw error median {np.rad2deg(np.median(yaw)):.1f} deg")
    assert len(centre) > 60
    assert np.median(centre) < 0.4
    assert np.median(np.abs(bottom)) < 0.1
    assert np.rad2deg(np.median(yaw)) < 3.0
    assert np.median(np.abs(length)) < 0.5


def test_unknown_ground_height(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    """The same sweep with the ground at z = 0 (base_link), -1.73 m (a KITTI-like LiDAR frame) or 5 m gives the
    same boxes, shifted."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    sw = sweeps[7]
    ref = det.detect(sw.points, stamp_ns=0, frame_id="base_link")
    assert len(ref) > 5
    for dz in (-1.73, 5.0):
        got = det.detect(sw.points + np.array([0.0, 0.0, dz]), stamp_ns=0, frame_id="base_link")
        assert len(got) == len(ref)
        expect = ref.as_array() + np.array([0, 0, dz, 0, 0, 0, 0])
        np.testing.assert_allclose(got.as_array(), expect, atol=2e-3)
        np.testing.assert_array_equal(got.labels, ref.labels)


def test_point_velocities(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    """Velocity points (radar detections appended to the cloud) give their box the median velocity and turn it
    to face it; they do not change the geometry; boxes without them keep NaN."""
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy)
    sw = sweeps[2]
    ref = det.detect(sw.points, stamp_ns=0, frame_id="base_link")
    assert np.isnan(ref.velocities).all()
    i = int(np.argmax((ref.labels == 0) * ref.scores))  # the best car
    box = ref.as_array()[i]
    heading = np.array([np.cos(box[6]), np.sin(box[6]), 0.0])
    speeds = np.array([-8.0, -7.5, -7.0, -30.0, -6.5])  # one outlier; median -7.5 along the heading: backwards
    vel_pts = box[:3] + np.outer(np.linspace(-1, 1, 5), heading)
    vels = np.outer(speeds, heading)
    far = np.array([[0.0, 80.0, 0.5], [300.0, 0.0, 0.5]])  # in no box (one out of range)
    pts = np.concatenate([sw.points, vel_pts, far])
    v = np.full((len(pts), 3), np.nan)
    v[len(sw.points):len(sw.points) + 5] = vels
    v[-2:] = [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]
    got = det.detect(pts, stamp_ns=0, frame_id="base_link", point_velocities=v)
    np.testing.assert_allclose(got.centers, ref.centers)
    np.testing.assert_allclose(got.sizes, ref.sizes)
    np.testing.assert_allclose(got.velocities[i], -7.5 * heading, atol=1e-6)
    assert np.isnan(np.delete(got.velocities, i, axis=0)).all()
    turned = (got.yaws[i] - ref.yaws[i]) % (2 * np.pi)
    assert turned == pytest.approx(np.pi, abs=1e-5)  # now facing its velocity
    assert np.cos(got.yaws[i] - np.arctan2(-heading[1], -heading[0])) > 0.999


def test_output_contract(sweeps: list[Sweep], rig_lidar_xy: tuple[float, float]) -> None:
    sw = sweeps[0]
    det = LidarClusterDetector(sensor_xy=rig_lidar_xy, min_score=0.0)
    b = det.detect(sw.points.astype(np.float32), stamp_ns=123, frame_id="base_link", sensor_id="LIDAR_TOP")
    assert (b.stamp_ns, b.frame_id, b.sensor_id, b.class_names) == (123, "base_link", "LIDAR_TOP", BOX_CLASSES)
    assert len(b) > 10 and (np.diff(b.scores) <= 0).all() and (b.scores >= 0).all() and (b.scores <= 1).all()
    assert (b.sizes > 0).all() and (np.abs(b.yaws) <= np.pi + 1e-6).all()
    assert (np.hypot(b.centers[:, 0] - rig_lidar_xy[0], b.centers[:, 1]) < det.max_range_m + 5).all()
    # a narrower class list and a custom prior
    only = LidarClusterDetector(sensor_xy=rig_lidar_xy, class_names=("pedestrian", "car", "kiosk"),
                                size_priors={"kiosk": SizePrior((1.5, 2.0, 3.0), (1.5, 2.0, 3.0), (2.2, 2.6, 3.0))})
    o = only.detect(sw.points, stamp_ns=0, frame_id="base_link")
    assert o.class_names == ("pedestrian", "car", "kiosk") and set(o.label_names()) <= {"pedestrian", "car", "kiosk"}
    assert "car" in o.label_names()
    empty = det.detect(np.zeros((0, 3)), stamp_ns=0, frame_id="base_link")
    assert len(empty) == 0 and empty.class_names == BOX_CLASSES
    far_only = det.detect(np.array([[500.0, 0.0, 0.0]]), stamp_ns=0, frame_id="base_link")
    assert len(far_only) == 0
    assert set(NUSCENES_CLASSES) <= set(SIZE_PRIORS)


@pytest.mark.real_data
def test_nuscenes_keyframe(shared_data: Path) -> None:
    """nuScenes v1.0-mini keyframe (LiDAR frame, ground ~1.8 m below): GT boxes with >= 20 LiDAR points within
    40 m matched (one-to-one, greedy by score) at 2 m."""
    from fusion_stack.io.nuscenes_dataset import open_nuscenes_info

    ds = open_nuscenes_info(shared_data / "nuscenes_keyframe" / "info.json")
    fs = ds.frame(0)
    cloud = fs.get("LIDAR_TOP")
    gt = fs.get(GROUND_TRUTH_ID)
    assert isinstance(cloud, PointCloud) and isinstance(gt, Boxes3D)
    n_pts = ds.box_extras(0)["num_lidar_pts"]
    det = LidarClusterDetector(class_names=NUSCENES_CLASSES)
    b = det.detect(cloud.positions, stamp_ns=cloud.stamp_ns, frame_id=cloud.frame_id)
    sel = (n_pts >= 20) & (np.hypot(gt.centers[:, 0], gt.centers[:, 1]) < 40)
    ref = gt.select(sel)
    m = _match(ref.centers[:, :2], b.centers[:, :2], b.scores)
    found = np.zeros(len(ref), bool)
    found[m[m >= 0]] = True
    same_class = sum(b.label_names()[i] == ref.label_names()[m[i]] for i in np.flatnonzero(m >= 0))
    print(f"\nnuScenes keyframe: {found.sum()}/{len(ref)} GT boxes (>= 20 pts, < 40 m) matched at 2 m "
          f"({', '.join(f'{n}:{int(f)}' for n, f in zip(ref.label_names(), found))}), {same_class} with the "
          f"right class; {len(b)} detections")
    assert len(ref) == 7
    assert found.sum() >= 5
    assert b.frame_id == "lidar_top" and b.class_names == NUSCENES_CLASSES
    car = np.flatnonzero(np.array(ref.label_names()) == "car")[0]
    i = np.flatnonzero(m == car)
    assert len(i) == 1 and b.label_names()[i[0]] == "car"
    # boxes stand on the real ground, 1.5-2.5 m below the sensor here
    assert abs((b.centers[i[0], 2] - b.sizes[i[0], 2] / 2) - (ref.centers[car, 2] - ref.sizes[car, 2] / 2)) < 0.3


@pytest.mark.real_data
def test_kitti_frame(shared_data: Path) -> None:
    """KITTI 000000 (velodyne frame, ground ~1.7 m below; HDL-64E, 0.4 deg rings): the labelled pedestrian."""
    from fusion_stack.io.kitti_dataset import open_kitti_object

    ds = open_kitti_object(shared_data / "kitti_object" / "training")
    fs = ds.frame(0)
    cloud, gt = fs.get("velodyne"), fs.get(GROUND_TRUTH_ID)
    assert isinstance(cloud, PointCloud) and isinstance(gt, Boxes3D)
    det = LidarClusterDetector(vertical_resolution_deg=0.4)
    b = det.detect(cloud.positions, stamp_ns=cloud.stamp_ns, frame_id=cloud.frame_id)
    d = np.hypot(*(b.centers[:, :2] - gt.centers[0, :2]).T)
    i = int(np.argmin(d))
    print(f"\nKITTI 000000: pedestrian matched at {d[i]:.2f} m as {b.label_names()[i]} (score {b.scores[i]:.2f}); "
          f"{len(b)} detections")
    assert d[i] < 1.0
    assert b.label_names()[i] == "pedestrian"
    assert abs(b.sizes[i, 2] - gt.sizes[0, 2]) < 0.3


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"points": np.zeros((5, 2))}, "points"),
    ({"points": np.zeros(9)}, "points"),
    ({"points": np.array([["a", "b", "c"]])}, "points"),
    ({"points": np.array([[0.0, 0.0, np.nan]])}, "points"),
    ({"stamp_ns": 1.5}, "stamp_ns"),
    ({"frame_id": ""}, "frame_id"),
    ({"sensor_id": None}, "sensor_id"),
    ({"paint": np.zeros((4, 2))}, "paint_classes"),
    ({"paint": np.zeros((4, 2)), "paint_classes": ("background", "car", "bus")}, "paint"),
    ({"paint": np.zeros((3, 2)), "paint_classes": ("background", "car")}, "paint"),
    ({"paint": np.full((4, 2), np.nan), "paint_classes": ("background", "car")}, "paint"),
    ({"paint": np.zeros((4, 2)), "paint_classes": ("car", "car")}, "paint_classes"),
    ({"paint": np.zeros((4, 2)), "paint_classes": ("background", "car"), "painted": np.ones(4)}, "painted"),
    ({"paint": np.zeros((4, 2)), "paint_classes": ("background", "car"), "painted": np.ones(3, bool)}, "painted"),
    ({"painted": np.ones(4, bool)}, "painted"),
    ({"point_velocities": np.zeros((4, 2))}, "point_velocities"),
    ({"point_velocities": np.zeros((3, 3))}, "point_velocities"),
])
def test_bad_detect_input(kwargs: dict, field: str) -> None:
    args = {"points": np.zeros((4, 3)), "stamp_ns": 0, "frame_id": "base_link", **kwargs}
    with pytest.raises(SampleError) as err:
        LidarClusterDetector().detect(**args)
    assert err.value.field == field
    assert field in str(err.value)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"class_names": ("car", "spaceship")}, "class_names"),
    ({"class_names": ()}, "class_names"),
    ({"class_names": ("car", "car")}, "class_names"),
    ({"max_range_m": 0.0}, "max_range_m"),
    ({"min_range_m": 70.0}, "min_range_m"),
    ({"cluster_eps_m": -1.0}, "cluster_eps_m"),
    ({"fit_method": "hough"}, "fit_method"),
    ({"sensor_xy": (1.0, 2.0, 3.0)}, "sensor_xy"),
    ({"min_cluster_points": 0}, "min_cluster_points"),
    ({"paint_weight": np.nan}, "paint_weight"),
])
def test_bad_options(kwargs: dict, field: str) -> None:
    with pytest.raises(SampleError) as err:
        LidarClusterDetector(**kwargs)
    assert err.value.field == field
