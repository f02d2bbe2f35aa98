"""End-to-end latency of the fusion node over ROS 2 (loopback): sensor stamp -> detections published, and CPU per
node, with the default rig replayed at real time.

The bag player publishes a simulated drive (LiDAR 20 Hz, 6 cameras 12 Hz, 5 radars 13 Hz, odometry 50 Hz) with
``/clock``; the fusion node runs a preset on ``use_sim_time``; a topic recorder logs each Detection3DArray with the
ROS time of its arrival, so ``arrival - header stamp`` is the latency (clock resolution 1 ms). The reference is the
same preset offline (``run_pipelines`` over the same bag, no ROS): its per-frame processing time is the floor the
node's latency adds transport, synchronisation waits and queuing to. CPU per node from ``/proc/<pid>/stat``.

    python benchmarks/ros_latency.py --preset decision_level --duration 10 --out benchmarks/results/ros_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fusion_stack.io.recording import open_recording
from fusion_stack.launcher.launch_file import NodeSpec, source_root
from fusion_stack.launcher.process_group import ProcessGroup, launch_environment
from fusion_stack.pipeline.config import load_config
from fusion_stack.pipeline.pipeline import FusionPipeline
from fusion_stack.pipeline.runner import open_source, run_pipelines
from fusion_stack.sim import simulate
from fusion_stack.sim.rig import default_rig

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="decision_level")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of simulated drive")
    parser.add_argument("--rate", type=float, default=1.0, help="playback rate (1 = real time)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--domain-id", type=int, default=77)
    parser.add_argument("--best-effort", dest="reliable", action="store_false",
                        help="sensor_data QoS on the sensor topics (default: reliable, as a recorded replay is)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ros_latency.json"))
    args = parser.parse_args(argv)
    rig = default_rig()
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "drive.mcap"
        simulate(seed=args.seed, duration_s=args.duration, out=bag)
        source = open_source(bag, rig=rig)
        try:
            summary = run_pipelines(source, [FusionPipeline.from_config(load_config(args.preset), rig)])
        finally:
            source.close()
        offline = summary.pipelines[0].stats.latency_table()["total"]
        rec = Path(tmp) / "rec"
        name = load_config(args.preset).name
        rig_file = str(source_root() / "calib" / "sim_default.yaml")
        nodes = [
            NodeSpec("fusion_stack_nodes", "fusion_node", "fusion", params=(
                ("pipeline", args.preset), ("rig", rig_file), ("image_transport", "compressed"),
                ("reliable_sensors", "true" if args.reliable else "false"), ("use_sim_time", "true"))),
            NodeSpec("fusion_stack_nodes", "topic_recorder", "recorder", params=(
                ("out", str(rec)), ("use_sim_time", "true"),
                ("topics", f"[/{name}/detections=vision_msgs/msg/Detection3DArray]"))),
            NodeSpec("fusion_stack_nodes", "bag_player", "player", params=(
                ("bag", str(bag)), ("rate", str(args.rate)), ("clock_hz", "1000.0"), ("start_delay_s", "2.0"),
                ("wait_for_subscribers", f"[/ego_pose/odom, /{name}/detections]")), shutdown_on_exit=True),
        ]
        lines: list[str] = []
        group = ProcessGroup(nodes, env=launch_environment(domain_id=args.domain_id),
                             on_output=lambda n, line: lines.append(f"[{n}] {line}"))
        group.start()
        cpu0: dict[str, float] = {}
        t0 = time.monotonic()
        try:
            time.sleep(3.0)  # imports and configuration, not measured
            cpu0 = {n: cpu_seconds(p) for n, p in group.pids.items()}
            t0 = time.monotonic()
            why = group.wait(timeout_s=args.duration / args.rate * 4 + 120)
            wall = time.monotonic() - t0
            ended = [n for n in ("fusion", "recorder") if n not in group.running()]
            if ended:
                print("\n".join(lines[-40:]), file=sys.stderr)
                raise SystemExit(f"{ended} ended before the player: see the output above")
            cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in group.pids.items() if n != "player"}
            time.sleep(2.0)
        finally:
            group.stop()
        with open_recording(rec) as r:
            lat = np.array([(x.log_stamp_ns - x.sample.stamp_ns) * 1e-6 for x in r.records()])
    n_expected = summary.pipelines[0].stats.frames
    row = {"preset": args.preset, "messages": len(lat), "expected": n_expected, "ended": why,
           "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                          "max": float(lat.max())} if len(lat) else None,
           "offline_processing_ms": {"p50": offline["p50"], "p95": offline["p95"]},
           "cpu_percent": {k: 100.0 * v / wall for k, v in cpu.items()}, "rate": args.rate,
           "reliable_sensors": args.reliable,
           "load": os.getloadavg()[0]}
    print(f"{'preset':<16}{'msgs':>6}{'latency p50':>13}{'p95':>8}{'max':>8}{'offline p50':>13}{'p95':>8}"
          "  CPU % per node")
    lm = row["latency_ms"] or {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    cpu_text = ", ".join(f"{k} {v:.0f}" for k, v in row["cpu_percent"].items())
    print(f"{args.preset:<16}{len(lat):>6}{lm['p50']:>13.1f}{lm['p95']:>8.1f}{lm['max']:>8.1f}"
          f"{offline['p50']:>13.1f}{offline['p95']:>8.1f}  {cpu_text}")
    print(f"({n_expected} frames offline; playback rate {args.rate}; load {row['load']:.1f}; "
          f"{os.cpu_count()} cores)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
