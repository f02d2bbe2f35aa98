"""KITTI object labels (``label_2/*.txt``) -> typed boxes.

Each line: type, truncated, occluded, alpha, bbox (left, top, right, bottom px), dimensions (h, w, l m),
location (x, y, z m: bottom centre in the rectified reference camera frame ``cam_rect_optical``, y down),
rotation_y (rad about the camera's y axis), and optionally a score (detections).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion_stack.geometry.se3 import SE3
from fusion_stack.io.errors import RecordingError
from fusion_stack.types import Boxes3D

KITTI_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")


@dataclass(frozen=True)
class KittiLabel:
    """One KITTI label line (units: pixels for ``bbox``, metres, radians)."""

    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: tuple[float, float, float, float]
    dimensions_hwl: tuple[float, float, float]
    location: tuple[float, float, float]
    rotation_y: float
    score: float = 1.0


def parse_kitti_labels(text: str, *, source: str | None = None) -> list[KittiLabel]:
    """Parse the text of a KITTI label file; RecordingError names the file and line on bad input."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (15, 16):
            raise RecordingError(f"expected 15 or 16 values, got {len(parts)}: {line[:80]!r}", source=source,
                                 field=f"line {lineno}")
        try:
            v = [float(x) for x in parts[1:]]
        except ValueError as err:
            raise RecordingError(f"values must be numbers: {err}", source=source, field=f"line {lineno}") from err
        out.append(KittiLabel(parts[0], v[0], int(v[1]), v[2], (v[3], v[4], v[5], v[6]), (v[7], v[8], v[9]),
                              (v[10], v[11], v[12]), v[13], v[14] if len(v) > 14 else 1.0))
    return out


def load_kitti_labels(path: str | Path) -> list[KittiLabel]:
    """Read a KITTI ``label_2/*.txt`` file."""
    p = Path(path)
    try:
        return parse_kitti_labels(p.read_text(), source=str(p))
    except OSError as err:
        raise RecordingError(f"cannot read: {err.strerror}", source=str(p)) from err


def kitti_labels_to_boxes(labels: list[KittiLabel], rect2dst: SE3, *, dst_frame: str, stamp_ns: int = 0,
                          sensor_id: str = "kitti_labels", skip_dontcare: bool = True) -> Boxes3D:
    """Labels as gravity-aligned Boxes3D in ``dst_frame`` (``rect2dst`` maps ``cam_rect_optical`` into it,
    e.g. ``rig.transform("cam_rect_optical", "velodyne")``). Class names are ``KITTI_CLASSES``."""
    keep = [lab for lab in labels if not (skip_dontcare and lab.type == "DontCare")]
    for lab in keep:
        if lab.type not in KITTI_CLASSES:
            raise RecordingError(f"unknown KITTI class {lab.type!r}; expected one of {KITTI_CLASSES}",
                                 field="type")
    n = len(keep)
    hwl = np.array([lab.dimensions_hwl for lab in keep], dtype=np.float64).reshape(n, 3)
    bottom = np.array([lab.location for lab in keep], dtype=np.float64).reshape(n, 3)
    ry = np.array([lab.rotation_y for lab in keep], dtype=np.float64)
    centre_rect = bottom - np.stack([np.zeros(n), hwl[:, 0] / 2, np.zeros(n)], axis=1)  # camera y points down
    heading_rect = np.stack([np.cos(ry), np.zeros(n), -np.sin(ry)], axis=1)
    heading = rect2dst.apply_rotation(heading_rect)
    return Boxes3D(stamp_ns, dst_frame, sensor_id, rect2dst.apply(centre_rect), hwl[:, [2, 1, 0]],
                   np.arctan2(heading[:, 1], heading[:, 0]),
                   np.array([KITTI_CLASSES.index(lab.type) for lab in keep], dtype=np.int64), KITTI_CLASSES,
                   np.array([lab.score for lab in keep]))
