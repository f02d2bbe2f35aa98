"""Driver decode cost: one VLP-32C scan (a full 10 Hz turn, 150 packets, ~57.6k return slots) and one ARS548
cycle (a detection list + an object list).

The VLP-32C stream is 10 Hz single-return: the payloads of the real recording in ``../shared/data`` (cycled, with
block azimuths and timestamps rewritten into one continuous full-turn stream) when present, else synthetic
returns (92% hits, 2-60 m). Each turn is decoded by a warm :class:`VelodyneDecoder` fed three ways: as
:class:`PacketDriver` feeds it (up to 64 packets per call, cut early at the packet that completes a scan), one
packet per call (a bare per-packet loop), and the whole turn in one call. The ARS548 cycle uses the real
messages when present, else full synthetic ones (800 detections, 50 objects). Medians over ``--scans`` turns /
``--cycles`` cycles, in ms, with the real-time budget (100 ms at 10 Hz, 50 ms at 20 Hz) divided by the median
as the margin on one core.

    .venv/bin/python benchmarks/drivers.py [--scans 40] [--cycles 200] [--out benchmarks/results/drivers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import time
from pathlib import Path

import numpy as np

from fusion_stack.drivers import Ars548Decoder, BagPacketSource, Packet, VelodyneDecoder
from fusion_stack.drivers import ars548_layout as layout

DATA = Path(os.environ.get("FUSION_STACK_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
VLP32_BAG = DATA / "rosbag2_velodyne" / "vlp32" / "1713492677464078412"
ARS548_BAG = DATA / "rosbag2_radar" / "ars548" / "1708578204"
PACKETS_PER_TURN = 150
PACKET_US = 12 * 55.296


def vlp32c_stream(turns: int) -> tuple[list[Packet], str]:
    """A continuous 10 Hz VLP-32C stream of ``turns`` full turns."""
    if VLP32_BAG.exists():
        with BagPacketSource(VLP32_BAG) as source:
            payloads = [p.data for p in source]
        origin = "real payloads (cycled, azimuths/timestamps rewritten)"
    else:
        rng = np.random.default_rng(0)
        payloads = []
        for _ in range(PACKETS_PER_TURN):
            dist = rng.integers(500, 15000, (12, 32))
            dist[rng.random((12, 32)) < 0.08] = 0
            body = b"".join(struct.pack("<HH", 0xEEFF, 0) + b"".join(struct.pack("<HB", int(d), 40) for d in row)
                            for row in dist)
            payloads.append(body + b"\x00\x00\x00\x00\x37\x28")
        origin = "synthetic returns"
    packets = []
    t0 = 1_700_000_000_000_000_000
    for i in range(turns * PACKETS_PER_TURN + 1):
        data = bytearray(payloads[i % len(payloads)])
        for b in range(12):
            az = round((360.0 * 10 * (i * PACKET_US + b * 55.296) / 1e6) % 360.0 * 100) % 36000
            data[b * 100 + 2:b * 100 + 4] = az.to_bytes(2, "little")
        data[1200:1204] = (round(i * PACKET_US) % 3_600_000_000).to_bytes(4, "little")
        data[1204:1206] = b"\x37\x28"
        packets.append(Packet(t0 + round(i * PACKET_US * 1000), bytes(data)))
    return packets, origin


def time_vlp32c(packets: list[Packet], batch: int, turns: int, *, cut_at_scan: bool = False) -> tuple[float, int]:
    """Median ms per turn when fed ``batch`` packets per call (and, with ``cut_at_scan``, also at every packet
    that completes a scan, as PacketDriver does), and the points per scan."""
    decoder = VelodyneDecoder("VLP-32C")
    decoder.decode(packets[:PACKETS_PER_TURN])  # warm: numba cache loaded, tables built
    times, points = [], []
    for k in range(1, turns):
        turn = packets[k * PACKETS_PER_TURN:(k + 1) * PACKETS_PER_TURN]
        start = time.perf_counter()
        pending: list[Packet] = []
        for packet in turn:
            pending.append(packet)
            if len(pending) >= batch or (cut_at_scan and decoder.completes_output(packet)):
                points += [len(cloud) for cloud in decoder.decode(pending)]
                pending = []
        points += [len(cloud) for cloud in decoder.decode(pending)]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, int(statistics.median(points))


def ars548_messages() -> tuple[list[bytes], str]:
    if ARS548_BAG.exists():
        with BagPacketSource(ARS548_BAG) as source:
            return [p.data for p in source], "real messages (308 detections, 50 objects)"
    det = np.zeros(1, layout.DETECTION_LIST)[0]
    det["method_id"], det["length"], det["sync_status"] = 336, layout.DETECTION_LIST_SIZE - 8, 1
    det["number_of_detections"] = 800
    det["detections"]["range"] = np.linspace(1, 200, 800)
    obj = np.zeros(1, layout.OBJECT_LIST)[0]
    obj["method_id"], obj["length"], obj["sync_status"], obj["number_of_objects"] = 329, layout.OBJECT_LIST_SIZE - 8, \
        1, 50
    return [obj.tobytes(), det.tobytes()], "synthetic (800 detections, 50 objects)"


def time_ars548(messages: list[bytes], cycles: int) -> float:
    decoder = Ars548Decoder()
    decoder.decode(Packet(0, m) for m in messages)
    times = []
    for c in range(cycles):
        batch = [Packet((c + 1) * 50_000_000, m) for m in messages]
        start = time.perf_counter()
        decoder.decode(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/drivers.json"))
    args = parser.parse_args()
    packets, origin = vlp32c_stream(args.scans + 1)
    rows = []
    feeds = ((f"driver (<= {args.batch}/call)", args.batch, True), ("per packet", 1, False),
             ("whole turn", PACKETS_PER_TURN, False))
    for label, batch, cut in feeds:
        ms, points = time_vlp32c(packets, batch, args.scans + 1, cut_at_scan=cut)
        rows.append({"sensor": "VLP-32C", "feed": label, "median_ms_per_scan": ms, "points_per_scan": points,
                     "realtime_margin_10hz": 100.0 / ms})
        print(f"VLP-32C scan ({label:>20}): {ms:7.2f} ms median, {points} points, {100.0 / ms:5.1f}x real time "
              f"at 10 Hz [{origin}]")
    messages, ars_origin = ars548_messages()
    ms = time_ars548(messages, args.cycles)
    rows.append({"sensor": "ARS548", "feed": "detection + object list", "median_ms_per_cycle": ms,
                 "realtime_margin_20hz": 50.0 / ms})
    print(f"ARS548 cycle (detections + objects): {ms:7.3f} ms median, {50.0 / ms:6.0f}x real time at 20 Hz "
          f"[{ars_origin}]")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "drivers", "machine": platform.processor() or platform.machine(),
                                    "vlp32c_input": origin, "ars548_input": ars_origin, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
