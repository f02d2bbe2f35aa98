#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment in .venv at the project root.
# Reuse rule: the environment is rebuilt only when pyproject.toml, this script or the Python version changed.
# Usage: scripts/setup_env.sh            (then use .venv/bin/fusion-stack, .venv/bin/pytest, ...)
# Environment: PYTHON=python3.11 to choose the interpreter (>= 3.10);
#              FUSION_STACK_TORCH="torch==2.13.0" to choose the torch requirement installed first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1; then py="$cand"; break; fi
  done
fi
[ -n "$py" ] || { echo "setup_env: no python3 found (need >= 3.10)" >&2; exit 1; }
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "setup_env: $py is older than 3.10" >&2; exit 1; }

torch_req="${FUSION_STACK_TORCH:-torch==2.13.0}"
stamp="$( { cat pyproject.toml scripts/setup_env.sh; "$py" --version; echo "$torch_req"; } | sha256sum | cut -c1-16)"
stamp_file=".venv/.fusion_stack_stamp"
if [ -x .venv/bin/python ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  exit 0
fi
echo "setup_env: preparing .venv with $py ($("$py" --version 2>&1))" >&2
[ -x .venv/bin/python ] || "$py" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: the CPU build lies on this project's machines; an unpinned torch pulls a CUDA build.
.venv/bin/python -m pip install --quiet "$torch_req"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "$stamp" > "$stamp_file"
echo "setup_env: .venv ready" >&2
