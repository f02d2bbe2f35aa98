"""The road of a scene: a centre line (straight and circular pieces), its lanes, parking strips, curbs and
sidewalks, and the gently rolling ground it lies on.

Road coordinates: ``s`` metres of arc length along the centre line, ``d`` metres to its left (REP-103: +y of the
road's heading). Traffic keeps right: lanes with ``d < 0`` drive towards +s, lanes with ``d > 0`` towards -s.
World frame: ``map``, x east, y north, z up, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Ground:
    """The ground height ``z = sum_k a_k sin(kx_k x + ky_k y + phase_k)`` metres over the map (gentle hills)."""

    amplitudes: FloatArray
    wave_vectors: FloatArray  # (K, 2) rad/m
    phases: FloatArray

    def height(self, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """Ground height (metres) at map points (x, y) (any matching shapes)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        z = np.zeros(np.broadcast(x, y).shape)
        for a, (kx, ky), ph in zip(self.amplitudes, self.wave_vectors, self.phases):
            z = z + a * np.sin(kx * x + ky * y + ph)
        return z

    def gradient(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(dz/dx, dz/dy) at map points."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        gx = np.zeros(np.broadcast(x, y).shape)
        gy = np.zeros_like(gx)
        for a, (kx, ky), ph in zip(self.amplitudes, self.wave_vectors, self.phases):
            c = a * np.cos(kx * x + ky * y + ph)
            gx = gx + kx * c
            gy = gy + ky * c
        return gx, gy

    @staticmethod
    def random(rng: np.random.Generator, *, max_slope: float = 0.04) -> Ground:
        """Three sinusoids of 120-300 m wavelength whose slopes add up to at most ``max_slope``."""
        k = 2 * np.pi / rng.uniform(120.0, 300.0, 3)
        ang = rng.uniform(0, 2 * np.pi, 3)
        amp = rng.uniform(0.2, 1.0, 3)
        slope = float(np.sum(amp * k))
        amp = amp * min(1.0, max_slope / slope)
        return Ground(amp, np.column_stack([k * np.cos(ang), k * np.sin(ang)]), rng.uniform(0, 2 * np.pi, 3))


@dataclass(frozen=True, eq=False)
class Road:
    """A road: centre line sampled every ``step`` metres of arc length (``xy`` (K, 2), ``heading`` (K,) rad,
    from ``s = 0`` to ``length``), lane counts per direction, widths (metres) and the ground under it."""

    xy: FloatArray
    heading: FloatArray
    step: float
    lanes_forward: int
    lanes_backward: int
    lane_width: float
    parking_width: float
    sidewalk_width: float
    curb_height: float
    ground: Ground
    crosswalk_s: float | None = None

    @property
    def length(self) -> float:
        """Length of the centre line in metres."""
        return float((len(self.xy) - 1) * self.step)

    @property
    def carriageway_right(self) -> float:
        """``|d|`` of the right edge line (the forward lanes' outer edge)."""
        return self.lanes_forward * self.lane_width

    @property
    def carriageway_left(self) -> float:
        """``d`` of the left edge line (the backward lanes' outer edge)."""
        return self.lanes_backward * self.lane_width

    def curb(self, side: int) -> float:
        """``|d|`` of the curb on ``side`` (-1 right, +1 left): edge line plus the parking strip."""
        return (self.carriageway_right if side < 0 else self.carriageway_left) + self.parking_width

    def lane_offsets(self) -> list[tuple[int, float]]:
        """(direction, d) of every lane centre: direction +1 drives towards +s, -1 towards -s."""
        out = [(1, -(i + 0.5) * self.lane_width) for i in range(self.lanes_forward)]
        return out + [(-1, (i + 0.5) * self.lane_width) for i in range(self.lanes_backward)]

    def frame(self, s: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Centre-line points (..., 2) and headings (...) at arc lengths ``s`` (straight beyond both ends)."""
        s = np.asarray(s, dtype=np.float64)
        grid = np.arange(len(self.xy)) * self.step
        hd = np.interp(s, grid, self.heading)
        x = np.interp(s, grid, self.xy[:, 0])
        y = np.interp(s, grid, self.xy[:, 1])
        # exact arcs between samples would be smoother; samples are dense (step 0.5 m): chord error < 1 mm
        for end, idx in ((0.0, 0), (self.length, -1)):
            beyond = (s < end) if idx == 0 else (s > end)
            if np.any(beyond):
                ds = s - end
                x = np.where(beyond, self.xy[idx, 0] + ds * np.cos(self.heading[idx]), x)
                y = np.where(beyond, self.xy[idx, 1] + ds * np.sin(self.heading[idx]), y)
        return np.stack([x, y], axis=-1), hd

    def to_map(self, s: npt.ArrayLike, d: npt.ArrayLike) -> FloatArray:
        """Map points (..., 2) of road coordinates (s, d)."""
        p, hd = self.frame(s)
        d = np.asarray(d, dtype=np.float64)
        return p + d[..., None] * np.stack([-np.sin(hd), np.cos(hd)], axis=-1)

    def surface_height(self, s: npt.ArrayLike, d: npt.ArrayLike) -> FloatArray:
        """Height (metres) of the walkable surface: the ground, plus the curb beyond the carriageway."""
        p = self.to_map(s, d)
        d = np.asarray(d, dtype=np.float64)
        raised = (d < -self.curb(-1)) | (d > self.curb(1))
        return self.ground.height(p[..., 0], p[..., 1]) + np.where(raised, self.curb_height, 0.0)

    @staticmethod
    def random(rng: np.random.Generator, length: float, *, curved: bool | None = None) -> Road:
        """A random road of ``length`` metres: straight or with one or two gentle curves (radius >= 120 m)."""
        step = 0.5
        n = int(np.ceil(length / step)) + 1
        s = np.arange(n) * step
        kappa = np.zeros(n)
        if curved is None:
            curved = bool(rng.random() < 0.6)
        if curved:
            pos = 0.0
            while pos < length:
                straight = rng.uniform(40.0, 160.0)
                arc = rng.uniform(60.0, 160.0)
                radius = rng.uniform(120.0, 400.0) * rng.choice([-1.0, 1.0])
                kappa[(s >= pos + straight) & (s < pos + straight + arc)] = 1.0 / radius
                pos += straight + arc
        heading0 = rng.uniform(-np.pi, np.pi)
        heading = heading0 + np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * step)])
        mid = 0.5 * (heading[1:] + heading[:-1])
        xy = np.zeros((n, 2))
        xy[1:, 0] = np.cumsum(step * np.cos(mid))
        xy[1:, 1] = np.cumsum(step * np.sin(mid))
        two = bool(rng.random() < 0.5)
        parking = float(rng.choice([0.0, 2.5], p=[0.3, 0.7]))
        return Road(xy, heading, step, 2 if two else 1, 2 if two and rng.random() < 0.7 else 1,
                    float(rng.uniform(3.3, 3.7)), parking, float(rng.uniform(2.5, 4.0)), 0.15,
                    Ground.random(rng))
