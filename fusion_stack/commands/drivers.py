"""``fusion-stack drivers record``: record what live drivers produce into a bag, without ROS."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from fusion_stack.errors import FusionStackError

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``drivers`` and its actions to the CLI's sub-parsers."""
    drivers = sub.add_parser("drivers", help="run sensor drivers (Velodyne, Continental ARS548, cameras)",
                             description="Sensor drivers that decode raw packets themselves (no ROS, no C++).")
    dsub = drivers.add_subparsers(dest="drivers_command", metavar="ACTION")
    dsub.required = True
    rec = dsub.add_parser(
        "record", help="record live drivers into a bag",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run drivers and write their samples into a bag (mcap by default; .bag = ROS 1).\n\n"
                    "A driver is SENSOR_ID=SOURCE, the sensor id as in the rig file (frame id and time offset\n"
                    "come from there). Packet SOURCEs: udp://HOST:PORT (live), a .pcap file, or a bag with the\n"
                    "sensor's packets. Camera SOURCEs: a device index (0), a video file or a GStreamer/V4L2\n"
                    "pipeline string. Stop with Ctrl-C, --duration or --max-samples; the bag stays readable.\n\n"
                    "example:\n"
                    "  fusion-stack drivers record drive.mcap --rig calib/car.yaml \\\n"
                    "      --velodyne LIDAR_TOP=udp://0.0.0.0:2368 --ars548 RADAR_FRONT=udp://0.0.0.0:42102 \\\n"
                    "      --camera CAM_FRONT=0 --duration 60")
    rec.add_argument("out", type=Path, metavar="OUT", help="bag to write (a new path)")
    rec.add_argument("--rig", type=Path, help="rig file giving frames, time offsets and camera models")
    rec.add_argument("--velodyne", action="append", default=[], metavar="SENSOR=SOURCE", help="a Velodyne LiDAR")
    rec.add_argument("--velodyne-model", default="auto",
                     help="VLP-16, VLP-32C, HDL-32E or auto (from the packets' product id; default)")
    rec.add_argument("--scan-phase", type=float, default=0.0, metavar="DEG",
                     help="azimuth (degrees) where Velodyne scans are cut (default 0)")
    rec.add_argument("--ars548", action="append", default=[], metavar="SENSOR=SOURCE",
                     help="a Continental ARS548 radar")
    rec.add_argument("--camera", action="append", default=[], metavar="SENSOR=SOURCE", help="an OpenCV camera")
    rec.add_argument("--storage", choices=("mcap", "sqlite3", "ros1"), default=None,
                     help="bag storage (default: ros1 for OUT ending in .bag, else mcap)")
    rec.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    rec.add_argument("--max-samples", type=int, default=None, metavar="N", help="stop after N samples")


def _split(spec: str, flag: str) -> tuple[str, str]:
    sensor, sep, source = spec.partition("=")
    if not sep or not sensor or not source:
        raise FusionStackError(f"expected SENSOR_ID=SOURCE, got {spec!r}", field=flag)
    return sensor, source


def _record(args: argparse.Namespace) -> int:
    from fusion_stack.calibration.rig_file import load_rig
    from fusion_stack.drivers.camera import CameraDriver
    from fusion_stack.drivers.packet_driver import ars548_driver, velodyne_driver
    from fusion_stack.drivers.record import record_drivers
    from fusion_stack.drivers.source_spec import packet_source

    if args.out.exists():
        raise FusionStackError("exists already; choose a new path (nothing is overwritten)", source=str(args.out))
    rig = load_rig(args.rig) if args.rig else None
    drivers: list[Any] = []
    for spec in args.velodyne:
        sensor, source = _split(spec, "--velodyne")
        drivers.append(velodyne_driver(packet_source(source), rig=rig, sensor_id=sensor, model=args.velodyne_model,
                                       scan_phase_deg=args.scan_phase))
    for spec in args.ars548:
        sensor, source = _split(spec, "--ars548")
        drivers.append(ars548_driver(packet_source(source), rig=rig, sensor_id=sensor))
    for spec in args.camera:
        sensor, source = _split(spec, "--camera")
        drivers.append(CameraDriver(int(source) if source.isdigit() else source, rig=rig, sensor_id=sensor))
    if not drivers:
        raise FusionStackError("no driver given: use --velodyne, --ars548 or --camera", field="drivers")
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C ends the recording cleanly
    try:
        storage = args.storage or ("ros1" if args.out.suffix == ".bag" else "mcap")
        summary = record_drivers(args.out, drivers, rig=rig, storage=storage, duration_s=args.duration,
                                 max_samples=args.max_samples, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    per_sensor = ", ".join(f"{k}: {v}" for k, v in sorted(summary.samples.items()))
    print(f"wrote {summary.path}: {summary.messages} messages in {summary.duration_s:.1f} s "
          f"(stopped by {summary.stopped_by}); samples {per_sensor}")
    for i, counts in enumerate(summary.counts):
        dropped = {k: v for k, v in counts.items() if v and k not in ("packets", "scans", "points", "frames")}
        if dropped:
            print(f"  driver {i}: {dict(counts)}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``drivers ACTION``; returns the exit code."""
    return _record(args)
