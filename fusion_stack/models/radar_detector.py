"""Radar-only object detection: cluster merged radar detections by position and Doppler, estimate each cluster's
velocity over ground from its radial velocities, and emit gravity-aligned boxes with velocities.

Input is :class:`~fusion_stack.align.radar_merge.RadarPoints` (several radars merged into one frame, ego motion
removed from the Doppler by :func:`~fusion_stack.align.radar_merge.merge_radar_scans`). Everything happens in the
x-y plane of ``radar.frame_id``, which must be gravity-aligned (z up: ``base_link``, ``odom``, ``map``).

1. Moving or static: a detection is *moving* when its compensated radial velocity exceeds
   ``moving_threshold_mps``. Moving detections that look like multipath ghosts of another (same radar and bearing,
   1.2-2.2 times its range, same Doppler, weaker) are flagged.
2. Cluster moving detections (DBSCAN with one-sample cores, i.e. single linkage): neighbours are within ``eps_m``
   in x-y and have radial velocities one rigid object can produce,
   ``|vr_i - vr_j| <= velocity_gate_mps + max_speed_mps * |u_i - u_j|`` (``u``: unit lines of sight). A cluster
   no single velocity explains (two vehicles side by side) is split by RANSAC; clusters one vehicle explains (both
   ends of a car, a bus along its side) are merged. Static detections within ``eps_m`` of a moving cluster that
   agree with its velocity join it (the side of a crossing car reads ~0 m/s); the other static detections are
   clustered by position alone (``static_eps_m``).
3. Velocity per cluster by least squares, ``v . u_i = vr_i`` for the 2-D velocity ``v`` over ground (z = 0), see
   :func:`estimate_velocity`. When the lines of sight span less than ``min_aspect_deg`` the tangential component is
   unobservable and the velocity is the radial component along the mean line of sight (``RadarClusters.
   full_velocity`` False): a car crossing far ahead then reads slower than it is, with a yaw along the line of
   sight.
4. Box: class posterior from the mean RCS, the speed and the detections' length (:data:`RADAR_CLASS_PRIORS`;
   radar is weak at classes, cars win unless the evidence is clear); label = the most likely class, size = the
   posterior mean of the class sizes (``size_mode="posterior"``; or the label's size) stretched to contain the
   detections; yaw along the velocity when moving (else the principal axis of the detections, else across the line
   of sight); centre: the box faces turned to the radar sit on the nearest detections (radar sees the near side).
5. Score in [0, 1]: detection count, number of radars, velocity-fit consistency, times ``ghost_penalty`` for a
   cluster of ghosts only. Static clusters are dropped (``keep_static=False``, the default) or scored at most
   ``static_score``: measured on the simulator with dense structure returns, 94 % of static clusters are
   buildings, poles and clutter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from fusion_stack.align.radar_merge import RadarPoints
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.types import Boxes3D, SampleError, check_header

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RadarClassPrior:
    """What radar sees of one class: ``size`` (l, w, h) metres (the box the detector draws), the mean RCS of its
    detections ``rcs_mean_dbsm`` with spread ``rcs_std_db`` (of a cluster's mean), the speed range over ground
    ``min_speed_mps`` .. ``max_speed_mps`` (soft edges) and the prior ``weight`` (how common the class is)."""

    size: tuple[float, float, float]
    rcs_mean_dbsm: float
    rcs_std_db: float
    min_speed_mps: float
    max_speed_mps: float
    weight: float


RADAR_CLASS_PRIORS: Mapping[str, RadarClassPrior] = MappingProxyType({
    "car": RadarClassPrior((4.5, 1.85, 1.6), 8.5, 5.0, 0.0, 45.0, 0.55),
    "truck": RadarClassPrior((7.5, 2.45, 3.1), 19.0, 4.5, 0.0, 35.0, 0.1),
    "bus": RadarClassPrior((11.2, 2.55, 3.3), 20.5, 4.5, 0.0, 30.0, 0.05),
    "pedestrian": RadarClassPrior((0.65, 0.6, 1.72), -5.5, 4.5, 0.0, 2.5, 0.12),
    "bicycle": RadarClassPrior((1.75, 0.6, 1.65), -2.0, 4.5, 1.5, 10.0, 0.06),
    "motorcycle": RadarClassPrior((2.1, 0.8, 1.55), 1.5, 4.5, 2.0, 35.0, 0.04),
    "barrier": RadarClassPrior((0.55, 2.2, 0.95), 5.0, 5.0, 0.0, 0.3, 0.05),
    "traffic_cone": RadarClassPrior((0.4, 0.4, 0.72), -8.0, 5.0, 0.0, 0.3, 0.03),
})
"""Default class priors (nuScenes-like sizes; RCS as automotive radars report it, measured on the simulator)."""


@dataclass(frozen=True)
class VelocityEstimate:
    """A 2-D velocity over ground from radial velocities: ``velocity`` (2,) m/s in the frame of the lines of sight,
    ``full`` (True: both components from least squares; False: radial component only, along the mean line of
    sight), ``aspect_deg`` (the angle the lines of sight span, from their scatter) and ``residual_rms`` (m/s, of
    ``v . u_i - vr_i``; 0 when there are no more equations than unknowns)."""

    velocity: FloatArray
    full: bool
    aspect_deg: float
    residual_rms: float

    def __post_init__(self) -> None:
        self.velocity.flags.writeable = False


@dataclass(frozen=True)
class RadarClusters:
    """Clusters of a :class:`RadarPoints` (K clusters): ``point_labels`` (N,) int64 cluster of each detection (-1:
    none, e.g. a lone static detection); per cluster ``moving`` (K,) bool, ``velocities`` (K, 2) m/s over ground
    in the points' frame, ``full_velocity`` (K,) bool (see :class:`VelocityEstimate`), ``aspect_deg`` (K,),
    ``residual_rms`` (K,) m/s, ``num_points`` (K,) int64, ``num_sensors`` (K,) int64 (distinct radars),
    ``ghost_fraction`` (K,) share of its detections that look like multipath ghosts, ``mean_rcs`` (K,) dBsm."""

    point_labels: IntArray
    moving: BoolArray
    velocities: FloatArray
    full_velocity: BoolArray
    aspect_deg: FloatArray
    residual_rms: FloatArray
    num_points: IntArray
    num_sensors: IntArray
    ghost_fraction: FloatArray
    mean_rcs: FloatArray

    def __post_init__(self) -> None:
        for name in ("point_labels", "moving", "velocities", "full_velocity", "aspect_deg", "residual_rms",
                     "num_points", "num_sensors", "ghost_fraction", "mean_rcs"):
            getattr(self, name).flags.writeable = False

    def __len__(self) -> int:
        return int(self.moving.shape[0])


def _solve_clusters(labels: IntArray, k: int, u: FloatArray, vr: FloatArray, w: FloatArray, min_aspect_deg: float
                    ) -> tuple[FloatArray, BoolArray, FloatArray, FloatArray]:
    """Per-cluster weighted least squares ``v . u_i = vr_i`` (vectorised over clusters): velocities (K, 2), full
    (K,), aspect (K,) degrees, residual rms (K,)."""
    def s(x: FloatArray) -> FloatArray:
        return np.bincount(labels, weights=x, minlength=k).astype(np.float64)

    sw = np.maximum(s(w), 1e-12)
    axx, axy, ayy = s(w * u[:, 0] ** 2), s(w * u[:, 0] * u[:, 1]), s(w * u[:, 1] ** 2)
    bx, by = s(w * u[:, 0] * vr), s(w * u[:, 1] * vr)
    # scatter of the lines of sight: the smaller eigenvalue is sin^2(half the span) for two directions
    mxx, mxy, myy = axx / sw, axy / sw, ayy / sw
    half_tr = 0.5 * (mxx + myy)
    disc = np.sqrt(np.maximum(0.25 * (mxx - myy) ** 2 + mxy ** 2, 0.0))
    lam_min = np.maximum(half_tr - disc, 0.0)
    aspect = np.degrees(2.0 * np.arcsin(np.sqrt(np.minimum(lam_min, 1.0))))
    count = np.bincount(labels, minlength=k)
    det = axx * ayy - axy ** 2
    full = (aspect >= min_aspect_deg) & (count >= 2) & (det > 1e-9 * sw ** 2)
    safe = np.where(full, det, 1.0)
    vx = np.where(full, (ayy * bx - axy * by) / safe, 0.0)
    vy = np.where(full, (axx * by - axy * bx) / safe, 0.0)
    # radial only: along the mean line of sight, the weighted mean of vr / (u_i . u_mean)
    mx, my = s(w * u[:, 0]) / sw, s(w * u[:, 1]) / sw
    norm = np.hypot(mx, my)
    ux, uy = mx / np.where(norm > 0, norm, 1.0), my / np.where(norm > 0, norm, 1.0)
    cos_i = np.maximum(u[:, 0] * ux[labels] + u[:, 1] * uy[labels], 0.1)
    radial = s(w * vr * cos_i) / np.maximum(s(w * cos_i ** 2), 1e-12)
    vx = np.where(full, vx, radial * ux)
    vy = np.where(full, vy, radial * uy)
    resid = u[:, 0] * vx[labels] + u[:, 1] * vy[labels] - vr
    dof = np.maximum(count - np.where(full, 2, 1), 0)
    rms = np.sqrt(s(w * resid ** 2) / sw * count / np.maximum(dof, 1))
    rms = np.where(dof > 0, rms, 0.0)
    return np.column_stack([vx, vy]), full, aspect, rms


def estimate_velocity(lines_of_sight: npt.ArrayLike, radial_velocity: npt.ArrayLike, *,
                      weights: npt.ArrayLike | None = None, min_aspect_deg: float = 4.0) -> VelocityEstimate:
    """The 2-D velocity over ground of one rigid object from its detections' radial velocities.

    ``lines_of_sight`` (N, 2) or (N, 3) unit vectors from the radar to each detection (only x, y are used: the
    object moves in the x-y plane, ``v_z = 0``); ``radial_velocity`` (N,) m/s over ground (ego motion removed);
    ``weights`` (N,) >= 0 (default 1). Solves ``v . u_i = vr_i`` by weighted least squares. When the lines of sight
    span less than ``min_aspect_deg`` degrees (one detection, or a far object seen along nearly one bearing) only the
    component along the mean line of sight is observable: the estimate is that radial component (``full`` False)
    and the tangential part is reported as 0. Raises :class:`~fusion_stack.types.SampleError` for bad arrays.
    """
    u = np.asarray(lines_of_sight)
    if u.ndim != 2 or u.shape[1] not in (2, 3) or u.shape[0] == 0 or u.dtype.kind not in "iuf":
        raise SampleError(f"lines_of_sight must be a real (N, 2) or (N, 3) array with N >= 1, got shape {u.shape} "
                          f"dtype {u.dtype}", field="lines_of_sight")
    n = u.shape[0]
    vr = np.asarray(radial_velocity)
    if vr.shape != (n,) or vr.dtype.kind not in "iuf":
        raise SampleError(f"radial_velocity must be a real ({n},) array, got shape {vr.shape} dtype {vr.dtype}",
                          field="radial_velocity")
    w = np.ones(n) if weights is None else np.asarray(weights)
    if w.shape != (n,) or w.dtype.kind not in "iuf" or np.any(np.asarray(w) < 0) or not np.any(np.asarray(w) > 0):
        raise SampleError(f"weights must be a ({n},) array >= 0 with one > 0, got shape {w.shape} dtype {w.dtype}",
                          field="weights")
    for name, a in (("lines_of_sight", u), ("radial_velocity", vr), ("weights", w)):
        if not np.isfinite(a).all():
            raise SampleError(f"{name} contains NaN/Inf values", field=name)
    aspect_min = _nonneg(min_aspect_deg, "min_aspect_deg")
    vel, full, aspect, rms = _solve_clusters(np.zeros(n, np.int64), 1, u[:, :2].astype(np.float64),
                                             vr.astype(np.float64), w.astype(np.float64), aspect_min)
    return VelocityEstimate(vel[0], bool(full[0]), float(aspect[0]), float(rms[0]))


def _nonneg(value: object, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SampleError(f"{name} must be a number, got {type(value).__name__} {value!r}", field=name)
    v = float(value)
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise SampleError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}",
                          field=name)
    return v


def _components(xy: FloatArray, eps: float, gate: float | None = None,
                vr: FloatArray | None = None, u: FloatArray | None = None, gate_slope: float = 0.0) -> IntArray:
    """Connected components of the eps-neighbourhood graph in x-y (with the Doppler gate when given)."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, np.int64)
    pairs = cKDTree(xy).query_pairs(eps, output_type="ndarray")
    if gate is not None and vr is not None and u is not None and len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        du = np.linalg.norm(u[i] - u[j], axis=1)
        ok = np.abs(vr[i] - vr[j]) <= gate + gate_slope * du
        pairs = pairs[ok]
    return _connected(n, pairs[:, 0], pairs[:, 1])


def _connected(n: int, i: IntArray, j: IntArray) -> IntArray:
    """Labels 0..K-1 of the connected components of the graph on ``n`` nodes with edges ``i[e] - j[e]``
    (min-label hooking with pointer jumping: a few vectorised passes, no sparse-matrix set-up)."""
    lab = np.arange(n, dtype=np.int64)
    if len(i):
        while True:
            li, lj = lab[i], lab[j]
            m = np.minimum(li, lj)
            new = lab.copy()
            np.minimum.at(new, li, m)
            np.minimum.at(new, lj, m)
            new = new[new]
            if np.array_equal(new, lab):
                break
            lab = new
    return np.unique(lab, return_inverse=True)[1].astype(np.int64)


class RadarClusterDetector:
    """Objects with velocities from merged radar detections (see the module docstring for the method).

    Options (keyword-only; metres, m/s, degrees, dBsm):

    - ``class_names``: the ``Boxes3D.class_names`` of the output; only classes with a prior in ``class_priors``
      are ever predicted (at least one must have one);
    - ``class_priors``: per-class :class:`RadarClassPrior` (default :data:`RADAR_CLASS_PRIORS`);
    - ``moving_threshold_mps`` (0.5): |compensated radial velocity| above which a detection is moving (about 5x
      the radial-velocity noise of an ARS408-class radar, plus room for the ego-twist error);
    - ``eps_m`` (2.5): neighbour distance of moving detections; ``static_eps_m`` (1.5): of static ones;
    - ``velocity_gate_mps`` (1.0) and ``max_speed_mps`` (20.0): the Doppler gate between two moving neighbours;
    - ``merge_clusters`` (True): merge moving clusters that one vehicle explains (a car seen at both ends, a bus
      along its side): one velocity fits both within ``merge_residual_mps`` (0.5) and their detections together span
      at most ``max_width_m`` (2.8) across the heading and ``max_length_m`` (5.0) along it, or
      ``large_length_m`` (13.0) when their mean RCS is at least ``large_rcs_dbsm`` (13.0: trucks, buses);
    - ``split_residual_mps`` (0.35): split clusters whose velocity fit leaves a larger residual (step 2);
    - ``attach_static`` (True): static detections near a moving cluster join it when they agree with its velocity
      within ``attach_residual_mps`` (0.5);
    - ``min_aspect_deg`` (4.0): least squares for both velocity components only above this span of lines of sight;
    - ``min_points`` (1): smallest moving cluster; ``min_static_points`` (3): smallest static cluster;
    - ``ghost_penalty`` (0.3): score factor of a moving cluster made only of likely multipath ghosts (step 1);
    - ``keep_static`` (False): also return static clusters, scored at most ``static_score`` (0.1);
    - ``min_score`` (0.0): drop boxes scoring below it;
    - ``velocity_noise_mps`` (0.25): expected residual of the velocity fit, for the consistency part of the score;
    - ``ground_z_m`` (None): z of the ground in the frame; when given, box centres sit at ``ground_z_m + h / 2``,
      else at the detections' mean height;
    - ``size_mode`` ("posterior"): box size = the class-posterior mean of the class sizes (the smallest expected
      centre error when radar can't tell a truck from a bus), or "class": the size of the label.

    Invalid options raise :class:`~fusion_stack.types.SampleError` naming the option.
    """

    def __init__(self, *, class_names: Sequence[str] = BOX_CLASSES,
                 class_priors: Mapping[str, RadarClassPrior] = RADAR_CLASS_PRIORS,
                 moving_threshold_mps: float = 0.5, eps_m: float = 2.5, static_eps_m: float = 1.5,
                 velocity_gate_mps: float = 1.0, max_speed_mps: float = 20.0, merge_clusters: bool = True,
                 max_length_m: float = 5.0, large_length_m: float = 13.0, max_width_m: float = 2.8,
                 large_rcs_dbsm: float = 13.0,
                 merge_residual_mps: float = 0.5, split_residual_mps: float = 0.35, attach_static: bool = True,
                 attach_residual_mps: float = 0.5,
                 min_aspect_deg: float = 4.0, min_points: int = 1, min_static_points: int = 3,
                 ghost_penalty: float = 0.3, keep_static: bool = False, static_score: float = 0.1,
                 min_score: float = 0.0, velocity_noise_mps: float = 0.25, ground_z_m: float | None = None,
                 size_mode: str = "posterior") -> None:
        names = tuple(class_names) if isinstance(class_names, (tuple, list)) else None
        if not names or not all(isinstance(c, str) and c for c in names) or len(set(names)) != len(names):
            raise SampleError(f"class_names must be unique non-empty strings, got {class_names!r}",
                              field="class_names")
        if not isinstance(class_priors, Mapping) or not all(
                isinstance(p, RadarClassPrior) for p in class_priors.values()):
            raise SampleError(f"class_priors must map class name -> RadarClassPrior, got {class_priors!r}",
                              field="class_priors")
        usable = [c for c in names if c in class_priors]
        if not usable:
            raise SampleError(f"none of class_names {names} has a prior in class_priors ({sorted(class_priors)})",
                              field="class_names")
        for c in usable:
            p = class_priors[c]
            if min(p.size) <= 0 or p.rcs_std_db <= 0 or p.weight <= 0 or p.max_speed_mps < p.min_speed_mps:
                raise SampleError(f"class_priors[{c!r}] needs positive size, rcs_std_db and weight and "
                                  f"min_speed_mps <= max_speed_mps, got {p}", field="class_priors")
        self.class_names = names
        self.moving_threshold_mps = _nonneg(moving_threshold_mps, "moving_threshold_mps")
        self.eps_m = _nonneg(eps_m, "eps_m", positive=True)
        self.static_eps_m = _nonneg(static_eps_m, "static_eps_m", positive=True)
        self.velocity_gate_mps = _nonneg(velocity_gate_mps, "velocity_gate_mps")
        self.max_speed_mps = _nonneg(max_speed_mps, "max_speed_mps")
        self.max_length_m = _nonneg(max_length_m, "max_length_m", positive=True)
        self.large_length_m = _nonneg(large_length_m, "large_length_m", positive=True)
        self.max_width_m = _nonneg(max_width_m, "max_width_m")
        self.large_rcs_dbsm = _finite(large_rcs_dbsm, "large_rcs_dbsm")
        self.merge_residual_mps = _nonneg(merge_residual_mps, "merge_residual_mps")
        self.split_residual_mps = _nonneg(split_residual_mps, "split_residual_mps")
        self.attach_residual_mps = _nonneg(attach_residual_mps, "attach_residual_mps")
        self.min_aspect_deg = _nonneg(min_aspect_deg, "min_aspect_deg")
        self.velocity_noise_mps = _nonneg(velocity_noise_mps, "velocity_noise_mps", positive=True)
        for name, value in (("ghost_penalty", ghost_penalty), ("static_score", static_score),
                            ("min_score", min_score)):
            if _nonneg(value, name) > 1:
                raise SampleError(f"{name} must be in [0, 1], got {value!r}", field=name)
        self.ghost_penalty = float(ghost_penalty)
        self.static_score = float(static_score)
        self.min_score = float(min_score)
        for name, value in (("min_points", min_points), ("min_static_points", min_static_points)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SampleError(f"{name} must be an int >= 1, got {value!r}", field=name)
        self.min_points = int(min_points)
        self.min_static_points = int(min_static_points)
        for name, flag in (("merge_clusters", merge_clusters), ("attach_static", attach_static),
                           ("keep_static", keep_static)):
            if not isinstance(flag, bool):
                raise SampleError(f"{name} must be a bool, got {flag!r}", field=name)
        self.merge_clusters = merge_clusters
        self.attach_static = attach_static
        self.keep_static = keep_static
        if size_mode not in ("posterior", "class"):
            raise SampleError(f"size_mode must be 'posterior' or 'class', got {size_mode!r}", field="size_mode")
        self.size_mode = size_mode
        self.ground_z_m = None if ground_z_m is None else _finite(ground_z_m, "ground_z_m")
        # class tables in class_names order (classes without a prior get zero weight: never predicted)
        k = len(names)
        self._weight = np.array([class_priors[c].weight if c in class_priors else 0.0 for c in names])
        pri = [class_priors.get(c, class_priors[usable[0]]) for c in names]
        self._size = np.array([p.size for p in pri], dtype=np.float64).reshape(k, 3)
        self._rcs_mu = np.array([p.rcs_mean_dbsm for p in pri])
        self._rcs_sd = np.array([p.rcs_std_db for p in pri])
        self._vmin = np.array([p.min_speed_mps for p in pri])
        self._vmax = np.array([p.max_speed_mps for p in pri])

    # --- clustering -------------------------------------------------------------------------------------------
    def cluster(self, radar: RadarPoints) -> RadarClusters:
        """Clusters of ``radar`` with their velocities (steps 1-3 of the module docstring)."""
        if not isinstance(radar, RadarPoints):
            raise SampleError(f"radar must be RadarPoints, got {type(radar).__name__}", field="radar")
        n = len(radar)
        labels = np.full(n, -1, np.int64)
        if n == 0:
            z = np.zeros(0)
            return RadarClusters(labels, z.astype(bool), np.zeros((0, 2)), z.astype(bool), z, z,
                                 z.astype(np.int64), z.astype(np.int64), z, z)
        xy = radar.positions[:, :2]
        u = radar.lines_of_sight()[:, :2]
        vr = radar.radial_velocity
        ones = np.ones(n)
        moving = np.abs(vr) > self.moving_threshold_mps
        ghost = _ghost_candidates(radar, moving)
        # 2. moving detections: position + Doppler gate
        mi = np.nonzero(moving)[0]
        lab_m = _components(xy[mi], self.eps_m, self.velocity_gate_mps, vr[mi], u[mi], self.max_speed_mps)
        if len(mi) and self.split_residual_mps > 0:
            lab_m = self._split_inconsistent(lab_m, xy[mi], u[mi], vr[mi])
        if len(mi) and self.merge_clusters:
            lab_m = self._merge_consistent(lab_m, xy[mi], u[mi], vr[mi], radar.rcs[mi])
        counts = np.bincount(lab_m) if len(mi) else np.zeros(0, np.int64)
        keep = counts[lab_m] >= self.min_points if len(mi) else np.zeros(0, bool)
        _, lab_m = np.unique(lab_m[keep], return_inverse=True)
        mi = mi[keep]
        km = int(lab_m.max()) + 1 if len(mi) else 0
        labels[mi] = lab_m
        if km and self.attach_static:
            vel, _, _, _ = _solve_clusters(lab_m, km, u[mi], vr[mi], ones[mi], self.min_aspect_deg)
            si = np.nonzero(~moving)[0]
            if len(si):
                dist, nn = cKDTree(xy[mi]).query(xy[si], distance_upper_bound=self.eps_m)
                near = np.isfinite(dist)
                si, nn = si[near], nn[near]
                c = lab_m[nn]
                ok = np.abs(np.einsum("ij,ij->i", u[si], vel[c]) - vr[si]) <= self.attach_residual_mps
                labels[si[ok]] = c[ok]
        # static detections: position only
        rest = np.nonzero(labels < 0)[0]
        if len(rest):
            lab_s = _components(xy[rest], self.static_eps_m)
            big = np.bincount(lab_s)[lab_s] >= self.min_static_points
            _, lab_s = np.unique(lab_s[big], return_inverse=True)
            labels[rest[big]] = lab_s + km
        k = int(labels.max()) + 1 if np.any(labels >= 0) else 0
        assigned = labels >= 0
        la = labels[assigned]
        vel, full, aspect, rms = _solve_clusters(la, k, u[assigned], vr[assigned], ones[assigned],
                                                 self.min_aspect_deg)
        is_moving = np.arange(k) < km
        vel[~is_moving] = 0.0
        num = np.bincount(la, minlength=k).astype(np.int64)
        n_ids = len(radar.sensor_ids) + 1
        pairs = np.unique(la * n_ids + radar.sensor_index[assigned])
        num_sensors = np.bincount(pairs // n_ids, minlength=k).astype(np.int64)
        cnt = np.maximum(num, 1)
        ghost_fraction = np.bincount(la, weights=ghost[assigned].astype(np.float64), minlength=k) / cnt
        mean_rcs = np.bincount(la, weights=radar.rcs[assigned], minlength=k) / cnt
        return RadarClusters(labels, is_moving, vel, full & is_moving, aspect, rms, num, num_sensors, ghost_fraction,
                             mean_rcs)

    def _split_inconsistent(self, lab: IntArray, xy: FloatArray, u: FloatArray, vr: FloatArray) -> IntArray:
        """Split clusters that no single velocity explains (two vehicles side by side at different speeds): while a
        cluster's fit residual exceeds ``split_residual_mps``, keep the largest set of its detections one velocity
        explains within ``split_residual_mps / 2`` (two-detection RANSAC over all pairs) and re-cluster the rest."""
        lab = lab.copy()
        k = int(lab.max()) + 1
        tol = self.split_residual_mps / 2
        _, _, _, rms_all = _solve_clusters(lab, k, u, vr, np.ones(len(lab)), self.min_aspect_deg)
        big = np.bincount(lab, minlength=k) >= 4
        todo = [(int(c), True) for c in np.nonzero((rms_all > self.split_residual_mps) & big)[0]]
        while todo:  # (cluster, known to be inconsistent)
            c, bad = todo.pop()
            idx = np.nonzero(lab == c)[0]
            if len(idx) < 4:
                continue
            if not bad:
                _, _, _, rms = _solve_clusters(np.zeros(len(idx), np.int64), 1, u[idx], vr[idx], np.ones(len(idx)),
                                               self.min_aspect_deg)
                if rms[0] <= self.split_residual_mps:
                    continue
            i, j = np.triu_indices(len(idx), 1)
            ui, uj = u[idx[i]], u[idx[j]]
            det = ui[:, 0] * uj[:, 1] - ui[:, 1] * uj[:, 0]
            good = np.abs(det) > np.sin(np.deg2rad(max(self.min_aspect_deg, 1.0)))
            if not np.any(good):
                continue
            ui, uj, det = ui[good], uj[good], det[good]
            ri, rj = vr[idx[i[good]]], vr[idx[j[good]]]
            vx, vy = (ri * uj[:, 1] - rj * ui[:, 1]) / det, (ui[:, 0] * rj - uj[:, 0] * ri) / det
            inl = np.abs(vx[:, None] * u[idx, 0][None] + vy[:, None] * u[idx, 1][None] - vr[idx][None]) <= tol
            best = inl[np.argmax(inl.sum(axis=1))]
            if best.sum() < 2 or best.all():
                continue
            rest = idx[~best]
            sub = _components(xy[rest], self.eps_m, self.velocity_gate_mps, vr[rest], u[rest], self.max_speed_mps)
            lab[rest] = k + sub
            todo.extend((int(n), False) for n in range(k, k + int(sub.max()) + 1))
            k += int(sub.max()) + 1
        return np.unique(lab, return_inverse=True)[1].astype(np.int64)

    def _merge_consistent(self, lab: IntArray, xy: FloatArray, u: FloatArray, vr: FloatArray, rcs: FloatArray
                     ) -> IntArray:
        """Merge moving clusters that one vehicle explains (see ``merge_clusters`` in the class docstring)."""
        k = int(lab.max()) + 1
        if k < 2:
            return lab

        def s(x: FloatArray) -> FloatArray:
            return np.bincount(lab, weights=x, minlength=k).astype(np.float64)

        n = s(np.ones(len(lab)))
        axx, axy, ayy = s(u[:, 0] ** 2), s(u[:, 0] * u[:, 1]), s(u[:, 1] ** 2)
        bx, by, cc = s(u[:, 0] * vr), s(u[:, 1] * vr), s(vr ** 2)
        cen = np.column_stack([s(xy[:, 0]), s(xy[:, 1])]) / n[:, None]  # only to pick candidate pairs
        rsum = s(rcs)
        pairs = cKDTree(cen).query_pairs(max(self.large_length_m, self.max_length_m), output_type="ndarray")
        if not len(pairs):
            return lab
        i, j = pairs[:, 0], pairs[:, 1]
        limit = np.where((rsum[i] + rsum[j]) / (n[i] + n[j]) >= self.large_rcs_dbsm, self.large_length_m,
                         self.max_length_m)
        # joint fit (tiny ridge: two clusters seen along one bearing give the radial component only)
        nn = n[i] + n[j]
        ridge = 1e-3 * nn
        a11, a12, a22 = axx[i] + axx[j] + ridge, axy[i] + axy[j], ayy[i] + ayy[j] + ridge
        b1, b2 = bx[i] + bx[j], by[i] + by[j]
        det = a11 * a22 - a12 ** 2
        vx, vy = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
        a11 -= ridge
        a22 -= ridge
        sq = a11 * vx ** 2 + 2 * a12 * vx * vy + a22 * vy ** 2 - 2 * (vx * b1 + vy * b2) + cc[i] + cc[j]
        rms = np.sqrt(np.maximum(sq, 0.0) / nn)
        speed = np.hypot(vx, vy)
        hx, hy = vx / np.maximum(speed, 1e-9), vy / np.maximum(speed, 1e-9)
        ok = (rms <= self.merge_residual_mps) & (speed > 0)
        # the pair's detections together: their spread along the heading and across it (a loop over the few
        # candidate pairs left)
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(k + 1))
        for m in np.nonzero(ok)[0]:
            a, b = int(i[m]), int(j[m])
            p = np.concatenate([xy[order[bounds[a]:bounds[a + 1]]], xy[order[bounds[b]:bounds[b + 1]]]])
            along = p[:, 0] * hx[m] + p[:, 1] * hy[m]
            across = p[:, 1] * hx[m] - p[:, 0] * hy[m]
            ok[m] = np.ptp(along) <= limit[m] and np.ptp(across) <= self.max_width_m
        if not np.any(ok):
            return lab
        return _connected(k, i[ok], j[ok])[lab]

    # --- boxes ------------------------------------------------------------------------------------------------
    def _classify(self, rcs: FloatArray, speed: FloatArray, moving: BoolArray, length: FloatArray) -> FloatArray:
        """Class posterior (K, C) per cluster from its mean RCS (dBsm), its speed (m/s) and the detections' extent along
        the heading ``length`` (m: a class shorter than that by more than a metre is unlikely)."""
        z = (rcs[:, None] - self._rcs_mu[None]) / self._rcs_sd[None]
        sp = np.where(moving, speed, 0.0)[:, None]
        soft = 0.25 + 0.1 * self._vmax[None]  # m/s, the width of the speed range's edges
        log_speed = (-np.logaddexp(0.0, (self._vmin[None] - sp) / soft)
                     - np.logaddexp(0.0, (sp - self._vmax[None]) / soft))
        too_long = np.maximum(length[:, None] - self._size[None, :, 0] - 1.0, 0.0) / 0.5
        with np.errstate(divide="ignore"):
            log_w = np.log(self._weight)
        logp = log_w[None] - 0.5 * z ** 2 - np.log(self._rcs_sd)[None] + log_speed - 0.5 * too_long ** 2
        post = np.exp(logp - logp.max(axis=1, keepdims=True))
        return post / post.sum(axis=1, keepdims=True)

    def detect(self, radar: RadarPoints, *, stamp_ns: int, sensor_id: str = "radar") -> Boxes3D:
        """Boxes (geometric centres, (l, w, h), yaw) in ``radar.frame_id`` at ``stamp_ns`` with velocities
        (vx, vy, 0) m/s over ground, labels into ``class_names``, scores in [0, 1] and ``sensor_id``."""
        check_header("RadarClusterDetector.detect", stamp_ns, "frame", sensor_id)
        cl = self.cluster(radar)
        k = len(cl)
        if k == 0:
            return _empty_boxes(self.class_names, stamp_ns, radar.frame_id, sensor_id)
        assigned = cl.point_labels >= 0
        la = cl.point_labels[assigned]
        pos = radar.positions[assigned]
        cnt = np.maximum(cl.num_points, 1).astype(np.float64)

        def mean(x: FloatArray) -> FloatArray:
            return np.bincount(la, weights=x, minlength=k) / cnt

        cx, cy, cz = mean(pos[:, 0]), mean(pos[:, 1]), mean(pos[:, 2])
        speed = np.hypot(cl.velocities[:, 0], cl.velocities[:, 1])
        los_pts = radar.lines_of_sight()[assigned, :2]
        los = np.column_stack([mean(los_pts[:, 0]), mean(los_pts[:, 1])])
        los /= np.maximum(np.linalg.norm(los, axis=1), 1e-9)[:, None]
        # yaw: along the velocity when moving; else the principal axis of the detections (or across the sight line)
        dx, dy = pos[:, 0] - cx[la], pos[:, 1] - cy[la]
        sxx, sxy, syy = mean(dx * dx), mean(dx * dy), mean(dy * dy)
        axis_yaw = 0.5 * np.arctan2(2 * sxy, sxx - syy)
        across = np.arctan2(los[:, 0], -los[:, 1])
        spread = np.sqrt(np.maximum(sxx + syy, 0.0))
        yaw = np.where(cl.moving & (speed > self.moving_threshold_mps),
                       np.arctan2(cl.velocities[:, 1], cl.velocities[:, 0]),
                       np.where((cl.num_points >= 3) & (spread > 0.5), axis_yaw, across))
        # detections in box axes (a along the heading, b across)
        c, s = np.cos(yaw), np.sin(yaw)
        a = dx * c[la] + dy * s[la]
        b = -dx * s[la] + dy * c[la]
        a_lo, a_hi = -_group_max(la, -a, k), _group_max(la, a, k)
        b_lo, b_hi = -_group_max(la, -b, k), _group_max(la, b, k)
        post = self._classify(cl.mean_rcs, speed, cl.moving, a_hi - a_lo)
        labels = np.argmax(post, axis=1).astype(np.int64)
        # box: the class size (stretched to contain the detections), its faces turned to the radar on them
        size = post @ self._size if self.size_mode == "posterior" else self._size[labels].copy()
        size[:, 0] = np.maximum(size[:, 0], a_hi - a_lo)
        size[:, 1] = np.maximum(size[:, 1], b_hi - b_lo)
        ca = _face_offset(a_lo, a_hi, size[:, 0], los[:, 0] * c + los[:, 1] * s)
        cb = _face_offset(b_lo, b_hi, size[:, 1], -los[:, 0] * s + los[:, 1] * c)
        centers = np.column_stack([cx + ca * c - cb * s, cy + ca * s + cb * c,
                                   cz if self.ground_z_m is None else self.ground_z_m + size[:, 2] / 2])
        # score: count, radars, velocity consistency, not a ghost; static clusters at most static_score
        s_count = 1.0 - np.exp(-cl.num_points / 2.0)
        s_cons = np.exp(-0.5 * (cl.residual_rms / self.velocity_noise_mps) ** 2)
        s_multi = np.where(cl.num_sensors > 1, 1.0, 0.85)
        s_ghost = np.where(cl.ghost_fraction >= 1.0, self.ghost_penalty, 1.0)
        score = np.where(cl.moving, s_count * s_cons * s_multi * s_ghost, self.static_score * s_count)
        vel3 = np.column_stack([cl.velocities, np.zeros(k)])
        keep = score >= self.min_score
        if not self.keep_static:
            keep &= cl.moving
        return Boxes3D(int(stamp_ns), radar.frame_id, sensor_id, centers[keep], size[keep], yaw[keep], labels[keep],
                       self.class_names, np.clip(score[keep], 0.0, 1.0), vel3[keep])


def _face_offset(lo: FloatArray, hi: FloatArray, length: FloatArray, cos_los: FloatArray, *,
                 face_cos: float = 0.5) -> FloatArray:
    """Centre coordinate along one box axis (relative to the detections' mean) from the detections' extent
    [lo, hi] on it, the box length on it and the cosine between the line of sight and the axis: a face turned to
    the radar (|cos| >= ``face_cos``) is where the near detections are; otherwise the centre stays as close to the
    mean as containing the detections allows; in between, a blend."""
    near = np.where(cos_los >= 0, lo + length / 2, hi - length / 2)
    contain = np.clip(0.0, hi - length / 2, lo + length / 2)
    t = np.clip(np.abs(cos_los) / face_cos, 0.0, 1.0)
    return t * near + (1 - t) * contain


def _ghost_candidates(radar: RadarPoints, moving: BoolArray, *, bearing_deg: float = 1.5, min_ratio: float = 1.2,
                      max_ratio: float = 2.2, velocity_mps: float = 0.5) -> BoolArray:
    """Moving detections that look like multipath ghosts of another: same radar, same bearing (within
    ``bearing_deg``), ``min_ratio``..``max_ratio`` times its range, the same radial velocity (within
    ``velocity_mps``) and a weaker RCS."""
    out = np.zeros(len(radar), bool)
    d = radar.positions[:, :2] - radar.sensor_origins[:, :2]
    rng = np.hypot(d[:, 0], d[:, 1])
    az = np.arctan2(d[:, 1], d[:, 0])
    tol = np.deg2rad(bearing_deg)
    for sensor in np.unique(radar.sensor_index[moving]):
        idx = np.nonzero(moving & (radar.sensor_index == sensor))[0]
        if len(idx) < 2:
            continue
        daz = np.abs(np.angle(np.exp(1j * (az[idx][:, None] - az[idx][None]))))  # [ghost, source]
        ratio = rng[idx][:, None] / np.maximum(rng[idx][None], 1e-6)
        hit = ((daz <= tol) & (ratio >= min_ratio) & (ratio <= max_ratio)
               & (np.abs(radar.radial_velocity[idx][:, None] - radar.radial_velocity[idx][None]) <= velocity_mps)
               & (radar.rcs[idx][:, None] < radar.rcs[idx][None]))
        out[idx] = hit.any(axis=1)
    return out


def _group_max(labels: IntArray, x: FloatArray, k: int) -> FloatArray:
    out = np.zeros(k)
    np.maximum.at(out, labels, x)
    return out


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(
            float(value)):
        raise SampleError(f"{name} must be a finite number, got {value!r}", field=name)
    return float(value)


def _empty_boxes(names: tuple[str, ...], stamp_ns: int, frame_id: str, sensor_id: str) -> Boxes3D:
    z3 = np.zeros((0, 3))
    return Boxes3D(int(stamp_ns), frame_id, sensor_id, z3, z3, np.zeros(0), np.zeros(0, np.int64), names,
                   np.zeros(0), z3)


__all__ = ["RADAR_CLASS_PRIORS", "RadarClassPrior", "RadarClusterDetector", "RadarClusters", "VelocityEstimate",
           "estimate_velocity"]
