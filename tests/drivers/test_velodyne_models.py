"""Velodyne model tables and the decoder's geometry and timing against a plain per-return reference."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from drivers_testlib import T0_NS, synth_velodyne

from fusion_stack.drivers import HDL32E, MODELS, VLP16, VLP32C, DriverError, Packet, VelodyneDecoder, hdl64e_model
from fusion_stack.drivers.velodyne_decoder import arc_in_window
from fusion_stack.drivers.velodyne_models import VelodyneModel, velodyne_model


def _reference(packets: list[Packet], model: VelodyneModel, *, dual: bool = False) -> np.ndarray:
    """(x, y, z, time ns, ring) of every return, straight from the manuals' formulas, one return at a time."""
    bpg = 2 if dual or model.blocks_per_firing == 2 else 1
    ring = model.ring()
    rows = []
    for p in packets:
        d = p.data
        az = [struct.unpack_from("<H", d, b * 100 + 2)[0] / 100.0 for b in range(12)]
        groups = az[::bpg]
        gaps = [(groups[g + 1] - groups[g]) % 360.0 for g in range(len(groups) - 1)]
        gaps.append(gaps[-1])
        for b in range(12):
            g = b // bpg
            lower = struct.unpack_from("<H", d, b * 100)[0] == 0xDDFF
            for s in range(32):
                raw, _refl = struct.unpack_from("<HB", d, b * 100 + 4 + 3 * s)
                if dual and b % 2 == 1:
                    other = struct.unpack_from("<H", d, (b - 1) * 100 + 4 + 3 * s)[0]
                    if other == raw:
                        continue
                if raw == 0:
                    continue
                laser = model.slot_laser[s] + (32 if lower else 0)
                dist = raw * model.distance_resolution_m
                a = math.radians(az[b] + gaps[g] * model.slot_time_us[s] / model.firing_period_us
                                 + model.azimuth_offset_deg[laser])
                el = math.radians(model.elevation_deg[laser])
                t = p.stamp_ns + round((g * model.firing_period_us + model.slot_time_us[s]) * 1000)
                rows.append((dist * math.cos(el) * math.cos(a), -dist * math.cos(el) * math.sin(a),
                             dist * math.sin(el), t, ring[laser]))
    return np.array(rows)


def _decoded(packets: list[Packet], model: VelodyneModel | str) -> np.ndarray:
    decoder = VelodyneDecoder(model)
    clouds = decoder.decode(packets) + decoder.flush()
    rows = [np.column_stack([c.positions, c.stamp_ns + c.fields["time_offset_ns"], c.fields["ring"]])
            for c in clouds]
    return np.concatenate(rows).astype(np.float64)


def _same_returns(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    key = np.lexsort((ours[:, 4], ours[:, 3]))
    rkey = np.lexsort((ref[:, 4], ref[:, 3]))
    np.testing.assert_array_equal(ours[key, 3:], ref[rkey, 3:])
    assert np.abs(ours[key, :3] - ref[rkey, :3]).max() < 1e-4


@pytest.mark.parametrize(("model", "dual"), [(VLP16, False), (VLP16, True), (VLP32C, False), (VLP32C, True),
                                              (HDL32E, False)])
def test_decoder_matches_the_manual_formulas(model: VelodyneModel, dual: bool) -> None:
    packets = synth_velodyne(model, 6, start_deg=100.0, dual=dual).packets
    ours = _decoded(packets, model)
    _same_returns(ours, _reference(packets, model, dual=dual))
    # the scan stamp is the first firing: the host stamp of the first packet
    assert ours[:, 3].min() == packets[0].stamp_ns


def test_hdl64e_upper_and_lower_banks() -> None:
    rng = np.random.default_rng(3)
    elevation = np.linspace(-24.8, 2.0, 64)
    offsets = rng.uniform(-5, 5, 64)
    model = hdl64e_model(elevation, offsets)
    packets = []
    for i in range(4):
        body = bytearray()
        for b in range(12):
            az = round((50.0 + 0.17 * (i * 6 + b // 2)) * 100)
            body += struct.pack("<HH", 0xEEFF if b % 2 == 0 else 0xDDFF, az)
            for _s in range(32):
                body += struct.pack("<HB", int(rng.integers(1000, 9000)), 7)
        body += struct.pack("<I", 1000 + i * 288) + b"\x00\x00"
        packets.append(Packet(T0_NS + i * 288_000, bytes(body)))
    ours = _decoded(packets, model)
    assert len(ours) == 4 * 12 * 32
    _same_returns(ours, _reference(packets, model))
    assert set(ours[:, 4].astype(int)) == set(range(64))
    decoder = VelodyneDecoder(model)
    bad = bytearray(packets[0].data)
    bad[100:102] = b"\xff\xee"  # two upper banks in a row
    assert decoder.decode([Packet(1, bytes(bad))]) == [] and decoder.counts["dropped.bad_block_flag"] == 1


def test_model_tables() -> None:
    assert VLP16.ring() == (0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15)
    assert sorted(VLP32C.ring()) == list(range(32)) and VLP32C.ring()[0] == 0 and VLP32C.ring()[29] == 31
    assert HDL32E.elevation_deg[0] == pytest.approx(-30.67, abs=0.01)
    assert HDL32E.elevation_deg[31] == pytest.approx(10.67, abs=0.01)
    assert {m.product_id for m in MODELS.values()} == {0x21, 0x22, 0x28}
    assert velodyne_model("vlp32") is VLP32C and velodyne_model("hdl_32e") is HDL32E
    with pytest.raises(DriverError, match="64 entries"):
        hdl64e_model([0.0] * 63, [0.0] * 64)
    with pytest.raises(DriverError, match="num_lasers"):
        VelodyneModel("x", None, 8, 0.002, (0.0,) * 8, (0.0,) * 8, tuple(range(8)) * 4, (0.0,) * 32, 50.0)


def test_filters_and_extra_fields() -> None:
    packets = synth_velodyne(VLP16, 200, start_deg=0.0).packets
    decoder = VelodyneDecoder("VLP-16", min_range_m=5.0, max_range_m=20.0, azimuth_window_deg=(350.0, 10.0),
                              extra_fields=("distance", "laser_id"))
    clouds = decoder.decode(packets) + decoder.flush()
    d = np.concatenate([c.fields["distance"] for c in clouds])
    az = np.degrees(np.concatenate([c.fields["azimuth"] for c in clouds]))
    assert d.min() > 5.0 and d.max() < 20.0
    assert np.all((az >= 350.0) | (az <= 10.0))
    assert np.abs(np.linalg.norm(np.concatenate([c.positions for c in clouds]), axis=1) - d).max() < 1e-4
    with pytest.raises(DriverError, match="extra fields"):
        VelodyneDecoder("VLP-16", extra_fields=("colour",))


def test_arc_in_window() -> None:
    assert arc_in_window(0.0, 360.0, 270.0, 90.0) == pytest.approx(180.0)
    assert arc_in_window(80.0, 280.0, 270.0, 90.0) == pytest.approx(20.0)
    assert arc_in_window(450.0, 630.0, 270.0, 90.0) == pytest.approx(0.0)
    assert arc_in_window(10.0, 20.0, 0.0, 360.0) == pytest.approx(10.0)
