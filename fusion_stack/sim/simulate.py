"""The library entry point: :func:`simulate` builds a scene from a seed, runs every sensor of a rig over it and
writes a ROS 2 bag (mcap) or an mmdet3d nuScenes info folder, optionally with a preview picture."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fusion_stack.calibration.rig import Rig
from fusion_stack.calibration.rig_file import load_rig
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.export import write_nuscenes_info, write_rosbag
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import SimulatedSample, count_events, run_simulation
from fusion_stack.sim.scene import make_scene

FORMATS = ("rosbag", "nuscenes")


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` made: the output path and format, the seed and duration (s), message counts per
    sensor id, the number of annotated objects in the scene, the preview picture (or None) and the wall time
    (s) it took."""

    out: Path
    format: str
    seed: int
    duration_s: float
    sample_counts: dict[str, int]
    objects: int
    keyframes: int | None
    preview: Path | None
    wall_time_s: float


NUSCENES_TABLES_VERSION = "v1.0-sim"


def _write_tables(folder: Path, seed: int) -> None:
    """The official nuScenes tables of the keyframes just written as an info folder (same frames and rig)."""
    from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
    from fusion_stack.io.nuscenes_tables import write_nuscenes_tables

    info = open_nuscenes_info(folder / "info.json")
    write_nuscenes_tables(folder, info.frames(), info.rig, version=NUSCENES_TABLES_VERSION,
                          scene_name=f"sim-seed-{seed}", log_name=f"sim-seed-{seed}", location="fusion_stack-sim")


def simulate(*, seed: int, duration_s: float, out: str | os.PathLike[str],
             rig: Rig | str | os.PathLike[str] | None = None, output_format: str = "rosbag",
             preview: bool = False, compress_images: bool = True,
             progress: Callable[[int, int], None] | None = None) -> SimulationSummary:
    """Simulate ``duration_s`` seconds of driving in the scene of ``seed`` and write it to ``out``.

    ``rig``: a Rig, a rig file path, or None for :func:`fusion_stack.sim.rig.default_rig`. ``output_format``:
    ``"rosbag"`` (``out`` is the new bag directory, mcap) or ``"nuscenes"`` (``out`` is a new folder with the
    mmdet3d ``info.json`` and the official nuScenes tables in ``out/v1.0-sim/``, readable with
    :func:`fusion_stack.io.nuscenes_tables.open_nuscenes_tables` (``version="v1.0-sim"``)).
    ``preview`` also writes ``<out>.preview.png`` (see :mod:`fusion_stack.sim.preview`).
    ``compress_images``: JPEG images in the bag. ``progress(done, total)`` is called after each measurement.
    Same seed, duration and rig give byte-identical output.
    """
    t0 = time.perf_counter()
    if output_format not in FORMATS:
        raise SimulationError(f"output_format must be one of {FORMATS}, got {output_format!r}", field="output_format")
    if rig is None:
        the_rig = default_rig()
    elif isinstance(rig, Rig):
        the_rig = rig
    else:
        the_rig = load_rig(Path(rig))
    out_path = Path(out)
    scene = make_scene(seed=seed, duration_s=duration_s)
    world = build_world(scene)
    total = count_events(scene, the_rig)
    counts: dict[str, int] = {}
    done = 0
    keep: dict[str, SimulatedSample] = {}
    want_preview = preview and bool(the_rig.sensors_of_kind("lidar"))

    def on_sample(s: SimulatedSample) -> None:
        nonlocal done
        counts[s.sample.sensor_id] = counts.get(s.sample.sensor_id, 0) + 1
        if want_preview and s.time_s <= duration_s / 2:
            keep[s.sample.sensor_id] = s
        if s.sample.sensor_id != "tf":
            done += 1
            if progress is not None:
                progress(done, total)

    stream = run_simulation(scene, the_rig, world=world)
    keyframes = None
    if output_format == "rosbag":
        write_rosbag(stream, out_path, the_rig, compress_images=compress_images, on_sample=on_sample)
    else:
        keyframes = write_nuscenes_info(stream, out_path, the_rig, on_sample=on_sample)
        _write_tables(out_path, seed)
    preview_path = None
    if want_preview:
        from fusion_stack.sim.preview import save_preview

        preview_path = out_path.with_name(out_path.name + ".preview.png")
        save_preview(preview_path, keep, the_rig, scene)
    return SimulationSummary(out_path, output_format, int(seed), float(duration_s), dict(sorted(counts.items())),
                             len(scene.agents), keyframes, preview_path, time.perf_counter() - t0)
