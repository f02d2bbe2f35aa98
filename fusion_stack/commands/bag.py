"""``fusion-stack bag info`` and ``fusion-stack convert``: inspect recordings, convert datasets and bags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusion_stack.errors import FusionStackError
from fusion_stack.io.dataset_reader import dataset_kind, open_dataset

EXIT_OK, EXIT_INVALID = 0, 1
GAP_FACTOR = 3.0  # a gap is an interval longer than this many median periods


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``bag`` and ``convert`` to the CLI's sub-parsers."""
    bag = sub.add_parser("bag", help="inspect recordings (ROS 1 .bag, ROS 2 sqlite3/mcap)",
                         description="Inspect recordings. Custom message types are read from the definitions "
                                     "stored in the bag or shipped with fusion_stack (velodyne_msgs, "
                                     "nebula_msgs, ouster).")
    bsub = bag.add_subparsers(dest="bag_command", metavar="ACTION")
    bsub.required = True
    info = bsub.add_parser("info", help="topics, types, rates, sensors, calibration and gaps of a recording",
                           description="Print each topic's type, message count, rate and the sensor it maps to "
                                       "(guessed ones are marked with * and printed as a sensor-map YAML you can "
                                       "edit and pass back with --sensor-map), the time range, gaps (intervals "
                                       f"longer than {GAP_FACTOR:g}x a topic's median period) and the frame tree "
                                       "from /tf_static.")
    info.add_argument("path", type=Path, metavar="BAG")
    info.add_argument("--sensor-map", type=Path, metavar="YAML", help="topic -> sensor mapping to apply")
    info.add_argument("--no-gaps", action="store_true", help="skip the pass over all messages that finds gaps")

    conv = sub.add_parser("convert", help="convert a dataset or bag into a bag (ROS 2 mcap/sqlite3 or ROS 1)",
                          description="Convert SRC into a bag at DST, with a progress bar. SRC is a bag "
                                      "(ROS 1 .bag, ROS 2 folder, .mcap, .db3), an mmdet3d nuScenes info file "
                                      "(.json/.pkl), a nuScenes dataroot (v1.0-*/ tables), a KITTI object folder "
                                      "(with calib/, velodyne/, ...) or an "
                                      "Argoverse 2 log folder. A DST ending in .bag is written as ROS 1, anything "
                                      "else as a ROS 2 bag folder. Bag to bag keeps topic names and log stamps; "
                                      "datasets get /<sensor>/<kind> topics, the rig goes to /tf_static and "
                                      "camera_info.")
    conv.add_argument("src", type=Path, metavar="SRC")
    conv.add_argument("dst", type=Path, metavar="DST")
    conv.add_argument("--storage", choices=("mcap", "sqlite3", "ros1"), default=None,
                      help="output storage (default: ros1 for a DST ending in .bag, else mcap)")
    conv.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics (bags)")
    conv.add_argument("--skip-bad-messages", action="store_true",
                      help="skip and count messages that cannot be read instead of stopping")


def _fmt_ns(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from fusion_stack.io.recording import open_recording

    with open_recording(args.path, sensor_map=args.sensor_map) as rec:
        duration = max(rec.recorded_end_ns - rec.recorded_start_ns, 1)
        print(f"recording {args.path}  (ROS {rec.ros_version}, {rec.message_count} messages, "
              f"{_fmt_ns(duration)}, from {rec.recorded_start_ns} ns)")
        print()
        print(f"  {'topic':<36} {'type':<40} {'count':>7} {'rate Hz':>8}  sensor")
        for topic, t in sorted(rec.topics.items()):
            rate = t.message_count / (duration / 1e9) if t.message_count > 1 else 0.0
            guessed = "*" if topic in rec.sensor_map.guessed else " "
            notes = "" if t.convertible else "  (no converter: passed over)"
            if not t.has_definition:
                notes = "  (no message definition)"
            print(f"  {topic:<36} {t.msgtype:<40} {t.message_count:>7} {rate:>8.2f}  {guessed}{t.sensor.sensor_id} "
                  f"[{t.sensor.kind}]{notes}")
        if any(t in rec.sensor_map.guessed for t in rec.topics):
            print("\n* guessed from message types and topic names; correct it and pass --sensor-map FILE:")
            print("  " + rec.sensor_map.to_yaml().replace("\n", "\n  ").rstrip())
        if not args.no_gaps:
            stamps: dict[str, list[int]] = {}
            for topic, stamp in rec.log_stamps():
                stamps.setdefault(topic, []).append(stamp)
            lines = []
            for topic, ts in sorted(stamps.items()):
                if len(ts) < 3:
                    continue
                d = np.diff(np.asarray(ts, dtype=np.int64))
                period = float(np.median(d))
                big = np.nonzero(d.astype(np.float64) > GAP_FACTOR * period)[0]
                for i in big[:5]:
                    lines.append(f"  {topic:<36} {_fmt_ns(int(d[i]))} after {ts[i]} ns "
                                 f"(median period {period / 1e6:.1f} ms)")
                if len(big) > 5:
                    lines.append(f"  {topic:<36} ... {len(big) - 5} more")
            print("\ngaps:" if lines else "\ngaps: none")
            for line in lines:
                print(line)
        graph = rec.frame_graph(include_dynamic=False)
        print("\ncalibration (/tf_static):")
        print(graph.tree_text() if graph.frames else "  none found")
        if rec.skipped:
            print(f"\nskipped messages: {dict(rec.skipped)}")
    return EXIT_OK


def _progress(items: Any, total: int | None, desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, unit="msg", file=sys.stderr, disable=None)


def _convert(args: argparse.Namespace) -> int:
    from fusion_stack.io.recording import open_recording
    from fusion_stack.io.recording_writer import RecordingWriter, write_recording

    if args.dst.exists():
        raise FusionStackError("exists already; choose a new path (nothing is overwritten)", source=str(args.dst))
    storage = args.storage or ("ros1" if args.dst.suffix == ".bag" else "mcap")
    kind = dataset_kind(args.src)
    if kind is not None:
        ds = open_dataset(args.src, kind)
        frames = len(ds)
        count = write_recording(args.dst, _progress(iter(ds), None, f"{kind} ({frames} frames)"),
                                storage=storage, rig=ds.rig)
        print(f"wrote {args.dst} ({storage}): {count} messages from {frames} {kind} frames")
        return EXIT_OK
    with open_recording(args.src, topics=args.topics, skip_bad_messages=args.skip_bad_messages) as rec, \
            RecordingWriter(args.dst, storage=storage) as writer:
        total = sum(rec.topics[t].message_count for t in rec.selected_topics)
        for r in _progress(rec.records(), total, args.src.name):
            writer.write(r.sample, topic=r.topic, log_stamp_ns=r.log_stamp_ns)
        count = writer.message_count
        print(f"wrote {args.dst} ({storage}): {count} messages")
        skipped = sum(t.message_count for t in rec.topics.values() if not t.convertible)
        if skipped:
            print(f"not copied: {skipped} messages of topics without a converter")
        if rec.skipped:
            print(f"skipped bad messages: {dict(rec.skipped)}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``bag info`` or ``convert``; returns the exit code."""
    if args.command == "convert":
        return _convert(args)
    return _info(args)
