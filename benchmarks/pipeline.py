"""Per-stage latency of the five pipeline presets on a simulated drive, against the real-time budget.

The reference is the sensor clock: a pipeline keeps up when its per-frame time stays under the reference sensor's
period times the preset's reference stride (LiDAR 50 ms at 20 Hz, CAM_FRONT 83 ms at 12 Hz, radar 77 ms at
13 Hz); the real-time factor is data time over processing time (reading and decoding the bag, shared by all
pipelines, is reported apart). Each preset runs alone over the same bag (no cache shared between them),
``--repeats`` times; medians are reported.

    python benchmarks/pipeline.py --duration 10 --out benchmarks/results/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from fusion_stack.pipeline.config import load_config
from fusion_stack.pipeline.pipeline import FusionPipeline
from fusion_stack.pipeline.runner import open_source, run_pipelines
from fusion_stack.sim import simulate
from fusion_stack.sim.rig import SENSOR_RATES_HZ, default_rig

PRESETS = ("lidar_only", "camera_only", "radar_only", "data_level", "decision_level")
REFERENCE_KIND = {"lidar_only": "lidar", "camera_only": "camera", "radar_only": "radar", "data_level": "lidar",
                  "decision_level": "lidar"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, default=None, help="a simulated drive (default: simulate one)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to simulate (default 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline.json"))
    args = parser.parse_args(argv)
    rig = default_rig()
    with tempfile.TemporaryDirectory() as tmp:
        bag = args.bag
        if bag is None:
            bag = Path(tmp) / "drive.mcap"
            simulate(seed=args.seed, duration_s=args.duration, out=bag)
        rows: dict[str, Any] = {}
        for name in args.presets:
            runs = []
            for _ in range(args.repeats):
                source = open_source(bag, rig=rig)
                try:
                    pipe = FusionPipeline.from_config(load_config(name), rig)
                    summary = run_pipelines(source, [pipe])
                finally:
                    source.close()
                (p,) = summary.pipelines
                lat = p.stats.latency_table()
                runs.append({"realtime_factor": p.realtime_factor, "read_s": summary.read_s,
                             "p50_ms": lat["total"]["p50"], "p95_ms": lat["total"]["p95"],
                             "stages_p50_ms": {k: v["p50"] for k, v in lat.items() if k != "total"},
                             "frames": p.stats.frames,
                             "mean_ap": None if p.metrics is None else p.metrics.mean_ap,
                             "nds": None if p.metrics is None else p.metrics.nd_score})
            # one reference period per fused frame (times the stride: decision_level fuses every 2nd sweep)
            budget = 1e3 / SENSOR_RATES_HZ[REFERENCE_KIND[name]] * load_config(name).sync.reference_stride
            rows[name] = {
                "budget_ms": budget,
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p95_ms": statistics.median(r["p95_ms"] for r in runs),
                "realtime_factor": statistics.median(r["realtime_factor"] for r in runs),
                "read_s": statistics.median(r["read_s"] for r in runs),
                "stages_p50_ms": runs[-1]["stages_p50_ms"], "frames": runs[-1]["frames"],
                "mean_ap": runs[-1]["mean_ap"], "nds": runs[-1]["nds"],
            }
    print(f"{'pipeline':<16}{'frames':>7}{'budget ms':>11}{'p50 ms':>9}{'p95 ms':>9}{'x real time':>13}"
          f"{'mAP':>7}{'NDS':>7}  stages p50 ms")
    for name, r in rows.items():
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_p50_ms"].items())
        print(f"{name:<16}{r['frames']:>7}{r['budget_ms']:>11.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['realtime_factor']:>13.2f}{r['mean_ap'] or 0:>7.3f}{r['nds'] or 0:>7.3f}  {stages}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"cores": os.cpu_count(), "load": load,
                                                "python": sys.version.split()[0]},
                                    "duration_s": args.duration, "pipelines": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
