"""CUDA kernels == CPU kernels, under numba's CUDA simulator.

The CPU results are computed here; the CUDA ones in a subprocess with NUMBA_ENABLE_CUDASIM=1 (it must be set
before numba is imported), which compares them (see ``cuda_simulator_checks.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cuda_simulator_checks import CHECKS, build_cases, run_all

SCRIPT = Path(__file__).with_name("cuda_simulator_checks.py")


@pytest.fixture(scope="module")
def simulator_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cases = build_cases()
    cpu = run_all(cases, "cpu")
    archive = tmp_path_factory.mktemp("cudasim") / "cases.npz"
    np.savez(archive, **{f"in:{k}": v for k, v in cases.items()}, **{f"cpu:{k}": v for k, v in cpu.items()})
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, str(SCRIPT), str(archive), *CHECKS], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, f"simulator run failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("check", CHECKS)
def test_cuda_equals_cpu_under_the_simulator(check: str, simulator_results: dict[str, str]) -> None:
    assert simulator_results[check] == "ok", simulator_results[check]
