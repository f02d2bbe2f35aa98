"""CUDA-vs-CPU checks of the kernels under numba's CUDA simulator.

Not a test module.  ``test_kernel_cuda_simulator.py`` builds the cases and runs the CPU kernels in the pytest
process (:func:`run_all` with ``device="cpu"``), saves inputs and results to an ``.npz``, and runs this file
in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set before numba is imported); the
subprocess runs the same cases with ``device="cuda"`` and compares.  So the simulator process compiles no CPU
kernel.  It prints one JSON object ``{check: "ok" | error}``.  The simulator runs every CUDA thread as a Python
thread: the sizes here are small on purpose.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusion_stack import kernels
from fusion_stack.kernels import CameraParams

NEAR = 0.1
VOXEL_OPTIONS = {"voxel_size": (2.0, 2.0, 1.0), "range": (-4.0, -8.0, -2.0, 20.0, 8.0, 2.0),
                 "max_points_per_voxel": 5, "max_voxels": 60}
PILLAR_OPTIONS = {"voxel_size": (4.0, 4.0, 4.0), "range": (-4.0, -8.0, -2.0, 20.0, 8.0, 2.0),
                  "max_points_per_voxel": 32, "max_voxels": 100}
CHECKS = ("project", "depth_image", "gather", "voxelize")


def cameras() -> list[CameraParams]:
    """Small cameras of every model (few pixels: the depth-image kernels run one thread per pixel too)."""
    a = math.radians(20.0)
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    turn = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    return [
        CameraParams("pinhole", 40, 30, 30.0, 30.0, 20.0, 15.0, skew=0.5, rotation=rotation,
                     translation=(0.1, 0.2, 0.0)),
        CameraParams("radtan", 40, 30, 28.0, 29.0, 19.5, 14.5, distortion=(-0.3, 0.08, 1e-3, -2e-3, 0.0),
                     fold_limit=1.3, rotation=turn @ rotation),
        CameraParams("radtan", 36, 24, 25.0, 25.0, 18.0, 12.0,
                     distortion=(0.2, -0.05, 0.0, 0.001, 0.01, 0.1, 0.01, 0.001), rotation=rotation),
        CameraParams("fisheye", 40, 30, 12.0, 12.0, 20.0, 15.0, distortion=(0.05, -0.01, 0.002, -0.0005),
                     fold_limit=1.4, rotation=turn.T @ rotation),
    ]


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = np.empty((n, 4), dtype=np.float32)
    pts[:, 0] = rng.uniform(-5.0, 25.0, n)
    pts[:, 1] = rng.uniform(-10.0, 10.0, n)
    pts[:, 2] = rng.uniform(-2.0, 2.0, n)
    pts[:, 3] = rng.uniform(0.0, 1.0, n)
    pts[:5, :3] = [[np.nan, 0, 0], [np.inf, 1, 1], [0, 0, 0], [5, 0, 0], [5, 0, 0]]  # incl. an exact duplicate
    return pts


def build_cases() -> dict[str, np.ndarray]:
    """Inputs of every check, as named arrays."""
    rng = np.random.default_rng(2)
    uv = np.concatenate([rng.uniform(-2.0, 18.0, size=(60, 2)), [[np.nan, 1.0], [-0.5, -0.5], [15.49, 11.5]]])
    voxel_points = _points(400, 3)
    voxel_points[100:180, :3] = voxel_points[10, :3] + np.float32(0.01)  # a crowded voxel (beyond the cap)
    return {
        "project_points": _points(200, 0),
        "depth_points": _points(300, 1),
        "gather_image_u8": rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8),
        "gather_image_f32": rng.normal(size=(12, 16)).astype(np.float32),
        "gather_uv": uv.astype(np.float32),
        "voxel_points": voxel_points,
    }


def _host(value: Any) -> np.ndarray:
    return value.copy_to_host() if hasattr(value, "copy_to_host") else np.array(value)  # a copy


def run_all(cases: dict[str, np.ndarray], device: str, names: tuple[str, ...] = CHECKS) -> dict[str, np.ndarray]:
    """Run the checks' kernels on ``device``; results as named host arrays."""

    def to(array: np.ndarray) -> Any:
        """Where the inputs live: host arrays for the CPU run, device arrays for the CUDA run."""
        if device == "cpu":
            return array
        from numba import cuda

        return cuda.to_device(array)

    out: dict[str, np.ndarray] = {}
    cams = cameras()
    if "project" in names:
        proj = kernels.project_points(to(cases["project_points"]), cams, near=NEAR, device=device)
        assert proj.device == device
        out.update({"project_uv": _host(proj.uv), "project_depth": _host(proj.depth),
                    "project_valid": _host(proj.valid)})
        forced = kernels.project_points(cases["project_points"], cams[:1], near=NEAR, device=device)
        out["project_forced_uv"] = _host(forced.uv)  # host input, explicit device
        reused = kernels.project_points(to(cases["project_points"][::-1].copy()), cams, near=NEAR, device=device,
                                        out=proj)  # overwrite the first result's arrays
        assert reused is proj
        out["project_reused_uv"] = _host(reused.uv)
    if "depth_image" in names:
        depth = kernels.depth_image(to(cases["depth_points"]), cams, near=NEAR, device=device)
        assert depth.device == device
        for c in range(len(cams)):
            out[f"depth_{c}"] = _host(depth.depth[c])
            out[f"index_{c}"] = _host(depth.index[c])
    if "gather" in names:
        for key in ("gather_image_u8", "gather_image_f32"):
            for mode in ("nearest", "bilinear"):
                fill = 7 if mode == "nearest" else -1.5
                got = kernels.gather(to(cases[key]), to(cases["gather_uv"]), mode=mode, fill=fill, device=device)
                out[f"{key}_{mode}"] = _host(got)
    if "voxelize" in names:
        for tag, points, options in (("voxel", cases["voxel_points"], VOXEL_OPTIONS),
                                     ("pillar", cases["voxel_points"][:150], PILLAR_OPTIONS)):
            vox = kernels.voxelize(to(points), **options, device=device)
            assert vox.device == device
            out[f"{tag}_total"] = np.array(vox.total_voxels)
            for field in ("features", "num_points", "coords", "point_to_voxel"):
                out[f"{tag}_{field}"] = _host(getattr(vox, field))
    return out


def compare(name: str, cuda_out: dict[str, np.ndarray], cpu_out: dict[str, np.ndarray]) -> None:
    """Raise AssertionError unless every result of check ``name`` is identical (shape, dtype, values)."""
    prefixes = {"project": ("project_",), "depth_image": ("depth_", "index_"), "gather": ("gather_",),
                "voxelize": ("voxel_", "pillar_")}[name]
    keys = [k for k in cpu_out if k.startswith(prefixes)]
    if not keys:
        raise AssertionError(f"no CPU results for {name}")
    for key in keys:
        got, want = cuda_out[key], cpu_out[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise AssertionError(f"{key}: CUDA {got.shape} {got.dtype} vs CPU {want.shape} {want.dtype}")
        if not np.array_equal(got, want, equal_nan=got.dtype.kind == "f"):
            raise AssertionError(f"{key}: CUDA differs from CPU in {int((got != want).sum())} entries")
    if name == "depth_image" and not any((cpu_out[k] >= 0).sum() > 10 for k in keys if k.startswith("index_")):
        raise AssertionError("too few points landed in the depth images to compare")
    if name == "voxelize" and int(cpu_out["voxel_total"]) <= VOXEL_OPTIONS["max_voxels"]:
        raise AssertionError("the voxel case should exceed max_voxels")


def main(archive: Path, names: list[str]) -> int:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("run with NUMBA_ENABLE_CUDASIM=1")
    warnings.simplefilter("ignore")  # the simulator's NumPy-scalar overflow warnings and the like
    data = dict(np.load(archive))
    cases = {k[len("in:"):]: v for k, v in data.items() if k.startswith("in:")}
    cpu_out = {k[len("cpu:"):]: v for k, v in data.items() if k.startswith("cpu:")}
    results: dict[str, str] = {}
    for name in names or list(CHECKS):
        try:
            compare(name, run_all(cases, "cuda", (name,)), cpu_out)
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc(limit=8)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
