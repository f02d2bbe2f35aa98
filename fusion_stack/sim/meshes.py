"""Triangle meshes of the simulated world: primitives (boxes, tapered boxes, cylinders, cones, ellipsoids) and
the objects assembled from a few of them per class, with size variation.

Object meshes are in the object frame: origin at the centre of the object's ground-truth box, x forward
(along the box length), y left, z up, metres; every vertex lies inside the box ``[-l/2, l/2] x [-w/2, w/2] x
[-h/2, h/2]``. Each face carries an albedo colour (linear RGB in [0, 1], for the cameras), a LiDAR reflectivity
in [0, 1] and a semantic class index (:data:`fusion_stack.sim.classes.SEMANTIC_CLASSES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion_stack.sim.classes import SEM
from fusion_stack.sim.errors import SimulationError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Mesh:
    """Triangles: ``vertices`` (V, 3) float64 metres, ``faces`` (F, 3) int64 vertex indices, and per face
    ``colors`` (F, 3) float32 albedo, ``reflectivity`` (F,) float32 and ``semantic`` (F,) int16."""

    vertices: FloatArray
    faces: npt.NDArray[np.int64]
    colors: npt.NDArray[np.float32]
    reflectivity: npt.NDArray[np.float32]
    semantic: npt.NDArray[np.int16]

    def __post_init__(self) -> None:
        nf = len(self.faces)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3 or self.faces.shape != (nf, 3):
            raise SimulationError(f"bad mesh arrays: vertices {self.vertices.shape}, faces {self.faces.shape}",
                                  field="mesh")
        if self.colors.shape != (nf, 3) or self.reflectivity.shape != (nf,) or self.semantic.shape != (nf,):
            raise SimulationError("per-face arrays must have one row per face", field="mesh")

    def __len__(self) -> int:
        return len(self.faces)

    def triangles(self) -> FloatArray:
        """(F, 3, 3) vertex coordinates of each face."""
        return self.vertices[self.faces]

    def transformed(self, rotation: FloatArray, translation: FloatArray) -> Mesh:
        """The mesh with ``p' = rotation @ p + translation`` applied to its vertices."""
        return Mesh(self.vertices @ np.asarray(rotation).T + np.asarray(translation), self.faces, self.colors,
                    self.reflectivity, self.semantic)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """(min, max) corners (3,) of the vertices."""
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def empty_mesh() -> Mesh:
    """A mesh without faces."""
    return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32),
                np.zeros(0, np.float32), np.zeros(0, np.int16))


def concat_meshes(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh holding all faces of ``meshes`` (in order)."""
    if not meshes:
        return empty_mesh()
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(np.concatenate([m.vertices for m in meshes]),
                np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]),
                np.concatenate([m.colors for m in meshes]), np.concatenate([m.reflectivity for m in meshes]),
                np.concatenate([m.semantic for m in meshes]))


def part(vertices: npt.ArrayLike, faces: npt.ArrayLike, color: npt.ArrayLike, reflectivity: float,
         semantic: str) -> Mesh:
    """A mesh of one material: every face gets ``color``, ``reflectivity`` and the class ``semantic``."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    n = len(f)
    return Mesh(v, f, np.tile(np.asarray(color, np.float32), (n, 1)), np.full(n, reflectivity, np.float32),
                np.full(n, SEM[semantic], np.int16))


# --- primitives (vertices, faces) ----------------------------------------------------------------------------
_HEX_FACES = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4], [1, 2, 6], [1, 6, 5],
                       [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]], dtype=np.int64)


def hexahedron(bottom: FloatArray, top: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """A closed solid from a bottom quad (4, 3) and a top quad (4, 3), both counter-clockwise from above."""
    return np.concatenate([bottom, top]), _HEX_FACES


def box(lo: Sequence[float], hi: Sequence[float]) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """An axis-aligned box between corners ``lo`` and ``hi`` (metres)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return hexahedron(np.column_stack([quad, np.full(4, z0)]), np.column_stack([quad, np.full(4, z1)]))


def tapered_box(z0: float, z1: float, bottom: Sequence[float], top: Sequence[float]
                ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """A solid between z0 and z1 whose bottom and top are rectangles (x0, x1, y0, y1)."""
    def quad(r: Sequence[float], z: float) -> FloatArray:
        x0, x1, y0, y1 = r
        return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
    return hexahedron(quad(bottom, z0), quad(top, z1))


def cylinder(center: Sequence[float], radius: float, length: float, axis: int, segments: int = 10
             ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """A closed cylinder along coordinate ``axis`` (0 x, 1 y, 2 z) centred on ``center``."""
    a = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.column_stack([radius * np.cos(a), radius * np.sin(a)])
    v = np.zeros((2 * segments + 2, 3))
    other = [i for i in range(3) if i != axis]
    for k, h in enumerate((-0.5 * length, 0.5 * length)):
        v[k * segments:(k + 1) * segments, other[0]] = ring[:, 0]
        v[k * segments:(k + 1) * segments, other[1]] = ring[:, 1]
        v[k * segments:(k + 1) * segments, axis] = h
        v[2 * segments + k, axis] = h
    faces = []
    for i in range(segments):
        j = (i + 1) % segments
        faces += [[i, j, segments + j], [i, segments + j, segments + i],
                  [2 * segments, j, i], [2 * segments + 1, segments + i, segments + j]]
    return v + np.asarray(center, dtype=np.float64), np.asarray(faces, dtype=np.int64)


def cone(base_center: Sequence[float], radius: float, height: float, segments: int = 10, *,
         top_radius: float = 0.0) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """A closed (truncated when ``top_radius`` > 0) cone standing on ``base_center``, along +z."""
    a = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    base = np.column_stack([radius * np.cos(a), radius * np.sin(a), np.zeros(segments)])
    top = np.column_stack([top_radius * np.cos(a), top_radius * np.sin(a), np.full(segments, height)])
    v = np.concatenate([base, top, [[0.0, 0.0, 0.0], [0.0, 0.0, height]]])
    faces = []
    for i in range(segments):
        j = (i + 1) % segments
        faces += [[i, j, segments + j], [i, segments + j, segments + i],
                  [2 * segments, j, i], [2 * segments + 1, segments + i, segments + j]]
    return v + np.asarray(base_center, dtype=np.float64), np.asarray(faces, dtype=np.int64)


def ellipsoid(center: Sequence[float], radii: Sequence[float], n_lat: int = 5, n_lon: int = 8
              ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """A closed UV ellipsoid (poles plus ``n_lat - 1`` rings of ``n_lon`` vertices)."""
    verts = [[0.0, 0.0, -1.0]]
    for i in range(1, n_lat):
        th = -np.pi / 2 + np.pi * i / n_lat
        for j in range(n_lon):
            ph = 2 * np.pi * j / n_lon
            verts.append([np.cos(th) * np.cos(ph), np.cos(th) * np.sin(ph), np.sin(th)])
    verts.append([0.0, 0.0, 1.0])
    faces = []
    top = len(verts) - 1
    for j in range(n_lon):
        k = (j + 1) % n_lon
        faces.append([0, 1 + k, 1 + j])
        faces.append([top, 1 + (n_lat - 2) * n_lon + j, 1 + (n_lat - 2) * n_lon + k])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            k = (j + 1) % n_lon
            a, b = 1 + i * n_lon + j, 1 + i * n_lon + k
            c, d = a + n_lon, b + n_lon
            faces += [[a, b, d], [a, d, c]]
    v = np.asarray(verts) * np.asarray(radii, dtype=np.float64) + np.asarray(center, dtype=np.float64)
    return v, np.asarray(faces, dtype=np.int64)


# --- objects ---------------------------------------------------------------------------------------------------
#: (mean, std, min, max) of length, width, height in metres per class (nuScenes-like statistics).
SIZE_STATS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "car": ((4.5, 0.3, 3.8, 5.2), (1.85, 0.1, 1.65, 2.05), (1.6, 0.12, 1.4, 1.9)),
    "truck": ((7.5, 1.2, 5.5, 10.0), (2.45, 0.1, 2.25, 2.6), (3.1, 0.3, 2.6, 3.8)),
    "bus": ((11.2, 0.6, 10.0, 12.5), (2.55, 0.05, 2.45, 2.65), (3.3, 0.15, 3.0, 3.6)),
    "pedestrian": ((0.65, 0.08, 0.5, 0.85), (0.6, 0.06, 0.5, 0.75), (1.72, 0.1, 1.5, 1.95)),
    "bicycle": ((1.75, 0.08, 1.6, 1.9), (0.6, 0.05, 0.5, 0.7), (1.65, 0.1, 1.45, 1.85)),
    "motorcycle": ((2.1, 0.1, 1.9, 2.3), (0.8, 0.06, 0.7, 0.95), (1.55, 0.08, 1.4, 1.7)),
    "barrier": ((0.55, 0.05, 0.45, 0.65), (2.2, 0.25, 1.8, 2.6), (0.95, 0.06, 0.85, 1.1)),
    "traffic_cone": ((0.4, 0.04, 0.32, 0.48), (0.4, 0.04, 0.32, 0.48), (0.72, 0.08, 0.6, 0.9)),
}

_PAINTS = np.array([[0.8, 0.8, 0.82], [0.08, 0.08, 0.09], [0.55, 0.56, 0.58], [0.6, 0.08, 0.06],
                    [0.1, 0.18, 0.45], [0.85, 0.85, 0.8], [0.25, 0.3, 0.28], [0.7, 0.55, 0.2],
                    [0.35, 0.36, 0.4], [0.12, 0.3, 0.15]])
_CLOTHES = np.array([[0.1, 0.1, 0.12], [0.2, 0.25, 0.45], [0.5, 0.1, 0.1], [0.6, 0.6, 0.6], [0.3, 0.22, 0.15],
                     [0.15, 0.35, 0.2], [0.75, 0.7, 0.55], [0.45, 0.2, 0.5]])
GLASS = (0.05, 0.07, 0.09)
TYRE = (0.04, 0.04, 0.04)
SKIN = (0.72, 0.52, 0.4)


def sample_size(class_name: str, rng: np.random.Generator) -> FloatArray:
    """(l, w, h) metres of a new object of ``class_name``, from a clipped normal per dimension."""
    if class_name not in SIZE_STATS:
        raise SimulationError(f"unknown object class {class_name!r}; expected one of {sorted(SIZE_STATS)}",
                              field="class_name")
    return np.array([np.clip(rng.normal(m, s), lo, hi) for m, s, lo, hi in SIZE_STATS[class_name]])


def _paint(rng: np.random.Generator, palette: FloatArray) -> FloatArray:
    base = palette[rng.integers(len(palette))]
    return np.clip(base * rng.uniform(0.85, 1.15) + rng.normal(0.0, 0.02, 3), 0.0, 1.0)


def _wheels(ln: float, w: float, radius: float, width: float, xs: Sequence[float], cls: str) -> list[Mesh]:
    out = []
    for x in xs:
        for side in (-1.0, 1.0):
            v, f = cylinder((x, side * (w / 2 - width / 2 - 0.005), radius), radius, width, 1, 10)
            out.append(part(v, f, TYRE, 0.06, cls))
    return out


def _vehicle(class_name: str, ln: float, w: float, h: float, rng: np.random.Generator) -> list[Mesh]:
    paint = _paint(rng, _PAINTS)
    refl = float(np.clip(0.15 + 0.6 * paint.mean(), 0.1, 0.8))  # dark paint returns little LiDAR energy
    c = class_name
    if c == "car":
        r = 0.31 + 0.04 * (h - 1.4)
        body_top = 0.55 * h + 0.1
        parts = [part(*box((-ln / 2, -w / 2, 0.22), (ln / 2 - 0.03, w / 2, body_top)), paint, refl, c)]
        front, back = 0.5 * ln - rng.uniform(0.25, 0.35) * ln, -0.5 * ln + rng.uniform(0.12, 0.2) * ln
        parts.append(part(*tapered_box(body_top, h, (back, front, -w / 2 + 0.05, w / 2 - 0.05),
                                       (back + 0.25 * (front - back) * 0.6, front - 0.2 * (front - back),
                                        -w / 2 + 0.2, w / 2 - 0.2)), GLASS, 0.08, c))
        parts += _wheels(ln, w, r, 0.22, (ln / 2 - 0.85, -ln / 2 + 0.9), c)
        lamp = (0.95, 0.9, 0.7)
        for side in (-1, 1):
            parts.append(part(*box((ln / 2 - 0.02, side * w / 2 * 0.75 - 0.15, 0.6 * body_top),
                                   (ln / 2, side * w / 2 * 0.75 + 0.15, 0.8 * body_top)), lamp, 0.9, c))
        return parts
    if c == "truck":
        cab = min(2.3, 0.3 * ln)
        chassis = 0.55
        parts = [part(*box((ln / 2 - cab, -w / 2, chassis), (ln / 2 - 0.03, w / 2, 0.82 * h)), paint, refl, c),
                 part(*box((ln / 2 - 0.02, -w / 2 + 0.1, 0.55 * h), (ln / 2, w / 2 - 0.1, 0.78 * h)), GLASS, 0.08, c),
                 part(*box((-ln / 2, -w / 2, chassis + 0.2), (ln / 2 - cab - 0.15, w / 2, h)),
                      _paint(rng, _PAINTS[[0, 5, 2, 7]]), 0.5, c),
                 part(*box((-ln / 2 + 0.3, -w / 2 + 0.3, 0.3), (ln / 2 - 0.3, w / 2 - 0.3, chassis + 0.2)),
                      (0.1, 0.1, 0.1), 0.1, c)]
        parts += _wheels(ln, w, 0.5, 0.3, (ln / 2 - 1.0, -ln / 2 + 1.2, -ln / 2 + 2.4), c)
        return parts
    if c == "bus":
        parts = [part(*box((-ln / 2, -w / 2, 0.35), (ln / 2, w / 2, 0.5 * h)), paint, refl, c),
                 part(*box((-ln / 2 + 0.03, -w / 2 + 0.03, 0.5 * h), (ln / 2 - 0.03, w / 2 - 0.03, 0.86 * h)),
                      GLASS, 0.1, c),
                 part(*box((-ln / 2, -w / 2, 0.86 * h), (ln / 2, w / 2, h)), paint, refl, c)]
        parts += _wheels(ln, w, 0.5, 0.3, (ln / 2 - 2.3, -ln / 2 + 2.6), c)
        return parts
    # two-wheelers: wheels, frame, rider
    r = 0.33 if c == "bicycle" else 0.31
    tw = 0.06 if c == "bicycle" else 0.14
    parts = []
    for x in (ln / 2 - r - 0.02, -ln / 2 + r + 0.02):
        v, f = cylinder((x, 0.0, r + 0.005), r, tw, 1, 12)
        parts.append(part(v, f, TYRE, 0.08, c))
    frame_color = _paint(rng, _PAINTS)
    if c == "bicycle":
        parts.append(part(*box((-ln / 2 + r, -0.03, r), (ln / 2 - r, 0.03, r + 0.45)), frame_color, 0.4, c))
    else:
        parts.append(part(*box((-ln / 2 + 0.3, -w / 2 + 0.15, r * 0.8), (ln / 2 - 0.25, w / 2 - 0.15, r + 0.45)),
                          frame_color, refl, c))
    parts += _rider(0.0, w, h, r + 0.4, rng, c)
    return parts


def _rider(x: float, w: float, h: float, seat: float, rng: np.random.Generator, cls: str) -> list[Mesh]:
    clothes = _paint(rng, _CLOTHES)
    hw = min(0.2, w / 2 - 0.02)
    head = min(0.12, (h - seat) * 0.2)
    return [part(*tapered_box(seat, h - 2 * head, (x - 0.35, x - 0.05, -hw, hw), (x - 0.15, x + 0.1, -hw, hw)),
                 clothes, 0.35, cls),
            part(*ellipsoid((x, 0.0, h - head), (head, head * 0.85, head)), SKIN, 0.4, cls)]


def _pedestrian(ln: float, w: float, h: float, rng: np.random.Generator) -> list[Mesh]:
    c = "pedestrian"
    top = _paint(rng, _CLOTHES)
    trousers = _paint(rng, _CLOTHES)
    head = 0.11 * h / 1.75
    leg = 0.47 * h
    shoulder = h - 2 * head - 0.02
    hw = min(w / 2 - 0.02, 0.22)
    ld = min(ln / 2 - 0.05, 0.15)
    parts = [part(*box((-ld, -0.16, 0.0), (ld, -0.03, leg)), trousers, 0.3, c),
             part(*box((-ld, 0.03, 0.0), (ld, 0.16, leg)), trousers, 0.3, c),
             part(*tapered_box(leg, shoulder, (-0.11, 0.11, -0.17, 0.17), (-0.12, 0.12, -hw, hw)), top, 0.35, c),
             part(*box((-0.06, -hw - 0.0, leg + 0.05), (0.06, -hw + 0.08, shoulder - 0.02)), top, 0.35, c),
             part(*box((-0.06, hw - 0.08, leg + 0.05), (0.06, hw, shoulder - 0.02)), top, 0.35, c),
             part(*ellipsoid((0.0, 0.0, h - head), (head * 0.9, head * 0.8, head)), SKIN, 0.4, c)]
    if rng.random() < 0.3:  # a backpack
        parts.append(part(*box((-ln / 2 + 0.01, -0.14, leg + 0.2), (-0.11, 0.14, shoulder - 0.05)),
                          _paint(rng, _CLOTHES), 0.3, c))
    return parts


def object_mesh(class_name: str, size: npt.ArrayLike, rng: np.random.Generator) -> Mesh:
    """The mesh of one object of ``class_name`` filling a box of ``size`` (l, w, h) metres (object frame, see
    the module docstring); colours vary per object through ``rng``."""
    ln, w, h = (float(s) for s in np.asarray(size, dtype=np.float64))
    c = class_name
    if c in ("car", "truck", "bus", "bicycle", "motorcycle"):
        parts = _vehicle(c, ln, w, h, rng)
    elif c == "pedestrian":
        parts = _pedestrian(ln, w, h, rng)
    elif c == "barrier":
        stripes = (0.85, 0.85, 0.82) if rng.random() < 0.5 else (0.75, 0.2, 0.1)
        parts = [part(*tapered_box(0.0, 0.25 * h, (-ln / 2, ln / 2, -w / 2, w / 2), (-ln / 2, ln / 2, -w / 2, w / 2)),
                      (0.55, 0.55, 0.52), 0.4, c),
                 part(*tapered_box(0.25 * h, h, (-ln / 2, ln / 2, -w / 2, w / 2),
                                   (-0.2 * ln, 0.2 * ln, -w / 2, w / 2)), stripes, 0.6, c)]
    elif c == "traffic_cone":
        orange, white = (0.9, 0.3, 0.05), (0.9, 0.9, 0.9)
        base_h = 0.04
        r0 = 0.38 * min(ln, w)
        parts = [part(*box((-ln / 2, -w / 2, 0.0), (ln / 2, w / 2, base_h)), (0.1, 0.1, 0.1), 0.1, c),
                 part(*cone((0, 0, base_h), r0, 0.45 * (h - base_h), 10, top_radius=r0 * 0.55), orange, 0.5, c),
                 part(*cone((0, 0, base_h + 0.45 * (h - base_h)), r0 * 0.55, 0.2 * (h - base_h), 10,
                            top_radius=r0 * 0.35), white, 0.95, c),
                 part(*cone((0, 0, base_h + 0.65 * (h - base_h)), r0 * 0.35, 0.35 * (h - base_h), 10), orange,
                      0.5, c)]
    else:
        raise SimulationError(f"unknown object class {class_name!r}", field="class_name")
    mesh = concat_meshes(parts)
    mesh = Mesh(mesh.vertices - np.array([0.0, 0.0, h / 2]), mesh.faces, mesh.colors, mesh.reflectivity,
                mesh.semantic)
    lo, hi = mesh.bounds()
    half = np.array([ln, w, h]) / 2 + 1e-9
    if np.any(lo < -half) or np.any(hi > half):
        raise SimulationError(f"{class_name} mesh leaves its box: bounds {lo} {hi}, half size {half}",
                              field="mesh")
    return mesh


# --- static structure --------------------------------------------------------------------------------------------
def building_mesh(length: float, depth: float, height: float, rng: np.random.Generator) -> Mesh:
    """A building in its own frame: footprint [-length/2, length/2] x [0, depth] (the facade at y = 0 faces -y),
    ground at z = 0, with a roof slab and rows of windows on the facade."""
    wall = np.clip(np.array([0.62, 0.56, 0.5]) * rng.uniform(0.6, 1.3) + rng.normal(0, 0.05, 3), 0.1, 0.95)
    parts = [part(*box((-length / 2, 0.0, 0.0), (length / 2, depth, height)), wall, 0.45, "building"),
             part(*box((-length / 2 - 0.2, -0.2, height), (length / 2 + 0.2, depth + 0.2, height + 0.4)),
                  wall * 0.7, 0.4, "building")]
    floor_h = rng.uniform(3.0, 3.6)
    n_floors = int(height // floor_h)
    n_cols = max(1, int(length // 3.0))
    glass = np.array(GLASS) + rng.uniform(0.0, 0.1)
    for fl in range(n_floors):
        z0 = fl * floor_h + 0.9
        for k in range(n_cols):
            if fl == 0 and k == n_cols // 2:
                v, f = box((-length / 2 + (k + 0.3) * length / n_cols, -0.04, 0.0),
                           (-length / 2 + (k + 0.7) * length / n_cols, 0.0, 2.3))
                parts.append(part(v, f, (0.25, 0.15, 0.1), 0.3, "building"))
                continue
            x0 = -length / 2 + (k + 0.25) * length / n_cols
            x1 = -length / 2 + (k + 0.75) * length / n_cols
            parts.append(part([[x0, -0.03, z0], [x1, -0.03, z0], [x1, -0.03, z0 + 1.5], [x0, -0.03, z0 + 1.5]],
                              [[0, 1, 2], [0, 2, 3]], glass, 0.1, "building"))
    return concat_meshes(parts)


def pole_mesh(height: float, arm: float) -> Mesh:
    """A street lamp in its own frame: mast at the origin, the arm reaching ``arm`` metres along -y."""
    grey = (0.4, 0.4, 0.42)
    parts = [part(*cylinder((0, 0, height / 2), 0.09, height, 2, 8), grey, 0.5, "pole"),
             part(*box((-0.05, -arm, height - 0.12), (0.05, 0.0, height - 0.04)), grey, 0.5, "pole"),
             part(*box((-0.15, -arm - 0.2, height - 0.22), (0.15, -arm + 0.3, height - 0.08)), (0.9, 0.9, 0.8),
                  0.7, "pole")]
    return concat_meshes(parts)


def sign_mesh(height: float, rng: np.random.Generator) -> Mesh:
    """A traffic sign: a thin post and a plate facing -y (own frame, ground at z = 0)."""
    colors = ((0.8, 0.1, 0.1), (0.1, 0.25, 0.7), (0.9, 0.8, 0.1))
    return concat_meshes([part(*cylinder((0, 0, height / 2), 0.04, height, 2, 6), (0.5, 0.5, 0.5), 0.5, "pole"),
                          part(*box((-0.35, -0.08, height - 0.05), (0.35, -0.05, height + 0.6)),
                               colors[rng.integers(3)], 0.95, "pole")])


def tree_mesh(rng: np.random.Generator) -> Mesh:
    """A tree (trunk and an ellipsoid crown) standing on the origin."""
    trunk_h = rng.uniform(2.0, 3.2)
    crown = rng.uniform(1.4, 2.6)
    green = np.clip(np.array([0.16, 0.32, 0.1]) * rng.uniform(0.7, 1.3) + rng.normal(0, 0.02, 3), 0, 1)
    return concat_meshes([
        part(*cylinder((0, 0, trunk_h / 2 + 0.3), 0.14, trunk_h + 0.6, 2, 7), (0.3, 0.2, 0.12), 0.3, "vegetation"),
        part(*ellipsoid((0, 0, trunk_h + crown * 0.9), (crown, crown, crown * rng.uniform(0.9, 1.3)), 5, 9),
             green, 0.35, "vegetation")])
