"""Simulator speed: wall time to simulate a drive on the default rig (LiDAR 20 Hz, six cameras 12 Hz, five
radars 13 Hz) and write it as an mcap bag, against the simulated duration.

Prints a line and writes JSON (``--out``). A warm-up run first compiles the numba kernels (cached on disk
afterwards), so the timed runs measure simulation only. Reports wall time and the process's CPU time (all
threads; on a shared, busy machine wall time grows while CPU time does not). ``--profile`` adds a profiled run
for per-stage times (the profiler slows the Python-heavy stages).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from fusion_stack.sim.simulate import simulate

STAGES = {"lidar": "simulate_sweep", "cameras": "render_cameras", "radar": "simulate_scan",
          "scene": "make_scene", "world": "build_world", "write": "write"}


def _stage_times(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile)
    out = dict.fromkeys(STAGES, 0.0)
    for (_, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for stage, fn in STAGES.items():
            if name == fn:
                out[stage] = max(out[stage], float(row[3]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sim.json"))
    parser.add_argument("--profile", action="store_true", help="also profile one run for per-stage times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        simulate(seed=args.seed, duration_s=0.3, out=Path(tmp) / "warmup")  # compile / load the kernels
        walls, cpus, sizes = [], [], []
        stages: dict[str, float] = {}
        for r in range(args.repeats):
            out = Path(tmp) / f"bag{r}"
            t0, c0 = time.perf_counter(), time.process_time()
            summary = simulate(seed=args.seed, duration_s=args.duration, out=out)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            sizes.append(sum(f.stat().st_size for f in out.iterdir()))
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            simulate(seed=args.seed, duration_s=args.duration, out=Path(tmp) / "profiled")
            prof.disable()
            stages = _stage_times(prof)
    wall = statistics.median(walls)
    cpu = statistics.median(cpus)
    row = {"duration_s": args.duration, "seed": args.seed, "wall_s": round(wall, 2),
           "x_real_time": round(wall / args.duration, 2), "cpu_s": round(cpu, 2),
           "load_average_1min": round(os.getloadavg()[0], 2), "bag_mb": round(sizes[0] / 1e6, 1),
           "messages": summary.sample_counts, "stage_wall_s_profiled": {k: round(v, 2) for k, v in stages.items()},
           "cpus": os.cpu_count()}
    print(f"{args.duration:.0f} s drive: {wall:.1f} s wall ({wall / args.duration:.2f} x real time), {cpu:.1f} s CPU, "
          f"bag {sizes[0] / 1e6:.0f} MB, load average {os.getloadavg()[0]:.1f}"
          + ("; profiled stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()) if stages else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "sim", "rows": [row]}, indent=1))


if __name__ == "__main__":
    main()
