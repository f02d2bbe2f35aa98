"""``fusion-stack calib``: validate, convert and show rig calibrations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fusion_stack.calibration.rig import Rig
from fusion_stack.errors import FusionStackError

EXIT_OK, EXIT_INVALID = 0, 1


def _image_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        size = (int(w), int(h))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1242x375, got {text!r}") from err
    if min(size) <= 0:
        raise argparse.ArgumentTypeError(f"image size must be positive, got {text!r}")
    return size


def _format_help() -> str:
    from fusion_stack.calibration.formats import RIG_FORMATS

    rows = []
    for name, spec in RIG_FORMATS.items():
        rw = ("r" if spec.load else "-") + ("w" if spec.save else "-")
        rows.append(f"  {name:<14} {rw}  {spec.description}")
    return "calibration formats (r: read, w: write):\n" + "\n".join(rows)


def _add_load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="fmt", metavar="FORMAT",
                   help="input format (default: guessed from the name and contents)")
    p.add_argument("--image-size", type=_image_size, metavar="WxH",
                   help="image size for formats that do not store one (KITTI, nuScenes); e.g. 1242x375")
    p.add_argument("--name", help="rig name to use (default: from the input)")
    p.add_argument("--rotation-tolerance", type=float, default=None, metavar="ATOL",
                   help="accept rotation matrices off orthonormal by up to ATOL (max |R^T R - I|) and project "
                        "them onto the nearest rotation (default 1e-5); for files written with few digits")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``calib`` and its actions to the CLI's sub-parsers."""
    calib = sub.add_parser("calib", help="validate, convert and show rig calibrations",
                           description="Rig calibrations: sensors, intrinsics, extrinsics (frame tree) and time "
                                       "offsets.\n\n" + _format_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = calib.add_subparsers(dest="calib_command", metavar="ACTION")
    csub.required = True

    v = csub.add_parser("validate", help="check calibration files; print one line per file",
                        description="Load and validate each file (rotations orthonormal with det +1, positive "
                                    "focal lengths, principal points inside the image, no NaN/Inf, sensors "
                                    "present, frames connected). Exit 1 if any file is invalid.")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE")
    v.add_argument("--require", nargs="+", default=[], metavar="SENSOR",
                   help="sensor ids that must be present in every rig")
    _add_load_options(v)

    c = csub.add_parser("convert", help="convert a calibration between formats",
                        description="Read SRC and write DST in another format.\n\n" + _format_help(),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("src", type=Path, metavar="SRC")
    c.add_argument("dst", type=Path, metavar="DST")
    c.add_argument("--to", required=True, metavar="FORMAT", help="output format (see the list above)")
    _add_load_options(c)

    s = csub.add_parser("show", help="print a rig's sensors and frame tree; --plot draws it",
                        description="Print sensors and the frame tree. With --plot, write a picture of the rig "
                                    "seen from above and from the side with camera frustums.")
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--plot", type=Path, metavar="OUT.png", help="write a picture of the rig here")
    _add_load_options(s)


def _load(args: argparse.Namespace, path: Path) -> Rig:
    from fusion_stack.calibration.formats import LoadOptions, load_any
    from fusion_stack.geometry.rotations import ROTATION_ATOL

    atol = ROTATION_ATOL if args.rotation_tolerance is None else args.rotation_tolerance
    return load_any(path, args.fmt, LoadOptions(image_size=args.image_size, name=args.name, rotation_atol=atol))


def _describe(rig: Rig) -> str:
    lines = [f"rig {rig.name!r}  base frame {rig.base_frame!r}  {len(rig.sensors)} sensors", "",
             f"  {'sensor':<20} {'kind':<7} {'frame':<28} {'offset_ms':>9}  intrinsics"]
    for s in rig.sensors:
        intr = ""
        if s.camera is not None:
            cam = s.camera
            intr = (f"{cam.model_name} {cam.width}x{cam.height} fx={cam.fx:.1f} fy={cam.fy:.1f} "
                    f"cx={cam.cx:.1f} cy={cam.cy:.1f}")
        lines.append(f"  {s.sensor_id:<20} {s.kind:<7} {s.frame_id:<28} {s.time_offset_ns / 1e6:>9.3f}  {intr}")
    lines += ["", "frame tree (child2parent):", rig.frame_graph().tree_text()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``calib ACTION``; returns the exit code."""
    if args.calib_command == "validate":
        bad = 0
        for path in args.files:
            try:
                rig = _load(args, path)
                rig.require_sensors(args.require)
            except FusionStackError as err:
                bad += 1
                print(f"INVALID {path}: {err}", file=sys.stderr)
                continue
            kinds = ", ".join(f"{sum(s.kind == k for s in rig.sensors)} {k}"
                              for k in sorted({s.kind for s in rig.sensors}))
            print(f"OK      {path}: rig {rig.name!r}, {len(rig.sensors)} sensors ({kinds})")
        return EXIT_INVALID if bad else EXIT_OK
    if args.calib_command == "convert":
        from fusion_stack.calibration.formats import save_any

        rig = _load(args, args.src)
        save_any(rig, args.dst, args.to)
        print(f"wrote {args.dst} ({args.to}) from {args.src}: {len(rig.sensors)} sensors")
        return EXIT_OK
    rig = _load(args, args.file)
    print(_describe(rig))
    if args.plot:
        from fusion_stack.eval.rig_plot import plot_rig

        out = plot_rig(rig, args.plot)
        print(f"\nwrote {out}")
    return EXIT_OK


