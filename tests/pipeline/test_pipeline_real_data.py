"""Real recordings through the LiDAR and data-level pipelines: boxes land on real objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusion_stack.eval.pipeline_metrics import count_points_in_boxes
from fusion_stack.pipeline.config import load_config
from fusion_stack.pipeline.pictures import PictureSink
from fusion_stack.pipeline.pipeline import FusionPipeline
from fusion_stack.pipeline.runner import CollectSink, open_source, run_pipelines
from fusion_stack.types import Boxes3D


def _recall_at_2m(gt: Boxes3D, det: Boxes3D) -> float:
    if not len(gt):
        return float("nan")
    if not len(det):
        return 0.0
    d = np.linalg.norm(gt.centers[:, None, :2] - det.centers[None, :, :2], axis=2)
    return float(np.mean(d.min(axis=1) <= 2.0))


def _run(path: Path, tmp_path: Path) -> tuple[CollectSink, PictureSink]:
    source = open_source(path)
    pipes = [FusionPipeline.from_config(load_config(n), source.rig) for n in ("lidar_only", "data_level")]
    collect = CollectSink()
    pictures = PictureSink(tmp_path / "pictures", rig=source.rig, every_s=0.0)
    try:
        run_pipelines(source, pipes, sinks=[collect, pictures])
    finally:
        source.close()
    return collect, pictures


def test_nuscenes_keyframe_boxes_land_on_real_objects(shared_data: Path, tmp_path: Path) -> None:
    collect, pictures = _run(shared_data / "nuscenes_keyframe" / "info.json", tmp_path)
    on_gt = {}
    for name in ("lidar_only", "data_level"):
        (res,) = collect.results[name]
        gt = res.ground_truth
        assert gt is not None and res.frame.lidar is not None
        # the keyframe is a busy crossing: pedestrians and barriers, few points each; boxes with >= 5 points
        pts = count_points_in_boxes(res.frame.lidar.positions, gt)
        near = (np.hypot(gt.centers[:, 0], gt.centers[:, 1]) <= 40) & (pts >= 5) & (
            np.asarray(gt.label_names()) != "ignore")
        recall = _recall_at_2m(gt.select(near), res.detections)
        assert int(near.sum()) >= 20
        assert recall >= 0.5, (name, recall, int(near.sum()))
        # detections on an annotated object (within 2 m of a ground-truth box of any class)
        d = np.linalg.norm(res.detections.centers[:, None, :2] - gt.centers[None, :, :2], axis=2)
        on_gt[name] = float(np.mean(d.min(axis=1) <= 2.0))
    assert on_gt["lidar_only"] >= 0.2, on_gt
    assert on_gt["data_level"] >= 0.3, on_gt  # the cameras' classes remove background clusters
    assert any(p.parent.name == "data_level" for p in pictures.written)
    assert all(p.stat().st_size > 10_000 for p in pictures.written)


def test_kitti_pedestrian_is_found(shared_data: Path, tmp_path: Path) -> None:
    collect, _ = _run(shared_data / "kitti_object" / "training", tmp_path)
    for name in ("lidar_only", "data_level"):
        (res,) = collect.results[name]
        gt = res.ground_truth
        assert gt is not None and len(gt) == 1 and gt.label_names() == ("pedestrian",)  # KITTI name mapped
        assert _recall_at_2m(gt, res.detections) == 1.0, name
