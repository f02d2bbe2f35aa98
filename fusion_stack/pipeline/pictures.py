"""Pictures of pipeline results: per pipeline, every ``every_s`` seconds of data, the cameras with the detected
(and ground-truth) boxes beside a bird's-eye view; at the end, one side-by-side bird's-eye comparison of all
pipelines per picture time. Written as PNG under ``folder``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fusion_stack.calibration.rig import Rig
from fusion_stack.eval.detection_plots import contact_sheet, draw_bev, draw_boxes_on_image, save_image
from fusion_stack.pipeline.pipeline import FrameResult
from fusion_stack.types import CameraImage, PointCloud

_BEV_EXTENT_M = 50.0


def _rgb(image: CameraImage) -> np.ndarray:
    data = np.asarray(image.data)
    if image.encoding == "bgr8":
        return np.ascontiguousarray(data[:, :, ::-1])
    if image.encoding in ("rgba8", "bgra8"):
        rgb = data[:, :, :3]
        return np.ascontiguousarray(rgb[:, :, ::-1] if image.encoding == "bgra8" else rgb)
    if data.shape[2] == 1:
        mono = data[:, :, 0]
        if mono.dtype != np.uint8:
            m = mono.astype(np.float32)
            span = float(m.max() - m.min()) or 1.0
            mono = ((m - m.min()) * (255.0 / span)).astype(np.uint8)
        return np.repeat(mono[:, :, None], 3, axis=2)
    return np.ascontiguousarray(data)


class PictureSink:
    """Draws pictures of results into ``folder`` (see the module docstring); at most ``max_pictures`` per
    pipeline, the first ``first_after_s`` after a pipeline's first result (default: half of ``every_s``). ``rig``
    places cameras and the LiDAR when a pipeline's own frame lacks them (a LiDAR-only pipeline drawn on the camera
    images)."""

    def __init__(self, folder: str | os.PathLike[str], *, rig: Rig, every_s: float = 2.0, max_pictures: int = 8,
                 cameras: Sequence[str] | None = None, first_after_s: float | None = None) -> None:
        self.folder = Path(folder)
        self.rig = rig
        self.every_ns = int(every_s * 1e9)
        # sequences: the first picture after the tracks settled (half a period); datasets: 0
        self.first_after_ns = self.every_ns // 2 if first_after_s is None else int(first_after_s * 1e9)
        self.max_pictures = int(max_pictures)
        self.cameras = tuple(cameras) if cameras is not None else tuple(
            s.sensor_id for s in rig.sensors_of_kind("camera"))
        self._images: dict[str, CameraImage] = {}
        self._lidar: PointCloud | None = None
        self._next: dict[str, int] = {}
        self._count: dict[str, int] = {}
        self._bevs: dict[int, dict[str, np.ndarray]] = {}
        self._order: list[str] = []
        self.written: list[Path] = []
        self._t0: int | None = None

    def on_sample(self, sample: Any, log_stamp_ns: int) -> None:
        if self._t0 is None and hasattr(sample, "stamp_ns"):
            self._t0 = int(sample.stamp_ns)
        if isinstance(sample, CameraImage) and sample.sensor_id in self.cameras:
            self._images[sample.sensor_id] = sample
        elif (isinstance(sample, PointCloud) and sample.sensor_id in self.rig.sensor_ids
              and self.rig.sensor(sample.sensor_id).kind == "lidar"):
            self._lidar = sample

    def _points(self, result: FrameResult) -> np.ndarray | None:
        if result.frame.lidar is not None:
            return np.asarray(result.frame.lidar.positions)
        if self._lidar is None:
            return None
        src2out = self.rig.transform(self._lidar.frame_id, result.frame.frame_id)
        return src2out.apply(self._lidar.positions)

    def on_result(self, pipeline: str, result: FrameResult) -> None:
        if pipeline not in self._order:
            self._order.append(pipeline)
        due = self._next.get(pipeline)
        if due is None:
            due = result.stamp_ns + self.first_after_ns
        if result.stamp_ns < due or self._count.get(pipeline, 0) >= self.max_pictures:
            self._next[pipeline] = due
            return
        self._next[pipeline] = due + self.every_ns
        self._count[pipeline] = self._count.get(pipeline, 0) + 1
        radar = result.frame.radar
        if self._t0 is None:
            self._t0 = result.stamp_ns
        t = (result.stamp_ns - self._t0) * 1e-9
        title = (f"{pipeline}  t={t:.2f} s  {len(result.detections)} boxes"
                 + (f"  missing: {', '.join(sorted(result.missing))}" if result.missing else ""))
        bev = draw_bev(points=self._points(result), detections=result.detections, ground_truth=result.ground_truth,
                       radar=None if radar is None else radar.positions,
                       radar_velocities=None if radar is None else (
                           radar.lines_of_sight() * np.asarray(radar.radial_velocity)[:, None]),
                       extent_m=_BEV_EXTENT_M, title=title)
        self._bevs.setdefault(self._count[pipeline], {})[pipeline] = bev  # k-th pictures are at about one time
        cams = []
        labels = []
        for cid in self.cameras:
            img = self._images.get(cid)
            if img is None:
                continue
            pose = result.frame.cameras.get(cid)
            cam = self.rig.sensor(cid).camera
            if cam is None:
                continue
            out2cam = pose.out2cam if pose is not None else self.rig.transform(result.frame.frame_id,
                                                                               self.rig.sensor(cid).frame_id)
            cams.append(draw_boxes_on_image(_rgb(img), result.detections, camera=cam, box2cam=out2cam,
                                            ground_truth=result.ground_truth))
            labels.append(cid)
        name = f"{pipeline}_{t:06.2f}s.png"
        if cams:
            sheet = contact_sheet(cams, columns=3, labels=labels)
            scale = sheet.shape[0] / bev.shape[0]
            side = cv2.resize(bev, (int(bev.shape[1] * scale), sheet.shape[0]), interpolation=cv2.INTER_AREA)
            picture = np.concatenate([sheet, side], axis=1)
        else:
            picture = bev
        path = self.folder / pipeline / name
        save_image(path, picture)
        self.written.append(path)

    def close(self) -> None:
        """Write the side-by-side bird's-eye comparisons (one per picture index all pipelines reached)."""
        for index, bevs in sorted(self._bevs.items()):
            names = [p for p in self._order if p in bevs]
            if len(names) < 2:
                continue
            sheet = contact_sheet([bevs[p] for p in names], columns=min(len(names), 3), labels=names)
            path = self.folder / f"compare_{index:02d}.png"
            save_image(path, sheet)
            self.written.append(path)

