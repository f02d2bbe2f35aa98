"""Throughput of the synchronizer: samples per second pushed through it, per policy, on one core.

The rig: 1 LiDAR (20 Hz), 6 cameras (12 Hz) and 5 radars (13 Hz), each with its own phase, stamp jitter (1 ms)
and arrival latency (LiDAR 60 ms, cameras 30 ms, radars 10 ms, plus up to 5 ms jitter); the samples are pushed
offline in arrival order (a recording), then flushed. Two kinds of samples: a tiny frozen dataclass with
``sensor_id``/``stamp_ns``, and real :mod:`fusion_stack.types` objects (PointCloud, CameraImage, RadarScan) that
share one data buffer per kind; the run checks that every sample in every FrameSet is the pushed object and that
no point data was copied. Timings are medians over ``--repeats`` runs.

Side by side, on a shorter prefix (``--naive-duration-s``): a naive brute-force nearest search (every reference
scans every sample of every sensor), and a vectorised offline batch (numpy ``searchsorted``, all data in memory,
not streaming); both must produce the same groups as the ``nearest`` policy (``timeout_ns=None``).

    python benchmarks/sync.py --out benchmarks/results/sync.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusion_stack.align.synchronizer import Synchronizer
from fusion_stack.types import CameraImage, FrameSet, PointCloud, RadarScan

MS = 1_000_000
S = 1_000_000_000
LIDAR = "LIDAR_TOP"
CAMERAS = ("CAM_FRONT", "CAM_FRONT_LEFT", "CAM_FRONT_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
RADARS = ("RADAR_FRONT", "RADAR_FRONT_LEFT", "RADAR_FRONT_RIGHT", "RADAR_BACK_LEFT", "RADAR_BACK_RIGHT")
SENSORS = (LIDAR, *CAMERAS, *RADARS)
RATE_HZ = {LIDAR: 20.0, **dict.fromkeys(CAMERAS, 12.0), **dict.fromkeys(RADARS, 13.0)}
LATENCY_NS = {LIDAR: 60 * MS, **dict.fromkeys(CAMERAS, 30 * MS), **dict.fromkeys(RADARS, 10 * MS)}
WINDOWS_NS = {**dict.fromkeys(CAMERAS, 45 * MS), **dict.fromkeys(RADARS, 40 * MS)}
HOLD_NS = 100 * MS  # latest-value hold: any sample up to 100 ms old (longer than every period)
TIMEOUT_NS = 150 * MS


@dataclass(frozen=True, slots=True)
class Stamp:
    """The lightest sample the synchronizer accepts."""

    sensor_id: str
    stamp_ns: int


def make_stream(duration_s: float, seed: int) -> list[tuple[str, int]]:
    """(sensor, stamp_ns) in arrival order for ``duration_s`` seconds of the rig."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, str, int]] = []
    t0 = 1_700_000_000 * S
    for sensor in SENSORS:
        period = S / RATE_HZ[sensor]
        n = int(duration_s * RATE_HZ[sensor])
        stamps = t0 + rng.integers(0, int(period)) + (np.arange(n) * period).astype(np.int64)
        stamps += rng.integers(-MS, MS + 1, n)
        arrivals = stamps + LATENCY_NS[sensor] + rng.integers(0, 5 * MS, n)
        rows += [(int(a), sensor, int(t)) for a, t in zip(arrivals, stamps)]
    rows.sort()
    return [(sensor, t) for _, sensor, t in rows]


def light_samples(stream: Sequence[tuple[str, int]]) -> list[Any]:
    return [Stamp(sensor, t) for sensor, t in stream]


def real_samples(stream: Sequence[tuple[str, int]], points: int) -> tuple[list[Any], dict[str, np.ndarray]]:
    """Real typed samples sharing one buffer per kind (a PointCloud of ``points`` points, a 900x1600 RGB image,
    a radar scan of 64 detections)."""
    rng = np.random.default_rng(0)
    buffers: dict[str, np.ndarray] = {"positions": rng.normal(size=(points, 3)).astype(np.float32),
               "image": np.zeros((900, 1600, 3), np.uint8),
               "radar": rng.normal(size=(64, 3)).astype(np.float32)}
    vr, rcs = np.zeros(64, np.float32), np.zeros(64, np.float32)
    out: list[Any] = []
    for sensor, t in stream:
        if sensor == LIDAR:
            out.append(PointCloud(t, "lidar_top", sensor, buffers["positions"]))
        elif sensor in CAMERAS:
            out.append(CameraImage(t, sensor.lower() + "_optical", sensor, buffers["image"]))
        else:
            out.append(RadarScan(t, sensor.lower(), sensor, buffers["radar"], vr, rcs))
    return out, buffers


def make_sync(policy: str, *, timeout: bool = True) -> Synchronizer:
    if policy == "approximate_time":
        return Synchronizer(reference=LIDAR, sensors=SENSORS, policy="approximate_time", buffer_size=64)
    if policy == "latest":
        return Synchronizer(reference=LIDAR, sensors=SENSORS, policy="latest", windows_ns=HOLD_NS,
                            timeout_ns=TIMEOUT_NS, buffer_size=64)
    return Synchronizer(reference=LIDAR, sensors=SENSORS, policy="nearest", windows_ns=WINDOWS_NS,
                        timeout_ns=TIMEOUT_NS if timeout else None, buffer_size=64)


def run_sync(sync: Synchronizer, samples: Sequence[Any]) -> list[FrameSet]:
    """Push everything (offline), then flush; the groups."""
    push = sync.push
    groups: list[FrameSet] = []
    for sample in samples:
        out = push(sample)
        if out:
            groups += out
    groups += sync.flush()
    return groups


def run_policy(policy: str, samples: Sequence[Any]) -> tuple[Synchronizer, list[FrameSet]]:
    sync = make_sync(policy)
    return sync, run_sync(sync, samples)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU (this process) seconds over ``repeats`` calls, and the last result. On a shared
    machine the CPU time is the better measure of the work done on one core."""
    wall, cpu = [], []
    result = None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def naive_nearest(samples: Sequence[Any]) -> list[tuple[int, tuple[int, ...]]]:
    """Brute force: for every reference, scan every sample of every sensor for the nearest within the window."""
    by_sensor: dict[str, list[Any]] = {s: [] for s in SENSORS}
    for x in samples:
        by_sensor[x.sensor_id].append(x)
    out = []
    for ref in by_sensor[LIDAR]:
        t = ref.stamp_ns
        ids = [id(ref)]
        for sensor in SENSORS[1:]:
            best, best_key = None, None
            for x in by_sensor[sensor]:
                d = abs(x.stamp_ns - t)
                if d <= WINDOWS_NS[sensor] and (best_key is None or (d, x.stamp_ns) < best_key):
                    best, best_key = x, (d, x.stamp_ns)
            ids.append(id(best) if best is not None else 0)
        out.append((t, tuple(ids)))
    return out


def vectorized_nearest(samples: Sequence[Any]) -> list[tuple[int, tuple[int, ...]]]:
    """Offline batch: per sensor, sort the stamps once and ``searchsorted`` every reference stamp."""
    by_sensor: dict[str, list[Any]] = {s: [] for s in SENSORS}
    for x in samples:
        by_sensor[x.sensor_id].append(x)
    refs = by_sensor[LIDAR]
    ref_t = np.array([x.stamp_ns for x in refs], np.int64)
    columns = [[id(x) for x in refs]]
    for sensor in SENSORS[1:]:
        items = sorted(by_sensor[sensor], key=lambda x: x.stamp_ns)
        t = np.array([x.stamp_ns for x in items], np.int64)
        if len(t) == 0:
            columns.append([0] * len(refs))
            continue
        j = np.searchsorted(t, ref_t)  # first >= reference
        lo, hi = np.clip(j - 1, 0, len(t) - 1), np.clip(j, 0, len(t) - 1)
        dlo, dhi = np.abs(t[lo] - ref_t), np.abs(t[hi] - ref_t)
        pick = np.where(dhi < dlo, hi, lo)  # ties: the earlier
        ok = np.minimum(dlo, dhi) <= WINDOWS_NS[sensor]
        columns.append([id(items[k]) if good else 0 for k, good in zip(pick.tolist(), ok.tolist())])
    return [(int(t), ids) for t, ids in zip(ref_t.tolist(), zip(*columns))]


def as_ids(groups: Sequence[FrameSet]) -> list[tuple[int, tuple[int, ...]]]:
    return [(g.stamp_ns, tuple(id(g.samples[s]) if s in g.samples else 0 for s in SENSORS)) for g in groups]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=600.0, help="seconds of synthetic data (default 600)")
    parser.add_argument("--naive-duration-s", type=float, default=30.0,
                        help="seconds of data for the brute-force comparison (default 30)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case; the median is reported")
    parser.add_argument("--points", type=int, default=30_000, help="points per real PointCloud (shared buffer)")
    parser.add_argument("--policies", nargs="+", default=["nearest", "latest", "approximate_time"],
                        choices=["nearest", "latest", "approximate_time"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sync.json"))
    args = parser.parse_args(argv)

    stream = make_stream(args.duration_s, args.seed)
    kinds = {"light": light_samples(stream)}
    real, buffers = real_samples(stream, args.points)
    kinds["real"] = real
    rows: list[dict[str, Any]] = []
    for policy in args.policies:
        for kind, samples in kinds.items():
            seconds, cpu, (sync, groups) = timed(functools.partial(run_policy, policy, samples), args.repeats)
            st = sync.stats
            row: dict[str, Any] = {
                "case": f"{policy} ({kind})", "policy": policy, "kind": kind, "samples": len(samples),
                "median_s": seconds, "samples_per_s": len(samples) / seconds, "median_cpu_s": cpu,
                "samples_per_cpu_s": len(samples) / cpu, "groups": len(groups),
                "incomplete_groups": st.incomplete_groups, "dropped": st.dropped_total(),
                "max_buffered": max(st.buffered.values()),
            }
            if kind == "real":
                pushed = {id(x) for x in samples}
                row["zero_copy"] = bool(
                    all(id(x) in pushed for g in groups for x in g.samples.values())
                    and all(np.shares_memory(g.samples[LIDAR].positions, buffers["positions"]) for g in groups))
            rows.append(row)

    # the naive and vectorised references, on a prefix, against the nearest policy (no timeout: pure nearest)
    prefix = light_samples(make_stream(args.naive_duration_s, args.seed))
    ours_s, ours_cpu, ours = timed(lambda: run_sync(make_sync("nearest", timeout=False), prefix), args.repeats)
    naive_s, naive_cpu, naive = timed(lambda: naive_nearest(prefix), max(1, min(args.repeats, 3)))
    vec_s, vec_cpu, vec = timed(lambda: vectorized_nearest(prefix), args.repeats)
    agree = as_ids(ours) == naive == vec
    for case, seconds, cpu in (("nearest, streaming (prefix)", ours_s, ours_cpu),
                               ("naive brute force (prefix)", naive_s, naive_cpu),
                               ("vectorised offline batch (prefix)", vec_s, vec_cpu)):
        rows.append({"case": case, "policy": "nearest", "kind": "light", "samples": len(prefix),
                     "median_s": seconds, "samples_per_s": len(prefix) / seconds, "median_cpu_s": cpu,
                     "samples_per_cpu_s": len(prefix) / cpu, "groups": len(ours), "agrees_with_nearest": agree})

    print(f"{'case':<36} {'samples':>9} {'median s':>9} {'samples/s':>11} {'per CPU s':>11} {'groups':>7} "
          f"{'incompl.':>8} {'dropped':>8} {'notes'}")
    for r in rows:
        notes = []
        if "zero_copy" in r:
            notes.append(f"zero_copy={r['zero_copy']}")
        if "agrees_with_nearest" in r:
            notes.append(f"same groups={r['agrees_with_nearest']}")
        print(f"{r['case']:<36} {r['samples']:>9,} {r['median_s']:>9.3f} {r['samples_per_s']:>11,.0f} "
              f"{r['samples_per_cpu_s']:>11,.0f} {r['groups']:>7,} {r.get('incomplete_groups', ''):>8} "
              f"{r.get('dropped', ''):>8} {' '.join(notes)}")

    result = {
        "benchmark": "sync",
        "config": {"duration_s": args.duration_s, "naive_duration_s": args.naive_duration_s,
                   "repeats": args.repeats, "points": args.points, "seed": args.seed,
                   "rates_hz": RATE_HZ, "latency_ns": LATENCY_NS, "windows_ns": WINDOWS_NS,
                   "latest_windows_ns": HOLD_NS, "timeout_ns": TIMEOUT_NS, "buffer_size": 64},
        "python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.processor(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if agree and all(r.get("zero_copy", True) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
