"""Velodyne sensor models: laser tables and firing timing of the 1206-byte data packet.

Packet layout (all models, little-endian): 12 blocks of 100 bytes, each ``uint16 flag`` (0xEEFF: lasers 0-31,
0xDDFF: lasers 32-63 of an HDL-64E), ``uint16 azimuth`` (0.01 deg, clockwise seen from above, 0 = the sensor's
forward x axis) and 32 slots of ``uint16 distance`` (``distance_resolution_m`` units, 0 = no return) + ``uint8
reflectivity``; then a ``uint32`` timestamp (microseconds past the hour of the first firing in the packet) and
two factory bytes: return mode (0x37 strongest, 0x38 last, 0x39 dual) and product id (0x21 HDL-32E, 0x22
VLP-16, 0x28 VLP-32C). An HDL-64E sends status bytes there instead (no product id; single return only here).

A model says, per slot of a block, which laser fired (``slot_laser``) and when (``slot_time_us``, from the
start of the block's firing), the time between two successive firings (``firing_period_us``: the azimuth gap
between firings is interpolated over it), and per laser the elevation and the azimuth offset (degrees, the
offset is added to the block azimuth, the Velodyne manuals' convention). Timings are those of the manuals:
VLP-16 fires 16 lasers 2.304 us apart, twice per block (55.296 us apart; 110.592 us per block); VLP-32C fires
16 pairs 2.304 us apart (55.296 us per block); HDL-32E fires its 32 lasers 1.152 us apart (46.080 us per block).
The HDL-64E timing here is approximate (no per-laser sequence; ~48 us per upper+lower firing) and its laser
table is per unit: build it with :func:`hdl64e_model` from the unit's calibration.

``MODELS`` maps names to the built-in models; add your own (e.g. a unit-calibrated VLP-32C) by constructing a
:class:`VelodyneModel` and passing it to the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from fusion_stack.drivers.errors import DriverError

UPPER_BANK = 0xEEFF
LOWER_BANK = 0xDDFF
RETURN_STRONGEST = 0x37
RETURN_LAST = 0x38
RETURN_DUAL = 0x39


@dataclass(frozen=True)
class VelodyneModel:
    """One Velodyne model (see the module docstring for the meaning of each table).

    name: e.g. ``"VLP-16"``; product_id: the factory byte (None: not checked / not sent); num_lasers;
    distance_resolution_m: metres per distance unit; elevation_deg / azimuth_offset_deg / distance_offset_m:
    per laser id; slot_laser / slot_time_us: per slot (32) of an upper-bank block; firing_period_us: time
    between successive firings; blocks_per_firing: blocks sharing one firing in single-return mode (HDL-64E:
    2, upper and lower bank); has_factory_bytes: bytes 1204-1205 hold return mode and product id;
    supports_dual: dual-return packets are understood.
    """

    name: str
    product_id: int | None
    num_lasers: int
    distance_resolution_m: float
    elevation_deg: tuple[float, ...]
    azimuth_offset_deg: tuple[float, ...]
    slot_laser: tuple[int, ...]
    slot_time_us: tuple[float, ...]
    firing_period_us: float
    blocks_per_firing: int = 1
    distance_offset_m: tuple[float, ...] = ()
    has_factory_bytes: bool = True
    supports_dual: bool = True

    def __post_init__(self) -> None:
        n = self.num_lasers
        if n not in (16, 32, 64):
            raise DriverError(f"num_lasers must be 16, 32 or 64, got {n}", source=self.name, field="num_lasers")
        dist = tuple(float(v) for v in self.distance_offset_m) or (0.0,) * n
        object.__setattr__(self, "distance_offset_m", dist)
        for name, want in (("elevation_deg", n), ("azimuth_offset_deg", n), ("distance_offset_m", n),
                           ("slot_laser", 32), ("slot_time_us", 32)):
            value = tuple(getattr(self, name))
            if len(value) != want:
                raise DriverError(f"{name} must have {want} entries, got {len(value)}", source=self.name,
                                  field=name)
            object.__setattr__(self, name, value)
        if any(not 0 <= i < n for i in self.slot_laser):
            raise DriverError(f"slot_laser entries must be laser ids in [0, {n})", source=self.name,
                              field="slot_laser")
        if not self.distance_resolution_m > 0 or not self.firing_period_us > 0:
            raise DriverError("distance_resolution_m and firing_period_us must be positive", source=self.name,
                              field="distance_resolution_m")
        if self.blocks_per_firing not in (1, 2):
            raise DriverError(f"blocks_per_firing must be 1 or 2, got {self.blocks_per_firing}", source=self.name,
                              field="blocks_per_firing")

    def ring(self) -> tuple[int, ...]:
        """Ring number of each laser id: its rank by elevation, 0 = lowest (ties: lower laser id first)."""
        order = sorted(range(self.num_lasers), key=lambda i: (self.elevation_deg[i], i))
        ring = [0] * self.num_lasers
        for r, laser in enumerate(order):
            ring[laser] = r
        return tuple(ring)


_VLP16_ELEVATION = (-15.0, 1.0, -13.0, 3.0, -11.0, 5.0, -9.0, 7.0, -7.0, 9.0, -5.0, 11.0, -3.0, 13.0, -1.0, 15.0)

VLP16 = VelodyneModel(
    name="VLP-16", product_id=0x22, num_lasers=16, distance_resolution_m=0.002,
    elevation_deg=_VLP16_ELEVATION, azimuth_offset_deg=(0.0,) * 16,
    slot_laser=tuple(range(16)) * 2,
    slot_time_us=tuple(i * 2.304 for i in range(16)) + tuple(55.296 + i * 2.304 for i in range(16)),
    firing_period_us=110.592,
)

VLP32C = VelodyneModel(
    name="VLP-32C", product_id=0x28, num_lasers=32, distance_resolution_m=0.004,
    elevation_deg=(-25.0, -1.0, -1.667, -15.639, -11.31, 0.0, -0.667, -8.843, -7.254, 0.333, -0.333, -6.148,
                   -5.333, 1.333, 0.667, -4.0, -4.667, 1.667, 1.0, -3.667, -3.333, 3.333, 2.333, -2.667, -3.0,
                   7.0, 4.667, -2.333, -2.0, 15.0, 10.333, -1.333),
    azimuth_offset_deg=(1.4, -4.2, 1.4, -1.4, 1.4, -1.4, 4.2, -1.4, 1.4, -4.2, 1.4, -1.4, 4.2, -1.4, 4.2, -1.4,
                        1.4, -4.2, 1.4, -4.2, 4.2, -1.4, 1.4, -1.4, 1.4, -1.4, 1.4, -4.2, 4.2, -1.4, 1.4, -1.4),
    slot_laser=tuple(range(32)),
    slot_time_us=tuple((i // 2) * 2.304 for i in range(32)),
    firing_period_us=55.296,
)

HDL32E = VelodyneModel(
    name="HDL-32E", product_id=0x21, num_lasers=32, distance_resolution_m=0.002,
    elevation_deg=tuple(round((-23.0 + i // 2) * 4.0 / 3.0 if i % 2 == 0 else (-7.0 + i // 2) * 4.0 / 3.0, 6)
                        for i in range(32)),
    azimuth_offset_deg=(0.0,) * 32,
    slot_laser=tuple(range(32)),
    slot_time_us=tuple(i * 1.152 for i in range(32)),
    firing_period_us=46.080,
)


def hdl64e_model(elevation_deg: Sequence[float], azimuth_offset_deg: Sequence[float], *,
                 distance_offset_m: Sequence[float] = (), firing_period_us: float = 48.0,
                 name: str = "HDL-64E") -> VelodyneModel:
    """An HDL-64E (S2/S3) model from its unit calibration: 64 elevations and azimuth offsets (degrees, laser
    ids 0-31 upper bank, 32-63 lower bank) and optional distance offsets (metres). Single return only; the
    timing is approximate (every laser of an upper+lower firing stamped at the firing start)."""
    return VelodyneModel(
        name=name, product_id=None, num_lasers=64, distance_resolution_m=0.002,
        elevation_deg=tuple(elevation_deg), azimuth_offset_deg=tuple(azimuth_offset_deg),
        distance_offset_m=tuple(distance_offset_m), slot_laser=tuple(range(32)), slot_time_us=(0.0,) * 32,
        firing_period_us=firing_period_us, blocks_per_firing=2, has_factory_bytes=False, supports_dual=False,
    )


MODELS: Mapping[str, VelodyneModel] = MappingProxyType({"VLP-16": VLP16, "VLP-32C": VLP32C, "HDL-32E": HDL32E})
"""The built-in models by name (``VLP16`` / ``VLP32C`` / ``HDL32E`` spellings are accepted by
:func:`velodyne_model`)."""

MODELS_BY_PRODUCT_ID: Mapping[int, VelodyneModel] = MappingProxyType(
    {m.product_id: m for m in MODELS.values() if m.product_id is not None})


def velodyne_model(model: str | VelodyneModel) -> VelodyneModel:
    """A model by name (case and dashes ignored: ``vlp16``, ``VLP-32C``, ``hdl32e``) or the model itself."""
    if isinstance(model, VelodyneModel):
        return model
    key = str(model).upper().replace("-", "").replace("_", "")
    for name, m in MODELS.items():
        if name.replace("-", "") == key or (key == "VLP32" and name == "VLP-32C"):
            return m
    raise DriverError(f"unknown Velodyne model {model!r}; built-in: {', '.join(MODELS)} (HDL-64E: build one "
                      f"with hdl64e_model from the unit's calibration)", field="model")
