#!/usr/bin/env bash
# Sets up .venv (see setup_env.sh) and runs the main job on the embedded defaults (no downloads, no GPU):
#   1. validate and draw every shipped rig (OUT/rigs/*.png and their frame trees);
#   2. simulate a short seeded drive on the default rig into OUT/sim_drive.mcap with a preview picture;
#   3. print what the recording holds (topics, rates, sensors, calibration).
# The fusion pipelines join this as they land (`fusion-stack demo`).
# Usage: scripts/demo.sh [OUT_DIR] [DURATION_S]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
out="${1:-out}"
duration="${2:-5}"
fs=.venv/bin/fusion-stack
mkdir -p "$out/rigs"
$fs calib validate calib/*.yaml
for rig in calib/*.yaml; do
  name="$(basename "$rig" .yaml)"
  $fs calib show "$rig" --plot "$out/rigs/$name.png" > "$out/rigs/$name.txt"
done
echo "rig pictures and frame trees: $out/rigs/"
echo
rm -rf "$out/sim_drive.mcap" "$out/sim_drive.mcap.preview.png"
$fs simulate --seed 1 --duration "$duration" --out "$out/sim_drive.mcap" --preview
echo
$fs bag info "$out/sim_drive.mcap" --no-gaps | head -40
