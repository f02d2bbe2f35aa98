#!/usr/bin/env bash
# Installs ROS 2 Kilted's Python client library (rclpy over Fast DDS) and the message packages fusion_stack's
# nodes use into the project's .venv, from PyPI wheels; builds the two interface packages that have no wheels
# (vision_msgs, tf2_msgs) from their .msg files with the rosidl generator wheels and CMake. Run it after
# scripts/setup_env.sh. See docs/ros.md (and there: on a vehicle with a ROS 2 distro installed, use the distro).
# Reuse rule like setup_env.sh: nothing is done while this script, scripts/ros/, the vision_msgs .msg files, the
# Python version and NumPy's version are unchanged (stamp in .venv/ros/stamp). Everything lands inside .venv:
# deleting .venv removes it all. Build trees and logs: .venv/ros/build/.
# Needs: .venv (setup_env.sh), a C and C++ compiler, Python headers (as setup_env.sh's compiled packages do),
# CMake >= 3.20 (the system's, else the PyPI cmake wheel is installed into .venv). Linux x86_64, CPython 3.10-3.13.
# Environment: FUSION_STACK_ROS_JOBS=N parallel compile jobs (default: nproc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
py="$venv/bin/python"
[ -x "$py" ] || { echo "setup_ros: $venv/bin/python is missing: run scripts/setup_env.sh first" >&2; exit 1; }

msg_dir="fusion_stack/io/msg/vision_msgs"
numpy_dist="$(cd "$venv" && ls -d lib/python3*/site-packages/numpy-*.dist-info 2>/dev/null || true)"
stamp="$( { cat scripts/setup_ros.sh; find scripts/ros "$msg_dir" -type f ! -name '*.pyc' | LC_ALL=C sort \
  | xargs cat; cat "$venv/pyvenv.cfg"; echo "$numpy_dist"; } \
  | sha256sum | cut -c1-16)"
stamp_file="$venv/ros/stamp"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "setup_ros: the ROS 2 wheels exist for Linux x86_64 only (this is $(uname -s) $(uname -m)):" \
       "install a ROS 2 distribution instead (docs/ros.md)" >&2; exit 1 ;;
esac
pyver="$(sed -n 's/^version *= *\([0-9]*\.[0-9]*\).*/\1/p' "$venv/pyvenv.cfg")"
case "$pyver" in
  3.10|3.11|3.12|3.13) ;;
  *) echo "setup_ros: the ROS 2 Kilted wheels exist for CPython 3.10-3.13, .venv has ${pyver:-an unknown version}:" \
       "recreate it with PYTHON=python3.12 scripts/setup_env.sh, or use a ROS 2 distribution (docs/ros.md)" >&2
     exit 1 ;;
esac
start=$SECONDS
echo "setup_ros: installing ROS 2 Kilted (rclpy, Fast DDS, messages) into .venv" >&2
rm -f "$stamp_file"
mkdir -p "$venv/ros/build"

# A sourced ROS distro (or a colcon workspace) would leak its packages into the build: use only the venv's.
if [ -n "${ROS_DISTRO:-}" ]; then
  echo "setup_ros: warning: ROS_DISTRO=$ROS_DISTRO is sourced; with a distribution, use it instead (docs/ros.md)" >&2
fi
unset AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH PYTHONPATH ROS_DISTRO ROS_VERSION || true
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$py" -m pip install --quiet -r scripts/ros/requirements.txt
echo "setup_ros: wheels installed ($((SECONDS - start)) s)" >&2

cmake_bin=""
if command -v cmake >/dev/null 2>&1; then
  ver="$(cmake --version | head -n1 | sed 's/[^0-9.]*\([0-9][0-9.]*\).*/\1/')"
  if [ "$(printf '%s\n' 3.20 "$ver" | sort -V | head -n1)" = 3.20 ]; then cmake_bin="$(command -v cmake)"; fi
fi
if [ -z "$cmake_bin" ]; then
  "$py" -m pip install --quiet "cmake>=3.22,<4"
  cmake_bin="$venv/bin/cmake"
fi
for tool in cc c++; do
  command -v "$tool" >/dev/null 2>&1 \
    || { echo "setup_ros: no $tool: install a C and C++ compiler (Debian: apt-get install g++)" >&2; exit 1; }
done

# The wheels' CMake exports name the wheel builder's Python include folder: point them at this interpreter's.
"$py" scripts/ros/fix_cmake_exports.py "$venv"

jobs="${FUSION_STACK_ROS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
build_pkg() {  # name, extra cmake arguments...
  local name="$1"; shift
  local build="$venv/ros/build/$name" manifest="$venv/ros/$name.install_manifest.txt"
  # Remove what an earlier build of this package installed (a message may have been renamed or removed).
  if [ -f "$manifest" ]; then xargs -r -d '\n' rm -f < "$manifest"; rm -f "$manifest"; fi
  rm -rf "$build"
  # ament looks its index up in AMENT_PREFIX_PATH and the install prefix: both are the venv.
  if ! { AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" "$cmake_bin" -S "scripts/ros/$name" -B "$build" \
        -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" -DPython3_EXECUTABLE="$py" \
        -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "$@" \
      && AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" "$cmake_bin" --build "$build" -j "$jobs" \
      && "$cmake_bin" --install "$build"; } > "$build.log" 2>&1; then
    tail -n 40 "$build.log" >&2
    echo "setup_ros: building $name failed; the whole log: $build.log" >&2
    return 1
  fi
  cp "$build/install_manifest.txt" "$manifest"
  echo "setup_ros: $name installed ($((SECONDS - start)) s)" >&2
  rm -rf "$build"   # the build tree is only needed again after a change, and then it is rebuilt whole
}
# Both at once: CMake's configure steps and the generators are mostly serial, so they overlap well.
build_pkg tf2_msgs & tf2_pid=$!
vision_ok=1; build_pkg vision_msgs -DFUSION_STACK_MSG_DIR="$root/$msg_dir" || vision_ok=0
tf2_ok=1; wait "$tf2_pid" || tf2_ok=0
[ "$vision_ok$tf2_ok" = 11 ] || exit 1

# The check that matters: the venv's interpreter imports the client library and every message package.
"$py" - <<'PY'
import rclpy  # noqa: F401
import rclpy.lifecycle  # noqa: F401
from diagnostic_msgs.msg import DiagnosticArray  # noqa: F401
from lifecycle_msgs.msg import State  # noqa: F401
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: F401
from tf2_msgs.msg import TFMessage  # noqa: F401
from vision_msgs.msg import Detection2DArray, Detection3DArray  # noqa: F401
from visualization_msgs.msg import MarkerArray  # noqa: F401
PY
echo "$stamp" > "$stamp_file"
echo "setup_ros: .venv has ROS 2 Kilted (rclpy $("$py" -c 'import importlib.metadata as m; print(m.version("ros-rclpy"))')) in $((SECONDS - start)) s" >&2
