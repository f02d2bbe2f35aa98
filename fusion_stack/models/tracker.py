"""A multi-object tracker: one constant-velocity Kalman filter per object, gated Hungarian association.

Frames and units
----------------
Detections come in as :class:`~fusion_stack.types.Boxes3D` in one FIXED world frame (``map`` or ``odom``: move
sensor-frame detections there with the ego pose first) at ``detections.stamp_ns``; every update must use the
same ``frame_id`` and non-decreasing stamps (equal stamps are allowed: a second detection set at the same
instant, e.g. another sensor, updates without a prediction step). Metres, seconds, radians. Measured velocities
(``detections.velocities``, e.g. from radar) must be over the ground in that frame, not relative to the ego.

Model
-----
Each track holds a Gaussian over ``(x, y, vx, vy)`` (metres, m/s) with the continuous white-noise
acceleration model (Bar-Shalom, Li & Kirubarajan 2001, sec. 6.2): over ``dt`` seconds
``F = [[I, dt I], [0, I]]`` and ``Q = q [[dt^3/3 I, dt^2/2 I], [dt^2/2 I, dt I]]`` with ``q = process_noise^2``,
so the velocity variance grows by ``process_noise^2`` per second however the time is cut into steps. A detection
measures ``(x, y)`` with noise ``measurement_noise`` (m, per axis); when its ``vx`` and ``vy`` are finite they are
a second measurement with noise ``velocity_noise`` (m/s, per axis), applied right after the position (a sequential
update, identical to the joint 4-D update because the two noises are independent). Updates use the Joseph form.
The box height ``z``, size ``(l, w, h)`` and yaw are not in the filter: they are exponential averages of the
matched detections (weight ``box_smoothing`` for the newest; yaw averaged as a unit vector).

Association
-----------
Class-agnostic, with a class penalty: the cost of detection ``i`` and track ``j`` is the squared Mahalanobis
distance of the detection centre to the predicted track centre under the innovation covariance
``S_j = P_j[:2, :2] + R`` (:func:`~fusion_stack.align.assignment.mahalanobis_cost`), plus
``class_mismatch_cost`` when the detection's class differs from the track's. Pairs whose centres are more than
``gate_m`` metres apart are never matched; the rest are matched one-to-one by
:func:`~fusion_stack.align.assignment.gated_assignment` with the gate
``chi_square_gate(2, probability=gate_probability)`` on the total cost, in two rounds: the confirmed tracks
first, then the tentative ones with the detections left (the matching cascade of DeepSORT, Wojke et al. 2017:
a newborn track's wide innovation covariance makes its Mahalanobis distances small, and it would otherwise
steal the detections of the established track it duplicates after one gated-out outlier). The default gate
probability is high (0.9999: ``d^2 <= 18.4``) because detection errors have heavier tails than a Gaussian and a
young track's velocity is poorly known; ``gate_m`` bounds it in metres. So a detector that flips between
``car`` and ``truck`` does not break a track when nothing of the right class is near, while a same-class
candidate at a similar distance always wins; ``class_mismatch_cost=inf`` gives strict per-class tracking.
A track's class is the score-weighted vote of the detections it was matched with.

Track life
----------
An unmatched detection with ``score >= min_birth_score`` starts a tentative track (velocity: the measured one
if given, else 0 with standard deviation ``initial_velocity_std``). A track is confirmed once it has been
matched ``min_hits`` times (the birth counts; ``min_hits=1`` confirms at birth) and stays confirmed. A tentative
track is deleted at its first miss (so a false alarm that appears once is never confirmed); a confirmed track
coasts on its prediction for up to ``max_misses`` consecutive missed updates and is deleted at the next one.

Output
------
:meth:`MultiObjectTracker.update` returns the confirmed tracks that were matched in this update (and, with
``output_coasted=True``, the coasting confirmed ones at their predicted position too; off by default because
a coasted box is a guess, not a detection), sorted by track id, in the detections' frame and stamp, with
``sensor_id`` ``output_sensor_id``: centres ``(x, y)`` from the filter and ``z`` smoothed, smoothed sizes and
yaws, velocities ``(vx, vy, 0)`` from the filter, the track's class, ``track_ids`` stable over the track's life,
and ``score = mean_detection_score * (1 - 0.5^hits) * (1 - misses / (max_misses + 1))`` where
``mean_detection_score`` is the exponential average (weight ``box_smoothing``) of the matched detections'
scores: a young or coasting track scores lower than an established one with the same detections.

Errors are :class:`~fusion_stack.align.errors.AlignmentError` (time going backwards, a change of frame, an
unknown class name, bad options), naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion_stack.align.assignment import chi_square_gate, gated_assignment, mahalanobis_cost
from fusion_stack.align.errors import AlignmentError
from fusion_stack.types import Boxes3D

__all__ = ["MultiObjectTracker", "Track", "constant_velocity_model"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _readonly(a: FloatArray) -> FloatArray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Track:
    """A snapshot of one track after an update (read-only arrays; later updates do not change it).

    ``state`` (4,) ``(x, y, vx, vy)`` in metres and m/s and ``covariance`` (4, 4) in the tracker's world frame;
    ``z`` (m), ``size`` (3,) ``(l, w, h)`` (m) and ``yaw`` (rad) smoothed from the matched detections; ``label``
    indexes the tracker's ``class_names`` (``class_name``); ``score`` as in the output boxes; ``hits`` matched
    updates (the birth counts), ``misses`` consecutive missed updates, ``age`` updates since birth (the birth
    counts); ``confirmed`` once ``hits >= min_hits``; ``stamp_ns`` the stamp of the state, ``first_stamp_ns``
    the birth stamp.
    """

    track_id: int
    state: FloatArray
    covariance: FloatArray
    z: float
    size: FloatArray
    yaw: float
    label: int
    class_name: str
    score: float
    hits: int
    misses: int
    age: int
    confirmed: bool
    stamp_ns: int
    first_stamp_ns: int

    @property
    def position(self) -> FloatArray:
        """(2,) ``(x, y)`` in metres."""
        return self.state[:2]

    @property
    def velocity(self) -> FloatArray:
        """(2,) ``(vx, vy)`` in m/s."""
        return self.state[2:]


def constant_velocity_model(dt: float, process_noise: float) -> tuple[FloatArray, FloatArray]:
    """Transition ``F`` (4, 4) and process noise ``Q`` (4, 4) of the 2-D continuous white-noise acceleration
    model over ``dt`` seconds for the state ``(x, y, vx, vy)``; ``process_noise`` is the square root of the
    acceleration power spectral density (m s^-1.5: the velocity variance grows by its square per second)."""
    eye = np.eye(2)
    F = np.block([[eye, dt * eye], [np.zeros((2, 2)), eye]])
    q = process_noise**2
    Q = q * np.block([[dt**3 / 3.0 * eye, dt**2 / 2.0 * eye], [dt**2 / 2.0 * eye, dt * eye]])
    return F, Q


def _kalman_update(X: FloatArray, P: FloatArray, Z: FloatArray, dims: slice, noise: float) -> None:
    """In place: update states ``X`` (K, 4) and covariances ``P`` (K, 4, 4) with measurements ``Z`` (K, 2) of
    the state components ``dims`` (an identity measurement model on them) with isotropic noise std ``noise``."""
    k = X.shape[0]
    H = np.zeros((2, 4))
    H[:, dims] = np.eye(2)
    S = P[:, dims, dims] + noise**2 * np.eye(2)
    gain = np.einsum("kij,kjl->kil", P[:, :, dims], np.linalg.inv(S))  # (K, 4, 2)
    innovation = Z - X[:, dims]
    X += np.einsum("kij,kj->ki", gain, innovation)
    A = np.broadcast_to(np.eye(4), (k, 4, 4)) - gain @ H  # I - K H
    P[:] = A @ P @ np.swapaxes(A, 1, 2) + noise**2 * (gain @ np.swapaxes(gain, 1, 2))
    P[:] = 0.5 * (P + np.swapaxes(P, 1, 2))


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise AlignmentError(f"expected a finite number {want}, got {value!r}", field=name)
    return v


def _count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise AlignmentError(f"expected an integer >= {minimum}, got {value!r}", field=name)
    return int(value)


class MultiObjectTracker:
    """Constant-velocity Kalman multi-object tracker over :class:`~fusion_stack.types.Boxes3D` in a fixed world
    frame (see the module docstring for the model, the association and the track life).

    Options (keyword-only):

    - ``class_names``: the tracker's classes (output ``class_names``); detections are mapped onto them by name.
    - ``gate_m``: largest centre distance (m) between a detection and a predicted track that may match.
    - ``gate_probability``: probability of the chi-square gate (2 dof) on the association cost.
    - ``class_mismatch_cost``: added to the squared Mahalanobis distance when classes differ (``inf``: never).
    - ``max_misses``: consecutive missed updates a confirmed track survives (coasting).
    - ``min_hits``: matched updates (birth included) before a track is confirmed and output.
    - ``process_noise``: sqrt of the white-noise acceleration spectral density (m s^-1.5).
    - ``measurement_noise``: std of a detection centre, per axis (m).
    - ``velocity_noise``: std of a measured detection velocity, per axis (m/s).
    - ``initial_velocity_std``: std of a new track's unknown velocity, per axis (m/s).
    - ``box_smoothing``: weight in (0, 1] of the newest detection in the averages of z, size, yaw and score.
    - ``min_birth_score``: detections scoring lower update tracks but start none.
    - ``output_coasted``: also output confirmed tracks that missed this update (predicted boxes).
    - ``output_sensor_id``: ``sensor_id`` of the output boxes.
    - ``heading_speed_mps``: confirmed tracks faster than this (m/s) point their yaw along their filtered
      velocity (detectors' headings are often ambiguous by pi); slower tracks keep the smoothed heading, whose
      sign follows the last motion. ``inf`` disables it.
    """

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        gate_m: float = 10.0,
        gate_probability: float = 0.9999,
        class_mismatch_cost: float = 4.0,
        max_misses: int = 3,
        min_hits: int = 3,
        process_noise: float = 1.0,
        measurement_noise: float = 0.3,
        velocity_noise: float = 0.5,
        initial_velocity_std: float = 10.0,
        box_smoothing: float = 0.5,
        min_birth_score: float = 0.0,
        output_coasted: bool = False,
        output_sensor_id: str = "tracker",
        heading_speed_mps: float = 1.0,
    ) -> None:
        names = tuple(str(n) for n in class_names)
        if not names or len(set(names)) != len(names):
            raise AlignmentError(f"expected distinct class names, got {names!r}", field="class_names")
        self.class_names = names
        self._class_index = {n: i for i, n in enumerate(names)}
        self.gate_m = _positive("gate_m", gate_m)
        self.gate_probability = float(gate_probability)
        self._gate = chi_square_gate(2, probability=self.gate_probability)
        cm = float(class_mismatch_cost)
        if math.isnan(cm) or cm < 0.0:
            raise AlignmentError(f"expected a number >= 0 (inf allowed), got {class_mismatch_cost!r}",
                                 field="class_mismatch_cost")
        self.class_mismatch_cost = cm
        self.max_misses = _count("max_misses", max_misses, 0)
        self.min_hits = _count("min_hits", min_hits, 1)
        self.process_noise = _positive("process_noise", process_noise, allow_zero=True)
        self.measurement_noise = _positive("measurement_noise", measurement_noise)
        self.velocity_noise = _positive("velocity_noise", velocity_noise)
        self.initial_velocity_std = _positive("initial_velocity_std", initial_velocity_std)
        self.box_smoothing = _positive("box_smoothing", box_smoothing)
        if self.box_smoothing > 1.0:
            raise AlignmentError(f"expected 0 < box_smoothing <= 1, got {box_smoothing!r}", field="box_smoothing")
        self.min_birth_score = float(min_birth_score)
        self.output_coasted = bool(output_coasted)
        if not isinstance(output_sensor_id, str) or not output_sensor_id:
            raise AlignmentError(f"expected a non-empty string, got {output_sensor_id!r}", field="output_sensor_id")
        self.output_sensor_id = output_sensor_id
        hs = float(heading_speed_mps)
        if math.isnan(hs) or hs < 0.0:
            raise AlignmentError(f"expected a number >= 0 (inf allowed), got {heading_speed_mps!r}",
                                 field="heading_speed_mps")
        self.heading_speed_mps = hs
        self.reset()

    # --- state ----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track, the frame, the last stamp and the id counter (ids start again at 0)."""
        n_cls = len(self.class_names)
        self._ids: IntArray = np.empty(0, np.int64)
        self._X: FloatArray = np.empty((0, 4))
        self._P: FloatArray = np.empty((0, 4, 4))
        self._z: FloatArray = np.empty(0)
        self._size: FloatArray = np.empty((0, 3))
        self._heading: FloatArray = np.empty((0, 2))  # smoothed (cos, sin) of the yaw
        self._votes: FloatArray = np.empty((0, n_cls))
        self._score: FloatArray = np.empty(0)
        self._hits: IntArray = np.empty(0, np.int64)
        self._misses: IntArray = np.empty(0, np.int64)
        self._age: IntArray = np.empty(0, np.int64)
        self._confirmed: npt.NDArray[np.bool_] = np.empty(0, bool)
        self._born: IntArray = np.empty(0, np.int64)
        self._next_id = 0
        self._stamp_ns: int | None = None
        self._frame_id: str | None = None

    @property
    def stamp_ns(self) -> int | None:
        """Stamp of the last update (None before the first)."""
        return self._stamp_ns

    @property
    def frame_id(self) -> str | None:
        """The world frame of the tracks (fixed by the first update; None before it)."""
        return self._frame_id

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every live track (tentative, confirmed and coasting) after the last update, sorted by id."""
        labels = self._labels()
        scores = self._output_scores()
        yaws = np.arctan2(self._heading[:, 1], self._heading[:, 0])
        stamp = self._stamp_ns if self._stamp_ns is not None else 0
        return tuple(
            Track(int(self._ids[i]), _readonly(self._X[i]), _readonly(self._P[i]), float(self._z[i]),
                  _readonly(self._size[i]), float(yaws[i]), int(labels[i]), self.class_names[labels[i]],
                  float(scores[i]), int(self._hits[i]), int(self._misses[i]), int(self._age[i]),
                  bool(self._confirmed[i]), stamp, int(self._born[i]))
            for i in range(len(self._ids))
        )

    def _labels(self) -> IntArray:
        return np.argmax(self._votes, axis=1).astype(np.int64) if len(self._votes) else np.empty(0, np.int64)

    def _output_scores(self) -> FloatArray:
        age_factor = 1.0 - 0.5 ** self._hits.astype(np.float64)
        coast_factor = 1.0 - self._misses / (self.max_misses + 1.0)
        return np.asarray(self._score * age_factor * coast_factor, dtype=np.float64)

    # --- update ---------------------------------------------------------------------------------------------
    def _check(self, detections: Boxes3D) -> IntArray:
        """Validate the header of ``detections`` and return their labels in the tracker's classes."""
        if not isinstance(detections, Boxes3D):
            raise AlignmentError(f"expected Boxes3D, got {type(detections).__name__}", field="detections")
        if self._frame_id is not None and detections.frame_id != self._frame_id:
            raise AlignmentError(
                f"detections are in frame {detections.frame_id!r} but the tracker works in {self._frame_id!r} "
                "(a fixed world frame; call reset() to change it)", field="detections.frame_id")
        if self._stamp_ns is not None and detections.stamp_ns < self._stamp_ns:
            raise AlignmentError(
                f"stamp {detections.stamp_ns} ns is {(self._stamp_ns - detections.stamp_ns) * 1e-9:.6f} s before "
                f"the last update ({self._stamp_ns} ns); stamps must not go backwards (call reset() after a jump)",
                field="detections.stamp_ns")
        if detections.class_names == self.class_names:
            return np.asarray(detections.labels, dtype=np.int64)
        unknown = sorted(set(detections.label_names()) - set(self._class_index))
        if unknown:
            raise AlignmentError(f"classes {unknown} are not among the tracker's {list(self.class_names)}",
                                 field="detections.class_names")
        lut = np.array([self._class_index.get(n, -1) for n in detections.class_names], dtype=np.int64)
        return lut[np.asarray(detections.labels, dtype=np.int64)]

    def _predict(self, dt: float) -> None:
        if dt <= 0.0 or not len(self._ids):
            return
        F, Q = constant_velocity_model(dt, self.process_noise)
        self._X = self._X @ F.T
        self._P = F @ self._P @ F.T + Q

    def _associate(self, xy: FloatArray, labels: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """(matches (K, 2) of (detection, track), unmatched detections, unmatched tracks): confirmed tracks first,
        then tentative tracks with the detections left."""
        n_det, n_trk = len(xy), len(self._ids)
        matches = np.empty((0, 2), np.int64)
        free = np.arange(n_det, dtype=np.int64)
        if n_det and n_trk:
            pred = self._X[:, :2]
            S = self._P[:, :2, :2] + self.measurement_noise**2 * np.eye(2)
            cost = mahalanobis_cost(xy, pred, S)
            if self.class_mismatch_cost > 0.0:
                cost = np.where(labels[:, None] != self._labels()[None, :], cost + self.class_mismatch_cost, cost)
            far = np.hypot(xy[:, None, 0] - pred[None, :, 0], xy[:, None, 1] - pred[None, :, 1]) > self.gate_m
            cost[far] = np.inf
            stages = [np.nonzero(self._confirmed)[0], np.nonzero(~self._confirmed)[0]]
            found = []
            for tracks in stages:
                if len(tracks) and len(free):
                    result = gated_assignment(cost[np.ix_(free, tracks)], gate=self._gate)
                    found.append(np.stack([free[result.matches[:, 0]], tracks[result.matches[:, 1]]], axis=1))
                    free = free[result.unmatched_rows]
            if found:
                matches = np.concatenate(found).astype(np.int64)
        missed = np.setdiff1d(np.arange(n_trk, dtype=np.int64), matches[:, 1])
        return matches, free, missed

    def update(self, detections: Boxes3D) -> Boxes3D:
        """Predict every track to ``detections.stamp_ns``, associate, update, start and end tracks, and return
        the confirmed tracks as boxes (see the module docstring: frame, stamp and fields of the output)."""
        labels = self._check(detections)
        stamp = detections.stamp_ns
        dt = 0.0 if self._stamp_ns is None else (stamp - self._stamp_ns) * 1e-9
        self._frame_id = detections.frame_id
        self._stamp_ns = stamp
        self._predict(dt)
        self._age += 1

        centers = np.asarray(detections.centers, dtype=np.float64)
        xy = centers[:, :2]
        vel = np.asarray(detections.velocities, dtype=np.float64)[:, :2]
        has_vel = np.isfinite(vel[:, 0]) & np.isfinite(vel[:, 1])
        scores = np.asarray(detections.scores, dtype=np.float64)
        yaws = np.asarray(detections.yaws, dtype=np.float64)
        heading = np.stack([np.cos(yaws), np.sin(yaws)], axis=1)
        sizes = np.asarray(detections.sizes, dtype=np.float64)

        matches, new_det, missed = self._associate(xy, labels)
        d, t = matches[:, 0], matches[:, 1]
        if len(matches):
            X, P = self._X[t], self._P[t]
            _kalman_update(X, P, xy[d], slice(0, 2), self.measurement_noise)
            withv = has_vel[d]
            if withv.any():
                Xv, Pv = X[withv], P[withv]
                _kalman_update(Xv, Pv, vel[d][withv], slice(2, 4), self.velocity_noise)
                X[withv], P[withv] = Xv, Pv
            self._X[t], self._P[t] = X, P
            a = self.box_smoothing
            self._z[t] = (1 - a) * self._z[t] + a * centers[d, 2]
            self._size[t] = (1 - a) * self._size[t] + a * sizes[d]
            # a box's heading axis is ambiguous by pi: take the detection's direction nearest the track's
            same = np.sum(heading[d] * self._heading[t], axis=1, keepdims=True) >= 0
            h = (1 - a) * self._heading[t] + a * np.where(same, heading[d], -heading[d])
            norm = np.linalg.norm(h, axis=1, keepdims=True)
            self._heading[t] = np.where(norm > 1e-9, h / np.maximum(norm, 1e-12), heading[d])
            self._score[t] = (1 - a) * self._score[t] + a * scores[d]
            np.add.at(self._votes, (t, labels[d]), np.maximum(scores[d], 1e-6))
            self._hits[t] += 1
            self._misses[t] = 0
        self._misses[missed] += 1
        keep = np.ones(len(self._ids), bool)
        keep[missed] = self._confirmed[missed] & (self._misses[missed] <= self.max_misses)
        self._select(keep)

        born = new_det[scores[new_det] >= self.min_birth_score]
        if len(born):
            self._birth(born, centers, sizes, heading, labels, scores, vel, has_vel, stamp)
        self._confirmed |= self._hits >= self.min_hits
        return self._output(detections)

    def _select(self, keep: npt.NDArray[np.bool_]) -> None:
        for name in ("_ids", "_X", "_P", "_z", "_size", "_heading", "_votes", "_score", "_hits", "_misses",
                     "_age", "_confirmed", "_born"):
            setattr(self, name, getattr(self, name)[keep])

    def _birth(self, idx: IntArray, centers: FloatArray, sizes: FloatArray, heading: FloatArray, labels: IntArray,
               scores: FloatArray, vel: FloatArray, has_vel: npt.NDArray[np.bool_], stamp: int) -> None:
        k = len(idx)
        X = np.zeros((k, 4))
        X[:, :2] = centers[idx, :2]
        hv = has_vel[idx]
        X[hv, 2:] = vel[idx][hv]
        var_v = np.where(hv, self.velocity_noise**2, self.initial_velocity_std**2)
        P = np.zeros((k, 4, 4))
        P[:, 0, 0] = P[:, 1, 1] = self.measurement_noise**2
        P[:, 2, 2] = P[:, 3, 3] = var_v
        votes = np.zeros((k, len(self.class_names)))
        votes[np.arange(k), labels[idx]] = np.maximum(scores[idx], 1e-6)
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        self._ids = np.concatenate([self._ids, ids])
        self._X = np.concatenate([self._X, X])
        self._P = np.concatenate([self._P, P])
        self._z = np.concatenate([self._z, centers[idx, 2]])
        self._size = np.concatenate([self._size, sizes[idx]])
        self._heading = np.concatenate([self._heading, heading[idx]])
        self._votes = np.concatenate([self._votes, votes])
        self._score = np.concatenate([self._score, scores[idx]])
        self._hits = np.concatenate([self._hits, np.ones(k, np.int64)])
        self._misses = np.concatenate([self._misses, np.zeros(k, np.int64)])
        self._age = np.concatenate([self._age, np.ones(k, np.int64)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(k, bool)])
        self._born = np.concatenate([self._born, np.full(k, stamp, np.int64)])

    def _output(self, detections: Boxes3D) -> Boxes3D:
        show = self._confirmed & ((self._misses == 0) | self.output_coasted)
        idx = np.nonzero(show)[0]
        idx = idx[np.argsort(self._ids[idx], kind="stable")]
        centers = np.concatenate([self._X[idx, :2], self._z[idx, None]], axis=1)
        velocities = np.concatenate([self._X[idx, 2:], np.zeros((len(idx), 1))], axis=1)
        speed = np.hypot(self._X[idx, 2], self._X[idx, 3])
        moving = speed > self.heading_speed_mps
        if moving.any():  # moving: the heading is the direction of travel (and stays so when it stops)
            along = self._X[idx[moving], 2:4] / speed[moving, None]
            self._heading[idx[moving]] = along
        yaws = np.arctan2(self._heading[idx, 1], self._heading[idx, 0])
        return Boxes3D(
            detections.stamp_ns, detections.frame_id, self.output_sensor_id, centers.reshape(-1, 3),
            self._size[idx].reshape(-1, 3), yaws, self._labels()[idx], self.class_names,
            scores=np.clip(self._output_scores()[idx], 0.0, 1.0), velocities=velocities.reshape(-1, 3),
            track_ids=self._ids[idx],
        )
