"""Helpers of the driver tests: a PCD reader, a synthetic Velodyne packet stream, a precision-keeping YAML loader."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusion_stack.drivers.packets import Packet
from fusion_stack.drivers.velodyne_models import VelodyneModel

T0_NS = 1_700_000_000_000_000_000


def read_pcd(path: Path) -> np.ndarray:
    """The points of a binary PCD file as a structured array (field names from the header)."""
    data = path.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = data.index(b"\n", pos)
        line = data[pos:end].decode()
        pos = end + 1
        if line.startswith("#"):
            continue
        key, *values = line.split()
        header[key] = values
        if key == "DATA":
            assert values == ["binary"], values
            break
    kinds = {("F", "4"): "<f4", ("U", "1"): "u1", ("U", "2"): "<u2", ("U", "4"): "<u4"}
    dtype = np.dtype([(n, kinds[(t, s)]) for n, t, s in zip(header["FIELDS"], header["TYPE"], header["SIZE"])])
    n = int(header["POINTS"][0])
    return np.frombuffer(data[pos:pos + n * dtype.itemsize], dtype)


def pcd_xyz(points: np.ndarray) -> np.ndarray:
    return np.stack([points["x"], points["y"], points["z"]], axis=1).astype(np.float64)


@dataclass(frozen=True)
class SynthStream:
    """Synthetic packets and what went into them."""

    packets: list[Packet]
    packet_us: float


def synth_velodyne(model: VelodyneModel, n_packets: int, *, start_deg: float = 0.0, hz: float = 10.0,
                   dual: bool = False, ts0_us: int = 1_000_000, t0_ns: int = T0_NS, seed: int = 0) -> SynthStream:
    """A continuous stream of valid packets of ``model`` spinning at ``hz`` (distances 2-60 m, some empty)."""
    rng = np.random.default_rng(seed)
    bpg = 2 if dual else 1
    groups = 12 // bpg
    packet_us = groups * model.firing_period_us
    deg_per_us = 360.0 * hz / 1e6
    out = []
    last = (np.zeros(32, np.int64), np.zeros(32, np.int64))
    for i in range(n_packets):
        t_us = i * packet_us
        body = bytearray()
        for b in range(12):
            g = b // bpg
            az = round(((start_deg + deg_per_us * (t_us + g * model.firing_period_us)) % 360.0) * 100) % 36000
            dist = rng.integers(1000, 15000, 32)
            dist[rng.random(32) < 0.08] = 0
            refl = rng.integers(0, 256, 32)
            if dual and b % 2 == 1:
                prev_d, prev_r = last
                same = rng.random(32) < 0.7
                dist = np.where(same, prev_d, dist)
                refl = np.where(same, prev_r, refl)
            last = (dist, refl)
            body += struct.pack("<HH", 0xEEFF, az)
            for d, r in zip(dist, refl):
                body += struct.pack("<HB", int(d), int(r))
        ts = (ts0_us + round(t_us)) % 3_600_000_000
        body += struct.pack("<I", ts) + bytes([0x39 if dual else 0x37, model.product_id or 0])
        out.append(Packet(t0_ns + round(t_us * 1000) + 50_000, bytes(body)))
    return SynthStream(out, packet_us)


class _PrecisionLoader(yaml.SafeLoader):
    """A YAML loader that keeps the printed text of every float (to compare within the printed precision)."""


def _float_with_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return PrintedFloat(node.value)


class PrintedFloat(float):
    """A float that remembers how it was printed; ``tolerance`` is half a unit of its last printed digit."""

    text: str

    def __new__(cls, text: str) -> PrintedFloat:
        obj = super().__new__(cls, float(text))
        obj.text = text
        return obj

    @property
    def tolerance(self) -> float:
        m = re.fullmatch(r"[-+]?(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?", self.text.strip())
        assert m, self.text
        decimals = len(m.group(2) or "")
        exponent = int(m.group(3) or 0)
        return 0.5 * 10.0 ** (exponent - decimals)


_PrecisionLoader.add_constructor("tag:yaml.org,2002:float", _float_with_text)


def load_yaml_printed(path: Path) -> Any:
    """A YAML file with floats as :class:`PrintedFloat`."""
    with path.open() as f:
        return yaml.load(f, Loader=_PrecisionLoader)  # a SafeLoader subclass


def ars548_message(method: int = 336, *, counter: int = 0, stamp_ns: int = 1_708_578_204_000_000_000,
                   n: int = 3, crc: bool = False, cycle_ms: int = 50) -> bytes:
    """A valid synthetic ARS548 detection list (336), object list (329) or sensor status (380) message."""
    from fusion_stack.drivers import ars548_layout as layout
    from fusion_stack.drivers.ars548_decoder import crc64_xz

    dtype = {336: layout.DETECTION_LIST, 329: layout.OBJECT_LIST, 380: layout.SENSOR_STATUS}[method]
    msg = np.zeros(1, dtype)[0]
    msg["method_id"] = method
    msg["length"] = dtype.itemsize - 8
    msg["timestamp_seconds"], msg["timestamp_nanoseconds"] = divmod(stamp_ns, 1_000_000_000)
    msg["sync_status"] = 1
    if method == 380:
        msg["cycle_time"] = cycle_ms
        return msg.tobytes()
    msg["counter"] = counter
    if method == 336:
        msg["number_of_detections"] = n
        det = msg["detections"]
        for i in range(n):
            det[i]["range"] = 10.0 + i
            det[i]["azimuth"] = 0.1 * i
            det[i]["elevation"] = 0.01 * i
            det[i]["range_rate"] = -1.0 + i
            det[i]["rcs"] = i - 5
            det[i]["positive_predictive_value"] = 90
    else:
        msg["number_of_objects"] = n
        for i in range(n):
            o = msg["objects"][i]
            o["id"], o["position_x"], o["shape_length"], o["shape_width"] = 100 + i, 5.0 + i, 4.0, 2.0
            o["existence_probability"], o["classification_car"] = 99.0, 100
    data = bytearray(msg.tobytes())
    if crc:
        data[16:24] = crc64_xz(bytes(data[24:])).to_bytes(8, "big")
    return bytes(data)


def make_rig(*, camera_size: tuple[int, int] = (64, 48), time_offsets: dict[str, int] | None = None) -> Any:
    """A rig with a VLP-16 ``top`` (frame ``velodyne``), an ARS548 ``front_radar`` (``radar_link``) and a camera
    ``cam`` (``cam_optical``) on ``base_link``."""
    from fusion_stack.calibration.camera_models import PinholeCamera
    from fusion_stack.calibration.rig import Rig, SensorCalibration
    from fusion_stack.geometry.frame_graph import StaticTransform
    from fusion_stack.geometry.se3 import SE3

    offsets = time_offsets or {}
    w, h = camera_size
    sensors = (
        SensorCalibration("top", "lidar", "velodyne", offsets.get("top", 0)),
        SensorCalibration("front_radar", "radar", "radar_link", offsets.get("front_radar", 0)),
        SensorCalibration("cam", "camera", "cam_optical", offsets.get("cam", 0),
                          PinholeCamera(w, h, 50.0, 50.0, w / 2, h / 2)),
    )
    transforms = tuple(StaticTransform("base_link", f, SE3.from_ros((1.0, 0.0, 1.5), (0.0, 0.0, 0.0, 1.0)))
                       for f in ("velodyne", "radar_link", "cam_optical"))
    return Rig("test_rig", "base_link", sensors, transforms)


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fps: float = 20.0) -> Path:
    """An MJPG .avi of ``frames`` frames whose mean grey level encodes the frame index (10 per frame)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * i + 5, np.uint8))
    writer.release()
    return path
