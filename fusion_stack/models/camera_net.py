"""A small camera segmentation network (per-pixel object class) trained on the built-in simulator's images, and
its inference wrapper.

The network (:class:`SegmentationNet`, plain ``torch.nn``, no pretrained weights) takes an RGB image resized to
its input size (``256 x 144`` for the shipped checkpoint) and gives class logits at half that resolution
(``128 x 72``): a three-stage strided encoder (1/2, 1/4, 1/8 with dilated convolutions), one decoder step back to
1/4 and a linear skip from the 1/2 stage. Classes are :data:`SEGMENTATION_CLASSES`: ``background`` then the
simulator's box classes; every other surface (road, building, vegetation, ...) is background.

:class:`CameraSegmenter` loads a checkpoint (:func:`default_checkpoint` is the shipped one, trained by
``scripts/train_camera_net.py``; its training record and held-out accuracy are in the JSON beside it) and turns
images into :class:`ClassMaps`: per-pixel class probabilities at the network's output resolution, with the full
image size so that any pixel of the original image can be looked up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

from fusion_stack.errors import FusionStackError
from fusion_stack.sim.classes import BOX_CLASSES, SEMANTIC_CLASSES
from fusion_stack.types import CameraImage, SampleError

SEGMENTATION_CLASSES: tuple[str, ...] = ("background", *BOX_CLASSES)
"""Output classes of the network: index 0 is everything that is not an annotated object."""

CHECKPOINT_FORMAT = "fusion_stack.camera_seg/1"
"""The ``format`` entry of a checkpoint this module writes and reads."""

DEFAULT_INPUT_SIZE: tuple[int, int] = (256, 144)
"""(width, height) in pixels the images are resized to before the network (the shipped checkpoint's)."""

DEFAULT_WIDTHS: tuple[int, int, int] = (16, 24, 48)
"""Channels of the 1/2, 1/4 and 1/8 stages of :class:`SegmentationNet` (the shipped checkpoint's)."""

_MEAN = 0.45
_STD = 0.25


class ModelError(FusionStackError):
    """A model could not be loaded or run (missing or corrupt checkpoint, unusable device); names the file."""


def default_checkpoint() -> Path:
    """The shipped checkpoint, ``fusion_stack/models/weights/camera_seg.pt`` (its record: ``camera_seg.json``)."""
    return Path(__file__).resolve().parent / "weights" / "camera_seg.pt"


def semantic_to_segmentation() -> npt.NDArray[np.int64]:
    """Lookup table (len(SEMANTIC_CLASSES),) int64: simulator semantic class index -> index into
    :data:`SEGMENTATION_CLASSES` (box classes keep their name, every other class is ``background`` = 0)."""
    return np.array([SEGMENTATION_CLASSES.index(n) if n in SEGMENTATION_CLASSES else 0 for n in SEMANTIC_CLASSES],
                    dtype=np.int64)


def segmentation_labels(semantic_mask: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A simulator semantic mask (H, W) of indices into ``SEMANTIC_CLASSES`` as (H, W) uint8 indices into
    :data:`SEGMENTATION_CLASSES`."""
    m = np.asarray(semantic_mask)
    if m.ndim != 2 or not np.issubdtype(m.dtype, np.integer):
        raise SampleError(f"semantic_mask must be an (H, W) integer array, got shape {m.shape} dtype {m.dtype}",
                          field="semantic_mask")
    if m.size and (m.min() < 0 or m.max() >= len(SEMANTIC_CLASSES)):
        raise SampleError(f"semantic_mask values must index SEMANTIC_CLASSES ({len(SEMANTIC_CLASSES)} classes), "
                          f"got range [{m.min()}, {m.max()}]", field="semantic_mask")
    return semantic_to_segmentation().astype(np.uint8)[m]


@dataclass(frozen=True)
class ClassMaps:
    """Per-pixel class probabilities of one image.

    ``probs`` (h, w, C) float32 sums to 1 over C, at a downscaled resolution; ``image_width``, ``image_height``:
    the full image size in pixels; ``class_names`` (C,). Pixel (u, v) of the full image (u right, v down, pixel
    units) maps to ``probs[int(v * h / image_height), int(u * w / image_width)]``: cell (r, c) covers the image
    rectangle ``[c * image_width / w, (c + 1) * image_width / w) x [r * image_height / h, (r + 1) * ...)``.
    """

    probs: npt.NDArray[np.float32]
    image_width: int
    image_height: int
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        names = tuple(self.class_names)
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise SampleError(f"ClassMaps.class_names must be unique non-empty strings, got {names!r}",
                              field="class_names")
        p = np.asarray(self.probs)
        if p.ndim != 3 or p.shape[2] != len(names) or 0 in p.shape or not np.issubdtype(p.dtype, np.floating):
            raise SampleError(f"ClassMaps.probs must be a real (h, w, {len(names)}) array, got shape {p.shape} "
                              f"dtype {p.dtype}", field="probs")
        p = p.astype(np.float32, copy=False)
        if not np.isfinite(p).all():
            raise SampleError("ClassMaps.probs contains NaN/Inf values", field="probs")
        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise SampleError(f"ClassMaps.{name} must be a positive int of pixels, got {value!r}", field=name)
            object.__setattr__(self, name, int(value))
        v = p.view()
        v.flags.writeable = False
        object.__setattr__(self, "probs", v)
        object.__setattr__(self, "class_names", names)

    @property
    def height(self) -> int:
        """Rows ``h`` of the maps."""
        return int(self.probs.shape[0])

    @property
    def width(self) -> int:
        """Columns ``w`` of the maps."""
        return int(self.probs.shape[1])

    def labels(self) -> npt.NDArray[np.int64]:
        """(h, w) int64 most probable class index (into ``class_names``) of every cell."""
        return np.argmax(self.probs, axis=2).astype(np.int64)

    def cells_of_pixels(self, uv: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(rows, cols) (N,) int64 of the cells holding full-image pixels ``uv`` (N, 2) (clipped to the maps)."""
        a = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        rows = np.clip(np.floor(a[:, 1] * self.height / self.image_height), 0, self.height - 1).astype(np.int64)
        cols = np.clip(np.floor(a[:, 0] * self.width / self.image_width), 0, self.width - 1).astype(np.int64)
        return rows, cols

    def full_resolution_labels(self) -> npt.NDArray[np.int64]:
        """(image_height, image_width) int64 class index of every pixel of the full image (nearest cell)."""
        rows = (np.arange(self.image_height) * self.height // self.image_height).astype(np.int64)
        cols = (np.arange(self.image_width) * self.width // self.image_width).astype(np.int64)
        return self.labels()[rows[:, None], cols[None, :]]


def class_maps_from_labels(labels: npt.ArrayLike, *, width: int, height: int,
                           class_names: Sequence[str] = SEGMENTATION_CLASSES) -> ClassMaps:
    """"Perfect" class maps of a label image (H, W) (indices into ``class_names``, e.g. from
    :func:`segmentation_labels`) at ``width`` x ``height`` cells: each cell's probabilities are the share of its
    pixels of each class (area averaging)."""
    lab = np.asarray(labels)
    names = tuple(class_names)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer) or 0 in lab.shape:
        raise SampleError(f"labels must be an (H, W) integer array, got shape {lab.shape} dtype {lab.dtype}",
                          field="labels")
    if lab.min() < 0 or lab.max() >= len(names):
        raise SampleError(f"labels must index the {len(names)} classes, got range [{lab.min()}, {lab.max()}]",
                          field="labels")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise SampleError(f"{name} must be a positive int of cells, got {value!r}", field=name)
    onehot = (lab[:, :, None] == np.arange(len(names))[None, None, :]).astype(np.float32)
    planes = [cv2.resize(onehot[:, :, k], (int(width), int(height)), interpolation=cv2.INTER_AREA)
              for k in range(len(names))]
    probs = np.stack([np.asarray(p, dtype=np.float32).reshape(int(height), int(width)) for p in planes], axis=2)
    probs /= np.maximum(probs.sum(axis=2, keepdims=True), 1e-12)
    return ClassMaps(probs, int(lab.shape[1]), int(lab.shape[0]), names)


@dataclass(frozen=True)
class SegmentationScores:
    """Accumulated accuracy of class maps against per-pixel ground truth, at the full image resolution.

    ``confusion`` (C, C) int64 pixel counts, rows the true class and columns the predicted one;
    ``instances_total`` / ``instances_found`` (C,) int64: ground-truth object instances of each class with at
    least the scoring's ``min_instance_pixels`` pixels, and those whose pixels' majority predicted class is theirs.
    """

    class_names: tuple[str, ...]
    confusion: npt.NDArray[np.int64]
    instances_total: npt.NDArray[np.int64]
    instances_found: npt.NDArray[np.int64]

    def iou(self) -> npt.NDArray[np.float64]:
        """(C,) intersection over union per class; NaN for a class with no true pixel."""
        cm = self.confusion.astype(np.float64)
        tp = np.diag(cm)
        gt, pred = cm.sum(axis=1), cm.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gt > 0, tp / (gt + pred - tp), np.nan)

    def miou(self, *, objects_only: bool = False) -> float:
        """Mean IoU over the classes with true pixels (``objects_only``: without class 0, background)."""
        iou = self.iou()[1:] if objects_only else self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def object_recall(self) -> float:
        """Share of the counted ground-truth instances (all classes) whose majority predicted class is right."""
        total = int(self.instances_total.sum())
        return float(self.instances_found.sum() / total) if total else float("nan")

    def merged(self, other: SegmentationScores) -> SegmentationScores:
        """The sum of two accumulations over the same classes."""
        if other.class_names != self.class_names:
            raise SampleError("cannot merge scores over different classes", field="other")
        return SegmentationScores(self.class_names, self.confusion + other.confusion,
                                  self.instances_total + other.instances_total,
                                  self.instances_found + other.instances_found)


def score_segmentation(maps: ClassMaps, labels: npt.ArrayLike, instance_mask: npt.ArrayLike, *,
                       min_instance_pixels: int = 200) -> SegmentationScores:
    """Score ``maps`` against the true labels (image_height, image_width) (indices into ``maps.class_names``)
    and the instance mask of the same size (int, -1 = no instance; an instance's class is its pixels' most
    common true label). Each full-resolution pixel takes its cell's most probable class."""
    gt = np.asarray(labels)
    inst = np.asarray(instance_mask)
    shape = (maps.image_height, maps.image_width)
    if gt.shape != shape or not np.issubdtype(gt.dtype, np.integer):
        raise SampleError(f"labels must be {shape} integers, got shape {gt.shape} dtype {gt.dtype}", field="labels")
    if inst.shape != shape or not np.issubdtype(inst.dtype, np.integer):
        raise SampleError(f"instance_mask must be {shape} integers, got shape {inst.shape} dtype {inst.dtype}",
                          field="instance_mask")
    c = len(maps.class_names)
    if gt.size and (gt.min() < 0 or gt.max() >= c):
        raise SampleError(f"labels must index the {c} classes, got range [{gt.min()}, {gt.max()}]", field="labels")
    pred = maps.full_resolution_labels()
    confusion = np.bincount(gt.ravel().astype(np.int64) * c + pred.ravel(), minlength=c * c).reshape(c, c)
    total = np.zeros(c, np.int64)
    found = np.zeros(c, np.int64)
    on = inst >= 0
    ids, inverse, counts = np.unique(inst[on], return_inverse=True, return_counts=True)
    if len(ids):
        gt_on, pred_on = gt[on].astype(np.int64), pred[on]
        true_votes = np.zeros((len(ids), c), np.int64)
        np.add.at(true_votes, (inverse, gt_on), 1)
        pred_votes = np.zeros((len(ids), c), np.int64)
        np.add.at(pred_votes, (inverse, pred_on), 1)
        cls = true_votes.argmax(axis=1)
        counted = counts >= min_instance_pixels
        ok = pred_votes.argmax(axis=1) == cls
        np.add.at(total, cls[counted], 1)
        np.add.at(found, cls[counted & ok], 1)
    return SegmentationScores(maps.class_names, confusion.astype(np.int64), total, found)


# ----------------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------------


class _ConvBNReLU(nn.Module):
    """3x3 convolution, batch norm, ReLU; :meth:`fuse` folds the norm into the convolution for inference."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)

    def fuse(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution; the module then computes the same in eval."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


class SegmentationNet(nn.Module):
    """Encoder (1/2, 1/4, 1/8 with dilations 2, 4, 8 at 1/8), one decoder step to 1/4 joined with the 1/4
    features, class logits upsampled to 1/2 plus a linear skip from the 1/2 features.

    ``forward`` maps (B, 3, H, W) normalised images to (B, num_classes, ceil(H/2), ceil(W/2)) logits.
    """

    def __init__(self, *, num_classes: int = len(SEGMENTATION_CLASSES),
                 widths: tuple[int, int, int] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        a, b, c = widths
        self.stage1 = _ConvBNReLU(3, a, stride=2)
        self.stage2 = nn.Sequential(_ConvBNReLU(a, b, stride=2), _ConvBNReLU(b, b))
        self.stage3 = nn.Sequential(_ConvBNReLU(b, c, stride=2), _ConvBNReLU(c, c, dilation=2),
                                    _ConvBNReLU(c, c, dilation=4), _ConvBNReLU(c, c, dilation=8))
        self.decode = _ConvBNReLU(c + b, b)
        self.head = nn.Conv2d(b, num_classes, 1)
        self.skip = nn.Conv2d(a, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.stage1(x)
        x2 = self.stage2(x1)
        x3 = self.stage3(x2)
        y = self.decode(torch.cat([F.interpolate(x3, size=x2.shape[2:], mode="bilinear", align_corners=False), x2],
                                  dim=1))
        return F.interpolate(self.head(y), size=x1.shape[2:], mode="bilinear", align_corners=False) + self.skip(x1)

    def fuse(self) -> SegmentationNet:
        """Fold every batch norm into its convolution (inference only; call after ``eval()``); returns self."""
        for m in self.modules():
            if isinstance(m, _ConvBNReLU):
                m.fuse()
        return self


def normalize_images(batch: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32 network input (scaled to about zero mean, unit spread)."""
    return (batch.permute(0, 3, 1, 2).float() * (1.0 / 255.0) - _MEAN) * (1.0 / _STD)


def resize_rgb(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 resized to ``size`` = (width, height) pixels (area averaging when shrinking)."""
    if (image.shape[1], image.shape[0]) == size:
        return np.ascontiguousarray(image)
    shrink = image.shape[1] > size[0] and image.shape[0] > size[1]
    out = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.uint8)


def save_checkpoint(path: str | os.PathLike[str], model: SegmentationNet, *, input_size: tuple[int, int],
                    widths: tuple[int, int, int], record: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` (weights stored as float16 to keep the file small) with what :class:`CameraSegmenter`
    needs to rebuild it: class names, input size (width, height) pixels, stage widths, and a small ``record``."""
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "class_names": list(SEGMENTATION_CLASSES),
                "input_size": [int(input_size[0]), int(input_size[1])], "widths": [int(w) for w in widths],
                "state_dict": state, "record": dict(record or {})}, os.fspath(path))


def load_network(path: str | os.PathLike[str]) -> tuple[SegmentationNet, tuple[int, int], tuple[str, ...]]:
    """The (eval-mode, float32, unfused) network of a checkpoint, its input size (width, height) and class
    names. Raises :class:`ModelError` naming the file when it is missing or not a valid checkpoint."""
    source = os.fspath(path)
    if not Path(source).is_file():
        raise ModelError("checkpoint file not found", source=source)
    try:
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a corrupt file
        raise ModelError(f"not a readable torch checkpoint ({type(err).__name__}: {err})", source=source) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        fmt = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"expected a {CHECKPOINT_FORMAT!r} checkpoint, got format {fmt!r}", source=source,
                         field="format")
    try:
        names = tuple(str(n) for n in ckpt["class_names"])
        w, h = (int(v) for v in ckpt["input_size"])
        widths = tuple(int(v) for v in ckpt["widths"])
        if len(widths) != 3 or min(widths) <= 0 or w <= 0 or h <= 0:
            raise ValueError(f"bad widths {widths} or input size {(w, h)}")
        model = SegmentationNet(num_classes=len(names), widths=(widths[0], widths[1], widths[2]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelError(f"checkpoint content does not match the network ({type(err).__name__}: {err})",
                         source=source, field="state_dict") from err
    return model.eval(), (w, h), names


# ----------------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------------


def _as_rgb(image: CameraImage | npt.ArrayLike, field: str) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB of a CameraImage (rgb8/bgr8/rgba8/bgra8/mono8) or of an (H, W, 3) uint8 array."""
    if isinstance(image, CameraImage):
        data = image.data
        enc = image.encoding
        if enc == "rgb8":
            return np.asarray(data)
        if enc == "bgr8":
            return np.ascontiguousarray(data[:, :, ::-1])
        if enc == "rgba8":
            return np.ascontiguousarray(data[:, :, :3])
        if enc == "bgra8":
            return np.ascontiguousarray(data[:, :, 2::-1])
        if enc == "mono8":
            return np.ascontiguousarray(np.repeat(data, 3, axis=2))
        raise SampleError(f"CameraImage encoding {enc!r} is not supported (rgb8, bgr8, rgba8, bgra8, mono8)",
                          field=field)
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise SampleError(f"image must be a CameraImage or an (H, W, 3) uint8 RGB array, got shape {a.shape} "
                          f"dtype {a.dtype}", field=field)
    return a


def _small_rgb(image: CameraImage | npt.ArrayLike, field: str, size: tuple[int, int]
               ) -> tuple[npt.NDArray[np.uint8], tuple[int, int]]:
    """The network input (size (width, height), RGB) of an image and the image's full (width, height): BGR images
    are shrunk before their channels are swapped (one small copy instead of a full-size one)."""
    if isinstance(image, CameraImage) and image.encoding == "bgr8":
        small = resize_rgb(np.asarray(image.data), size)  # channel order does not matter to the resize
        return np.ascontiguousarray(small[:, :, ::-1]), (image.width, image.height)
    rgb = _as_rgb(image, field)
    return resize_rgb(rgb, size), (int(rgb.shape[1]), int(rgb.shape[0]))


class CameraSegmenter:
    """Per-pixel object classes of camera images with a trained :class:`SegmentationNet`.

    ``checkpoint``: a file written by :func:`save_checkpoint` (None: :func:`default_checkpoint`); ``device``: a
    torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``num_threads``: when given, sets torch's
    process-wide intra-op thread count (``torch.set_num_threads``) once, here. Raises :class:`ModelError` naming
    the file when the checkpoint is missing or corrupt, or when the device is unusable.
    """

    def __init__(self, *, checkpoint: str | os.PathLike[str] | None = None, device: str = "cpu",
                 num_threads: int | None = None) -> None:
        path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        if num_threads is not None:
            if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
                raise ModelError(f"num_threads must be a positive int, got {num_threads!r}", field="num_threads")
            torch.set_num_threads(num_threads)
        try:
            self._device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ModelError(f"unknown torch device {device!r}", field="device") from err
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but CUDA is not available", field="device")
        model, self._input_size, self._class_names = load_network(path)
        self._model = model.fuse().to(self._device)
        self._checkpoint = path

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class of each channel of the probabilities (the checkpoint's; :data:`SEGMENTATION_CLASSES`)."""
        return self._class_names

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) in pixels every image is resized to before the network."""
        return self._input_size

    @property
    def checkpoint(self) -> Path:
        """The checkpoint file this segmenter was loaded from."""
        return self._checkpoint

    def predict(self, image: CameraImage | npt.ArrayLike) -> ClassMaps:
        """Class probabilities of one image (a CameraImage or an (H, W, 3) uint8 RGB array)."""
        return self._infer([_small_rgb(image, "image", self._input_size)])[0]

    def predict_batch(self, images: Sequence[CameraImage | npt.ArrayLike]) -> list[ClassMaps]:
        """Class probabilities of several images (any sizes; run as one batch), in input order."""
        if isinstance(images, (np.ndarray, CameraImage)) or not isinstance(images, Sequence):
            raise SampleError(f"images must be a sequence of images, got {type(images).__name__}", field="images")
        prepared = [_small_rgb(im, f"images[{i}]", self._input_size) for i, im in enumerate(images)]
        return self._infer(prepared) if prepared else []

    def _infer(self, prepared: list[tuple[npt.NDArray[np.uint8], tuple[int, int]]]) -> list[ClassMaps]:
        small = np.stack([p[0] for p in prepared])
        with torch.inference_mode():
            x = normalize_images(torch.from_numpy(small).to(self._device))
            probs = self._model(x).softmax(dim=1).permute(0, 2, 3, 1).contiguous().float().cpu().numpy()
        return [ClassMaps(p, w, h, self._class_names) for p, (_, (w, h)) in zip(probs, prepared)]


__all__ = ["CHECKPOINT_FORMAT", "SEGMENTATION_CLASSES", "CameraSegmenter", "ClassMaps", "ModelError",
           "SegmentationNet", "SegmentationScores", "class_maps_from_labels", "default_checkpoint", "load_network",
           "normalize_images", "resize_rgb", "save_checkpoint", "score_segmentation", "segmentation_labels",
           "semantic_to_segmentation"]
