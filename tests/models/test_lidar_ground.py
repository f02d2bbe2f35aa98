"""Ground segmentation: synthetic flat, raised, sloped and rolling ground with objects on it, low outliers, and the
simulator's per-point semantic labels (road, sidewalk, terrain and lane markings are ground)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fusion_stack.models.ground import segment_ground
from fusion_stack.sim.classes import SEM
from fusion_stack.sim.lidar import LidarTruth
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.types import PointCloud, SampleError

GROUND_CLASSES = [SEM[c] for c in ("road", "sidewalk", "terrain", "lane_marking")]


def _scan(ground_z, rng: np.random.Generator, *, n_ground: int = 20000, noise: float = 0.02):
    """Ground points on z = ground_z(x, y) over a 60 m square ring around the origin, and four boxes of points
    (a car, a pedestrian, a wall, a bus) standing on it; returns points (N, 3) and is_object (N,)."""
    r = np.sqrt(rng.uniform(3.0**2, 45.0**2, n_ground))
    a = rng.uniform(-np.pi, np.pi, n_ground)
    x, y = r * np.cos(a), r * np.sin(a)
    ground = np.column_stack([x, y, ground_z(x, y) + rng.normal(0, noise, n_ground)])
    objects = []
    for cx, cy, lx, ly, z0, h in ((10, 4, 4.5, 1.8, 0.3, 1.5), (-6, -8, 0.6, 0.6, 0.0, 1.75),
                                  (20, -15, 12, 0.3, 0.0, 3.5), (-25, 10, 11, 2.5, 0.35, 3.2)):
        m = int(150 * lx * h)
        px = cx + rng.uniform(-lx / 2, lx / 2, m)
        py = cy + rng.uniform(-ly / 2, ly / 2, m)
        pz = ground_z(px, py) + rng.uniform(max(z0, 0.3), h, m)  # the lowest 0.3 m is within the threshold
        objects.append(np.column_stack([px, py, pz]))
    obj = np.concatenate(objects)
    return np.concatenate([ground, obj]), np.r_[np.zeros(len(ground), bool), np.ones(len(obj), bool)]


def _flat(z0: float):
    return lambda x, y: np.full(np.shape(x), z0)


def _sloped(x, y):
    return -1.0 + 0.06 * x + 0.03 * y  # a 6.7 % grade


def _rolling(x, y):
    return -1.73 + 0.4 * np.sin(x / 12.0) + 0.3 * np.cos(y / 9.0)  # slopes up to ~4.5 %


@pytest.mark.parametrize(("name", "surface"), [("flat_base_link", _flat(0.0)), ("flat_kitti", _flat(-1.73)),
                                               ("high", _flat(3.2)), ("sloped", _sloped), ("rolling", _rolling)])
def test_synthetic_ground(name: str, surface) -> None:
    rng = np.random.default_rng(len(name))
    pts, is_obj = _scan(surface, rng)
    seg = segment_ground(pts)
    assert seg.is_ground.shape == (len(pts),) and seg.height.dtype == np.float32
    ground_recall = seg.is_ground[~is_obj].mean()
    object_kept = (~seg.is_ground[is_obj]).mean()
    assert ground_recall > 0.995, name
    assert object_kept > 0.99, name
    # the surface follows the true ground where it is seen (and under the objects, from around them)
    q = rng.uniform(-44, 44, (3000, 2))
    q = q[(np.hypot(q[:, 0], q[:, 1]) > 4) & (np.hypot(q[:, 0], q[:, 1]) < 44)]  # where the ground was seen
    err = seg.height_at(q) - surface(q[:, 0], q[:, 1])
    assert np.abs(np.median(err)) < 0.03 and np.percentile(np.abs(err), 95) < 0.12, name
    # heights of the ground points are small
    assert np.percentile(np.abs(seg.height[~is_obj]), 99) < 0.1


def test_low_outliers_do_not_pull_the_ground_down() -> None:
    """A line of returns 1.3 m under the road (as KITTI frame 000000 has) and single deep outliers: the road next
    to them stays ground and a pedestrian standing 5 m away keeps its feet above the surface."""
    rng = np.random.default_rng(5)
    pts, is_obj = _scan(_flat(-1.6), rng)
    pit = np.column_stack([np.linspace(4.0, 5.2, 60), np.full(60, -7.0), np.full(60, -2.9)])
    deep = np.column_stack([rng.uniform(-30, 30, (20, 2)), rng.uniform(-4.5, -3.5, 20)])
    seg = segment_ground(np.concatenate([pts, pit, deep]))
    n = len(pts)
    assert seg.is_ground[:n][~is_obj].mean() > 0.995
    assert (~seg.is_ground[:n][is_obj]).mean() > 0.99
    assert abs(seg.height_at([[8.7, -1.9]])[0] + 1.6) < 0.05
    assert abs(seg.height_at([[4.6, -5.5]])[0] + 1.6) < 0.1  # right next to the pit


def test_lone_object_and_edge_cases() -> None:
    # no ground at all: the lowest point is the ground
    rng = np.random.default_rng(1)
    box = rng.uniform([0, 0, 0.5], [2, 2, 2.0], (500, 3))
    seg = segment_ground(box)
    assert seg.is_ground.sum() < 0.2 * len(box)
    assert segment_ground(np.zeros((0, 3))).is_ground.shape == (0,)
    one = segment_ground([[1.0, 2.0, 3.0]])
    assert one.is_ground.tolist() == [True]
    # a cloud spanning kilometres is cropped to the grid radius (no huge allocation), far points still answer
    far = np.concatenate([box, [[5000.0, 0.0, 0.0], [-3000.0, 2000.0, 1.0]]])
    seg = segment_ground(far, grid_radius_m=50.0)
    assert seg.surface.size < 1_000_000 and seg.is_ground.shape == (len(far),)


@pytest.mark.parametrize(("points", "field"), [(np.zeros((5, 2)), "points"), (np.zeros(6), "points"),
                                               (np.array([[0.0, 0.0, np.nan]]), "points"),
                                               (np.array([["a", "b", "c"]]), "points")])
def test_bad_points(points: np.ndarray, field: str) -> None:
    with pytest.raises(SampleError) as err:
        segment_ground(points)
    assert err.value.field == field


@pytest.mark.parametrize("option", ["cell_size_m", "max_slope", "height_threshold_m", "grid_radius_m"])
def test_bad_options(option: str) -> None:
    with pytest.raises(SampleError) as err:
        segment_ground(np.zeros((3, 3)), **{option: -1.0})
    assert err.value.field == option


@pytest.fixture(scope="module")
def sim_sweeps() -> list[tuple[np.ndarray, np.ndarray]]:
    """Two sweeps of each of two seeds in base_link with their semantic labels (a LiDAR-only rig: no cameras)."""
    rig = default_rig()
    lidar_rig = dataclasses.replace(rig, sensors=tuple(s for s in rig.sensors if s.kind == "lidar"))
    lidar2base = rig.sensor2base("LIDAR_TOP")
    out = []
    for seed in (3, 11):
        scene = make_scene(seed=seed, duration_s=0.2)
        for s in run_simulation(scene, lidar_rig, world=build_world(scene), with_tf=False):
            if isinstance(s.sample, PointCloud) and isinstance(s.truth, LidarTruth) and s.time_s in (0.0, 0.1):
                out.append((lidar2base.apply(s.sample.positions), s.truth.semantic))
    return out


def test_ground_matches_simulator_labels(sim_sweeps: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Precision and recall of the ground points against the simulator's semantic labels within 60 m (the
    misses are the bottom 0.2 m of walls, poles and tyres, which the height threshold calls ground)."""
    tp = fp = fn = obj_as_ground = n_obj = 0
    for pts, sem in sim_sweeps:
        keep = np.hypot(pts[:, 0], pts[:, 1]) < 60
        seg = segment_ground(pts[keep])
        truth = np.isin(sem[keep], GROUND_CLASSES)
        tp += np.count_nonzero(seg.is_ground & truth)
        fp += np.count_nonzero(seg.is_ground & ~truth)
        fn += np.count_nonzero(~seg.is_ground & truth)
        objects = sem[keep] >= SEM["car"]
        obj_as_ground += np.count_nonzero(seg.is_ground & objects)
        n_obj += np.count_nonzero(objects)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"sim ground: precision {precision:.4f} recall {recall:.4f} objects called ground "
          f"{obj_as_ground / n_obj:.4f} ({len(sim_sweeps)} sweeps)")
    assert recall > 0.995
    assert precision > 0.95
    assert obj_as_ground / n_obj < 0.05
