"""The ARS548 decoder against the detection and object lists tier4/nebula wrote as YAML for the same messages.

Every field is compared within the YAML's printed precision (half a unit of the last printed digit, read from
the text), integers and flags exactly. One nebula bug is accounted for: its object-list decoder writes the
*relative acceleration* into ``relative_velocity`` (and leaves ``relative_acceleration`` at zero); ours keeps
them apart, so the YAML's ``relative_velocity`` is compared with our ``relative_acceleration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from drivers_testlib import PrintedFloat, load_yaml_printed

from fusion_stack.drivers import Ars548Decoder, BagPacketSource, RadarObjectList
from fusion_stack.types import RadarScan

pytestmark = pytest.mark.real_data


def _close(ours: float, printed: Any, what: str) -> None:
    if isinstance(printed, PrintedFloat):
        assert abs(float(ours) - float(printed)) <= printed.tolerance * (1 + 1e-9), (what, ours, printed.text)
    else:
        assert float(ours) == float(printed), (what, ours, printed)


@pytest.fixture(scope="module")
def decoded(ars548_dir: Path) -> tuple[Ars548Decoder, RadarScan, RadarObjectList]:
    decoder = Ars548Decoder(sensor_id="front_radar", frame_id="radar_link")
    with BagPacketSource(ars548_dir / "1708578204") as source:
        samples = decoder.decode(source)
    assert decoder.counts["packets"] == 2 and decoder.counts["detection_lists"] == 1
    scans = [s for s in samples if isinstance(s, RadarScan)]
    objects = [s for s in samples if isinstance(s, RadarObjectList)]
    assert len(scans) == 1 and len(objects) == 1
    return decoder, scans[0], objects[0]


def test_detection_list_matches_yaml(ars548_dir: Path, decoded: tuple[Ars548Decoder, RadarScan,
                                                                         RadarObjectList]) -> None:
    decoder, scan, _ = decoded
    ref = load_yaml_printed(ars548_dir / "1708578204_202447652_detection.yaml")
    stamp = ref["header"]["stamp"]
    assert scan.stamp_ns == int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"])
    head = decoder.detection_header
    assert head is not None
    assert head.sync_status == ref["stamp_sync_status"]
    for i, axis in enumerate("xyz"):
        _close(head.origin_position[i], ref["origin_pos"][axis], f"origin_pos.{axis}")
    for name in ("origin_pitch", "origin_pitch_std", "origin_yaw", "origin_yaw_std", "ambiguity_free_velocity_min",
                 "ambiguity_free_velocity_max", "alignment_azimuth_correction", "alignment_elevation_correction"):
        _close(getattr(head, name), ref[name], name)
    assert head.alignment_status == ref["alignment_status"]
    dets = ref["detections"]
    assert len(scan) == len(dets) == 308
    f = scan.fields
    columns = {"azimuth_angle": f["azimuth"], "azimuth_angle_std": f["azimuth_std"],
               "elevation_angle": f["elevation"], "elevation_angle_std": f["elevation_std"], "range": f["range"],
               "range_std": f["range_std"], "range_rate": scan.radial_velocity, "range_rate_std": f["range_rate_std"],
               "rcs": scan.rcs, "measurement_id": f["measurement_id"],
               "raw_positive_predictive_value": f["positive_predictive_value"],
               "classification": f["classification"], "raw_multi_target_probability": f["multi_target_probability"],
               "object_id": f["object_id"], "raw_ambiguity_flag": f["ambiguity_flag"]}
    flags = ("invalid_distance", "invalid_distance_std", "invalid_azimuth", "invalid_azimuth_std",
             "invalid_elevation", "invalid_elevation_std", "invalid_range_rate", "invalid_range_rate_std")
    for i, det in enumerate(dets):
        for key, col in columns.items():
            _close(col[i], det[key], f"detections[{i}].{key}")
        for bit, key in enumerate(flags):
            assert bool(f["invalid_flags"][i] & (1 << bit)) == det[key], f"detections[{i}].{key}"
    np.testing.assert_allclose(f["existence_probability"], f["positive_predictive_value"] / 100.0, rtol=1e-6)
    # positions from range, azimuth (counter-clockwise) and elevation in the sensor frame
    r, az, el = (np.array([float(d[k]) for d in dets]) for k in ("range", "azimuth_angle", "elevation_angle"))
    expect = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], axis=1)
    assert np.abs(scan.positions - expect).max() < 1e-3 * max(1.0, r.max() / 100)
    assert scan.frame_id == "radar_link" and scan.sensor_id == "front_radar"


def test_object_list_matches_yaml(ars548_dir: Path, decoded: tuple[Ars548Decoder, RadarScan,
                                                                      RadarObjectList]) -> None:
    _, _, objects = decoded
    ref = load_yaml_printed(ars548_dir / "1708578204_199326753_object.yaml")
    stamp = ref["header"]["stamp"]
    assert objects.stamp_ns == int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"])
    assert len(objects) == len(ref["objects"]) == 50
    for i, (ours, theirs) in enumerate(zip(objects.objects, ref["objects"])):
        where = f"objects[{i}]"
        assert (ours.id, ours.age, ours.status_measurement, ours.status_movement, ours.position_reference) == (
            theirs["object_id"], theirs["age"], theirs["status_measurement"], theirs["status_movement"],
            theirs["position_reference"]), where
        for j, axis in enumerate("xyz"):
            _close(ours.position[j], theirs["position"][axis], f"{where}.position.{axis}")
            _close(ours.position_std[j], theirs["position_std"][axis], f"{where}.position_std.{axis}")
        for name, value in (("position_covariance_xy", ours.position_covariance_xy),
                            ("orientation", ours.orientation), ("orientation_std", ours.orientation_std),
                            ("orientation_rate_mean", ours.orientation_rate),
                            ("orientation_rate_std", ours.orientation_rate_std),
                            ("shape_length_edge_mean", ours.length), ("shape_width_edge_mean", ours.width)):
            _close(value, theirs[name], f"{where}.{name}")
        _close(ours.existence_probability * 100.0, theirs["raw_existence_probability"], f"{where}.existence")
        for cls, p in ours.classification.items():
            assert round(p * 100) == theirs[f"raw_classification_{cls}"], f"{where}.classification.{cls}"
        pairs = (("absolute_velocity", "absolute_velocity"), ("absolute_acceleration", "absolute_acceleration"),
                 ("relative_acceleration", "relative_velocity"))  # nebula's relative_velocity: see docstring
        for attr, key in pairs:
            value, std, cov = getattr(ours, attr), getattr(ours, f"{attr}_std"), getattr(ours, f"{attr}_covariance_xy")
            for j, axis in enumerate("xy"):
                _close(value[j], theirs[key][axis], f"{where}.{key}.{axis}")
                _close(std[j], theirs[f"{key}_std"][axis], f"{where}.{key}_std.{axis}")
            assert float(theirs[key]["z"]) == 0.0
            _close(cov, theirs[f"{key}_covariance_xy"], f"{where}.{key}_covariance_xy")
        assert all(float(v) == 0.0 for v in theirs["relative_acceleration"].values())
        # our relative velocity is the ego-relative motion of these static objects: about minus the ego speed
        assert ours.relative_velocity[0] < -4.0 or ours.status_movement == 0
