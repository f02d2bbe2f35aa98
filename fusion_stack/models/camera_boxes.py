"""Camera-only 3D boxes from per-pixel class maps, by classical flat-ground geometry (no learning).

For each view (the :class:`~fusion_stack.models.camera_net.ClassMaps` of one camera, its camera model and
``cam2out``, the pose of its optical frame in the output frame, z up, ground plane ``z = ground_z``):

1. **Blobs.** Cells whose most probable class is a box class form 8-connected blobs per class. A blob is split
   into column segments where the ground distance of its bottom edge jumps from one column to the next by more
   than ``max(split_jump_m, split_jump_fraction * distance)`` (objects of the same class overlapping in the image
   at different distances, e.g. a row of parked cars seen at an angle). Segments smaller than ``min_pixels``
   (full-image pixels) are dropped.
2. **Ground contact.** The segment's bottom-centre pixel is the horizontal middle of the segment on the lowest
   row; the bottom edge is refined below the cell grid where the class probability crosses 0.5 between the last
   cell of the blob and the one under it (linear in the cell centres). Its ray (``camera.unproject``) is cut with
   the ground plane; rays that do not go down, or hit beyond ``max_range_m`` (horizontal, from the camera) are
   dropped. A segment touching the bottom of the image (contact not seen, so nearer than the ground point of the
   image's bottom edge in that column) is placed at ``truncated_range_fraction`` of that point's distance, and its
   score is scaled by ``truncated_score``.
3. **Yaw** (``yaw_mode``): ``"frame_x"`` (default) gives every box the heading of the output frame's +x axis
   (plus :data:`PRIOR_YAW_OFFSETS`: a barrier's heading, its short side, is across the lane) - in ``base_link``
   this is "parallel to the ego vehicle", right for the traffic in the ego's road and parked cars, and wrong by
   90 degrees for crossing traffic; ``"ray"`` gives the heading of the viewing ray (objects driving towards or
   away from the camera). The heading is ambiguous by 180 degrees either way.
4. **Size** (l, w, h) starts from :data:`BOX_SIZE_PRIORS` (the simulator's class means, nuScenes-like). The
   height follows the blob's top edge (clamped to 0.75..1.3 of the prior) when the blob does not touch the top
   or bottom of the image; the length follows the blob's width when the box is seen mostly side-on and the blob
   does not touch the image sides (clamped to 0.75..1.5 of the prior).
5. **Centre.** The ground contact is the box's nearest point along the horizontal viewing direction; the centre
   lies behind it by the box's half extent along that direction, ``(l/2 - inset) |cos| + w/2 |sin|`` of the angle
   between heading and ray (``inset``: :data:`CONTACT_INSETS`, wheels sit inside the body's ends), at height
   ``ground_z + contact height + h/2`` (:data:`CONTACT_HEIGHTS`: pedestrians usually stand on a raised sidewalk).
6. **Score** = mean class probability over the segment x ``min(1, sqrt(pixels / (4 min_pixels)))``, times
   ``truncated_score`` per truncated side (image bottom, left, right edge).
7. **Merge.** Candidates of all views, highest score first, suppress later ones of the same class whose BEV centre
   is within ``merge_distance_m + 0.5 * prior length + merge_range_fraction * range`` (duplicates of an object
   seen by overlapping cameras, or split segments of one object).

Pixel coordinates are the camera models' (OpenCV: the centre of pixel index i is at coordinate i), so the edge
between cells r - 1 and r of a map lies at ``r * image_height / h - 0.5`` (likewise for columns).

Known limits: objects of one class that touch in the image at the same distance (a row of barriers, people in a
group) become one box; the ground is assumed flat at ``ground_z`` (slopes shift distant boxes); a blob whose
bottom is hidden behind another object is placed too far.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.calibration.camera_models import CameraModel
from fusion_stack.geometry.se3 import SE3
from fusion_stack.models.camera_net import ClassMaps
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, SampleError, check_header

FloatArray = npt.NDArray[np.float64]

BOX_SIZE_PRIORS: Mapping[str, tuple[float, float, float]] = MappingProxyType({
    "car": (4.5, 1.85, 1.6), "truck": (7.5, 2.45, 3.1), "bus": (11.2, 2.55, 3.3),
    "pedestrian": (0.65, 0.6, 1.72), "bicycle": (1.75, 0.6, 1.65), "motorcycle": (2.1, 0.8, 1.55),
    "barrier": (0.55, 2.2, 0.95), "traffic_cone": (0.4, 0.4, 0.72),
})
"""(l, w, h) metres per class: the mean sizes of the simulator's objects (nuScenes-like statistics)."""

PRIOR_YAW_OFFSETS: Mapping[str, float] = MappingProxyType({"barrier": math.pi / 2})
"""Radians added to the ``"frame_x"`` heading per class (a barrier's heading is across its long side)."""

CONTACT_HEIGHTS: Mapping[str, float] = MappingProxyType({"pedestrian": 0.15})
"""Metres above the ground plane a class usually stands on (pedestrians: a raised sidewalk behind a kerb)."""

CONTACT_INSETS: Mapping[str, float] = MappingProxyType({"car": 0.85, "truck": 1.0, "bus": 1.5})
"""Metres the lowest visible point of a class sits inside the ends of its box (wheels under the body), along its
length."""

YAW_MODES = ("frame_x", "ray")


@dataclass(frozen=True)
class _Candidate:
    label: int
    center: FloatArray
    size: FloatArray
    yaw: float
    score: float
    range_m: float


def ground_intersection(rays_out: FloatArray, origin: FloatArray, ground_z: float) -> tuple[FloatArray, FloatArray]:
    """Points (N, 3) where rays (N, 3) from ``origin`` (3,) (output frame) meet the plane ``z = ground_z``, and
    the ray parameters (N,) (NaN where the ray does not go down, i.e. never meets the ground ahead)."""
    d = np.asarray(rays_out, dtype=np.float64).reshape(-1, 3)
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d[:, 2] < -1e-9, (ground_z - o[2]) / d[:, 2], np.nan)
    t = np.where(t > 0, t, np.nan)
    return o + d * t[:, None], t


def pixel_rays(camera: CameraModel, cam2out: SE3, uv: npt.ArrayLike) -> FloatArray:
    """Directions (N, 3) in the output frame of the rays through full-image pixels ``uv`` (N, 2) (NaN rows where
    the camera model has no ray)."""
    rays = camera.unproject(np.asarray(uv, dtype=np.float64).reshape(-1, 2))
    return np.asarray(rays @ cam2out.rotation.T, dtype=np.float64)


_RAY_STEP_PX = 4.0
_RAY_TABLES: dict[int, tuple[CameraModel, FloatArray]] = {}


def _ray_table(camera: CameraModel) -> FloatArray:
    """Camera-frame rays on a grid every :data:`_RAY_STEP_PX` pixels (rows, cols, 3), made once per camera model
    (the model's iterative undistortion is the expensive part of back-projecting blobs)."""
    hit = _RAY_TABLES.get(id(camera))
    if hit is not None and hit[0] is camera:
        return hit[1]
    cols = np.arange(0.0, camera.width + _RAY_STEP_PX, _RAY_STEP_PX) - 0.5
    rows = np.arange(0.0, camera.height + _RAY_STEP_PX, _RAY_STEP_PX) - 0.5
    uu, vv = np.meshgrid(cols, rows)
    rays = camera.unproject(np.column_stack([uu.ravel(), vv.ravel()])).reshape(len(rows), len(cols), 3)
    if len(_RAY_TABLES) >= 32:
        _RAY_TABLES.pop(next(iter(_RAY_TABLES)))
    _RAY_TABLES[id(camera)] = (camera, rays)
    return rays


def cached_pixel_rays(camera: CameraModel, cam2out: SE3, uv: npt.ArrayLike) -> FloatArray:
    """:func:`pixel_rays` interpolated (bilinear, then normalised) in a per-camera table of rays every 4 pixels:
    within 1e-5 rad of the exact rays for smooth lens models, and hundreds of times faster for blob edges."""
    p = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    table = _ray_table(camera)
    fx = np.clip((p[:, 0] + 0.5) / _RAY_STEP_PX, 0.0, table.shape[1] - 1.000001)
    fy = np.clip((p[:, 1] + 0.5) / _RAY_STEP_PX, 0.0, table.shape[0] - 1.000001)
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    ax, ay = (fx - x0)[:, None], (fy - y0)[:, None]
    r = ((1 - ay) * ((1 - ax) * table[y0, x0] + ax * table[y0, x0 + 1])
         + ay * ((1 - ax) * table[y0 + 1, x0] + ax * table[y0 + 1, x0 + 1]))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    return np.asarray(r @ cam2out.rotation.T, dtype=np.float64)


def _check_camera(camera: object, where: str) -> CameraModel:
    if not isinstance(camera, CameraModel):
        raise SampleError(f"{where}: expected a camera model, got {type(camera).__name__}", field=where)
    return camera


def _split_columns(distance: FloatArray, jump_m: float, jump_fraction: float) -> list[tuple[int, int]]:
    """Column ranges [c0, c1) of a blob between jumps of its bottom edge's ground distance (m, inf where the
    bottom ray misses the ground)."""
    d = np.where(np.isfinite(distance), distance, 1e9)
    near = np.minimum(d[1:], d[:-1])
    cuts = np.nonzero(np.abs(np.diff(d)) > np.maximum(jump_m, jump_fraction * near))[0] + 1
    edges = [0, *cuts.tolist(), len(d)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _mapping(value: Mapping[str, float], name: str) -> Mapping[str, float]:
    try:
        out = {str(k): float(v) for k, v in dict(value).items()}
    except (TypeError, ValueError) as err:
        raise SampleError(f"{name} must map class names to metres, got {value!r}", field=name) from err
    if not all(math.isfinite(v) for v in out.values()):
        raise SampleError(f"{name} must hold finite metres, got {out}", field=name)
    return MappingProxyType(out)


@dataclass(frozen=True, kw_only=True)
class CameraBoxDetector:
    """Camera-only 3D boxes from class maps (see the module docstring for the method).

    Options (all keyword-only): ``class_names``: the box classes to detect (the output's ``class_names``; classes
    missing from a view's maps are skipped); ``min_pixels``: smallest blob segment, in full-image pixels;
    ``max_range_m``: largest horizontal distance (m) of a ground contact from its camera; ``yaw_mode``:
    ``"frame_x"`` or ``"ray"``; ``split_jump_m``, ``split_jump_fraction``: ground-distance jump (m, share of the
    distance) between neighbouring columns that splits a blob; ``truncated_score``: score factor per truncated
    side; ``truncated_range_fraction``: share of the image-bottom ground distance a bottom-truncated blob is placed
    at; ``merge_distance_m``, ``merge_range_fraction``: duplicate suppression radius (see step 7);
    ``size_priors`` (l, w, h m), ``contact_heights`` (m above ``ground_z``), ``contact_insets`` (m) per class
    (defaults :data:`BOX_SIZE_PRIORS`, :data:`CONTACT_HEIGHTS`, :data:`CONTACT_INSETS`).
    """

    class_names: Sequence[str] = BOX_CLASSES
    min_pixels: int = 150
    max_range_m: float = 60.0
    yaw_mode: str = "frame_x"
    split_jump_m: float = 1.5
    split_jump_fraction: float = 0.25
    truncated_score: float = 0.7
    truncated_range_fraction: float = 0.6
    merge_distance_m: float = 1.0
    merge_range_fraction: float = 0.08
    size_priors: Mapping[str, tuple[float, float, float]] = field(default_factory=lambda: dict(BOX_SIZE_PRIORS))
    contact_heights: Mapping[str, float] = field(default_factory=lambda: dict(CONTACT_HEIGHTS))
    contact_insets: Mapping[str, float] = field(default_factory=lambda: dict(CONTACT_INSETS))

    def __post_init__(self) -> None:
        names = tuple(self.class_names) if not isinstance(self.class_names, str) else ()
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise SampleError(f"class_names must be unique non-empty strings, got {self.class_names!r}",
                              field="class_names")
        try:
            priors = {str(k): tuple(float(x) for x in v) for k, v in dict(self.size_priors).items()}
        except (TypeError, ValueError) as err:
            raise SampleError(f"size_priors must map class names to (l, w, h), got {self.size_priors!r}",
                              field="size_priors") from err
        missing = [n for n in names if n not in priors]
        if missing:
            raise SampleError(f"size_priors has no (l, w, h) for classes {missing}", field="size_priors")
        for k, v in priors.items():
            if len(v) != 3 or not all(math.isfinite(x) and x > 0 for x in v):
                raise SampleError(f"size_priors[{k!r}] must be three positive metres, got {v}", field="size_priors")
        if isinstance(self.min_pixels, bool) or not isinstance(self.min_pixels, (int, np.integer)) \
                or self.min_pixels < 1:
            raise SampleError(f"min_pixels must be a positive int, got {self.min_pixels!r}", field="min_pixels")
        for name in ("max_range_m", "split_jump_m", "split_jump_fraction", "merge_distance_m",
                     "merge_range_fraction", "truncated_score", "truncated_range_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise SampleError(f"{name} must be a finite number >= 0, got {v!r}", field=name)
        if self.max_range_m <= 0:
            raise SampleError(f"max_range_m must be > 0, got {self.max_range_m!r}", field="max_range_m")
        for name in ("truncated_score", "truncated_range_fraction"):
            if getattr(self, name) > 1:
                raise SampleError(f"{name} must be in [0, 1], got {getattr(self, name)!r}", field=name)
        if self.yaw_mode not in YAW_MODES:
            raise SampleError(f"yaw_mode must be one of {YAW_MODES}, got {self.yaw_mode!r}", field="yaw_mode")
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "size_priors", MappingProxyType(priors))
        object.__setattr__(self, "contact_heights", _mapping(self.contact_heights, "contact_heights"))
        object.__setattr__(self, "contact_insets", _mapping(self.contact_insets, "contact_insets"))

    def detect(self, views: Sequence[tuple[ClassMaps, CameraModel, SE3]], *, stamp_ns: int, frame_id: str,
               ground_z: float = 0.0, sensor_id: str = "camera") -> Boxes3D:
        """Boxes (geometric centres, (l, w, h), yaw about +z, scores) in ``frame_id`` from the views (class maps,
        camera model, ``cam2out``: optical frame -> ``frame_id``); ``ground_z`` metres in ``frame_id``."""
        check_header("Boxes3D", stamp_ns, frame_id, sensor_id)
        if not isinstance(ground_z, (int, float)) or isinstance(ground_z, bool) or not math.isfinite(ground_z):
            raise SampleError(f"ground_z must be a finite number of metres, got {ground_z!r}", field="ground_z")
        if isinstance(views, (str, bytes)) or not isinstance(views, Sequence):
            raise SampleError(f"views must be a sequence of (ClassMaps, CameraModel, SE3), got "
                              f"{type(views).__name__}", field="views")
        candidates: list[_Candidate] = []
        for i, view in enumerate(views):
            if not isinstance(view, (tuple, list)) or len(view) != 3:
                raise SampleError(f"views[{i}] must be (ClassMaps, CameraModel, SE3), got {type(view).__name__}",
                                  field=f"views[{i}]")
            maps, camera, cam2out = view
            if not isinstance(maps, ClassMaps):
                raise SampleError(f"views[{i}][0] must be ClassMaps, got {type(maps).__name__}",
                                  field=f"views[{i}]")
            cam = _check_camera(camera, f"views[{i}][1]")
            if not isinstance(cam2out, SE3):
                raise SampleError(f"views[{i}][2] must be an SE3 (cam2out), got {type(cam2out).__name__}",
                                  field=f"views[{i}]")
            if (cam.width, cam.height) != (maps.image_width, maps.image_height):
                raise SampleError(f"views[{i}]: maps are for a {maps.image_width}x{maps.image_height} image but the "
                                  f"camera is {cam.width}x{cam.height}", field=f"views[{i}]")
            candidates += self._view_candidates(maps, cam, cam2out, float(ground_z))
        return self._boxes(self._merge(candidates), stamp_ns, frame_id, sensor_id)

    def view_candidates(self, maps: ClassMaps, camera: CameraModel, cam2out: SE3, *,
                        ground_z: float = 0.0) -> tuple[_Candidate, ...]:
        """The unmerged candidates of one view (for callers that cache views: a view's candidates computed in the
        vehicle frame at the image's stamp stay valid; :meth:`boxes_from_candidates` moves and merges them)."""
        cam = _check_camera(camera, "camera")
        if (cam.width, cam.height) != (maps.image_width, maps.image_height):
            raise SampleError(f"maps are for a {maps.image_width}x{maps.image_height} image but the camera is "
                              f"{cam.width}x{cam.height}", field="maps")
        return tuple(self._view_candidates(maps, cam, cam2out, float(ground_z)))

    def boxes_from_candidates(self, groups: Sequence[tuple[Sequence[_Candidate], SE3]], *, stamp_ns: int,
                              frame_id: str, sensor_id: str = "camera") -> Boxes3D:
        """Merge per-view candidates, each group first moved by its SE3 (its frame -> ``frame_id``, e.g. the ego
        motion from the image's stamp), into boxes as :meth:`detect` returns them."""
        check_header("Boxes3D", stamp_ns, frame_id, sensor_id)
        moved: list[_Candidate] = []
        for cands, src2dst in groups:
            heading = src2dst.rotation[:, 0]
            dyaw = math.atan2(heading[1], heading[0])
            for c in cands:
                moved.append(dataclasses.replace(c, center=src2dst.apply(np.asarray(c.center)[None])[0],
                                                 yaw=c.yaw + dyaw))
        return self._boxes(self._merge(moved), stamp_ns, frame_id, sensor_id)

    def _boxes(self, kept: list[_Candidate], stamp_ns: int, frame_id: str, sensor_id: str) -> Boxes3D:
        """The merged candidates as Boxes3D."""
        n = len(kept)
        return Boxes3D(stamp_ns, frame_id, sensor_id,
                       np.array([c.center for c in kept]).reshape(n, 3),
                       np.array([c.size for c in kept]).reshape(n, 3),
                       np.array([c.yaw for c in kept], dtype=np.float64),
                       np.array([c.label for c in kept], dtype=np.int64), tuple(self.class_names),
                       scores=np.array([c.score for c in kept], dtype=np.float64).reshape(n))

    # --- per view ----------------------------------------------------------------------------------------

    def _view_candidates(self, maps: ClassMaps, cam: CameraModel, cam2out: SE3, ground_z: float
                         ) -> list[_Candidate]:
        h, w = maps.height, maps.width
        sy, sx = maps.image_height / h, maps.image_width / w
        cell_px = sx * sy
        labels = maps.labels()
        origin = np.asarray(cam2out.translation, dtype=np.float64)
        out: list[_Candidate] = []
        for label, name in enumerate(self.class_names):
            if name not in maps.class_names:
                continue
            ci = maps.class_names.index(name)
            mask = (labels == ci).astype(np.uint8)
            if not mask.any():
                continue
            n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            prob = maps.probs[:, :, ci]
            for k in range(1, n):
                if stats[k, cv2.CC_STAT_AREA] * cell_px < self.min_pixels:
                    continue
                x0, y0 = int(stats[k, cv2.CC_STAT_LEFT]), int(stats[k, cv2.CC_STAT_TOP])
                bw, bh = int(stats[k, cv2.CC_STAT_WIDTH]), int(stats[k, cv2.CC_STAT_HEIGHT])
                blob = comp[y0:y0 + bh, x0:x0 + bw] == k
                bottom = np.max(np.where(blob, np.arange(bh)[:, None], -1), axis=0)  # every column has a cell
                uv = np.column_stack([(x0 + np.arange(bw) + 0.5) * sx - 0.5, (y0 + bottom + 1.0) * sy - 0.5])
                hits, _ = ground_intersection(cached_pixel_rays(cam, cam2out, uv), origin,
                                              ground_z + self.contact_heights.get(name, 0.0))
                dist = np.hypot(hits[:, 0] - origin[0], hits[:, 1] - origin[1])
                for c0, c1 in _split_columns(dist, self.split_jump_m, self.split_jump_fraction):
                    seg = blob[:, c0:c1]
                    area = int(seg.sum())
                    if area * cell_px < self.min_pixels:
                        continue
                    cand = self._segment(label, name, seg, x0 + c0, y0, prob, cam, cam2out, origin, ground_z,
                                         (sx, sy), (w, h))
                    if cand is not None:
                        out.append(cand)
        return out

    def _segment(self, label: int, name: str, seg: npt.NDArray[np.bool_], col0: int, row0: int,
                 prob: npt.NDArray[np.float32], cam: CameraModel, cam2out: SE3, origin: FloatArray,
                 ground_z: float, scale: tuple[float, float], grid: tuple[int, int]) -> _Candidate | None:
        sx, sy = scale
        w, h = grid
        ncol = seg.shape[1]
        rows_used = np.nonzero(seg.any(axis=1))[0]
        top_row, low_row = row0 + int(rows_used[0]), row0 + int(rows_used[-1])
        cols = np.nonzero(seg[low_row - row0])[0] + col0
        # sub-cell bottom edge: where the class probability crosses 0.5 below the lowest cells
        if low_row + 1 < h:
            pr = prob[low_row, cols].astype(np.float64)
            pn = prob[low_row + 1, cols].astype(np.float64)
            frac = np.clip((pr - 0.5) / np.maximum(pr - pn, 1e-6), 0.0, 1.0)
            v_bottom = float((low_row + 0.5 + frac.mean()) * sy) - 0.5
        else:
            v_bottom = float(h * sy) - 1.0  # the last pixel row's centre
        truncated_bottom = low_row >= h - 1
        truncated_left, truncated_right = col0 == 0, col0 + ncol >= w
        truncated_top = top_row == 0
        u_left, u_right = col0 * sx - 0.5, (col0 + ncol) * sx - 0.5
        u_mid = 0.5 * (u_left + u_right)
        uv = np.array([[u_mid, v_bottom], [u_left, v_bottom], [u_right, v_bottom], [u_mid, top_row * sy - 0.5]])
        rays = cached_pixel_rays(cam, cam2out, uv)
        if not np.isfinite(rays[0]).all():
            return None
        base_z = ground_z + self.contact_heights.get(name, 0.0)
        ground, t = ground_intersection(rays[:1], origin, base_z)
        if not np.isfinite(t[0]):
            return None
        contact = ground[0]
        horiz = contact[:2] - origin[:2]
        rng = float(np.hypot(*horiz))
        if rng > self.max_range_m or rng < 1e-6:
            return None
        ray_dir = horiz / rng
        if truncated_bottom:  # the contact is nearer than the image's bottom edge sees: take a share of it
            rng *= self.truncated_range_fraction
            contact = np.array([origin[0] + ray_dir[0] * rng, origin[1] + ray_dir[1] * rng, base_z])
        ray_yaw = math.atan2(ray_dir[1], ray_dir[0])
        yaw = ray_yaw if self.yaw_mode == "ray" else 0.0
        yaw += PRIOR_YAW_OFFSETS.get(name, 0.0)
        length, width, height = self.size_priors[name]
        rel = yaw - ray_yaw
        ca, sa = abs(math.cos(rel)), abs(math.sin(rel))
        # height from the top edge, length from the apparent width (side views), when not cut by the image
        if not (truncated_top or truncated_bottom) and np.isfinite(rays[3]).all():
            d_top = rays[3]
            hz = float(np.hypot(d_top[0], d_top[1]))
            if hz > 1e-9:
                top_z = origin[2] + d_top[2] * rng / hz
                height = float(np.clip(top_z - base_z, 0.75 * height, 1.3 * height))
        if not (truncated_left or truncated_right) and sa > 0.7 and np.isfinite(rays[1:3]).all():
            a_l = math.atan2(rays[1, 1], rays[1, 0])
            a_r = math.atan2(rays[2, 1], rays[2, 0])
            apparent = rng * abs(math.remainder(a_l - a_r, 2 * math.pi))
            est = (apparent - width * ca) / sa
            length = float(np.clip(est, 0.75 * length, 1.5 * length))
        half_extent = max(0.5 * length - self.contact_insets.get(name, 0.0), 0.0) * ca + 0.5 * width * sa
        centre_xy = contact[:2] + ray_dir * max(half_extent, 0.0)
        center = np.array([centre_xy[0], centre_xy[1], base_z + 0.5 * height])
        area_px = float(seg.sum()) * sx * sy
        cells = np.nonzero(seg)
        score = float(prob[cells[0] + row0, cells[1] + col0].mean())
        score *= min(1.0, math.sqrt(area_px / (4.0 * self.min_pixels)))
        score *= self.truncated_score ** (int(truncated_bottom) + int(truncated_left) + int(truncated_right))
        return _Candidate(label, center, np.array([length, width, height]), math.remainder(yaw, 2 * math.pi),
                          float(np.clip(score, 0.0, 1.0)), rng)

    def _merge(self, candidates: list[_Candidate]) -> list[_Candidate]:
        kept: list[_Candidate] = []
        for c in sorted(candidates, key=lambda c: -c.score):
            radius = (self.merge_distance_m + 0.5 * self.size_priors[self.class_names[c.label]][0]
                      + self.merge_range_fraction * c.range_m)
            if any(k.label == c.label and np.hypot(*(k.center[:2] - c.center[:2])) < radius for k in kept):
                continue
            kept.append(c)
        return kept


@dataclass(frozen=True)
class CameraBoxScores:
    """Ground-truth boxes matched to detections by BEV centre distance (see :func:`score_camera_boxes`).

    Per counted ground-truth box: ``ranges`` (N,) metres from the frame origin, ``class_names`` (N,),
    ``errors`` (N,) BEV centre distance in metres to its matched detection (NaN: not matched); ``false_positives``:
    detections within the range limit matched to no ground truth; ``detections``: detections within it.
    """

    ranges: FloatArray
    class_names: tuple[str, ...]
    errors: FloatArray
    false_positives: int
    detections: int

    def recall(self, *, min_range_m: float = 0.0, max_range_m: float = math.inf) -> float:
        """Share of the counted ground truth in [min_range_m, max_range_m) that was matched (NaN if none)."""
        sel = (self.ranges >= min_range_m) & (self.ranges < max_range_m)
        return float(np.isfinite(self.errors[sel]).mean()) if sel.any() else float("nan")

    def median_error(self, *, min_range_m: float = 0.0, max_range_m: float = math.inf) -> float:
        """Median centre error (m) of the matched ground truth in [min_range_m, max_range_m) (NaN if none)."""
        sel = (self.ranges >= min_range_m) & (self.ranges < max_range_m) & np.isfinite(self.errors)
        return float(np.median(self.errors[sel])) if sel.any() else float("nan")


def score_camera_boxes(frames: Sequence[tuple[Boxes3D, Boxes3D, Collection[int] | None]], *, max_range_m: float = 25.0,
                       tolerance_m: float = 1.5, tolerance_per_m: float = 0.12) -> CameraBoxScores:
    """Match detections to ground truth per frame ``(detections, ground_truth, visible_track_ids)`` (both in the same
    frame, z up, origin at the sensors; ``visible_track_ids``: ground-truth track ids to count, None = all).

    Ground truth within ``max_range_m`` (BEV, from the frame origin) of a class the detections know is counted; pairs
    of the same class are matched greedily by BEV centre distance, closest first, and a match counts when the
    distance is below ``tolerance_m + tolerance_per_m * range``.
    """
    ranges: list[float] = []
    names: list[str] = []
    errors: list[float] = []
    fps = 0
    dets = 0
    for i, (pred, gt, visible) in enumerate(frames):
        if not isinstance(pred, Boxes3D) or not isinstance(gt, Boxes3D) or pred.frame_id != gt.frame_id:
            raise SampleError(f"frames[{i}] must be two Boxes3D in the same frame", field=f"frames[{i}]")
        g_rng = np.hypot(gt.centers[:, 0], gt.centers[:, 1]).astype(np.float64)
        g_names = gt.label_names()
        keep = (g_rng <= max_range_m) & np.array([n in pred.class_names for n in g_names], dtype=bool)
        if visible is not None:
            keep &= np.isin(gt.track_ids, np.asarray(list(visible), dtype=np.int64))
        gi = np.nonzero(keep)[0]
        p_rng = np.hypot(pred.centers[:, 0], pred.centers[:, 1]).astype(np.float64)
        p_names = pred.label_names()
        pi = np.nonzero(p_rng <= max_range_m + 5.0)[0]
        d = np.full((len(gi), len(pi)), np.inf)
        for a, g in enumerate(gi):
            for b, q in enumerate(pi):
                if g_names[g] == p_names[q]:
                    d[a, b] = float(np.hypot(*(gt.centers[g, :2] - pred.centers[q, :2])))
        err = np.full(len(gi), np.nan)
        used = np.zeros(len(pi), dtype=bool)
        for flat in np.argsort(d, axis=None):
            a, b = divmod(int(flat), len(pi))
            if not np.isfinite(d[a, b]):
                break
            if np.isfinite(err[a]) or used[b] or d[a, b] >= tolerance_m + tolerance_per_m * g_rng[gi[a]]:
                continue
            err[a] = d[a, b]
            used[b] = True
        ranges += g_rng[gi].tolist()
        names += [g_names[g] for g in gi]
        errors += err.tolist()
        in_range = p_rng[pi] <= max_range_m
        dets += int(in_range.sum())
        fps += int((in_range & ~used).sum())
    return CameraBoxScores(np.array(ranges, dtype=np.float64), tuple(names), np.array(errors, dtype=np.float64),
                           fps, dets)


__all__ = ["BOX_SIZE_PRIORS", "CONTACT_HEIGHTS", "CONTACT_INSETS", "PRIOR_YAW_OFFSETS", "YAW_MODES",
           "CameraBoxDetector",
           "CameraBoxScores", "cached_pixel_rays", "ground_intersection", "pixel_rays", "score_camera_boxes"]
