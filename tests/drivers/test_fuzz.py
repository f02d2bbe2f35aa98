"""Bad input, fuzzed over the packet bytes: a typed DriverError or a counted drop, never another exception, and the
decoders go on decoding the good packets after it exactly as if it had not come."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from drivers_testlib import ars548_message, synth_velodyne
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_stack.drivers import VLP16, Ars548Decoder, DriverError, Packet, PcapSource, VelodyneDecoder
from fusion_stack.drivers import ars548_layout as layout
from fusion_stack.types import PointCloud, RadarScan

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STREAM = synth_velodyne(VLP16, 190, start_deg=200.0).packets  # 2.5 turns; scan 1 spans packets ~14-89
VICTIM = 50  # mid-scan: its neighbours' scans must not change


def _decode_velodyne(packets: list[Packet]) -> tuple[VelodyneDecoder, list[PointCloud]]:
    decoder = VelodyneDecoder("VLP-16")
    clouds: list[PointCloud] = []
    for i in range(0, len(packets), 9):
        clouds += decoder.decode(packets[i:i + 9])
    return decoder, clouds + decoder.flush()


_, CLEAN = _decode_velodyne(STREAM)


def _victim_scan() -> int:
    t = STREAM[VICTIM].stamp_ns
    return next(i for i, c in enumerate(CLEAN) if c.stamp_ns <= t <= c.stamp_ns + c.fields["time_offset_ns"][-1])


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    overwrite = st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), min_size=1, max_size=12)
    return st.one_of(
        st.integers(0, len(base) - 1).map(lambda n: base[:n]),
        st.binary(min_size=1, max_size=64).map(lambda extra: base + extra),
        overwrite.map(lambda changes: _apply(base, changes)),
        st.binary(min_size=len(base), max_size=len(base)),
    )


def _apply(base: bytes, changes: list[tuple[int, int]]) -> bytes:
    data = bytearray(base)
    for pos, value in changes:
        data[pos] = value
    return bytes(data)


@FUZZ
@given(data=st.data())
def test_velodyne_bad_packet_never_disturbs_other_scans(data: st.DataObject) -> None:
    bad = data.draw(_mutations(STREAM[VICTIM].data))
    replace = data.draw(st.booleans())
    packets = list(STREAM)
    if replace:
        packets[VICTIM] = Packet(packets[VICTIM].stamp_ns, bad)
    else:
        packets.insert(VICTIM, Packet(packets[VICTIM].stamp_ns, bad))
    decoder, clouds = _decode_velodyne(packets)
    hit = _victim_scan()
    assert len(clouds) == len(CLEAN)
    for i, (a, b) in enumerate(zip(clouds, CLEAN)):
        if i == hit:
            continue
        assert a.stamp_ns == b.stamp_ns
        np.testing.assert_array_equal(a.positions, b.positions)
        for name in b.fields:
            np.testing.assert_array_equal(a.fields[name], b.fields[name])
    assert decoder.counts["packets"] >= len(STREAM) - 1


def test_velodyne_bad_packets_counted_by_reason() -> None:
    good = STREAM[0].data
    cases = {
        "bad_length": good[:1000],
        "position_packet": bytes(512),
        "bad_block_flag": b"\x00\x00" + good[2:],
        "bad_azimuth": good[:2] + (40000).to_bytes(2, "little") + good[4:],
        "bad_return_mode": good[:1204] + b"\x10" + good[1205:],
        "wrong_model": good[:1205] + b"\x28",
        "bad_dual_pairing": good[:1204] + b"\x39" + good[1205:],
    }
    decoder = VelodyneDecoder("VLP-16")
    for reason, data in cases.items():
        assert decoder.decode([Packet(1, data)]) == []
        assert decoder.counts[f"dropped.{reason}"] == 1, reason
    strict = VelodyneDecoder("VLP-16", strict=True)
    for reason, data in cases.items():
        with pytest.raises(DriverError, match=reason):
            strict.decode([Packet(1, data)])
    auto = VelodyneDecoder("auto")
    auto.decode([Packet(1, good[:1205] + b"\x77")])
    assert auto.counts["dropped.unknown_product"] == 1 and auto.model is None
    with pytest.raises(DriverError, match="unknown Velodyne model"):
        VelodyneDecoder("VLP-64")
    with pytest.raises(DriverError, match="min_range_m"):
        VelodyneDecoder("VLP-16", min_range_m=5.0, max_range_m=1.0)
    with pytest.raises(DriverError, match="stamp_ns"):
        Packet(1.5, b"")  # type: ignore[arg-type]


ARS_T0 = 1_708_578_204_000_000_000
ARS_GOOD = [ars548_message(336, stamp_ns=ARS_T0, n=5), ars548_message(329, stamp_ns=ARS_T0, n=4)]


def _ars_reference() -> list[object]:
    return Ars548Decoder().decode(Packet(ARS_T0 + 50_000_000, m) for m in ARS_GOOD)


def _same_ars(a: list[object], b: list[object]) -> None:
    assert [type(x) for x in a] == [type(x) for x in b]
    for x, y in zip(a, b):
        if isinstance(x, RadarScan):
            assert isinstance(y, RadarScan)
            np.testing.assert_array_equal(x.positions, y.positions)
            for name in x.fields:
                np.testing.assert_array_equal(x.fields[name], y.fields[name])
        else:
            assert x == y


@FUZZ
@given(data=st.data())
def test_ars548_bad_message_then_good_ones(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([*ARS_GOOD, ars548_message(380)]))
    bad = data.draw(_mutations(base))
    decoder = Ars548Decoder()
    out = decoder.decode([Packet(ARS_T0, bad)])
    assert len(out) <= 1
    for sample in out:  # whatever passes the checks is a valid sample
        assert sample.stamp_ns == ARS_T0
    after = decoder.decode(Packet(ARS_T0 + 50_000_000, m) for m in ARS_GOOD)
    _same_ars(after, _ars_reference())


def test_ars548_impossible_values() -> None:
    det = np.frombuffer(ARS_GOOD[0], layout.DETECTION_LIST, count=1)[0].copy()
    det["detections"][1]["range"] = np.nan
    det["detections"][2]["invalid_flags"] = 0x04
    decoder = Ars548Decoder()
    (scan,) = decoder.decode([Packet(ARS_T0, det.tobytes())])
    assert isinstance(scan, RadarScan) and len(scan) == 3 and decoder.counts["dropped_detections"] == 2
    det["number_of_detections"] = 801
    assert decoder.decode([Packet(ARS_T0, det.tobytes())]) == [] and decoder.counts["dropped.bad_count"] == 1
    obj = np.frombuffer(ARS_GOOD[1], layout.OBJECT_LIST, count=1)[0].copy()
    obj["objects"][0]["position_x"] = np.inf
    (objects,) = decoder.decode([Packet(ARS_T0, obj.tobytes())])
    assert len(objects) == 3 and decoder.counts["dropped_objects"] == 1  # type: ignore[arg-type]
    obj["number_of_objects"] = 51
    assert decoder.decode([Packet(ARS_T0, obj.tobytes())]) == []
    wrong_len = bytearray(ARS_GOOD[1])
    wrong_len[4:8] = (1234).to_bytes(4, "big")
    bad_sync = bytearray(ARS_GOOD[1])
    bad_sync[44] = 9
    cases = {"short": b"\x00\x00", "bad_service": b"\x00\x07" + ARS_GOOD[1][2:], "bad_length": bytes(wrong_len),
             "bad_stamp": bytes(bad_sync)}
    for reason, data in cases.items():
        assert decoder.decode([Packet(ARS_T0, data)]) == []
        assert decoder.counts[f"dropped.{reason}"] == 1, reason
        with pytest.raises(DriverError):
            Ars548Decoder(strict=True).decode([Packet(ARS_T0, data)])
    assert decoder.decode([Packet(ARS_T0, b"\x00\x00\x01\x00" + bytes(20))]) == []
    assert decoder.counts["ignored.256"] == 1


@FUZZ
@given(body=st.binary(max_size=400))
def test_pcap_garbage_is_driver_error_or_skipped(body: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = Path(tmp_path_factory.mktemp("pcap")) / "fuzz.pcap"
    header = (0xA1B2C3D4).to_bytes(4, "little") + bytes.fromhex("02000400") + bytes(8) + \
        (65535).to_bytes(4, "little") + (1).to_bytes(4, "little")
    path.write_bytes(header + body)
    try:
        with PcapSource(path) as source:
            for packet in source:
                assert isinstance(packet.data, bytes)
    except DriverError:
        pass
