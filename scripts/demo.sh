#!/usr/bin/env bash
# Sets up .venv (see setup_env.sh) and runs the main job on the embedded defaults (no downloads, no GPU):
# `fusion-stack demo` simulates a short drive on the built-in nuScenes-like rig and replays it through the
# LiDAR-only, camera-only, radar-only, data-level and decision-level pipelines side by side; it prints the
# metrics and latency tables and writes OUT/ (annotated.mcap, pictures/, summary.json, report.txt, drive.mcap).
# Usage: scripts/demo.sh [OUT_DIR] [DURATION_S]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
out="${1:-out/demo}"
duration="${2:-10}"
.venv/bin/fusion-stack demo --out "$out" --duration "$duration"
