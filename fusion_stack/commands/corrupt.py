"""``fusion-stack corrupt``: apply a seeded sensor corruption to a recording (real or simulated)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK = 0
KINDS = ("beam_reduction", "point_drop", "limited_fov", "fog", "sensor_dropout", "blackout", "overexposure",
         "motion_blur", "noise", "spatial_misalignment", "temporal_misalignment", "radar_clutter", "radar_ghosts")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``corrupt`` to the CLI's sub-parsers."""
    p = sub.add_parser(
        "corrupt", help="apply a seeded sensor corruption (MultiCorrupt / nuScenes-R style) to a recording",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read IN, corrupt the samples of one kind of sensor (or one sensor) at severity 1-3, write OUT.\n"
                    "Uncorrupted samples are copied unchanged. The same seed gives the same corruption.\n\n"
                    "kinds: LiDAR beam_reduction, point_drop, limited_fov, fog; any sensor sensor_dropout "
                    "(needs --sensor);\ncamera blackout, overexposure, motion_blur, noise; radar radar_clutter, "
                    "radar_ghosts;\nspatial_misalignment and temporal_misalignment of one sensor (--sensor; "
                    "cameras also need --rig).")
    p.add_argument("src", type=Path, metavar="IN", help="a bag (ROS 1 or ROS 2)")
    p.add_argument("dst", type=Path, metavar="OUT", help="bag to write (a new path; .bag = ROS 1)")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--severity", required=True, type=int, choices=(1, 2, 3))
    p.add_argument("--seed", type=int, default=0, help="corruption seed (default 0)")
    p.add_argument("--sensor", default=None, metavar="ID", help="the one sensor to corrupt (required by some kinds)")
    p.add_argument("--rig", type=Path, default=None, help="rig file (camera misalignment needs intrinsics)")
    p.add_argument("--storage", choices=("mcap", "sqlite3", "ros1"), default=None,
                   help="output storage (default: ros1 for OUT ending in .bag, else mcap)")
    p.add_argument("--skip-bad-messages", action="store_true", help="skip and count unreadable messages")


def run(args: argparse.Namespace) -> int:
    """Run ``corrupt``; returns the exit code."""
    from fusion_stack.calibration.rig_file import load_rig
    from fusion_stack.sim.corruptions import apply_to_recording

    storage = args.storage or ("ros1" if args.dst.suffix == ".bag" else "mcap")
    rig = load_rig(args.rig) if args.rig else None
    count = apply_to_recording(args.src, args.dst, kind=args.kind, severity=args.severity, seed=args.seed,
                               sensor_id=args.sensor, storage=storage, rig=rig,
                               skip_bad_messages=args.skip_bad_messages)
    print(f"wrote {args.dst} ({storage}): {count} messages, {args.kind} severity {args.severity} seed {args.seed}"
          + (f" on {args.sensor}" if args.sensor else ""))
    return EXIT_OK
