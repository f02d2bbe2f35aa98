#!/usr/bin/env bash
# Sets up .venv (see setup_env.sh) and runs the main job on the embedded defaults.
# For now: validate every shipped rig in calib/ and draw each one (out/rigs/*.png) with its frame tree.
# The simulated drive and the fusion pipelines replace this as they land (`fusion-stack demo`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
out="${1:-out}"
mkdir -p "$out/rigs"
.venv/bin/fusion-stack calib validate calib/*.yaml
for rig in calib/*.yaml; do
  name="$(basename "$rig" .yaml)"
  .venv/bin/fusion-stack calib show "$rig" --plot "$out/rigs/$name.png" > "$out/rigs/$name.txt"
done
echo
cat "$out/rigs/nuscenes_keyframe.txt"
echo
echo "rig pictures and frame trees: $out/rigs/"
