"""Deskew and sweep accumulation throughput (points/s), side by side with a per-point SE(3) reference.

Prints a table and writes JSON (``--out``). Medians over ``--repeats``; numbers on a shared machine are noisy,
so compare the ratio column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fusion_stack.align.deskew import accumulate_sweeps, deskew
from fusion_stack.align.pose_buffer import PoseBuffer
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.types import PointCloud

S = 1_000_000_000


def _scan(n: int, rng: np.random.Generator) -> tuple[PointCloud, PoseBuffer, SE3]:
    poses = PoseBuffer(fixed_frame="odom")
    for k in range(-100, 25):  # 200 Hz odometry from 0.5 s before the sweep
        t = k * 0.005
        poses.add(S + round(t * S), SE3(yaw_matrix(0.3 * t), [20.0 * t, 0.0, 0.0]))
    # a 10 Hz sensor firing in 1728 columns per sweep (VLP-32C-like timing): per-point stamps are quantised
    columns = rng.integers(0, 1728, n)
    offsets = (columns * (100_000_000 // 1728)).astype(np.int64)
    pts = rng.uniform(-50, 50, size=(n, 3)).astype(np.float32)
    return PointCloud(S, "lidar", "LIDAR", pts, {"time_offset_ns": offsets}), poses, SE3(np.eye(3), [1.0, 0, 1.8])


def _reference(cloud: PointCloud, poses: PoseBuffer, lidar2body: SE3) -> np.ndarray:
    """Per-point SE3 composition in Python (what a straightforward implementation does), on a subset."""
    target = (poses.pose_at(cloud.stamp_ns) @ lidar2body).inverse()
    out = np.empty((len(cloud), 3))
    for i, (p, dt) in enumerate(zip(cloud.positions, cloud.fields["time_offset_ns"])):
        out[i] = (target @ poses.pose_at(cloud.stamp_ns + int(dt)) @ lidar2body).apply(p.astype(np.float64))
    return out


def _time(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _measure(n: int, repeats: int, rng: np.random.Generator) -> dict[str, float]:
    cloud, poses, lidar2body = _scan(n, rng)
    t_deskew = _time(lambda: deskew(cloud, poses, sensor2body=lidar2body), repeats)
    sweeps = [PointCloud(S - k * 50_000_000, "lidar", "LIDAR", cloud.positions) for k in range(9, -1, -1)]
    t_acc = _time(lambda: accumulate_sweeps(sweeps, poses, sensor2body=lidar2body), repeats)
    m = 2000
    sub = PointCloud(cloud.stamp_ns, "lidar", "LIDAR", cloud.positions[:m],
                     {"time_offset_ns": cloud.fields["time_offset_ns"][:m]})
    ref = _reference(sub, poses, lidar2body)
    err = float(np.abs(deskew(sub, poses, sensor2body=lidar2body).positions - ref).max())
    t_ref = _time(lambda: _reference(sub, poses, lidar2body), 1) * n / m
    return {"points": n, "deskew_mpts_s": n / t_deskew / 1e6, "accumulate_10_sweeps_mpts_s": 10 * n / t_acc / 1e6,
            "reference_mpts_s": n / t_ref / 1e6, "speedup_vs_reference": t_ref / t_deskew, "max_abs_diff_m": err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/deskew.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = [_measure(n, args.repeats, rng) for n in args.points]
    print(f"{'points':>10} {'deskew Mpt/s':>13} {'accum Mpt/s':>12} {'ref Mpt/s':>10} {'speedup':>8} "
          f"{'max diff m':>11}")
    for r in rows:
        print(f"{r['points']:>10} {r['deskew_mpts_s']:>13.2f} {r['accumulate_10_sweeps_mpts_s']:>12.2f} "
              f"{r['reference_mpts_s']:>10.4f} {r['speedup_vs_reference']:>8.0f} {r['max_abs_diff_m']:>11.2e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "deskew", "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
