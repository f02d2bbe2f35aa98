"""``fusion-stack launch``: run a ROS 2 XML launch file of ``launch/`` without ``ros2 launch``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``launch`` to the CLI's sub-parsers."""
    p = sub.add_parser(
        "launch", help="run a ROS 2 launch file of launch/ (nodes as processes; rclpy from PyPI is enough)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start the nodes of a ROS 2 XML launch file as processes with the same names, parameters and "
                    "remappings\nthat `ros2 launch` gives them (launch/launch_ros have no PyPI wheels; this needs "
                    "only rclpy,\nsee docs/ros.md). Ctrl-C (SIGINT) or SIGTERM stops every node cleanly; a node "
                    "with on_exit=\"shutdown\"\n(the bag player) ending stops the others.\n\n"
                    "examples:\n"
                    "  fusion-stack launch launch/decision_level.launch.xml play:=true bag:=drive.mcap\n"
                    "  fusion-stack launch launch/drivers.launch.xml rig:=calib/car.yaml --show")
    p.add_argument("file", type=Path, metavar="FILE", help="launch file (.launch.xml)")
    p.add_argument("arguments", nargs="*", metavar="NAME:=VALUE", help="launch arguments")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for the nodes (default: inherited)")
    p.add_argument("--any-host", action="store_true",
                   help="let DDS discovery leave this machine (default: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="stop every node after S seconds")
    p.add_argument("--show", action="store_true", help="print the nodes and their command lines, start nothing")


def run(args: argparse.Namespace) -> int:
    """Run ``launch``; returns the exit code."""
    from fusion_stack.launcher.launch_file import LaunchError, load_launch_file
    from fusion_stack.launcher.process_group import ProcessGroup, launch_environment, node_command

    values: dict[str, str] = {}
    for item in args.arguments:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchError(f"launch arguments are NAME:=VALUE, got {item!r}", field="arguments")
        values[name] = value
    desc = load_launch_file(args.file, arguments=values)
    if args.show:
        for name, (default, text) in desc.arguments.items():
            print(f"arg {name} (default {default!r}): {text}")
        for n in desc.nodes:
            print(f"node {n.name}: {' '.join(node_command(n))}")
        return EXIT_OK
    env = launch_environment(domain_id=args.domain_id, localhost_only=not args.any_host)
    lock = threading.Lock()

    def output(name: str, line: str) -> None:
        with lock:
            print(f"[{name}] {line}", flush=True)

    group = ProcessGroup(desc.nodes, on_output=output, env=env)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    why = "failed to start"
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        group.start()
        print(f"launched {len(desc.nodes)} nodes: " + ", ".join(f"{k} (pid {v})" for k, v in group.pids.items()),
              file=sys.stderr, flush=True)
        why = group.wait(timeout_s=args.timeout, stop=stop)
    finally:
        codes = group.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"stopped ({why}): " + ", ".join(f"{k} exit {v}" for k, v in codes.items()), file=sys.stderr, flush=True)
    return EXIT_OK
