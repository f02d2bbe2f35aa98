"""One camera's class evidence as the data- and decision-level fusers read it: :class:`CameraView`.

A camera segmentation network gives, per image, class probabilities ``probs`` (h, w, C) at a (usually
downscaled) resolution over ``class_names``; a full-image pixel ``(u, v)`` (OpenCV: pixel ``(0, 0)`` is the
centre of the top-left pixel, ``0 <= u < image_width``) reads the cell ``probs[int(v * h / H), int(u * w / W)]``
with ``W, H = image_width, image_height`` (:meth:`CameraView.cells`). The view adds the geometry: the camera
model (:mod:`fusion_stack.calibration.camera_models`, whose ``width``/``height`` must be the full image size)
and ``out2cam``, the :class:`~fusion_stack.geometry.se3.SE3` mapping the fusion OUTPUT frame (e.g. ``base_link``
or the LiDAR frame, metres) into the camera OPTICAL frame (x right, y down, z forward) at the image's stamp.

This module does not import the segmentation network; :meth:`CameraView.from_class_maps` adapts any object with
``probs``, ``image_width``, ``image_height`` and ``class_names`` attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.fuse.errors import FusionError
from fusion_stack.geometry.se3 import SE3

__all__ = ["CameraView", "check_views"]

_WHO = "CameraView"


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        raise FusionError(f"must be a positive int (pixels), got {value!r}", source=_WHO, field=name)
    return int(value)


@dataclass(frozen=True, eq=False)
class CameraView:
    """One camera's class evidence for fusion (see the module docstring).

    Attributes:
        sensor_id: the camera's sensor id (e.g. ``CAM_FRONT``); views of one call need not be unique.
        probs: (h, w, C) float32 class probabilities in [0, 1] over ``class_names`` (stored read-only).
        class_names: C unique class names, e.g. ``("background", "car", ...)``.
        image_width, image_height: the full image size in pixels (equal to ``camera.width``/``camera.height``).
        camera: the camera model (``project()``, ``unproject()``, ``width``, ``height``), optical frame.
        out2cam: SE3 mapping the fusion output frame into the camera optical frame at the image's stamp.

    Raises:
        FusionError: wrong shapes, dtypes or ranges, class names that do not match the channels, an image size
            that differs from the camera model's, or an ``out2cam`` that is not an SE3.
    """

    sensor_id: str
    probs: npt.NDArray[np.float32]
    class_names: tuple[str, ...]
    image_width: int
    image_height: int
    camera: CameraModel
    out2cam: SE3

    def __post_init__(self) -> None:
        if not isinstance(self.sensor_id, str) or not self.sensor_id:
            raise FusionError(f"must be a non-empty string, got {self.sensor_id!r}", source=_WHO, field="sensor_id")
        who = f"{_WHO}[{self.sensor_id}]"
        raw = np.asarray(self.probs)
        if raw.ndim != 3 or 0 in raw.shape or raw.dtype.kind not in "fiu":
            raise FusionError(f"must be a non-empty real (h, w, C) array, got shape {raw.shape} dtype {raw.dtype}",
                              source=who, field="probs")
        probs = raw.astype(np.float32, copy=False)
        lo, hi = float(probs.min()), float(probs.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0 + 1e-4:
            bad = int(np.count_nonzero(~np.isfinite(probs)))
            raise FusionError(f"must be probabilities in [0, 1], got range [{lo:.4g}, {hi:.4g}] ({bad} NaN/Inf) "
                              f"in shape {probs.shape}", source=who, field="probs")
        names = tuple(self.class_names) if not isinstance(self.class_names, str) else (self.class_names,)
        if (len(names) != probs.shape[2] or len(set(names)) != len(names)
                or not all(isinstance(n, str) and n for n in names)):
            raise FusionError(f"must be {probs.shape[2]} unique non-empty names (one per channel of probs "
                              f"{probs.shape}), got {names!r}", source=who, field="class_names")
        width = _positive_int(self.image_width, "image_width")
        height = _positive_int(self.image_height, "image_height")
        if not isinstance(self.camera, CameraModel):
            raise FusionError(f"must be a camera model (fusion_stack.calibration.camera_models), got "
                              f"{type(self.camera).__name__}", source=who, field="camera")
        if (int(self.camera.width), int(self.camera.height)) != (width, height):
            raise FusionError(f"the camera model is {self.camera.width} x {self.camera.height} px but the image is "
                              f"{width} x {height} px", source=who, field="camera")
        if not isinstance(self.out2cam, SE3):
            raise FusionError(f"must be an SE3 (output frame -> camera optical frame), got "
                              f"{type(self.out2cam).__name__}", source=who, field="out2cam")
        view = probs.view()
        view.flags.writeable = False
        object.__setattr__(self, "probs", view)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "image_width", width)
        object.__setattr__(self, "image_height", height)

    @classmethod
    def from_class_maps(cls, maps: Any, *, sensor_id: str, camera: CameraModel, out2cam: SE3) -> CameraView:
        """A view from a segmentation result (any object with ``probs`` (h, w, C), ``image_width``,
        ``image_height`` and ``class_names``), its camera model and ``out2cam`` (output frame -> optical frame)."""
        try:
            probs, width, height, names = maps.probs, maps.image_width, maps.image_height, maps.class_names
        except AttributeError as exc:
            raise FusionError(f"needs probs, image_width, image_height and class_names; {type(maps).__name__} "
                              f"lacks one: {exc}", source=_WHO, field="maps") from exc
        return cls(sensor_id, probs, tuple(names), width, height, camera, out2cam)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(h, w): rows and columns of ``probs``."""
        return int(self.probs.shape[0]), int(self.probs.shape[1])

    def cells(self, uv: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(rows, cols) int64 cells of ``probs`` read by full-image pixels ``uv`` (N, 2) inside the image
        (``0 <= u < W``, ``0 <= v < H``): ``int(v * h / H)``, ``int(u * w / W)``, clipped to the grid."""
        p = np.asarray(uv).reshape(-1, 2)
        h, w = self.grid_shape
        rows = np.clip((p[:, 1] * (h / self.image_height)).astype(np.int64), 0, h - 1)
        cols = np.clip((p[:, 0] * (w / self.image_width)).astype(np.int64), 0, w - 1)
        return rows, cols


def check_views(views: object, *, who: str) -> tuple[CameraView, ...]:
    """``views`` as a tuple of :class:`CameraView` sharing one ``class_names``; FusionError otherwise."""
    if isinstance(views, CameraView):
        views = (views,)
    if not isinstance(views, Iterable) or isinstance(views, (str, bytes)):
        raise FusionError(f"must be a sequence of CameraView, got {type(views).__name__}", source=who,
                          field="views")
    try:
        items: tuple[object, ...] = tuple(views)
    except TypeError as exc:
        raise FusionError(f"must be a sequence of CameraView, got {type(views).__name__}", source=who,
                          field="views") from exc
    checked: list[CameraView] = []
    for i, view in enumerate(items):
        if not isinstance(view, CameraView):
            raise FusionError(f"element {i} is a {type(view).__name__}, not a CameraView", source=who,
                              field=f"views[{i}]")
        if checked and view.class_names != checked[0].class_names:
            raise FusionError(f"class_names {view.class_names!r} ({view.sensor_id}) differ from views[0]'s "
                              f"{checked[0].class_names!r} ({checked[0].sensor_id}); all views need the same "
                              "classes", source=who, field=f"views[{i}].class_names")
        checked.append(view)
    return tuple(checked)
