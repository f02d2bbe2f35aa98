"""Benchmark of the point kernels: projection into 1 and 6 cameras, and voxelization.

For each size N and each of {1, 6} cameras x {pinhole, plumb_bob (5-coefficient distortion)} it times, in one
run and on the same points:

* ``kernel``: :func:`fusion_stack.kernels.project_points` (CPU, numba, all threads; outputs allocated per call)
  and the same kernel writing into preallocated outputs (``kernel_prealloc``);
* ``numpy``: the NumPy reference (:mod:`fusion_stack.kernels.reference`, float64);
* ``cv2``: ``cv2.projectPoints`` once per camera (uv only: no depth, no validity);
* ``torch``: a straightforward float32 torch implementation of the same math (CPU, same thread count);
* the memory roofline on the same bytes: ``copy`` = NumPy copy of a buffer of half the bytes (reads B/2, writes
  B/2), and ``stream`` = a numba parallel kernel that reads the same points and writes the same outputs with no
  arithmetic (preallocated, and allocating per call like the API); ``roofline`` = the best of copy and stream.

Bytes moved per call: ``B = N * 3 * 4`` (read the float32 points) ``+ C * N * (2 * 4 + 4 + 1)`` (write uv,
depth, valid).  GB/s = B / time.  Medians over repeats, JIT warmed up first.  The slow baselines use fewer
repeats at large N.  Voxelization (KITTI voxels and PointPillars pillars) is timed against the NumPy reference.
With a CUDA device (``numba.cuda.is_available()``) the CUDA kernels are timed against the device's measured
copy bandwidth on the same bytes; otherwise that part is skipped.

Run from the project root::

    python benchmarks/projection.py                      # 1e5, 1e6, 1e7 points (a few minutes on 2 cores)
    python benchmarks/projection.py --quick              # 1e5 points, fewer repeats
    python benchmarks/projection.py --sizes 1000000 --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numba
import numpy as np
import torch
from numba import njit, prange

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fusion_stack.kernels import CameraParams, project_points, voxelize  # noqa: E402
from fusion_stack.kernels.reference import project_points_reference, voxelize_reference  # noqa: E402

NEAR = 0.1
PLUMB_BOB = (-0.32, 0.11, 4e-4, -3e-4, -0.015)
#: Six cameras around a car, nuScenes-like: (yaw degrees in the LiDAR frame, focal length px).
RIG = ((0.0, 1266.0), (-55.0, 1260.0), (55.0, 1272.0), (180.0, 809.0), (110.0, 1256.0), (-110.0, 1259.0))
VOXEL_CONFIGS = {
    "voxels 0.05x0.05x0.1 (SECOND, KITTI)": {
        "voxel_size": (0.05, 0.05, 0.1), "range": (0.0, -40.0, -3.0, 70.4, 40.0, 1.0),
        "max_points_per_voxel": 5, "max_voxels": 40000,
    },
    "pillars 0.16x0.16 (PointPillars, KITTI)": {
        "voxel_size": (0.16, 0.16, 4.0), "range": (0.0, -39.68, -3.0, 69.12, 39.68, 1.0),
        "max_points_per_voxel": 32, "max_voxels": 40000,
    },
}


# ----------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------


def cameras(count: int, distorted: bool) -> list[CameraParams]:
    """``count`` cameras of the 6-camera rig (1600x900), pinhole or with plumb_bob distortion."""
    out = []
    lidar2optical = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    for yaw_deg, focal in RIG[:count]:
        a = math.radians(-yaw_deg)
        yaw = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
        out.append(CameraParams(
            "radtan" if distorted else "pinhole", 1600, 900, focal, focal, 800.0, 450.0,
            distortion=PLUMB_BOB if distorted else (), fold_limit=1.2 if distorted else math.inf,
            rotation=lidar2optical @ yaw, translation=(0.0, -0.3, 0.1),
        ))
    return out


def lidar_points(n: int, seed: int = 0, features: int = 0) -> np.ndarray:
    """(n, 3 + features) float32 LiDAR-like points: ranges 1 .. 100 m, mostly near the ground."""
    rng = np.random.default_rng(seed)
    azimuth = rng.uniform(-math.pi, math.pi, n)
    elevation = rng.uniform(math.radians(-25.0), math.radians(3.0), n)
    distance = np.exp(rng.uniform(0.0, math.log(100.0), n))
    pts = np.empty((n, 3 + features), dtype=np.float32)
    pts[:, 0] = distance * np.cos(elevation) * np.cos(azimuth)
    pts[:, 1] = distance * np.cos(elevation) * np.sin(azimuth)
    pts[:, 2] = distance * np.sin(elevation) + 1.8
    if features:
        pts[:, 3:] = rng.uniform(0.0, 1.0, size=(n, features))
    return pts


def bytes_moved(n: int, ncam: int) -> int:
    """Bytes read and written by one projection call (module docstring)."""
    return n * 3 * 4 + ncam * n * (2 * 4 + 4 + 1)


# ----------------------------------------------------------------------------------------------------
# Baselines
# ----------------------------------------------------------------------------------------------------


@njit(parallel=True, fastmath=False, cache=True)
def _stream(points: Any, uv: Any, depth: Any, valid: Any) -> None:
    """Read the points, write the outputs: the projection's memory traffic without its arithmetic."""
    n = points.shape[0]
    flat_uv = uv.reshape(-1)
    flat_depth = depth.reshape(-1)
    flat_valid = valid.reshape(-1)
    flat_points = points.reshape(-1)
    nchunks = (n + 4095) // 4096
    for ch in prange(nchunks):
        start = ch * 4096
        stop = min(n, start + 4096)
        for c in range(uv.shape[0]):
            out_uv = flat_uv[2 * (c * n + start) : 2 * (c * n + stop)]
            out_depth = flat_depth[c * n + start : c * n + stop]
            out_valid = flat_valid[c * n + start : c * n + stop]
            p = flat_points[3 * start : 3 * stop]
            for j in range(stop - start):
                out_uv[2 * j] = p[3 * j]
                out_uv[2 * j + 1] = p[3 * j + 1]
                out_depth[j] = p[3 * j + 2]
                out_valid[j] = p[3 * j + 2] > 0.0


@njit(parallel=True, cache=True)
def _touch(values: Any) -> None:
    """A parallel region with (almost) no work: its time is the cost of waking and joining the threads."""
    for i in prange(values.shape[0]):
        values[i] += 1.0


def parallel_overhead_ms(samples: int = 21) -> float:
    """Median time of an empty parallel region (ms): well under 0.1 ms on an idle machine; ~one scheduler
    time slice when another process keeps a core busy (numba's worker then waits for a core at the join)."""
    values = np.zeros(64)
    return 1e3 * median_seconds(lambda: _touch(values), samples)


def outputs(n: int, ncam: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.empty((ncam, n, 2), np.float32), np.empty((ncam, n), np.float32), np.empty((ncam, n), np.bool_))


def cv2_project(points: np.ndarray, cams: list[CameraParams]) -> list[np.ndarray]:
    """uv of every camera with cv2.projectPoints (OpenCV computes no depth or validity)."""
    result = []
    for cam in cams:
        rvec, _ = cv2.Rodrigues(cam.rotation)
        k = np.array([[cam.fx, cam.skew, cam.cx], [0.0, cam.fy, cam.cy], [0.0, 0.0, 1.0]])
        dist = np.array(cam.distortion[:5]) if cam.model == "radtan" else None
        uv, _ = cv2.projectPoints(points, rvec, cam.translation, k, dist)
        result.append(uv)
    return result


def torch_project(points: torch.Tensor, cams: list[CameraParams], near: float) -> list[tuple[torch.Tensor, ...]]:
    """The projection written the obvious way in torch (float32 throughout)."""
    result = []
    for cam in cams:
        rotation = torch.tensor(np.array(cam.rotation), dtype=torch.float32)
        translation = torch.tensor(np.array(cam.translation), dtype=torch.float32)
        p = points @ rotation.T + translation
        z = p[:, 2]
        a = p[:, 0] / z
        b = p[:, 1] / z
        inside = torch.ones_like(z, dtype=torch.bool)
        if cam.model == "radtan":
            k1, k2, p1, p2, k3 = cam.distortion[:5]
            s = a * a + b * b
            d = 1.0 + s * (k1 + s * (k2 + s * k3))
            xd = a * d + 2.0 * p1 * a * b + p2 * (s + 2.0 * a * a)
            yd = b * d + p1 * (s + 2.0 * b * b) + 2.0 * p2 * a * b
            inside = s < cam.fold_limit**2
        else:
            xd, yd = a, b
        u = cam.fx * xd + cam.skew * yd + cam.cx
        v = cam.fy * yd + cam.cy
        valid = (z > near) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height) & inside
        result.append((torch.stack([u, v], dim=1), z, valid))
    return result


# ----------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def round_robin(fns: dict[str, Callable[[], object]], repeats: dict[str, int]) -> dict[str, list[float]]:
    """Wall times of every ``fns[name]`` over ``repeats[name]`` calls, interleaved: each round calls every
    function once, so that noise from other processes on a shared machine hits all of them alike."""
    for name, fn in fns.items():  # warm-up (caches, allocator, JIT); not for the single-shot slow baselines
        if repeats[name] > 1:
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_index in range(max(repeats.values())):
        for name, fn in fns.items():
            if round_index < repeats[name]:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return times


def slow_repeats(n: int, repeats: int) -> int:
    """Fewer repeats for the slow baselines at large N."""
    if n >= 5_000_000:
        return 1
    if n >= 500_000:
        return max(1, min(repeats, 3))
    return repeats


def bench_projection(n: int, repeats: int) -> list[dict[str, Any]]:
    points = lidar_points(n)
    tensor = torch.from_numpy(points)
    rows = []
    for ncam in (1, 6):
        for distorted in (False, True):
            cams = cameras(ncam, distorted)
            nbytes = bytes_moved(n, ncam)
            out = project_points(points, cams, near=NEAR)
            stream_out = outputs(n, ncam)
            copy_src = np.ones(nbytes // 2 // 4, dtype=np.float32)
            copy_dst = np.zeros_like(copy_src)
            slow = slow_repeats(n, repeats)
            fns: dict[str, Callable[[], object]] = {
                "kernel": lambda cams=cams: project_points(points, cams, near=NEAR),
                "kernel_prealloc": lambda cams=cams, out=out: project_points(points, cams, near=NEAR, out=out),
                "stream": lambda so=stream_out: _stream(points, *so),
                "stream_alloc": lambda ncam=ncam: _stream(points, *outputs(n, ncam)),
                "copy": lambda s=copy_src, d=copy_dst: np.copyto(d, s),
                "numpy": lambda cams=cams: project_points_reference(points, cams, near=NEAR),
                "cv2": lambda cams=cams: cv2_project(points, cams),
                "torch": lambda cams=cams: torch_project(tensor, cams, NEAR),
            }
            counts = {name: (slow if name in ("numpy", "cv2", "torch") else repeats) for name in fns}
            samples = round_robin(fns, counts)
            del out, stream_out, copy_src, copy_dst
            t = {key: statistics.median(values) for key, values in samples.items()}
            gbps = {key: nbytes / value / 1e9 for key, value in t.items()}
            roofline = max(gbps["copy"], gbps["stream"])
            rows.append({
                "points": n,
                "cameras": ncam,
                "model": "plumb_bob" if distorted else "pinhole",
                "bytes_moved": nbytes,
                "seconds": t,
                "seconds_min": {key: min(values) for key, values in samples.items()},
                "repeats": counts,
                "gb_per_s": gbps,
                "mpoints_per_s": {key: n / value / 1e6 for key, value in t.items()},
                "roofline_gb_per_s": roofline,
                "kernel_fraction_of_roofline": gbps["kernel_prealloc"] / roofline,
                "kernel_api_fraction_of_stream_alloc": gbps["kernel"] / gbps["stream_alloc"],
                "speedup_vs_numpy": t["numpy"] / t["kernel"],
                "speedup_vs_cv2": t["cv2"] / t["kernel"],
                "speedup_vs_torch": t["torch"] / t["kernel"],
            })
            print_projection_row(rows[-1])
    return rows


def bench_voxelize(n: int, repeats: int) -> list[dict[str, Any]]:
    points = lidar_points(n, seed=1, features=1)
    rows = []
    for name, options in VOXEL_CONFIGS.items():
        samples = round_robin(
            {"kernel": lambda options=options: voxelize(points, **options),
             "numpy": lambda options=options: voxelize_reference(points, **options)},
            {"kernel": repeats, "numpy": slow_repeats(n, repeats)},
        )
        kernel, reference = statistics.median(samples["kernel"]), statistics.median(samples["numpy"])
        vox = voxelize(points, **options)
        rows.append({"points": n, "config": name, "kernel_s": kernel, "numpy_s": reference,
                     "speedup_vs_numpy": reference / kernel, "mpoints_per_s": n / kernel / 1e6,
                     "voxels": int(vox.features.shape[0]), "total_voxels": vox.total_voxels})
        r = rows[-1]
        print(f"  {n:>10,d}  {name:<40s} {kernel * 1e3:9.2f} ms {r['mpoints_per_s']:8.1f} Mpt/s  numpy "
              f"{reference * 1e3:9.1f} ms  x{r['speedup_vs_numpy']:6.1f}  "
              f"({r['voxels']} of {r['total_voxels']} voxels)")
    return rows


# ----------------------------------------------------------------------------------------------------
# CUDA
# ----------------------------------------------------------------------------------------------------


def bench_cuda(sizes: list[int], repeats: int) -> dict[str, Any]:
    from numba import cuda

    if not cuda.is_available():
        print("\nCUDA: skipped (numba.cuda.is_available() is False)")
        return {"skipped": "numba.cuda.is_available() is False"}
    simulator = bool(getattr(numba.config, "ENABLE_CUDASIM", 0))
    device = "CUDA simulator" if simulator else cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else str(device)
    print(f"\nCUDA on {device}{' (timings meaningless: simulator)' if simulator else ''}")

    def timed(fn: Callable[[], object]) -> float:
        def synced() -> None:
            fn()
            cuda.synchronize()

        return median_seconds(synced, repeats)

    rows = []
    for n in sizes:
        d_points = cuda.to_device(lidar_points(n))
        for ncam in (1, 6):
            for distorted in (False, True):
                cams = cameras(ncam, distorted)
                nbytes = bytes_moved(n, ncam)
                src = cuda.to_device(np.ones(nbytes // 2 // 4, dtype=np.float32))
                dst = cuda.device_array_like(src)
                kernel = timed(lambda cams=cams, d_points=d_points: project_points(d_points, cams, near=NEAR))
                copy = timed(lambda src=src, dst=dst: dst.copy_to_device(src))
                row = {"points": n, "cameras": ncam, "model": "plumb_bob" if distorted else "pinhole",
                       "kernel_s": kernel, "kernel_gb_per_s": nbytes / kernel / 1e9,
                       "copy_gb_per_s": nbytes / copy / 1e9, "fraction_of_copy": copy / kernel}
                rows.append(row)
                print(f"  {n:>10,d} {ncam} cam {row['model']:<9s} {kernel * 1e3:8.3f} ms "
                      f"{row['kernel_gb_per_s']:8.1f} GB/s  device copy {row['copy_gb_per_s']:8.1f} GB/s "
                      f"({row['fraction_of_copy']:.0%})")
        options = next(iter(VOXEL_CONFIGS.values()))
        vox_s = timed(lambda d_points=d_points, options=options: voxelize(d_points, **options))
        rows.append({"points": n, "voxelize_s": vox_s})
        print(f"  {n:>10,d} voxelize {vox_s * 1e3:8.3f} ms")
    return {"device": device, "simulator": simulator, "rows": rows}


# ----------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------

HEADER = (f"  {'points':>10s} {'cams':>4s} {'model':<9s} {'api ms':>8s} {'Mpt/s':>7s} {'GB/s':>6s} "
          f"{'prealloc':>8s} {'GB/s':>6s} {'roofline':>8s} {'%roof':>6s} {'x numpy':>8s} {'x cv2':>6s} "
          f"{'x torch':>7s}")


def print_projection_row(r: dict[str, Any]) -> None:
    g, t = r["gb_per_s"], r["seconds"]
    print(f"  {r['points']:>10,d} {r['cameras']:>4d} {r['model']:<9s} {t['kernel'] * 1e3:8.2f} "
          f"{r['mpoints_per_s']['kernel']:7.1f} {g['kernel']:6.2f} {t['kernel_prealloc'] * 1e3:8.2f} "
          f"{g['kernel_prealloc']:6.2f} {r['roofline_gb_per_s']:8.2f} {r['kernel_fraction_of_roofline']:6.0%} "
          f"{r['speedup_vs_numpy']:8.1f} {r['speedup_vs_cv2']:6.1f} {r['speedup_vs_torch']:7.1f}", flush=True)


def targets(rows: list[dict[str, Any]], statistic: str = "seconds") -> dict[str, Any]:
    """The performance targets at 1M points (or the size closest to it), from the median (``seconds``) or the
    minimum (``seconds_min``) times."""
    sizes = sorted({r["points"] for r in rows})
    n = min(sizes, key=lambda s: abs(math.log(s / 1e6)))

    def row(ncam: int, model: str) -> dict[str, float]:
        r = next(r for r in rows if r["points"] == n and r["cameras"] == ncam and r["model"] == model)
        t = r[statistic]
        roofline = r["bytes_moved"] / min(t["copy"], t["stream"])
        return {"kernel": t["kernel"], "fraction": r["bytes_moved"] / t["kernel_prealloc"] / roofline,
                "numpy": t["numpy"] / t["kernel"], "cv2": t["cv2"] / t["kernel"]}

    one, one_d, six, six_d = row(1, "pinhole"), row(1, "plumb_bob"), row(6, "pinhole"), row(6, "plumb_bob")
    return {
        "points": n,
        "statistic": statistic,
        "fraction_of_roofline_1cam_distorted": one_d["fraction"],
        "fraction_of_roofline_1cam_pinhole": one["fraction"],
        "speedup_vs_numpy_1cam_distorted": one_d["numpy"],
        "speedup_vs_cv2_1cam_distorted": one_d["cv2"],
        "six_over_one_camera_time_pinhole": six["kernel"] / one["kernel"],
        "six_over_one_camera_time_distorted": six_d["kernel"] / one_d["kernel"],
        "goals": {"fraction_of_roofline": 0.8, "speedup_vs_numpy": 10.0, "speedup_vs_cv2": 5.0,
                  "six_over_one_camera_time": "well under 6"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000],
                        help="numbers of points (default: 1e5 1e6 1e7)")
    parser.add_argument("--quick", action="store_true", help="1e5 points (unless --sizes is given), 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 7)")
    parser.add_argument("--threads", type=int, default=None,
                        help="numba and torch threads (default: numba's default, all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "projection.json",
                        help="JSON output path")
    args = parser.parse_args(argv)
    sizes = args.sizes
    if args.quick and "--sizes" not in (argv if argv is not None else sys.argv[1:]):
        sizes = [100_000]
    repeats = args.repeats or (3 if args.quick else 7)
    if args.threads:
        numba.set_num_threads(args.threads)
    torch.set_num_threads(numba.get_num_threads())
    # warm up the JIT (compiles, or loads from numba's cache)
    small = lidar_points(1000)
    for distorted in (False, True):
        project_points(small, cameras(6, distorted))
    _stream(small, *outputs(1000, 1))
    parallel_overhead_ms(1)
    voxelize(lidar_points(1000, features=1), **next(iter(VOXEL_CONFIGS.values())))
    load_before = os.getloadavg()
    overhead_before = parallel_overhead_ms()
    print(f"numba {numba.__version__} ({numba.threading_layer()} layer, {numba.get_num_threads()} threads), "
          f"numpy {np.__version__}, cv2 {cv2.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {os.cpu_count()} CPUs; load average {load_before[0]:.2f}; "
          f"empty parallel region {overhead_before:.3f} ms")
    if overhead_before > 0.5:
        print("WARNING: other processes are competing for the cores: every parallel region waits for a time slice, "
              "so the multi-threaded timings are inflated (try --threads 1, and compare the min columns in the JSON)")
    print("\nProjection (CPU), medians. GB/s = bytes moved (read N*12 + write C*N*13) / time. api = project_points "
          "(allocates its outputs); prealloc = the same with out= (preallocated outputs); roofline = best of a NumPy "
          "copy and a numba streaming kernel on the same bytes; %roof = prealloc / roofline; x = speed-up of api "
          "over the baseline.")
    print(HEADER)
    projection = [row for n in sizes for row in bench_projection(n, repeats)]
    print("\nVoxelization (CPU) vs the NumPy reference")
    voxel_rows = [row for n in sizes for row in bench_voxelize(n, repeats)]
    cuda_result = bench_cuda(sizes, repeats)
    summary = targets(projection)
    summary_min = targets(projection, statistic="seconds_min")
    load_after = os.getloadavg()
    overhead_after = parallel_overhead_ms()
    print(f"\nAt {summary['points']:,d} points: kernel / roofline {summary['fraction_of_roofline_1cam_distorted']:.0%} "
          f"(distorted), {summary['fraction_of_roofline_1cam_pinhole']:.0%} (pinhole); "
          f"x{summary['speedup_vs_numpy_1cam_distorted']:.1f} NumPy, x{summary['speedup_vs_cv2_1cam_distorted']:.1f} "
          f"cv2 (distorted); 6 cameras cost {summary['six_over_one_camera_time_pinhole']:.2f}x (pinhole) / "
          f"{summary['six_over_one_camera_time_distorted']:.2f}x (distorted) one camera.  "
          f"Load average {load_before[0]:.2f} -> {load_after[0]:.2f}, empty parallel region {overhead_before:.3f} -> "
          f"{overhead_after:.3f} ms.")
    print(f"Same from the minimum times: {summary_min['fraction_of_roofline_1cam_distorted']:.0%} (distorted), "
          f"{summary_min['fraction_of_roofline_1cam_pinhole']:.0%} (pinhole) of the roofline; "
          f"x{summary_min['speedup_vs_numpy_1cam_distorted']:.1f} NumPy, "
          f"x{summary_min['speedup_vs_cv2_1cam_distorted']:.1f} cv2; 6 cameras "
          f"{summary_min['six_over_one_camera_time_pinhole']:.2f}x / "
          f"{summary_min['six_over_one_camera_time_distorted']:.2f}x.")
    result = {
        "meta": {
            "python": platform.python_version(), "numba": numba.__version__, "numpy": np.__version__,
            "cv2": cv2.__version__, "torch": torch.__version__, "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(), "numba_threading_layer": numba.threading_layer(),
            "torch_threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "repeats": repeats, "statistic": "median",
            "load_average_before": load_before, "load_average_after": load_after,
            "empty_parallel_region_ms": [overhead_before, overhead_after],
        },
        "definitions": {
            "bytes_moved": "N*3*4 (read float32 points) + C*N*(2*4 + 4 + 1) (write uv, depth, valid)",
            "kernel": "project_points (outputs allocated per call)",
            "kernel_prealloc": "project_points(..., out=...) writing into preallocated outputs",
            "copy": "np.copyto of a float32 buffer of bytes_moved / 2 (reads and writes bytes_moved in total)",
            "stream": "numba parallel kernel reading the points and writing the same outputs, no arithmetic",
            "stream_alloc": "stream with outputs allocated per call",
            "roofline_gb_per_s": "max(copy, stream) GB/s",
            "kernel_fraction_of_roofline": "kernel_prealloc GB/s / roofline GB/s",
            "numpy": "NumPy reference, float64", "cv2": "cv2.projectPoints per camera (uv only)",
            "torch": "torch float32 implementation of the same math",
        },
        "projection": projection,
        "voxelize": voxel_rows,
        "cuda": cuda_result,
        "targets": summary,
        "targets_from_min": summary_min,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
