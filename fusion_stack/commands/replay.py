"""``fusion-stack replay`` and ``fusion-stack demo``: recordings through fusion pipelines, with metrics, latency,
an annotated bag and pictures."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
DEMO_PIPELINES = ("lidar_only", "camera_only", "radar_only", "data_level", "decision_level")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``replay`` and ``demo`` to the CLI's sub-parsers."""
    from fusion_stack.pipeline.config import preset_names

    presets = ", ".join(preset_names())
    r = sub.add_parser(
        "replay", help="run fusion pipelines over a bag or dataset: detections, metrics, latency, pictures",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay a recording (ROS 1 / ROS 2 bag, with a rig file) or a dataset (nuScenes info file or "
                    "tables,\nKITTI object folder) through one or more pipelines side by side. Writes the "
                    "detections (vision_msgs\nDetection3DArray on /<pipeline>/detections, markers on "
                    "/<pipeline>/markers) with tf and the LiDAR\ninto OUT (mcap); prints metrics when the input "
                    "has ground truth (topic /ground_truth/detections\nor dataset labels) and per-stage latency.\n\n"
                    f"pipelines: a YAML file (docs/pipeline.md) or a preset name: {presets}\n\n"
                    "examples:\n"
                    "  fusion-stack replay drive.mcap --rig calib/sim_default.yaml --config decision_level "
                    "--out fused.mcap\n"
                    "  fusion-stack replay ../shared/data/nuscenes_keyframe/info.json --config lidar_only data_level "
                    "\\\n      --out kf.mcap --pictures kf_pictures")
    r.add_argument("input", type=Path, metavar="INPUT", help="bag (file or ROS 2 folder) or dataset path")
    r.add_argument("--config", nargs="+", required=True, metavar="PIPELINE",
                   help="pipeline YAML files or preset names (several run side by side)")
    r.add_argument("--rig", type=Path, default=None, help="rig file (required for bags; datasets bring theirs)")
    r.add_argument("--sensor-map", type=Path, default=None, help="sensor map YAML (topic -> sensor id) for bags")
    r.add_argument("--out", type=Path, required=True, metavar="OUT.mcap", help="annotated bag to write (new path)")
    r.add_argument("--pictures", type=Path, default=None, metavar="DIR", help="also write pictures into DIR")
    r.add_argument("--metrics", type=Path, default=None, metavar="JSON",
                   help="write metrics, latency and degraded-mode counts as JSON")
    r.add_argument("--limit", type=float, default=None, metavar="S", help="stop after S seconds of data")
    _common_output(r)

    d = sub.add_parser(
        "demo", help="simulate a drive and compare LiDAR, camera, radar, data- and decision-level fusion",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The main job on the embedded defaults (no downloads, no GPU): simulate a short drive with the "
                    "built-in\nnuScenes-like rig (32-beam LiDAR, 6 cameras, 5 radars, ground truth), replay it "
                    "through the LiDAR-only,\ncamera-only, radar-only, data-level and decision-level pipelines side "
                    "by side, and print\nnuScenes-style metrics and per-stage latency.\n\n"
                    "writes into OUT: drive.mcap (the simulated input; reused when seed and duration match),\n"
                    "  annotated.mcap (every pipeline's detections and markers, tf, LiDAR, ground truth),\n"
                    "  pictures/ (cameras with boxes + bird's-eye views per pipeline, side-by-side comparisons),\n"
                    "  summary.json and report.txt.")
    d.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    d.add_argument("--seed", type=int, default=7, help="scene seed (default 7)")
    d.add_argument("--duration", type=float, default=10.0, metavar="S", help="seconds to simulate (default 10)")
    d.add_argument("--pipelines", nargs="+", default=list(DEMO_PIPELINES), metavar="PIPELINE",
                   help=f"pipelines to compare (default: {' '.join(DEMO_PIPELINES)})")
    _common_output(d)


def _common_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--picture-every", type=float, default=2.0, metavar="S",
                   help="seconds of data between pictures (default 2)")


def _progress_bar(desc: str, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="msg", file=sys.stderr, disable=None, mininterval=0.5)


def _run(source: Any, configs: Sequence[Any], *, out: Path, pictures: Path | None, every_s: float,
         limit_s: float | None) -> Any:
    from fusion_stack.pipeline.pipeline import FusionPipeline
    from fusion_stack.pipeline.runner import AnnotatedBagSink, Sink, run_pipelines

    segmenter = None
    pipelines = []
    for cfg in configs:
        if cfg.camera_network is not None and segmenter is None and cfg.camera_network.checkpoint is None:
            from fusion_stack.models.camera_net import CameraSegmenter

            segmenter = CameraSegmenter(num_threads=cfg.camera_network.num_threads)
        net = segmenter if cfg.camera_network is not None and cfg.camera_network.checkpoint is None else None
        pipelines.append(FusionPipeline.from_config(cfg, source.rig, camera_network=net))
    names = [p.name for p in pipelines]
    if len(set(names)) != len(names):
        from fusion_stack.pipeline.errors import PipelineError

        raise PipelineError(f"pipeline names must differ (they name topics), got {names}", field="name")
    sinks: list[Sink] = [AnnotatedBagSink(out, rig=source.rig)]
    if pictures is not None:
        from fusion_stack.pipeline.pictures import PictureSink

        sinks.append(PictureSink(pictures, rig=source.rig, every_s=every_s,
                                 first_after_s=0.0 if source.is_dataset else None))
    with _progress_bar("replaying", source.count) as bar:
        def progress(done: int, total: int) -> None:
            bar.n = done
            if done % 50 == 0 or done == total:
                bar.refresh()

        summary = run_pipelines(source, pipelines, sinks=sinks, progress=progress, limit_s=limit_s)
    return summary, sinks


def _report(summary: Any) -> str:
    from fusion_stack.pipeline.report import degraded_table, latency_table, metrics_table

    return (f"detection metrics (nuScenes-style; ground truth without LiDAR points removed):\n"
            f"{metrics_table(summary)}\n\nlatency per stage (this machine):\n{latency_table(summary)}\n\n"
            f"sensors:\n{degraded_table(summary)}\n")


def run_replay(args: argparse.Namespace) -> int:
    """Run ``replay``; returns the exit code."""
    from fusion_stack.pipeline.config import load_config
    from fusion_stack.pipeline.errors import PipelineError
    from fusion_stack.pipeline.report import summary_to_dict
    from fusion_stack.pipeline.runner import open_source

    if args.out.exists():
        raise PipelineError("exists already; choose a new path", source=str(args.out), field="--out")
    configs = [load_config(c) for c in args.config]
    source = open_source(args.input, rig=args.rig, sensor_map=args.sensor_map)
    try:
        summary, sinks = _run(source, configs, out=args.out, pictures=args.pictures, every_s=args.picture_every,
                              limit_s=args.limit)
    finally:
        source.close()
    print(_report(summary))
    print(f"wrote {args.out}" + (f" and {len(sinks[1].written)} pictures in {args.pictures}" if args.pictures else ""))
    if args.metrics is not None:
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(summary_to_dict(summary), indent=1))
        print(f"wrote {args.metrics}")
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    """Run ``demo``; returns the exit code."""
    from fusion_stack.pipeline.config import load_config
    from fusion_stack.pipeline.report import summary_to_dict
    from fusion_stack.pipeline.runner import open_source
    from fusion_stack.sim import simulate
    from fusion_stack.sim.rig import default_rig

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    drive = out / "drive.mcap"
    stamp = out / "drive.json"
    want = {"seed": args.seed, "duration_s": args.duration, "format": 1}
    if drive.exists() and (not stamp.exists() or json.loads(stamp.read_text()) != want):
        shutil.rmtree(drive)
    if not drive.exists():
        from tqdm import tqdm

        with tqdm(total=1, desc="simulating", unit="sample", file=sys.stderr, disable=None) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            sim = simulate(seed=args.seed, duration_s=args.duration, out=drive, progress=progress)
        stamp.write_text(json.dumps(want))
        print(f"simulated {args.duration:g} s (seed {args.seed}, {sim.objects} objects) in {sim.wall_time_s:.1f} s: "
              f"{drive}")
    else:
        print(f"reusing {drive} (seed {args.seed}, {args.duration:g} s)")
    annotated = out / "annotated.mcap"
    pictures = out / "pictures"
    for old in (annotated, pictures):
        if old.exists():
            shutil.rmtree(old)
    configs = [load_config(name) for name in args.pipelines]
    source = open_source(drive, rig=default_rig())
    try:
        summary, sinks = _run(source, configs, out=annotated, pictures=pictures, every_s=args.picture_every,
                              limit_s=None)
    finally:
        source.close()
    report = _report(summary)
    print(report)
    (out / "report.txt").write_text(report)
    (out / "summary.json").write_text(json.dumps(summary_to_dict(summary), indent=1))
    n_pics = len(sinks[1].written)
    print(f"wrote {annotated} (detections, markers, tf, LiDAR, ground truth), {n_pics} pictures in {pictures}, "
          f"{out / 'summary.json'} and {out / 'report.txt'}")
    return EXIT_OK
