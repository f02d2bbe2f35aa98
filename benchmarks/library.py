"""Aligner-library benchmarks: numba DTW vs plain Python, Sinkhorn on 1k x 1k, kernel CCA exact vs Nyström.

Prints three tables and writes JSON (``--out``). Times are medians over ``--repeats`` (the exact kernel CCA
at n > 1000 runs once: it is the O(n^3) part this benchmark shows). Numbers on a shared machine are noisy;
compare the ratio and growth columns. ``--quick`` uses smaller sizes (a few seconds in all). ``--threads``
(default 1) caps torch's and the BLAS thread pools: on a small shared machine oversubscribed thread pools
make timings swing by 10x; ``--threads 0`` leaves the libraries' defaults.

    .venv/bin/python benchmarks/library.py [--quick] [--out benchmarks/results/library.json]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusion_stack.align.dtw import dtw
from fusion_stack.align.kernel_cca import KernelCCA
from fusion_stack.align.sinkhorn import sinkhorn, sinkhorn_torch


def _time(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _python_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook DP in plain Python loops (local costs precomputed with NumPy): the baseline."""
    local = np.abs(x[:, None] - y[None, :]).tolist()
    n, m = len(x), len(y)
    inf = math.inf
    prev = [inf] * (m + 1)
    prev[0] = 0.0
    for i in range(n):
        row = [inf] * (m + 1)
        li = local[i]
        for j in range(m):
            row[j + 1] = li[j] + min(prev[j], prev[j + 1], row[j])
        prev = row
        prev[0] = inf
    return prev[m]


def bench_dtw(lengths: list[int], repeats: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    dtw(np.zeros(3), np.zeros(3), metric="abs")
    first_call = time.perf_counter() - t0  # numba: compile, or load from the on-disk cache
    rows = []
    for n in lengths:
        x = np.cumsum(rng.standard_normal(n))
        y = np.cumsum(rng.standard_normal(n))
        fast = _time(functools.partial(dtw, x, y, metric="abs"), repeats)
        slow = _time(functools.partial(_python_dtw, x, y), max(1, repeats // 2))
        reference = _python_dtw(x, y)
        agree = abs(dtw(x, y, metric="abs").distance - reference) < 1e-9 * max(1.0, abs(reference))
        rows.append({"n": n, "numba_s": fast, "python_s": slow, "speedup": slow / fast, "agree": agree,
                     "first_call_s": first_call})
    return rows


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds over ``repeats`` calls, and the last call's result."""
    samples, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), out


def bench_sinkhorn(n: int, repeats: int, epsilon: float, rng: np.random.Generator) -> list[dict[str, Any]]:
    x, y = rng.random((n, 2)), rng.random((n, 2))
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    cost /= np.median(cost)
    runs: list[tuple[str, int, Callable[[], tuple[np.ndarray, int, bool]]]] = []

    def numpy_run() -> tuple[np.ndarray, int, bool]:
        res = sinkhorn(cost, epsilon=epsilon, n_iters=5000, tol=1e-6)
        return res.plan, res.n_iters, res.converged

    runs.append(("numpy float64", repeats, numpy_run))
    c = torch.tensor(cost, dtype=torch.float64)

    def torch_run() -> tuple[np.ndarray, int, bool]:
        # float64: on CPU, torch's float32 exp is ~5x slower than float64 for the strongly negative
        # exponents of small epsilon (measured with torch 2.13), so float32 is not shown here
        out = sinkhorn_torch(c, epsilon=epsilon, n_iters=5000, tol=1e-6)
        return out.plan.numpy(), out.n_iters, out.converged

    runs.append(("torch float64 (cpu)", repeats, torch_run))
    rows = []
    for name, reps, run in runs:
        secs, (plan, iters, converged) = _timed(run, reps)
        err = float(np.abs(plan.sum(1) - 1 / n).sum() + np.abs(plan.sum(0) - 1 / n).sum())
        rows.append({"impl": name, "n": n, "epsilon": epsilon, "seconds": secs, "repeats": reps,
                     "iterations": iters, "converged": converged, "marginal_l1_error": err,
                     "per_iter_ms": 1e3 * secs / iters})
    return rows


def _curved_views(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = rng.uniform(-2, 2, (n, 2))
    X = np.c_[z, rng.standard_normal((n, 3))] + 0.1 * rng.standard_normal((n, 5))
    Y = np.c_[z[:, :1] ** 2, np.cos(2 * z[:, 1]), rng.standard_normal((n, 2))]
    Y += 0.1 * rng.standard_normal((n, 4))
    return X, Y


def bench_kcca(
    sizes: list[int], landmarks: int, repeats: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        X, Y = _curved_views(n, rng)
        exact = KernelCCA(2, reg=1e-2)
        approx = KernelCCA(2, reg=1e-2, n_landmarks=landmarks, seed=0)
        exact_s = _time(functools.partial(exact.fit, X, Y), repeats if n <= 1000 else 1)
        approx_s = _time(functools.partial(approx.fit, X, Y), repeats)
        assert exact.correlations_ is not None and approx.correlations_ is not None
        rows.append({"n": n, "landmarks": landmarks, "exact_s": exact_s, "nystroem_s": approx_s,
                     "exact_rho": exact.correlations_.tolist(), "nystroem_rho": approx.correlations_.tolist(),
                     "max_abs_rho_diff": float(np.abs(exact.correlations_ - approx.correlations_).max())})
    for prev, row in itertools.pairwise(rows):
        scale = math.log(row["n"] / prev["n"])
        row["exact_growth_exponent"] = math.log(row["exact_s"] / prev["exact_s"]) / scale
        row["nystroem_growth_exponent"] = math.log(row["nystroem_s"] / prev["nystroem_s"]) / scale
    return rows


def _table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A right-aligned text table; ``columns`` are (key, label, format spec)."""
    cells = [[format(row[key], fmt) if key in row else "" for key, _, fmt in columns] for row in rows]
    widths = [max([len(label)] + [len(r[i]) for r in cells]) for i, (_, label, _) in enumerate(columns)]
    head = " | ".join(label.rjust(w) for (_, label, _), w in zip(columns, widths))
    body = [" | ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([title, head, "-" * len(head), *body])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds in all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/library.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads; 0: library defaults")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # comes with scikit-learn
        except ImportError:
            pass
        else:
            threadpool_limits(limits=args.threads)
    rng = np.random.default_rng(args.seed)
    repeats = 3 if args.quick else args.repeats
    dtw_lengths = [100, 200] if args.quick else [100, 250, 500, 1000]
    sink_n = 300 if args.quick else 1000
    kcca_sizes = [250, 500, 1000] if args.quick else [500, 1000, 2000, 4000]

    started = time.perf_counter()
    results: dict[str, Any] = {
        "dtw": bench_dtw(dtw_lengths, repeats, rng),
        "sinkhorn": bench_sinkhorn(sink_n, max(1, repeats // 2), epsilon=0.01, rng=rng),
        "kernel_cca": bench_kcca(kcca_sizes, landmarks=200, repeats=repeats, rng=rng),
    }
    results["meta"] = {
        "quick": args.quick, "repeats": repeats, "seconds_total": time.perf_counter() - started,
        "cpus": os.cpu_count(), "threads_arg": args.threads, "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "machine": platform.machine(),
    }
    print(_table("DTW (abs metric), N x N: numba vs plain Python DP", results["dtw"], [
        ("n", "N", "d"), ("numba_s", "numba [s]", ".2e"), ("python_s", "python [s]", ".2e"),
        ("speedup", "speedup", ".0f"), ("agree", "agree", "")]))
    print(f"(numba first call incl. compile / cache load: {results['dtw'][0]['first_call_s']:.2f} s)\n")
    print(_table(f"Sinkhorn, {sink_n} x {sink_n} squared distances / median, epsilon 0.01, tol 1e-6",
                 results["sinkhorn"], [
        ("impl", "implementation", "s"), ("seconds", "time [s]", ".3f"), ("iterations", "iterations", "d"),
        ("per_iter_ms", "ms / iter", ".2f"), ("marginal_l1_error", "marginal L1 err", ".1e"),
        ("converged", "converged", "")]))
    print()
    print(_table("Kernel CCA (RBF, 2 components, reg 1e-2): exact vs Nyström (200 landmarks)",
                 results["kernel_cca"], [
        ("n", "n", "d"), ("exact_s", "exact [s]", ".3f"), ("nystroem_s", "nystroem [s]", ".3f"),
        ("exact_growth_exponent", "exact ~n^k", ".2f"), ("nystroem_growth_exponent", "nystroem ~n^k", ".2f"),
        ("max_abs_rho_diff", "max |drho|", ".1e")]))
    print(f"\ntotal {results['meta']['seconds_total']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
