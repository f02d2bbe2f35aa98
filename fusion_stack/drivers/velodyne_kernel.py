"""The per-return loop of the Velodyne decoder, compiled with numba (``cache=True``: the first call in a fresh
environment compiles for a few seconds, later processes load the cached machine code).

:func:`decode_slots` walks packets x blocks x slots once and writes the kept returns into preallocated output
arrays; the conventions (azimuths in degrees, clockwise; distances in metres; times in ns) are those of
:mod:`fusion_stack.drivers.velodyne_decoder`, which prepares the per-packet values (unwrapped first-block
azimuth, firing gaps, time corrections) and the per-slot tables.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

IDENTICAL = 6
FIRST_WEAK, LAST_WEAK, FIRST_STRONGEST, LAST_STRONGEST = 4, 5, 9, 10


@numba.njit(cache=True, nogil=True)
def decode_slots(raw: Any, u0: Any, gap: Any, extra_us: Any, t_pkt: Any, cos_el: Any, sin_el: Any, az_off: Any,
                 dist_off: Any, slot_time: Any, bpg: int, period: float, res: Any, min_r: float, max_r: float,
                 interpolate: bool, dual: bool, drop_identical: bool, single_code: int, use_window: bool,
                 win_lo: float, win_hi: float, phase: float, last_emitted: int, k_base: int, firsts: Any,
                 out_xyz: Any, out_f32: Any, out_slot: Any, out_t: Any, out_rt: Any, out_k: Any,
                 late_packets: Any) -> int:  # pragma: no cover - compiled
    """Decode the returns of ``raw`` (P, 1206); returns how many were written.

    Per kept return: ``out_xyz`` (x, y, z) metres; ``out_f32`` (intensity, azimuth rad, distance m, firing
    azimuth rad); ``out_slot`` (packet, block, slot); ``out_t`` firing time ns; ``out_rt`` return type; ``out_k`` scan
    index. ``firsts[k - k_base]`` gets the earliest firing time of every scan touched (kept or not);
    ``late_packets[p]`` is set when packet p had returns for scans already emitted.
    """
    n = 0
    n_pk = raw.shape[0]
    for p in range(n_pk):
        az0 = (raw[p, 2] | (np.int64(raw[p, 3]) << 8)) / 100.0
        for b in range(12):
            g = b // bpg
            off = b * 100
            az_raw = (raw[p, off + 2] | (np.int64(raw[p, off + 3]) << 8)) / 100.0
            u_block = u0[p] + (az_raw - az0) % 360.0
            t_block = g * period + extra_us[p, g]
            g_gap = gap[p, g]
            for s in range(32):
                u = u_block + az_off[b, s]
                if interpolate:
                    u += g_gap * slot_time[s] / period
                k = np.int64(math.floor((u - phase) / 360.0))
                t = t_pkt[p] + np.int64(round((t_block + slot_time[s]) * 1000.0))
                if k > last_emitted:
                    slot_k = k - k_base
                    if 0 <= slot_k < firsts.shape[0] and t < firsts[slot_k]:
                        firsts[slot_k] = t
                o = off + 4 + 3 * s
                dr = raw[p, o] | (np.int64(raw[p, o + 1]) << 8)
                if dr == 0:
                    continue
                d = np.float32(dr) * res + dist_off[b, s]
                if not (d > min_r and d < max_r):
                    continue
                refl = raw[p, o + 2]
                rt = single_code
                if dual:
                    oo = (b ^ 1) * 100 + 4 + 3 * s
                    other = raw[p, oo] | (np.int64(raw[p, oo + 1]) << 8)
                    if drop_identical and (b & 1) == 1 and other == dr:
                        continue
                    if other == 0 or other == dr:
                        rt = IDENTICAL
                    else:
                        first = dr < other
                        o_refl = raw[p, oo + 2]
                        strongest = first if refl == o_refl else refl > o_refl
                        if first:
                            rt = FIRST_STRONGEST if strongest else FIRST_WEAK
                        else:
                            rt = LAST_STRONGEST if strongest else LAST_WEAK
                az = u % 360.0
                if use_window:
                    if win_lo <= win_hi:
                        if az < win_lo or az > win_hi:
                            continue
                    elif az < win_lo and az > win_hi:
                        continue
                if k <= last_emitted:
                    late_packets[p] = True
                    continue
                a = math.radians(az)
                xy = d * cos_el[b, s]
                out_xyz[n, 0] = xy * math.cos(a)
                out_xyz[n, 1] = -xy * math.sin(a)
                out_xyz[n, 2] = d * sin_el[b, s]
                out_f32[n, 0] = refl
                out_f32[n, 1] = a
                out_f32[n, 2] = d
                out_f32[n, 3] = math.radians(az_raw)
                out_slot[n, 0] = p
                out_slot[n, 1] = b
                out_slot[n, 2] = s
                out_t[n] = t
                out_rt[n] = rt
                out_k[n] = k
                n += 1
    return n
