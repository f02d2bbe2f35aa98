"""The shipped camera segmentation checkpoint: it loads, gives probabilities of the documented shape, keeps its
recorded accuracy on a freshly simulated held-out scene, and its JSON record is complete; checkpoint errors name
the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fusion_stack.calibration.rig import Rig
from fusion_stack.models.camera_net import (
    SEGMENTATION_CLASSES,
    CameraSegmenter,
    ClassMaps,
    ModelError,
    class_maps_from_labels,
    default_checkpoint,
    score_segmentation,
    segmentation_labels,
)
from fusion_stack.sim.camera import CameraTruth
from fusion_stack.sim.classes import BOX_CLASSES, SEMANTIC_CLASSES
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.types import CameraImage, SampleError


def _record() -> dict[str, Any]:
    return dict(json.loads(default_checkpoint().with_suffix(".json").read_text()))


def _camera_rig() -> Rig:
    rig = default_rig()
    cams = tuple(s for s in rig.sensors if s.kind == "camera")
    frames = {s.frame_id for s in cams}
    return Rig("cams", rig.base_frame, cams, tuple(t for t in rig.transforms if t.child in frames))


@pytest.fixture(scope="module")
def segmenter() -> CameraSegmenter:
    return CameraSegmenter()


@pytest.fixture(scope="module")
def check_frames() -> list[tuple[CameraImage, CameraTruth]]:
    """The short held-out simulation the training script scored as "check" (same seed, duration, rate)."""
    check = _record()["check"]
    scene = make_scene(seed=int(check["seeds"][0]), duration_s=float(check["duration_s"]))
    out = []
    for s in run_simulation(scene, _camera_rig(), world=build_world(scene), camera_rate_hz=float(check["camera_hz"]),
                            with_tf=False):
        if isinstance(s.sample, CameraImage) and isinstance(s.truth, CameraTruth):
            out.append((s.sample, s.truth))
    return out


def test_classes_follow_the_simulator() -> None:
    assert ("background", *BOX_CLASSES) == SEGMENTATION_CLASSES
    mask = np.arange(len(SEMANTIC_CLASSES), dtype=np.uint8)[None, :]
    labels = segmentation_labels(mask)
    for i, name in enumerate(SEMANTIC_CLASSES):
        assert SEGMENTATION_CLASSES[labels[0, i]] == (name if name in BOX_CLASSES else "background")


def test_shipped_checkpoint_predicts_probabilities(segmenter: CameraSegmenter) -> None:
    assert segmenter.class_names == SEGMENTATION_CLASSES
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    maps = segmenter.predict(image)
    assert isinstance(maps, ClassMaps)
    assert maps.probs.dtype == np.float32
    assert maps.probs.shape == (72, 128, len(SEGMENTATION_CLASSES))
    assert (maps.image_width, maps.image_height) == (640, 360)
    np.testing.assert_allclose(maps.probs.sum(axis=2), 1.0, atol=1e-4)
    assert (maps.probs >= 0).all()
    # a batch of mixed inputs and sizes; a BGR CameraImage gives the same maps as its RGB array
    small = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    bgr = CameraImage(1, "cam_optical", "CAM", np.ascontiguousarray(image[:, :, ::-1]), "bgr8")
    out = segmenter.predict_batch([bgr, small])
    assert len(out) == 2
    np.testing.assert_allclose(out[0].probs, maps.probs, atol=1e-5)
    assert (out[1].image_width, out[1].image_height) == (200, 120)
    assert segmenter.predict_batch([]) == []


def test_accuracy_on_a_fresh_held_out_simulation(segmenter: CameraSegmenter,
                                                 check_frames: list[tuple[CameraImage, CameraTruth]]) -> None:
    record = _record()
    assert int(record["check"]["seeds"][0]) not in set(record["training"]["seeds"])
    assert len(check_frames) == record["check"]["images"]
    scores = None
    for image, truth in check_frames:
        s = score_segmentation(segmenter.predict(image), segmentation_labels(truth.semantic_mask),
                               truth.instance_mask)
        scores = s if scores is None else scores.merged(s)
    assert scores is not None
    # a few points below what the training script measured on the same frames, and absolute floors
    assert scores.miou() >= record["check"]["miou"] - 0.03
    assert scores.object_recall() >= record["check"]["object_recall"] - 0.05
    assert scores.miou() >= 0.4
    assert scores.object_recall() >= 0.7
    assert scores.iou()[SEGMENTATION_CLASSES.index("car")] >= 0.75


def test_perfect_maps_score_perfectly(check_frames: list[tuple[CameraImage, CameraTruth]]) -> None:
    image, truth = check_frames[0]
    labels = segmentation_labels(truth.semantic_mask)
    maps = class_maps_from_labels(labels, width=image.width, height=image.height)
    s = score_segmentation(maps, labels, truth.instance_mask)
    present = np.isfinite(s.iou())
    np.testing.assert_allclose(s.iou()[present], 1.0)
    assert s.object_recall() in (1.0,) or np.isnan(s.object_recall())
    coarse = class_maps_from_labels(labels, width=128, height=72)
    np.testing.assert_allclose(coarse.probs.sum(axis=2), 1.0, atol=1e-5)


def test_training_record() -> None:
    record = _record()
    path = default_checkpoint()
    size = path.stat().st_size
    assert record["checkpoint"] == path.name
    assert record["checkpoint_bytes"] == size
    assert size < 2_000_000
    assert record["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["classes"] == list(SEGMENTATION_CLASSES)
    training = record["training"]
    assert len(training["seeds"]) >= 10
    assert training["epochs_done"] > 0 and training["steps"] > 0 and training["wall_s"] > 0
    assert training["images"] > 1000
    held = record["heldout"]
    assert not set(held["seeds"]) & set(training["seeds"])
    assert set(held["per_class_iou"]) == set(SEGMENTATION_CLASSES)
    assert 0.0 < held["miou"] <= 1.0 and 0.0 < held["object_recall"] <= 1.0
    assert record["inference"]["ms_per_image_median"] > 0
    assert {"perfect", "network"} <= set(record["camera_boxes"])


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(ModelError, match=r"missing\.pt"):
        CameraSegmenter(checkpoint=missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match=r"corrupt\.pt"):
        CameraSegmenter(checkpoint=corrupt)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(ModelError, match=r"other\.pt") as err:
        CameraSegmenter(checkpoint=other)
    assert err.value.field == "format"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(default_checkpoint().read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"truncated\.pt"):
        CameraSegmenter(checkpoint=truncated)
    with pytest.raises(ModelError):
        CameraSegmenter(num_threads=0)


def test_input_validation(segmenter: CameraSegmenter) -> None:
    with pytest.raises(SampleError) as err:
        segmenter.predict(np.zeros((10, 10), np.uint8))
    assert err.value.field == "image"
    with pytest.raises(SampleError):
        segmenter.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(SampleError) as err:
        segmenter.predict_batch([np.zeros((10, 10, 3), np.uint8), np.zeros((4,), np.uint8)])
    assert err.value.field == "images[1]"
    with pytest.raises(SampleError) as err:
        ClassMaps(np.full((4, 4, 2), 0.5, np.float32), 40, 40, ("a", "b", "c"))
    assert err.value.field == "probs"
    with pytest.raises(SampleError) as err:
        ClassMaps(np.full((4, 4, 2), 0.5, np.float32), 0, 40, ("a", "b"))
    assert err.value.field == "image_width"


def test_pixel_to_cell_mapping() -> None:
    probs = np.zeros((3, 4, 2), np.float32)
    probs[..., 0] = 1.0
    probs[2, 3] = (0.0, 1.0)
    maps = ClassMaps(probs, 40, 30, ("a", "b"))
    rows, cols = maps.cells_of_pixels(np.array([[39.9, 29.9], [30.0, 20.0], [29.9, 19.9], [0.0, 0.0]]))
    assert rows.tolist() == [2, 2, 1, 0] and cols.tolist() == [3, 3, 2, 0]
    full = maps.full_resolution_labels()
    assert full.shape == (30, 40)
    assert (full[20:, 30:] == 1).all() and full.sum() == 100
