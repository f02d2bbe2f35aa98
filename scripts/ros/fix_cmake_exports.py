"""Point the CMake export files of the ROS 2 wheels at this interpreter's Python and NumPy headers.

The ``ros-kilted-*`` wheels are built in manylinux containers, and their exported targets
``<pkg>::<pkg>__rosidl_generator_py`` name the builder's include folders
(``/opt/python/cp311-cp311/include/python3.11`` and that interpreter's ``numpy/_core/include``) in
INTERFACE_INCLUDE_DIRECTORIES. CMake refuses imported targets whose include folders do not exist, so an interface
package that depends on them (vision_msgs -> geometry_msgs, tf2_msgs -> geometry_msgs) cannot be configured.
This rewrites those two paths, in place and idempotently, to the folders of the interpreter that runs this script
(the virtual environment's python). Run as: .venv/bin/python scripts/ros/fix_cmake_exports.py .venv
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

# /opt/python/cp311-cp311/include/python3.11 and
# /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include (free-threaded tags end in "t").
_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+t?/include/python3\.\d+t?")
_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core|core)/include")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: fix_cmake_exports.py PREFIX", file=sys.stderr)
        return 2
    import numpy  # the venv's numpy: generated Python bindings are compiled against it

    share = Path(argv[1]) / "share"
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    for path, name in ((python_include, "Python.h"), (numpy_include, "numpy/arrayobject.h")):
        if not (Path(path) / name).is_file():
            print(f"fix_cmake_exports: {path}/{name} is missing (Python headers not installed?)", file=sys.stderr)
            return 1
    changed = 0
    for cmake_file in sorted(share.glob("*/cmake/*.cmake")):
        text = cmake_file.read_text(encoding="utf-8")
        if "/opt/python/" not in text:
            continue
        new = _NUMPY_INCLUDE.sub(numpy_include, text)
        new = _PYTHON_INCLUDE.sub(python_include, new)
        if new != text:
            cmake_file.write_text(new, encoding="utf-8")
            changed += 1
    print(f"fix_cmake_exports: {changed} file(s) rewritten (Python {python_include}, NumPy {numpy_include})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
