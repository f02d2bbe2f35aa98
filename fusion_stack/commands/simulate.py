"""``fusion-stack simulate``: a seeded drive through the built-in world, written as a bag or a nuScenes folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate`` to the CLI's sub-parsers."""
    p = sub.add_parser(
        "simulate", help="simulate a drive: LiDAR, cameras and radars with ground truth",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate a drive through a procedural, seeded road scene (cars, trucks, buses, cyclists, "
                    "pedestrians,\nparked vehicles, cones) seen by the rig's LiDAR, cameras and radars, with "
                    "ground-truth boxes.\nThe same seed and rig give byte-identical output.\n\n"
                    "outputs: a ROS 2 mcap bag (sensor topics, /tf, /tf_static, camera_info, odometry, "
                    "ground-truth\ndetections) or, with --format nuscenes, an mmdet3d-style nuScenes info folder.\n\n"
                    "example:\n  fusion-stack simulate --seed 3 --duration 20 --out drive.mcap --preview")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--duration", type=float, default=10.0, metavar="S", help="seconds to simulate (default 10)")
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="bag or folder to write (a new path)")
    p.add_argument("--rig", type=Path, default=None,
                   help="rig file (default: the nuScenes-like rig of calib/sim_default.yaml)")
    p.add_argument("--format", choices=("rosbag", "nuscenes"), default="rosbag", help="output format (rosbag)")
    p.add_argument("--preview", action="store_true",
                   help="also write OUT.preview.png: a camera image with LiDAR points and boxes, and a bird's-eye "
                        "view with LiDAR, radar velocities and boxes")
    p.add_argument("--raw-images", action="store_true", help="store raw images in the bag instead of JPEG")


def run(args: argparse.Namespace) -> int:
    """Run ``simulate``; returns the exit code."""
    from tqdm import tqdm

    from fusion_stack.sim import simulate

    with tqdm(total=1, desc="simulating", unit="sample", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        summary = simulate(seed=args.seed, duration_s=args.duration, out=args.out, rig=args.rig,
                           output_format=args.format, preview=args.preview, compress_images=not args.raw_images,
                           progress=progress)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.sample_counts.items()))
    frames = f", {summary.keyframes} keyframes" if summary.keyframes is not None else ""
    print(f"wrote {summary.out} ({summary.format}): {summary.duration_s:g} s, seed {summary.seed}, "
          f"{summary.objects} objects{frames} in {summary.wall_time_s:.1f} s")
    print(f"samples: {counts}")
    if summary.preview:
        print(f"preview: {summary.preview}")
    return EXIT_OK
