"""Per-sweep time of the classical LiDAR detector (:class:`fusion_stack.models.lidar_detector.LidarClusterDetector`)
on one core, stage by stage, side by side with plain NumPy/SciPy references of its two heavy stages.

Sweeps: simulated (the built-in world, default rig, ~30k points in ``base_link``) and, when the real data folder is
there (``$FUSION_STACK_SHARED_DATA``, default ``../shared/data``), the nuScenes keyframe (34,688 points, LiDAR
frame). Per sweep and stage, the median over ``--repeats`` of the process CPU time (robust to other processes on a
shared machine; the wall time is in the JSON too), numba JIT warmed up first, pinned to one CPU with one thread:

* ``ground``: :func:`fusion_stack.models.ground.segment_ground` (numba);
* ``cluster``: :func:`fusion_stack.models.clustering.euclidean_clusters` (numba) vs ``cluster_ref``:
  ``scipy.spatial.cKDTree.query_pairs`` + ``scipy.sparse.csgraph.connected_components`` on the same non-ground
  points (``same`` = identical partitions);
* ``fit``: :func:`fusion_stack.models.box_fitting.fit_rectangles` (L-shape, numba) vs ``fit_ref``: the same search
  vectorised over headings in NumPy, one cluster at a time (``yaw_agree`` = share of clusters whose headings
  agree within 0.5 deg; the rest are near-ties of the criterion on small or round clusters, summed in another
  order);
* ``detect``: the whole detector, and with perfect paint on simulated sweeps (``detect_paint``); ``ref_total``:
  ``detect`` with the two stages replaced by their references (what a NumPy/SciPy detector would take).

Run from the project root::

    python benchmarks/lidar_detector.py                 # 6 simulated sweeps + nuScenes, 15 repeats
    python benchmarks/lidar_detector.py --sweeps 2 --repeats 5 --out /tmp/l.json
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: before numpy and numba load

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fusion_stack.models.box_fitting import fit_rectangles  # noqa: E402
from fusion_stack.models.clustering import euclidean_clusters, euclidean_clusters_reference  # noqa: E402
from fusion_stack.models.ground import segment_ground  # noqa: E402
from fusion_stack.models.lidar_detector import LidarClusterDetector  # noqa: E402
from fusion_stack.sim.classes import BOX_CLASSES, SEMANTIC_CLASSES  # noqa: E402

PAINT_CLASSES = ("background", *BOX_CLASSES)
NUSCENES_CLASSES = ("car", "truck", "bus", "trailer", "construction_vehicle", "pedestrian", "motorcycle", "bicycle",
                    "traffic_cone", "barrier")


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds of ``fn`` (after one warm-up call)."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def _lshape_numpy(xy: np.ndarray, coarse_deg: float = 3.0, fine_deg: float = 0.25) -> float:
    """The closeness-criterion L-shape heading (Zhang et al. 2017) in NumPy, vectorised over headings."""
    xy = xy - xy.mean(axis=0)

    def scores(thetas: np.ndarray) -> np.ndarray:
        c, s = np.cos(thetas)[:, None], np.sin(thetas)[:, None]
        a = xy[:, 0] * c + xy[:, 1] * s
        b = -xy[:, 0] * s + xy[:, 1] * c
        da = np.minimum(a.max(1, keepdims=True) - a, a - a.min(1, keepdims=True))
        db = np.minimum(b.max(1, keepdims=True) - b, b - b.min(1, keepdims=True))
        return (1.0 / np.maximum(np.minimum(da, db), 0.01)).sum(1)

    n = int(np.ceil(90.0 / coarse_deg))
    coarse = np.arange(n) * (np.pi / 2) / n
    best = coarse[int(np.argmax(scores(coarse)))]
    step = (np.pi / 2) / n
    m = int(np.ceil(step / np.deg2rad(fine_deg)))
    fine = best + np.arange(-m, m + 1) * step / m
    return float(fine[int(np.argmax(scores(fine)))])


def _fit_reference(pts: np.ndarray, order: np.ndarray, offsets: np.ndarray, max_points: int = 1024) -> np.ndarray:
    out = np.empty(len(offsets) - 1)
    for k in range(len(offsets) - 1):
        idx = order[offsets[k]:offsets[k + 1]]
        stride = max(1, -(-len(idx) // max_points))
        out[k] = _lshape_numpy(pts[idx[::stride], :2]) if len(idx) >= 3 else 0.0
    return out


def _sim_sweeps(n: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    from fusion_stack.sim.lidar import LidarTruth
    from fusion_stack.sim.raycast import build_world
    from fusion_stack.sim.rig import default_rig
    from fusion_stack.sim.run import run_simulation
    from fusion_stack.sim.scene import make_scene
    from fusion_stack.types import PointCloud

    rig = default_rig()
    lidar_rig = dataclasses.replace(rig, sensors=tuple(s for s in rig.sensors if s.kind == "lidar"))
    lidar2base = rig.sensor2base("LIDAR_TOP")
    out: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for seed in (3, 7, 11):
        scene = make_scene(seed=seed, duration_s=0.25 * (n // 3 + 1))
        for s in run_simulation(scene, lidar_rig, world=build_world(scene), with_tf=False):
            every_5th = round(s.time_s * 20) % 5 == 0  # sweeps 0.25 s apart
            if isinstance(s.sample, PointCloud) and isinstance(s.truth, LidarTruth) and every_5th and len(out) < n:
                out.append((f"sim seed {seed} t={s.time_s:.2f}s", lidar2base.apply(s.sample.positions),
                            s.truth.semantic))
    return out


def _nuscenes() -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    data = Path(os.environ.get("FUSION_STACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    info = data / "nuscenes_keyframe" / "info.json"
    if not info.exists():
        return []
    from fusion_stack.io.nuscenes_dataset import open_nuscenes_info

    cloud = open_nuscenes_info(info).frame(0).get("LIDAR_TOP")
    return [("nuScenes keyframe", np.asarray(cloud.positions, dtype=np.float64), None)]  # type: ignore[union-attr]


def _measure(name: str, pts: np.ndarray, semantic: np.ndarray | None, repeats: int) -> dict[str, Any]:
    nus = semantic is None
    sensor_xy = (0.0, 0.0) if nus else (0.943, 0.0)
    det = LidarClusterDetector(sensor_xy=sensor_xy, class_names=NUSCENES_CLASSES if nus else BOX_CLASSES)
    rng = np.hypot(pts[:, 0] - sensor_xy[0], pts[:, 1] - sensor_xy[1])
    used = pts[(rng >= det.min_range_m) & (rng <= det.max_range_m)]
    ground = segment_ground(used, cell_size_m=det.ground_cell_m, max_slope=det.ground_max_slope,
                            height_threshold_m=det.ground_threshold_m)
    obj = used[~ground.is_ground & (ground.height <= det.max_height_m)]
    kw = {"eps_m": det.cluster_eps_m, "min_points": det.min_cluster_points, "z_scale": det.cluster_z_scale}
    clusters = euclidean_clusters(obj, **kw)
    ref = euclidean_clusters_reference(obj, **kw)
    same = bool(np.array_equal(clusters.labels, ref.labels))
    rects = fit_rectangles(obj, clusters.order, clusters.offsets)
    yaw_ref = _fit_reference(obj, clusters.order, clusters.offsets)
    dyaw = np.abs((rects[:, 4] - yaw_ref + np.pi / 4) % (np.pi / 2) - np.pi / 4)
    row: dict[str, Any] = {"sweep": name, "points": len(pts), "object_points": len(obj),
                           "clusters": clusters.num_clusters, "same_partition": same,
                           "max_dyaw_deg": float(np.rad2deg(dyaw.max(initial=0.0))),
                           "share_dyaw_below_0.5deg": float(np.mean(dyaw < np.deg2rad(0.5))) if len(dyaw) else 1.0}
    stages: dict[str, Callable[[], object]] = {
        "ground": lambda: segment_ground(used, cell_size_m=det.ground_cell_m, max_slope=det.ground_max_slope,
                                         height_threshold_m=det.ground_threshold_m),
        "cluster": lambda: euclidean_clusters(obj, **kw),
        "cluster_ref": lambda: euclidean_clusters_reference(obj, **kw),
        "fit": lambda: fit_rectangles(obj, clusters.order, clusters.offsets),
        "fit_ref": lambda: _fit_reference(obj, clusters.order, clusters.offsets),
        "detect": lambda: det.detect(pts, stamp_ns=0, frame_id="f"),
    }
    if semantic is not None:
        paint = np.zeros((len(pts), len(PAINT_CLASSES)), np.float32)
        to_paint = np.array([PAINT_CLASSES.index(c) if c in PAINT_CLASSES else 0 for c in SEMANTIC_CLASSES])
        paint[np.arange(len(pts)), to_paint[semantic]] = 1.0
        stages["detect_paint"] = lambda: det.detect(pts, stamp_ns=0, frame_id="f", paint=paint,
                                                    paint_classes=PAINT_CLASSES)
    for stage, fn in stages.items():
        reps = max(3, repeats // 3) if stage.endswith("_ref") else repeats
        row[f"{stage}_ms"], row[f"{stage}_wall_ms"] = _time(fn, reps)
    row["ref_total_ms"] = (row["detect_ms"] - row["cluster_ms"] - row["fit_ms"] + row["cluster_ref_ms"]
                           + row["fit_ref_ms"])
    row["speedup_vs_ref"] = row["ref_total_ms"] / row["detect_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", type=int, default=6, help="simulated sweeps (from three seeded scenes)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/lidar_detector.json"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sweeps = _sim_sweeps(args.sweeps) + _nuscenes()
    load_before = os.getloadavg()
    rows = [_measure(name, pts, sem, args.repeats) for name, pts, sem in sweeps]
    cols = {"points": "points", "clusters": "clusters", "ground_ms": "ground", "cluster_ms": "cluster",
            "cluster_ref_ms": "cluster_ref", "fit_ms": "fit", "fit_ref_ms": "fit_ref", "detect_ms": "detect",
            "detect_paint_ms": "w/ paint", "ref_total_ms": "ref_total", "speedup_vs_ref": "speedup",
            "share_dyaw_below_0.5deg": "yaw_agree", "same_partition": "same"}
    print(f"{'sweep (ms per sweep)':<22}" + "".join(f"{h:>12}" for h in cols.values()))
    for r in rows:
        cells = [f"{r[c]:>12.1f}" if isinstance(r.get(c), float) else f"{r.get(c, '-')!s:>12}" for c in cols]
        print(f"{r['sweep']:<22}" + "".join(cells))
    sim = [r for r in rows if r["sweep"].startswith("sim")]
    summary = {
        "sim_detect_ms_median": statistics.median(r["detect_ms"] for r in sim) if sim else None,
        "sim_ref_total_ms_median": statistics.median(r["ref_total_ms"] for r in sim) if sim else None,
        "nuscenes_detect_ms": next((r["detect_ms"] for r in rows if r["sweep"].startswith("nuScenes")), None),
    }
    print("summary (CPU ms per sweep, one core): " + ", ".join(
        f"{k} {v:.1f}" for k, v in summary.items() if v is not None))
    load = os.getloadavg()
    print(f"load average {load_before[0]:.2f} -> {load[0]:.2f} on {os.cpu_count()} CPUs (CPU times are per process)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "lidar_detector", "unit": "ms per sweep (median process CPU time; *_wall_ms wall clock)",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min": [load_before[0], load[0]], "threads": 1},
        "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
