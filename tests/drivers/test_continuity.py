"""Lost, reordered, duplicated and late packets are counted and leave the neighbouring scans as they were."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from drivers_testlib import ars548_message, synth_velodyne

from fusion_stack.drivers import VLP16, VLP32C, Ars548Decoder, Packet, VelodyneDecoder
from fusion_stack.types import PointCloud


def _decode(packets: Sequence[Packet], *, batch: int = 7, **options: object) -> tuple[VelodyneDecoder,
                                                                                      list[PointCloud]]:
    """Decode in batches of ``batch`` (odd by default: scan boundaries fall inside batches)."""
    decoder = VelodyneDecoder("VLP-16", scan_phase_deg=90.0, **options)  # type: ignore[arg-type]
    clouds: list[PointCloud] = []
    for i in range(0, len(packets), batch):
        clouds += decoder.decode(packets[i:i + batch])
    return decoder, clouds + decoder.flush()


def _equal(a: PointCloud, b: PointCloud) -> bool:
    return (a.stamp_ns == b.stamp_ns and np.array_equal(a.positions, b.positions)
            and all(np.array_equal(a.fields[k], b.fields[k]) for k in a.fields))


@pytest.fixture(scope="module")
def stream() -> list[Packet]:
    return synth_velodyne(VLP16, 300, start_deg=10.0).packets  # about 4 turns at 10 Hz


@pytest.fixture(scope="module")
def clean(stream: list[Packet]) -> list[PointCloud]:
    decoder, clouds = _decode(stream)
    assert len(clouds) == 5 and decoder.counts["packets"] == 300
    assert not any(k.startswith(("dropped", "lost", "reordered", "late", "duplicate")) for k in decoder.counts)
    return clouds


def _scan_of(clean: list[PointCloud], packet: Packet) -> int:
    """Index of the clean scan holding the returns fired at ``packet``'s time (first block)."""
    for i, c in enumerate(clean):
        t = c.stamp_ns + c.fields["time_offset_ns"]
        if t.min() <= packet.stamp_ns <= t.max():
            return i
    raise AssertionError("no scan")


def test_lost_packets(stream: list[Packet], clean: list[PointCloud]) -> None:
    hit = _scan_of(clean, stream[150])
    decoder, clouds = _decode(stream[:150] + stream[155:])
    assert decoder.counts["lost_packets"] == 5
    assert len(clouds) == len(clean)
    for i, (a, b) in enumerate(zip(clouds, clean)):
        if i != hit:
            assert _equal(a, b)
    lost_t = {p.stamp_ns for p in stream[150:155]}
    times = clean[hit].stamp_ns + clean[hit].fields["time_offset_ns"]
    assert len(clouds[hit]) < len(clean[hit])
    assert len(clouds[hit]) == len(clean[hit]) - sum(
        1 for t in times if any(0 <= t - s < 1_327_104 for s in lost_t))


def test_reordered_and_duplicate_packets(stream: list[Packet], clean: list[PointCloud]) -> None:
    swapped = [*stream[:120], stream[121], stream[120], stream[122], *stream[122:]]
    decoder, clouds = _decode(swapped)
    assert decoder.counts["reordered_packets"] == 1 and decoder.counts["duplicate_packets"] == 1
    assert decoder.counts["lost_packets"] == 0
    assert len(clouds) == len(clean) and all(_equal(a, b) for a, b in zip(clouds, clean))


def test_late_packet_across_a_scan_boundary(stream: list[Packet], clean: list[PointCloud]) -> None:
    # the second-to-last packet of a scan arrives after the first three packets of the next one
    starts = [next(i for i, p in enumerate(stream) if p.stamp_ns >= c.stamp_ns - 50_000) for c in clean[1:3]]
    k = starts[1] - 2
    moved = [*stream[:k], *stream[k + 1:k + 4], stream[k], *stream[k + 4:]]
    decoder, clouds = _decode(moved, batch=1)
    assert decoder.counts["late_packets"] == 1 and decoder.counts["reordered_packets"] == 1
    assert len(clouds) == len(clean)
    assert len(clouds[1]) < len(clean[1])
    assert all(_equal(a, b) for i, (a, b) in enumerate(zip(clouds, clean)) if i != 1)
    # with a reorder tolerance the late packet still makes it into its scan
    decoder, clouds = _decode(moved, batch=1, reorder_tolerance_deg=20.0)  # 3 packets = 14.3 deg
    assert decoder.counts["late_packets"] == 0 and all(_equal(a, b) for a, b in zip(clouds, clean))


def test_bad_timestamp_is_dropped_and_a_real_restart_is_followed(stream: list[Packet],
                                                                 clean: list[PointCloud]) -> None:
    bad = bytearray(stream[100].data)
    bad[1200:1204] = (123456789).to_bytes(4, "little")
    decoder, clouds = _decode([*stream[:100], Packet(stream[100].stamp_ns, bytes(bad)), *stream[101:]])
    assert decoder.counts["dropped.inconsistent"] == 1 and decoder.counts["stream_gaps"] == 0
    hit = _scan_of(clean, stream[100])
    assert all(_equal(a, b) for i, (a, b) in enumerate(zip(clouds, clean)) if i != hit)
    # a sensor that goes quiet for 1.5 s: the stream restarts (one packet spent confirming it)
    shifted = []
    for p in stream[150:]:
        data = bytearray(p.data)
        ts = int.from_bytes(data[1200:1204], "little") + 1_500_000
        data[1200:1204] = ts.to_bytes(4, "little")
        shifted.append(Packet(p.stamp_ns + 1_500_000_000, bytes(data)))
    decoder, clouds = _decode([*stream[:150], *shifted])
    assert decoder.counts["stream_gaps"] == 1 and decoder.counts["dropped.inconsistent"] == 1
    assert decoder.counts["lost_packets"] == 0 and decoder.counts["late_packets"] == 0
    assert decoder.counts["packets"] == len(stream) - 1
    assert sum(len(c) for c in clouds) < sum(len(c) for c in clean)
    assert np.all(np.diff([c.stamp_ns for c in clouds]) > 0)


def test_dual_return_and_vlp32_streams_scan_counts() -> None:
    dual = synth_velodyne(VLP16, 400, dual=True).packets  # 400 x 663.6 us = 2.65 turns
    decoder = VelodyneDecoder("VLP-16", drop_identical_returns=True)
    clouds = decoder.decode(dual) + decoder.flush()
    assert [c.stamp_ns < d.stamp_ns for c, d in itertools.pairwise(clouds)] == [True] * (len(clouds) - 1)
    assert len(clouds) == 3 and decoder.counts["lost_packets"] == 0
    types = np.concatenate([c.fields["return_type"] for c in clouds])
    assert set(np.unique(types)) <= {4, 5, 6, 9, 10} and (types == 6).mean() > 0.5
    keep_all = VelodyneDecoder("VLP-16", drop_identical_returns=False)
    more = keep_all.decode(dual) + keep_all.flush()
    assert sum(map(len, more)) > sum(map(len, clouds))
    v32 = synth_velodyne(VLP32C, 160, start_deg=10.0).packets  # 160 x 663.6 us = 1.06 turns
    decoder = VelodyneDecoder("VLP-32C")
    assert len(decoder.decode(v32) + decoder.flush()) == 2


def test_ars548_message_continuity() -> None:
    t0 = 1_708_578_204_000_000_000
    dec = Ars548Decoder(check_crc=True)
    msgs = [ars548_message(336, counter=c, stamp_ns=t0 + c * 50_000_000, crc=True) for c in (1, 2, 5, 4, 6, 6)]
    out = dec.decode(Packet(t0 + i, m) for i, m in enumerate(msgs))
    assert len(out) == 6
    assert dec.counts["lost_messages"] == 2 and dec.counts["reordered_messages"] == 1
    assert dec.counts["duplicate_messages"] == 1
    corrupt = bytearray(msgs[0])
    corrupt[500] ^= 0xFF
    assert dec.decode([Packet(t0, bytes(corrupt))]) == [] and dec.counts["dropped.bad_crc"] == 1
    # without E2E counters: by the sensor time stamps and the cycle time of the status message
    dec = Ars548Decoder()
    dec.decode([Packet(t0, ars548_message(380, cycle_ms=60))])
    assert dec.status is not None and dec.status.cycle_time_ms == 60
    stamps = [0, 60, 120, 300, 240, 360]
    dec.decode(Packet(t0, ars548_message(329, stamp_ns=t0 + s * 1_000_000)) for s in stamps)
    assert dec.counts["lost_messages"] == 2 and dec.counts["reordered_messages"] == 1
    assert dec.counts["object_lists"] == 6


def test_driver_batches_without_delaying_scans(stream: list[Packet]) -> None:
    """PacketDriver decodes up to 64 packets at once, yet yields each scan right after the packet completing it."""
    from fusion_stack.drivers import velodyne_driver

    reference = VelodyneDecoder("VLP-16")
    emitted_at = [i for i, p in enumerate(stream) for _ in reference.decode([p])]

    class Source:
        pulled = 0

        def __iter__(self) -> object:
            for p in stream:
                self.pulled += 1
                yield p

        def close(self) -> None:
            pass

    source = Source()
    at = [source.pulled - 1 for _ in velodyne_driver(source, model="VLP-16")]  # type: ignore[arg-type]
    tail = len(reference.flush())  # the open scans, flushed when the source ends
    assert len(emitted_at) == 3 and at == [*emitted_at] + [len(stream) - 1] * tail
