"""Replay throughput: reading a recording into typed samples, side by side with rosbags' own decode.

Generates (once per size, cached in ``--dir``) an mcap bag with ``fusion_stack``'s RecordingWriter: a 20 Hz
LiDAR (``sensor_msgs/PointCloud2``, ``--points`` points of x, y, z, intensity float32, ring uint16, time
float32: 22-byte packed points) and six 12 Hz cameras (``sensor_msgs/Image`` rgb8, ``--camera``), as many
seconds as ``--size-gb`` needs (1 GB: 2.75 s at 1600x900, 9.7 s with ``--camera 640x360``). Then, on the same
file in the same run, with the page cache warmed by one full read first, it times

* ``rosbags``: ``AnyReader.messages()`` + ``typestore.deserialize_cdr(raw)`` of every message: the floor any
  reader pays, as rosbags documents it;
* ``rosbags zero-copy``: the same with ``deserialize_cdr(memoryview(raw))``, which saves the copy rosbags makes
  when it slices the CDR header off a ``bytes`` (fusion_stack does this for large messages): the strict floor;
* ``fusion_stack``: ``open_recording(...)`` iteration producing CameraImage / PointCloud samples;

per message type and for everything together (open + iterate + close; readers interleaved; medians over
``--repeats``), and prints samples/s, MB/s (message payload bytes) and the ratios to both floors (the
overhead: target <= 1.10 over ``rosbags``), plus the ratio of process CPU times (less sensitive to other load
on a shared machine). ``--profile N`` adds a cProfile of one fusion_stack pass (top N functions by own time).

    .venv/bin/python benchmarks/replay.py [--size-gb 1.0] [--dir DIR --keep] [--out benchmarks/results/replay.json]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rosbags
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from fusion_stack.io.recording import open_recording
from fusion_stack.io.recording_writer import RecordingWriter
from fusion_stack.types import CameraImage, PointCloud

LIDAR_HZ = 20
CAMERA_HZ = 12
CAMERAS = ("CAM_FRONT", "CAM_FRONT_LEFT", "CAM_FRONT_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
POINT_BYTES = 4 * 4 + 2 + 4  # x, y, z, intensity float32; ring uint16; time float32 (packed)
T0 = 1_700_000_000 * 1_000_000_000


@dataclass(frozen=True)
class BagSpec:
    """What the generated bag holds."""

    size_gb: float
    points: int
    width: int
    height: int

    @property
    def bytes_per_second(self) -> int:
        return LIDAR_HZ * self.points * POINT_BYTES + CAMERA_HZ * len(CAMERAS) * self.width * self.height * 3

    @property
    def duration_s(self) -> float:
        return self.size_gb * 1e9 / self.bytes_per_second

    @property
    def name(self) -> str:
        return f"replay_{self.size_gb:g}gb_{self.points}pts_{self.width}x{self.height}"


def _lidar(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One spinning-LiDAR-like sweep: 128 rings, ranges 2-80 m."""
    ring = (np.arange(n) % 128).astype(np.uint16)
    azimuth = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    elevation = np.deg2rad(-25.0 + 40.0 * ring / 127.0)
    rng_m = rng.uniform(2.0, 80.0, n)
    pos = np.stack([rng_m * np.cos(elevation) * np.cos(azimuth), rng_m * np.cos(elevation) * np.sin(azimuth),
                    rng_m * np.sin(elevation)], axis=1).astype(np.float32)
    fields: dict[str, np.ndarray] = {"intensity": rng.uniform(0, 255, n).astype(np.float32), "ring": ring,
              "time": np.linspace(0.0, 1.0 / LIDAR_HZ, n, dtype=np.float32)}
    return pos, fields


def generate(path: Path, spec: BagSpec) -> None:
    """Write the bag directory ``path`` (a few distinct clouds and images, re-stamped)."""
    rng = np.random.default_rng(0)
    clouds = [_lidar(rng, spec.points) for _ in range(4)]
    images = [rng.integers(0, 256, (spec.height, spec.width, 3), dtype=np.uint8) for _ in range(3)]
    end = T0 + round(spec.duration_s * 1e9)
    events: list[tuple[int, str, int]] = []
    for k in range(int(spec.duration_s * LIDAR_HZ) + 1):
        events.append((T0 + k * 1_000_000_000 // LIDAR_HZ, "LIDAR_TOP", k))
    for c, cam in enumerate(CAMERAS):
        for k in range(int(spec.duration_s * CAMERA_HZ) + 1):
            events.append((T0 + k * 1_000_000_000 // CAMERA_HZ + c * 1_000_000, cam, k))
    events = sorted(e for e in events if e[0] < end)
    shutil.rmtree(path, ignore_errors=True)  # a generation cut off earlier (no metadata.yaml)
    with RecordingWriter(path, storage="mcap") as writer:
        for stamp, sensor, k in events:
            if sensor == "LIDAR_TOP":
                pos, fields = clouds[k % len(clouds)]
                writer.write(PointCloud(stamp, "lidar_top", sensor, pos, fields))
            else:
                writer.write(CameraImage(stamp, sensor.lower() + "_optical", sensor, images[k % len(images)], "rgb8"))


def _warm(path: Path) -> int:
    """Read every file of the bag once (page cache); returns the bytes on disk."""
    total = 0
    for f in sorted(path.rglob("*")):
        if f.is_file():
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 24):
                    total += len(chunk)
    return total


def _storage_file(path: Path) -> Path:
    (mcap,) = path.glob("*.mcap")
    return mcap


@dataclass
class Pass:
    """One timed pass: messages read, their payload bytes, wall and process CPU seconds."""

    messages: int
    payload_bytes: int
    seconds: float
    cpu_seconds: float


def _rosbags(path: Path, msgtypes: Collection[str] | None, *, zero_copy: bool) -> Pass:
    t0, c0 = time.perf_counter(), time.process_time()
    n = size = 0
    with AnyReader([path], default_typestore=get_typestore(Stores.LATEST)) as reader:
        conns = [c for c in reader.connections if msgtypes is None or c.msgtype in msgtypes]
        deserialize = reader.typestore.deserialize_cdr
        for conn, _stamp, raw in reader.messages(connections=conns):
            deserialize(memoryview(raw) if zero_copy else raw, conn.msgtype)
            n += 1
            size += len(raw)
    return Pass(n, size, time.perf_counter() - t0, time.process_time() - c0)


def rosbags_pass(path: Path, msgtypes: Collection[str] | None) -> Pass:
    """rosbags as documented: every message of ``msgtypes`` read and ``deserialize_cdr(raw)``-ed."""
    return _rosbags(path, msgtypes, zero_copy=False)


def rosbags_zero_copy_pass(path: Path, msgtypes: Collection[str] | None) -> Pass:
    """rosbags with ``deserialize_cdr(memoryview(raw))``: no copy of the message when the CDR header is sliced
    off (what fusion_stack does for large messages); the strict floor."""
    return _rosbags(path, msgtypes, zero_copy=True)


def fusion_pass(path: Path, topics: Collection[str] | None) -> Pass:
    """fusion_stack: open_recording iteration producing typed samples of ``topics`` (default: every topic with
    a converter); the payload bytes are the caller's (the same messages as the rosbags pass)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with open_recording(path, topics=topics) as rec:
        for _sample in rec:
            n += 1
    return Pass(n, 0, time.perf_counter() - t0, time.process_time() - c0)


def topics_of(path: Path, msgtypes: Collection[str] | None) -> list[str] | None:
    """The topics of ``msgtypes`` in the bag (None: all)."""
    if msgtypes is None:
        return None
    with AnyReader([path], default_typestore=get_typestore(Stores.LATEST)) as reader:
        return sorted({c.topic for c in reader.connections if c.msgtype in msgtypes})


READERS: tuple[tuple[str, Callable[[Path, Any], Pass], bool], ...] = (
    ("rosbags", rosbags_pass, False), ("rosbags zero-copy", rosbags_zero_copy_pass, False),
    ("fusion_stack", fusion_pass, True))
GROUPS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("PointCloud2", ("sensor_msgs/msg/PointCloud2",)), ("Image", ("sensor_msgs/msg/Image",)), ("all", None))


def measure(path: Path, repeats: int) -> list[dict[str, Any]]:
    """One row per message group and reader: medians over ``repeats`` (readers interleaved in each repeat)."""
    rows = []
    for label, types in GROUPS:
        topics = topics_of(path, types)
        runs: dict[str, list[Pass]] = {name: [] for name, _, _ in READERS}
        for _ in range(repeats):
            for name, fn, by_topic in READERS:
                gc.collect()
                runs[name].append(fn(path, topics if by_topic else types))
        base = runs["rosbags"][0]
        for name, passes in runs.items():
            if passes[0].messages != base.messages:
                raise SystemExit(f"{label}: rosbags read {base.messages} messages, {name} {passes[0].messages}")
        wall = {name: statistics.median(r.seconds for r in passes) for name, passes in runs.items()}
        cpu = {name: statistics.median(r.cpu_seconds for r in passes) for name, passes in runs.items()}
        for name, passes in runs.items():
            rows.append({"messages": label, "reader": name, "count": base.messages,
                         "payload_mb": base.payload_bytes / 1e6, "seconds": wall[name],
                         "samples_per_s": base.messages / wall[name],
                         "mb_per_s": base.payload_bytes / wall[name] / 1e6, "ratio": wall[name] / wall["rosbags"],
                         "ratio_zero_copy": wall[name] / wall["rosbags zero-copy"],
                         "cpu_seconds": cpu[name], "cpu_ratio": cpu[name] / cpu["rosbags"],
                         "runs_s": [r.seconds for r in passes]})
    return rows


def profile(path: Path, top: int) -> str:
    """cProfile of one fusion_stack pass over every message: the ``top`` functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    fusion_pass(path, None)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'messages':<12} {'count':>5} {'MB':>5}  {'reader':<18} {'s':>7} {'samples/s':>10} {'MB/s':>7} "
            f"{'/ rosbags':>10} {'/ zero-copy':>11} {'CPU / rosbags':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['messages']:<12} {r['count']:>5} {r['payload_mb']:>5.0f}  {r['reader']:<18} "
                     f"{r['seconds']:>7.3f} {r['samples_per_s']:>10.1f} {r['mb_per_s']:>7.0f} {r['ratio']:>10.3f} "
                     f"{r['ratio_zero_copy']:>11.3f} {r['cpu_ratio']:>14.3f}")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the generated bag (1.0)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/replay.json"))
    parser.add_argument("--dir", type=Path, default=None, help="where to generate / find the bag (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bag (reused by the next run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", type=int, default=120_000, help="LiDAR points per cloud (120000)")
    parser.add_argument("--camera", type=_size, default=(1600, 900), help="camera WIDTHxHEIGHT (1600x900)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print a cProfile of one fusion_stack pass (top N functions)")
    args = parser.parse_args(argv)
    spec = BagSpec(args.size_gb, args.points, *args.camera)
    root = args.dir if args.dir is not None else Path(tempfile.mkdtemp(prefix="fusion_replay_"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / spec.name
    generated = False
    try:
        t0 = time.perf_counter()
        if not (path / "metadata.yaml").exists():
            print(f"generating {path} ({spec.duration_s:.2f} s of data) ...", flush=True)
            generate(path, spec)
            generated = True
        gen_s = time.perf_counter() - t0
        disk = _warm(path)
        mcap = _storage_file(path)
        how = f"generated in {gen_s:.0f} s" if generated else "cached"
        print(f"bag {mcap} ({disk / 1e9:.2f} GB, {how}); "
              f"{spec.duration_s:.2f} s: {LIDAR_HZ} Hz LiDAR {spec.points} points, {len(CAMERAS)} x {CAMERA_HZ} Hz "
              f"rgb8 {spec.width}x{spec.height}; medians of {args.repeats}, warm page cache", flush=True)
        rows = measure(mcap, args.repeats)
        print(_table(rows))
        fusion = {r["messages"]: r for r in rows if r["reader"] == "fusion_stack"}
        overall = fusion["all"]
        print(f"fusion_stack overhead, all messages: {100 * (overall['ratio'] - 1):+.1f}% over rosbags "
              f"(target <= +10%; CPU time {100 * (overall['cpu_ratio'] - 1):+.1f}%), "
              f"{100 * (overall['ratio_zero_copy'] - 1):+.1f}% over rosbags zero-copy")
        prof = profile(mcap, args.profile) if args.profile else ""
        if prof:
            print(prof)
        result = {"benchmark": "replay", "bag": {"size_bytes": disk, "duration_s": spec.duration_s,
                                                  "lidar_hz": LIDAR_HZ, "points": spec.points,
                                                  "point_step": POINT_BYTES, "cameras": len(CAMERAS),
                                                  "camera_hz": CAMERA_HZ, "camera": f"{spec.width}x{spec.height}",
                                                  "encoding": "rgb8", "storage": "mcap"},
                  "repeats": args.repeats, "overhead": overall["ratio"] - 1,
                  "cpu_overhead": overall["cpu_ratio"] - 1, "overhead_zero_copy": overall["ratio_zero_copy"] - 1,
                  "rows": rows,
                  "environment": {"python": sys.version.split()[0], "numpy": np.__version__,
                                  "rosbags": getattr(rosbags, "__version__", "?"),
                                  "machine": platform.machine(), "cpus": os.cpu_count()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    finally:
        if not args.keep and generated:
            shutil.rmtree(path, ignore_errors=True)
        if args.dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
