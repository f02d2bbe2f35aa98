"""Train the camera segmentation network (fusion_stack.models.camera_net) on simulator images, evaluate it on
held-out scenes and write the checkpoint and its JSON record.

1. Data: every training seed is a new simulated scene (``make_scene(seed=..., duration_s=--duration)``) seen by
   the six cameras of the default rig (a camera-only copy of it, so no LiDAR or radar is simulated) at
   ``--camera-hz`` frames per second each; images are resized to the input size, labels (the semantic mask
   mapped to SEGMENTATION_CLASSES: box classes, everything else background) resized with nearest neighbour.
   ``--cache FILE.npz`` keeps the generated set for reruns with the same data options.
2. Training: AdamW for ``--train-minutes`` of wall time (the learning rate follows the clock: warm-up, cosine
   decay; on a busy machine fewer steps are made but the schedule still ends annealed), class-weighted
   cross-entropy at the input resolution (logits upsampled from the network's half-resolution output; weight of
   class c = (f_background / f_c) ** power, clipped to [1, --max-weight], f from the training labels), random
   flips, zoom-crops and colour jitter.
3. Held-out evaluation (seeds not used for training), at the full 640 x 360 resolution through
   ``CameraSegmenter`` loading the written checkpoint: per-class IoU, mIoU, object recall (ground-truth
   instances with >= 200 pixels whose pixels' majority predicted class is right). The same on the short
   "check" simulation that tests/models/test_camera_net.py repeats, and the inference time per 640 x 360
   image on one thread.
4. Camera-only 3D boxes (fusion_stack.models.camera_boxes) on the held-out scenes, from perfect class maps
   and from the network's maps: recall of ground-truth objects within 25 m and the centre distance errors.

Example: ``.venv/bin/python scripts/train_camera_net.py --cache /tmp/camera_train.npz --train-minutes 20``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)
from tqdm import tqdm

from fusion_stack.calibration.rig import Rig
from fusion_stack.models.camera_boxes import CameraBoxDetector, score_camera_boxes
from fusion_stack.models.camera_net import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_WIDTHS,
    SEGMENTATION_CLASSES,
    CameraSegmenter,
    ClassMaps,
    SegmentationNet,
    SegmentationScores,
    class_maps_from_labels,
    default_checkpoint,
    load_network,
    normalize_images,
    resize_rgb,
    save_checkpoint,
    score_segmentation,
    segmentation_labels,
)
from fusion_stack.sim.camera import CameraTruth
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.sim.truth import GROUND_TRUTH_ID
from fusion_stack.types import Boxes3D, CameraImage

NUM_CLASSES = len(SEGMENTATION_CLASSES)


def parse_seeds(text: str) -> list[int]:
    """"100-103,7" -> [100, 101, 102, 103, 7]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            out += list(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def parse_size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def camera_rig() -> Rig:
    """The default simulation rig restricted to its six cameras."""
    rig = default_rig()
    cams = tuple(s for s in rig.sensors if s.kind == "camera")
    frames = {s.frame_id for s in cams}
    return Rig(rig.name + "_cameras", rig.base_frame, cams, tuple(t for t in rig.transforms if t.child in frames))


def simulate_frames(seed: int, duration_s: float, camera_hz: float
                    ) -> Iterator[tuple[CameraImage, CameraTruth, Boxes3D | None]]:
    """(image, per-pixel truth, the latest ground-truth boxes in base_link) of every camera frame of a scene."""
    scene = make_scene(seed=seed, duration_s=duration_s)
    boxes: Boxes3D | None = None
    for s in run_simulation(scene, camera_rig(), world=build_world(scene), camera_rate_hz=camera_hz,
                            with_tf=False):
        if isinstance(s.sample, Boxes3D) and s.sample.sensor_id == GROUND_TRUTH_ID:
            boxes = s.sample
        elif isinstance(s.sample, CameraImage) and isinstance(s.truth, CameraTruth):
            yield s.sample, s.truth, boxes


def generate(seeds: list[int], duration_s: float, camera_hz: float, size: tuple[int, int]
             ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Training images (N, h, w, 3) uint8 and labels (N, h, w) uint8 at the input size."""
    images, labels = [], []
    for seed in tqdm(seeds, desc="simulating", unit="scene", file=sys.stderr):
        for image, truth, _ in simulate_frames(seed, duration_s, camera_hz):
            images.append(resize_rgb(np.asarray(image.data), size))
            lab = segmentation_labels(truth.semantic_mask)
            labels.append(cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST))
    return np.stack(images), np.stack(labels)


def class_weights(labels: npt.NDArray[np.uint8], power: float, max_weight: float) -> npt.NDArray[np.float64]:
    freq = np.bincount(labels.ravel(), minlength=NUM_CLASSES).astype(np.float64)
    freq = np.maximum(freq / freq.sum(), 1e-6)
    return np.clip((freq[0] / freq) ** power, 1.0, max_weight)


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip, zoom-crop (scale 1..1.4 for half the batch) and colour jitter.

    x: (B, 3, H, W) normalised float, y: (B, H, W) int64."""
    b = x.shape[0]
    zoom = torch.where(torch.rand(b, generator=gen) < 0.5, 1.0 + 0.4 * torch.rand(b, generator=gen),
                       torch.ones(b))
    inv = 1.0 / zoom
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - inv)
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - inv)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = inv * flip
    theta[:, 1, 1] = inv
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="border",
                      align_corners=False)[:, 0].long()
    gain = 1.0 + 0.25 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1)
    shift = 0.3 * (torch.rand(b, 3, 1, 1, generator=gen) * 2 - 1)
    return x * gain + shift, y


def lr_at(fraction: float, max_lr: float, warmup: float = 0.05) -> float:
    """Learning rate at a fraction of the time budget: linear warm-up, then cosine down to 1 % of ``max_lr``."""
    if fraction < warmup:
        return max_lr * (0.1 + 0.9 * fraction / warmup)
    f = min(1.0, (fraction - warmup) / (1.0 - warmup))
    return max_lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * f)))


def train(images: npt.NDArray[np.uint8], labels: npt.NDArray[np.uint8], args: argparse.Namespace
          ) -> tuple[SegmentationNet, dict[str, Any]]:
    """Train for ``args.train_minutes`` of wall time (the schedule follows the clock, so a busy machine gives
    fewer steps but the same annealed end) or ``args.epochs`` epochs, whichever ends first."""
    torch.manual_seed(args.torch_seed)
    gen = torch.Generator().manual_seed(args.torch_seed)
    model = SegmentationNet(widths=args.widths)
    weights = class_weights(labels, args.weight_power, args.max_weight)
    criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
    n = len(images)
    steps_per_epoch = max(1, n // args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    budget = args.train_minutes * 60.0
    t0 = time.perf_counter()
    losses: list[float] = []
    steps = 0
    done = False
    model.train()
    bar = tqdm(total=int(budget), desc="training", unit="s", file=sys.stderr,
               bar_format="{l_bar}{bar}| {n}/{total} s [{postfix}]")
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        count = 0
        for i in range(steps_per_epoch):
            fraction = (time.perf_counter() - t0) / budget
            if fraction >= 1.0:
                done = True
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(fraction, args.lr)
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            x, y = augment(normalize_images(x_all[idx]), y_all[idx], gen)
            logits = F.interpolate(model(x), size=y.shape[1:], mode="bilinear", align_corners=False)
            loss = criterion(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            total += float(loss.detach())
            count += 1
            bar.n = min(int(time.perf_counter() - t0), int(budget))
            bar.set_postfix_str(f"epoch {epoch + 1}, step {steps}, loss {total / count:.3f}")
        if count:
            losses.append(total / count)
        if done:
            break
    bar.close()
    model.eval()
    return model, {"time_budget_s": budget, "epochs_done": round(steps / steps_per_epoch, 2), "steps": steps,
                   "steps_per_epoch": steps_per_epoch, "batch_size": args.batch_size, "max_lr": args.lr,
                   "optimizer": "AdamW(weight_decay=1e-4); lr follows the clock: 5 % linear warm-up, cosine to 1 %",
                   "loss": "cross-entropy at the input resolution, class-weighted",
                   "class_weights": {c: round(float(w), 3) for c, w in zip(SEGMENTATION_CLASSES, weights)},
                   "augmentation": "horizontal flip, zoom-crop 1..1.4 (p=0.5), brightness/colour jitter",
                   "epoch_loss": [round(v, 4) for v in losses], "wall_s": round(time.perf_counter() - t0, 1),
                   "torch_threads": torch.get_num_threads(), "torch_seed": args.torch_seed}


def evaluate(segmenter: CameraSegmenter, seeds: list[int], duration_s: float, camera_hz: float, desc: str
             ) -> tuple[dict[str, Any], list[tuple[int, CameraImage, CameraTruth, Boxes3D | None, ClassMaps]]]:
    """Scores over every camera frame of the seeds; also returns the frames with their maps (for the boxes)."""
    scores: SegmentationScores | None = None
    frames = []
    n = 0
    for seed in tqdm(seeds, desc=desc, unit="scene", file=sys.stderr):
        for image, truth, boxes in simulate_frames(seed, duration_s, camera_hz):
            maps = segmenter.predict(image)
            s = score_segmentation(maps, segmentation_labels(truth.semantic_mask), truth.instance_mask)
            scores = s if scores is None else scores.merged(s)
            frames.append((seed, image, truth, boxes, maps))
            n += 1
    assert scores is not None
    iou = scores.iou()
    pix = scores.confusion.sum(axis=1)
    return {"seeds": seeds, "duration_s": duration_s, "camera_hz": camera_hz, "images": n,
            "per_class_iou": {c: (None if math.isnan(v) else round(float(v), 4))
                              for c, v in zip(SEGMENTATION_CLASSES, iou)},
            "miou": round(scores.miou(), 4), "miou_objects": round(scores.miou(objects_only=True), 4),
            "pixel_accuracy": round(float(np.trace(scores.confusion) / scores.confusion.sum()), 4),
            "object_recall": round(scores.object_recall(), 4),
            "instances_total": {c: int(v) for c, v in zip(SEGMENTATION_CLASSES, scores.instances_total)},
            "instances_found": {c: int(v) for c, v in zip(SEGMENTATION_CLASSES, scores.instances_found)},
            "true_pixels": {c: int(v) for c, v in zip(SEGMENTATION_CLASSES, pix)}}, frames


def time_inference(segmenter: CameraSegmenter, image: CameraImage, repeats: int) -> dict[str, Any]:
    """Milliseconds per 640 x 360 image through predict (resize, network, softmax) on one torch thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    for _ in range(5):
        segmenter.predict(image)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        segmenter.predict(image)
        ts.append((time.perf_counter() - t) * 1000)
    torch.set_num_threads(before)
    ts.sort()
    return {"ms_per_image_median": round(statistics.median(ts), 2), "ms_per_image_min": round(ts[0], 2),
            "ms_per_image_p90": round(ts[int(0.9 * (len(ts) - 1))], 2), "repeats": repeats, "torch_threads": 1,
            "image_size": [image.width, image.height], "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu": platform.processor() or platform.machine(), "note": "shared machine: the minimum is the best "
            "estimate of an unloaded core"}


def visible_ids(truths: list[CameraTruth], min_pixels: int = 200) -> set[int]:
    """Instance ids with at least ``min_pixels`` pixels in some image of the set."""
    per: dict[int, int] = {}
    for t in truths:
        i, c = np.unique(t.instance_mask[t.instance_mask >= 0], return_counts=True)
        for a, b in zip(i.tolist(), c.tolist()):
            per[a] = max(per.get(a, 0), b)
    return {a for a, b in per.items() if b >= min_pixels}


def evaluate_boxes(frames: list[tuple[int, CameraImage, CameraTruth, Boxes3D | None, ClassMaps]],
                   max_range_m: float) -> dict[str, Any]:
    """Camera-only boxes per simultaneous set of six images, from perfect maps (the semantic masks averaged into
    the network's output cells) and from the network's maps, scored against the visible ground truth."""
    rig = camera_rig()
    det = CameraBoxDetector()
    groups: dict[tuple[int, int], list[tuple[CameraImage, CameraTruth, Boxes3D | None, ClassMaps]]] = {}
    for seed, image, truth, boxes, maps in frames:
        groups.setdefault((seed, image.stamp_ns), []).append((image, truth, boxes, maps))
    out: dict[str, Any] = {"max_range_m": max_range_m, "frames": 0,
                           "match": "same class, BEV centre distance < 1.5 m + 0.12 x range",
                           "counted": "ground truth with >= 200 pixels in one image"}
    for kind in ("perfect", "network"):
        results = []
        for group in groups.values():
            gt = group[0][2]
            if gt is None or gt.stamp_ns != group[0][0].stamp_ns:
                continue
            views = []
            for image, truth, _, maps in group:
                m = (class_maps_from_labels(segmentation_labels(truth.semantic_mask), width=maps.width,
                                            height=maps.height) if kind == "perfect" else maps)
                cam = rig.sensor(image.sensor_id).camera
                assert cam is not None
                views.append((m, cam, rig.sensor2base(image.sensor_id)))
            pred = det.detect(views, stamp_ns=gt.stamp_ns, frame_id="base_link")
            results.append((pred, gt, visible_ids([t for _, t, _, _ in group])))
        sc = score_camera_boxes(results, max_range_m=max_range_m)
        out["frames"] = len(results)
        bins = [(0.0, 10.0), (10.0, 20.0), (20.0, max_range_m)]
        out[kind] = {"recall": round(sc.recall(), 4), "gt_counted": len(sc.ranges),
                     "detections_in_range": sc.detections, "false_positives": sc.false_positives,
                     "median_error_m": round(sc.median_error(), 3),
                     "by_range": {f"{lo:.0f}-{hi:.0f} m": {"gt": int(((sc.ranges >= lo) & (sc.ranges < hi)).sum()),
                                                          "recall": round(sc.recall(min_range_m=lo, max_range_m=hi), 4),
                                                          "median_error_m": round(sc.median_error(
                                                              min_range_m=lo, max_range_m=hi), 3)}
                                  for lo, hi in bins}}
    return out


def _no_nan(value: Any) -> Any:
    """The JSON document with NaN floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-seeds", default="100-147", help="scene seeds to train on (ranges: 100-147,5)")
    parser.add_argument("--eval-seeds", default="900-903", help="held-out scene seeds")
    parser.add_argument("--duration", type=float, default=4.0, help="simulated seconds per training scene")
    parser.add_argument("--camera-hz", type=float, default=2.5, help="frames per second per camera")
    parser.add_argument("--eval-duration", type=float, default=4.0, help="simulated seconds per held-out scene")
    parser.add_argument("--check-seed", type=int, default=950, help="seed of the short check simulation")
    parser.add_argument("--check-duration", type=float, default=1.0)
    parser.add_argument("--check-camera-hz", type=float, default=2.0)
    parser.add_argument("--input-size", type=parse_size, default=DEFAULT_INPUT_SIZE,
                        help="network input WIDTHxHEIGHT pixels (default %(default)s)")
    parser.add_argument("--widths", type=lambda s: tuple(int(v) for v in s.split(",")), default=DEFAULT_WIDTHS,
                        help="channels of the 1/2, 1/4, 1/8 stages, e.g. 16,24,48")
    parser.add_argument("--train-minutes", type=float, default=20.0,
                        help="training wall-time budget; the learning-rate schedule spans it")
    parser.add_argument("--epochs", type=int, default=1000, help="at most this many epochs")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-3, help="peak learning rate")
    parser.add_argument("--weight-power", type=float, default=0.4, help="class weight exponent")
    parser.add_argument("--max-weight", type=float, default=20.0, help="largest class weight")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--torch-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="npz file keeping the generated training set")
    parser.add_argument("--out", type=Path, default=default_checkpoint(), help="checkpoint to write")
    parser.add_argument("--json", type=Path, default=None, help="record to write (default: the .pt as .json)")
    parser.add_argument("--skip-boxes", action="store_true", help="skip the camera-box evaluation")
    parser.add_argument("--generate-only", action="store_true", help="only make (and --cache) the training set")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="no training: re-evaluate the existing --out checkpoint and rewrite its JSON (the "
                             "training record is kept)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_seeds = parse_seeds(args.train_seeds)
    eval_seeds = parse_seeds(args.eval_seeds)
    overlap = set(train_seeds) & ({*eval_seeds, args.check_seed})
    if overlap:
        parser.error(f"held-out seeds {sorted(overlap)} are also training seeds")
    out = args.out
    js = args.json or out.with_suffix(".json")
    if args.evaluate_only:  # keep the training record, redo every evaluation of the existing checkpoint
        if not out.is_file() or not js.is_file():
            parser.error(f"--evaluate-only needs an existing {out} and {js}")
        old = json.loads(js.read_text())
        training = old["training"]
        model = load_network(out)[0]
        args.input_size, args.widths = tuple(old["input_size"]), tuple(old["widths"])
    else:
        t_gen = time.perf_counter()
        key = f"{train_seeds}|{args.duration}|{args.camera_hz}|{args.input_size}"
        from_cache = args.cache is not None and args.cache.exists() and str(np.load(args.cache)["key"]) == key
        if from_cache:
            data = np.load(args.cache)
            images, labels = data["images"], data["labels"]
        else:
            images, labels = generate(train_seeds, args.duration, args.camera_hz, args.input_size)
            if args.cache is not None:
                np.savez(args.cache, images=images, labels=labels, key=np.array(key))
        gen_wall = time.perf_counter() - t_gen
        print(f"training set: {len(images)} images {args.input_size[0]}x{args.input_size[1]} ({gen_wall:.0f} s)",
              file=sys.stderr)
        if args.generate_only:
            return
        model, record = train(images, labels, args)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"train_seeds": args.train_seeds, "epochs": record["epochs_done"], "steps": record["steps"]}
        save_checkpoint(out, model, input_size=args.input_size, widths=args.widths, record=meta)
        training = {"seeds": train_seeds, "scene_duration_s": args.duration, "camera_hz": args.camera_hz,
                    "cameras": 6, "images": len(images), "data_generation_wall_s": round(gen_wall, 1),
                    "training_set_from_cache": from_cache, **record,
                    "torch": torch.__version__, "command": " ".join(sys.argv)}
    segmenter = CameraSegmenter(checkpoint=out)
    heldout, frames = evaluate(segmenter, eval_seeds, args.eval_duration, args.camera_hz, "held-out")
    check, _ = evaluate(segmenter, [args.check_seed], args.check_duration, args.check_camera_hz, "check")
    timing = time_inference(segmenter, frames[0][1], 100)
    boxes = {} if args.skip_boxes else evaluate_boxes(frames, 25.0)
    size = out.stat().st_size
    w, h = args.input_size
    doc = {
        "format": "fusion_stack.camera_seg.record/1",
        "checkpoint": out.name, "checkpoint_bytes": size,
        "checkpoint_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "classes": list(SEGMENTATION_CLASSES), "input_size": [w, h], "output_size": [(w + 1) // 2, (h + 1) // 2],
        "widths": list(args.widths), "parameters": sum(p.numel() for p in model.parameters()),
        "weights_dtype": "float16 on disk, float32 in memory",
        "training": training,
        "evaluation_command": " ".join(sys.argv),
        "heldout": heldout,
        "check": check,
        "inference": timing,
        "camera_boxes": boxes,
    }
    js.write_text(json.dumps(_no_nan(doc), indent=1, allow_nan=False) + "\n")
    iou = " ".join(f"{c}={v}" for c, v in heldout["per_class_iou"].items())
    print(f"held-out mIoU {heldout['miou']:.3f} (objects {heldout['miou_objects']:.3f}), object recall "
          f"{heldout['object_recall']:.3f}; IoU {iou}; check mIoU {check['miou']:.3f} recall "
          f"{check['object_recall']:.3f}; {timing['ms_per_image_median']:.2f} ms/image; checkpoint {size} bytes; "
          f"training {training['wall_s']:.0f} s ({training['epochs_done']} epochs)")
    if boxes:
        print("camera boxes:", json.dumps(boxes))


if __name__ == "__main__":
    main()
