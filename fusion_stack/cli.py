"""The ``fusion-stack`` command: wires library pieces together and maps errors to exit codes.

Exit codes: 0 success, 1 invalid input (a fusion_stack error: the message names file and field),
2 usage error (argparse), 130 interrupted. Sub-commands live in ``fusion_stack.commands``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fusion_stack import __version__
from fusion_stack.commands import bag, calib, corrupt, drivers, launch, replay, simulate
from fusion_stack.errors import FusionStackError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_COMMANDS = {"calib": calib.run, "bag": bag.run, "convert": bag.run, "drivers": drivers.run,
             "simulate": simulate.run, "corrupt": corrupt.run, "replay": replay.run_replay, "demo": replay.run_demo,
             "launch": launch.run}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fusion-stack`` (sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="fusion-stack",
        description="fusion_stack: camera/LiDAR/radar sensor fusion for robots and vehicles.\n\n"
                    "  calib    validate, convert and show rig calibrations\n"
                    "  bag      inspect recordings (ROS 1 / ROS 2 sqlite3 / mcap)\n"
                    "  convert  datasets and bags -> bags (ROS 2 mcap/sqlite3, ROS 1)\n"
                    "  drivers  record Velodyne, ARS548 and camera drivers into a bag\n"
                    "  simulate a seeded drive with LiDAR, cameras, radars and ground truth\n"
                    "  corrupt  apply a seeded sensor corruption (fog, dropout, misalignment, ...) to a bag\n"
                    "  replay   run fusion pipelines over a bag or dataset: detections, metrics, latency, pictures\n"
                    "  demo     simulate a drive and compare LiDAR, camera, radar, data- and decision-level fusion\n"
                    "  launch   run a ROS 2 launch file of launch/ (the nodes as processes)\n\n"
                    "Run `fusion-stack COMMAND --help` for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fusion-stack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    calib.add_parser(sub)
    bag.add_parser(sub)
    drivers.add_parser(sub)
    simulate.add_parser(sub)
    corrupt.add_parser(sub)
    replay.add_parser(sub)
    launch.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except FusionStackError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
