"""Sensor corruptions: each kind at each severity, ordering, untouched parts, determinism, errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.corruptions import (
    CLUTTER_COUNT,
    CORRUPTIONS,
    DROPOUT_DURATION_NS,
    FOG_SPURIOUS_FRACTION,
    FOG_VISIBILITY_M,
    GHOST_FRACTION,
    MISALIGN_ROTATION_DEG,
    MISALIGN_TRANSLATION_M,
    NOISE_SIGMA_8BIT,
    TIME_SHIFT_NS,
    apply_to_recording,
    corrupt_rig,
    corrupt_sample,
    corrupt_stream,
    misalignment,
)
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.rig import default_rig
from fusion_stack.types import CameraImage, PointCloud, RadarScan

SEVERITIES = (1, 2, 3)
T0 = 1_700_000_000_000_000_000
LIDAR, CAM, RADAR = "LIDAR_TOP", "CAM_FRONT", "RADAR_FRONT"


# --- synthetic samples ------------------------------------------------------------------------------------------
def make_cloud(stamp_ns: int = T0, *, n_az: int = 360, rings: int = 32, seed: int = 0) -> PointCloud:
    rng = np.random.default_rng(seed)
    az = np.radians(np.arange(n_az) * 360.0 / n_az - 180.0 + 0.5)
    ring = np.repeat(np.arange(rings, dtype=np.uint16), n_az)
    az_all = np.tile(az, rings)
    elev = np.radians(-15.0 + ring * (25.0 / rings))
    r = rng.uniform(2.0, 150.0, size=ring.size)
    pos = np.stack([r * np.cos(elev) * np.cos(az_all), r * np.cos(elev) * np.sin(az_all), r * np.sin(elev)], 1)
    fields: dict[str, Any] = {"intensity": rng.uniform(1.0, 100.0, ring.size).astype(np.float32), "ring": ring,
              "time_offset_ns": np.arange(ring.size, dtype=np.int64), "idx": np.arange(ring.size, dtype=np.int64)}
    return PointCloud(stamp_ns, "lidar_top", LIDAR, pos, fields)


def make_image(stamp_ns: int = T0, *, kind: str = "texture", shape: tuple[int, int] = (96, 128)) -> CameraImage:
    if kind == "gray":
        data = np.full((*shape, 3), 128, np.uint8)
    else:
        rng = np.random.default_rng(1)
        small = rng.integers(0, 256, size=(shape[0] // 4, shape[1] // 4, 3), dtype=np.uint8)
        data = np.asarray(cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))
    return CameraImage(stamp_ns, "cam_front_optical", CAM, data, "rgb8")


def make_scan(stamp_ns: int = T0, n: int = 60) -> RadarScan:
    rng = np.random.default_rng(2)
    az = rng.uniform(-1.0, 1.0, n)
    r = rng.uniform(5.0, 80.0, n)
    pos = np.stack([r * np.cos(az), r * np.sin(az), rng.uniform(-0.5, 1.0, n)], 1)
    return RadarScan(stamp_ns, "radar_front", RADAR, pos, rng.uniform(-10, 10, n), rng.uniform(0, 20, n),
                     {"snr": rng.uniform(5, 30, n).astype(np.float32)})


def make_stream(seconds: float = 20.0, hz: float = 10.0) -> list[Any]:
    out: list[Any] = []
    image, scan = make_image(), make_scan()
    for i in range(int(seconds * hz)):
        t = T0 + int(i * 1e9 / hz)
        out += [make_cloud(t, n_az=36, rings=4), CameraImage(t + 1000, image.frame_id, CAM, image.data),
                RadarScan(t + 2000, scan.frame_id, RADAR, scan.positions, scan.radial_velocity, scan.rcs)]
    return out


def corrupt(sample: Any, kind: str, severity: int, seed: int = 7, **kw: Any) -> Any:
    out = corrupt_sample(sample, kind=kind, severity=severity, seed=seed, **kw)
    assert out is not None
    return out


def assert_samples_equal(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert (a.stamp_ns, a.frame_id, a.sensor_id) == (b.stamp_ns, b.frame_id, b.sensor_id)
    for name in ("data", "positions", "radial_velocity", "rcs"):
        if hasattr(a, name):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for k in getattr(a, "fields", {}):
        np.testing.assert_array_equal(a.fields[k], b.fields[k])


def assert_subset(out: PointCloud, cloud: PointCloud) -> None:
    """``out`` is exactly a subset of ``cloud`` (order kept) with all fields."""
    idx = out.fields["idx"]
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(out.positions, cloud.positions[idx])
    assert set(out.fields) == set(cloud.fields)
    for k, v in cloud.fields.items():
        assert out.fields[k].dtype == v.dtype
        np.testing.assert_array_equal(out.fields[k], v[idx])


def strictly_ordered(values: Sequence[float], *, decreasing: bool) -> bool:
    pairs = list(pairwise(values))
    return all(a > b for a, b in pairs) if decreasing else all(a < b for a, b in pairs)


@pytest.fixture(scope="module")
def rig() -> Rig:
    return default_rig()


@pytest.fixture(scope="module")
def cloud() -> PointCloud:
    return make_cloud()


# --- LiDAR ------------------------------------------------------------------------------------------------------
def test_beam_reduction_keeps_a_subset_of_rings(cloud: PointCloud) -> None:
    counts = []
    for severity, want in zip(SEVERITIES, (16, 8, 4)):
        out = corrupt(cloud, "beam_reduction", severity)
        kept = np.unique(out.fields["ring"])
        assert len(kept) == want
        assert np.all(np.diff(kept) == 32 // want)  # evenly spaced beams
        assert_subset(out, cloud)
        assert len(out) == want * 360  # every point of a kept ring stays
        counts.append(len(kept))
    assert strictly_ordered(counts, decreasing=True)


@pytest.mark.parametrize(("severity", "fraction"), [(1, 0.25), (2, 0.5), (3, 0.75)])
def test_point_drop_fraction_and_subset(cloud: PointCloud, severity: int, fraction: float) -> None:
    out = corrupt(cloud, "point_drop", severity)
    assert len(out) == round(len(cloud) * (1 - fraction))
    assert_subset(out, cloud)


def test_limited_fov_extent(cloud: PointCloud) -> None:
    extents = []
    for severity, fov in zip(SEVERITIES, (240.0, 180.0, 90.0)):
        out = corrupt(cloud, "limited_fov", severity)
        az = np.degrees(np.arctan2(out.positions[:, 1], out.positions[:, 0]))
        assert np.abs(az).max() <= fov / 2
        assert np.abs(az).max() >= fov / 2 - 1.0  # the whole FOV is kept, not less
        assert_subset(out, cloud)
        az_all = np.degrees(np.arctan2(cloud.positions[:, 1], cloud.positions[:, 0]))
        assert len(out) == int(np.count_nonzero(np.abs(az_all) <= fov / 2))
        extents.append(float(az.max() - az.min()))
    assert strictly_ordered(extents, decreasing=True)


def test_fog_loses_far_points_and_adds_near_returns(cloud: PointCloud) -> None:
    r_in = np.linalg.norm(cloud.positions, axis=1)
    far = r_in > 60.0
    far_kept, original_kept = [], []
    for severity in SEVERITIES:
        out = corrupt(cloud, "fog", severity)
        visibility = FOG_VISIBILITY_M[severity - 1]
        n_spurious = round(FOG_SPURIOUS_FRACTION[severity - 1] * len(cloud))
        orig, spurious = out.fields["idx"][:-n_spurious], slice(len(out) - n_spurious, None)
        # spurious returns are near the sensor with low intensity
        r_sp = np.linalg.norm(out.positions[spurious], axis=1)
        assert np.all(r_sp <= min(10.0, visibility / 5) + 1e-3) and np.all(r_sp >= 0.5 - 1e-3)
        # kept returns are unmoved, attenuated and mostly inside the visibility
        np.testing.assert_array_equal(out.positions[:-n_spurious], cloud.positions[orig])
        assert np.all(out.fields["intensity"][:-n_spurious] < cloud.fields["intensity"][orig])
        assert np.count_nonzero(r_in[orig] > 1.5 * visibility) <= 0.01 * len(orig)
        far_kept.append(np.count_nonzero(far[orig]) / np.count_nonzero(far))
        original_kept.append(len(orig) / len(cloud))
    assert far_kept[0] > 0.3 and far_kept[2] < 0.01
    assert far_kept[0] > far_kept[1] >= far_kept[2]
    assert strictly_ordered(original_kept, decreasing=True)


def test_beam_reduction_needs_ring_field() -> None:
    c = PointCloud(T0, "lidar_top", LIDAR, np.ones((3, 3)), {"intensity": np.ones(3, np.float32)})
    with pytest.raises(SimulationError) as err:
        corrupt_sample(c, kind="beam_reduction", severity=1, seed=0)
    assert err.value.field == "fields.ring"


# --- camera -----------------------------------------------------------------------------------------------------
def test_blackout_zeroes_the_image() -> None:
    image = make_image()
    for severity in SEVERITIES:
        out = corrupt(image, "blackout", severity)
        assert out.data.shape == image.data.shape and out.data.dtype == np.uint8 and out.encoding == "rgb8"
        assert not out.data.any()


def test_overexposure_brightens_and_saturates() -> None:
    image = make_image()
    means, saturated = [], []
    for severity in SEVERITIES:
        out = corrupt(image, "overexposure", severity)
        assert np.all(out.data >= image.data)
        means.append(float(out.data.mean()))
        saturated.append(float(np.mean(out.data == 255)))
    assert means[0] > float(image.data.mean())
    assert strictly_ordered(means, decreasing=False)
    assert strictly_ordered(saturated, decreasing=False)


def laplacian_var(image: CameraImage) -> float:
    gray = cv2.cvtColor(np.ascontiguousarray(image.data), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_motion_blur_lowers_laplacian_variance() -> None:
    image = make_image()
    values = [laplacian_var(image)] + [laplacian_var(corrupt(image, "motion_blur", s)) for s in SEVERITIES]
    assert strictly_ordered(values, decreasing=True)
    out = corrupt(image, "motion_blur", 2)
    assert out.data.shape == image.data.shape and out.data.dtype == np.uint8
    assert abs(float(out.data.mean()) - float(image.data.mean())) < 3.0  # a normalised kernel


def test_motion_blur_on_mono_image() -> None:
    mono = CameraImage(T0, "cam", CAM, make_image().data[:, :, 0], "mono8")
    out = corrupt(mono, "motion_blur", 3)
    assert out.data.shape == mono.data.shape


@pytest.mark.parametrize("severity", SEVERITIES)
def test_noise_std(severity: int) -> None:
    image = make_image(kind="gray", shape=(200, 200))
    out = corrupt(image, "noise", severity)
    diff = out.data.astype(np.float64) - image.data
    sigma = NOISE_SIGMA_8BIT[severity - 1]
    assert diff.std() == pytest.approx(sigma, rel=0.05)
    assert abs(diff.mean()) < 0.5


def test_noise_scales_to_16_bit() -> None:
    image = CameraImage(T0, "cam", CAM, np.full((100, 100), 30000, np.uint16), "mono16")
    diff = corrupt(image, "noise", 1).data.astype(np.float64) - 30000
    assert diff.std() == pytest.approx(NOISE_SIGMA_8BIT[0] * 65535 / 255, rel=0.05)


def test_camera_corruption_rejects_float_images() -> None:
    depth = CameraImage(T0, "cam", CAM, np.ones((4, 4), np.float32), "32FC1")
    with pytest.raises(SimulationError) as err:
        corrupt_sample(depth, kind="noise", severity=1, seed=0)
    assert err.value.field == "encoding"


# --- radar ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("severity", SEVERITIES)
def test_radar_clutter_adds_low_rcs_detections(severity: int) -> None:
    scan = make_scan()
    out = corrupt(scan, "radar_clutter", severity)
    n = CLUTTER_COUNT[severity - 1]
    assert len(out) == len(scan) + n
    assert_samples_equal(RadarScan(out.stamp_ns, out.frame_id, out.sensor_id, out.positions[:len(scan)],
                                   out.radial_velocity[:len(scan)], out.rcs[:len(scan)],
                                   {"snr": out.fields["snr"][:len(scan)]}), scan)
    new = slice(len(scan), None)
    assert np.all((out.rcs[new] >= -20) & (out.rcs[new] <= -5))
    assert np.all(np.abs(out.radial_velocity[new]) <= 20)
    assert np.all(out.fields["snr"][new] == 0)
    az = np.arctan2(out.positions[new, 1], out.positions[new, 0])
    az0 = np.arctan2(scan.positions[:, 1], scan.positions[:, 0])
    assert az.min() >= az0.min() - 1e-5 and az.max() <= az0.max() + 1e-5


def test_radar_ghosts_are_mirrored_at_longer_range() -> None:
    scan = make_scan(n=200)
    counts = []
    for severity in SEVERITIES:
        out = corrupt(scan, "radar_ghosts", severity)
        np.testing.assert_array_equal(out.positions[:len(scan)], scan.positions)
        ghosts = out.positions[len(scan):]
        counts.append(len(ghosts))
        assert len(ghosts) > 0
        # each ghost shares x and z with one source and is farther away
        for g, rcs in zip(ghosts, out.rcs[len(scan):]):
            src = np.flatnonzero((scan.positions[:, 0] == g[0]) & (scan.positions[:, 2] == g[2]))
            assert len(src) == 1
            assert np.linalg.norm(g) > np.linalg.norm(scan.positions[src[0]])
            assert rcs == pytest.approx(scan.rcs[src[0]] - 6.0)
        # all mirrored across one lateral plane
        mid = (ghosts[:, 1] + np.array([scan.positions[(scan.positions[:, 0] == g[0]), 1][0] for g in ghosts])) / 2
        assert np.ptp(mid) < 1e-4 and 3.0 <= abs(mid[0]) <= 8.0
    assert strictly_ordered([float(c) for c in counts], decreasing=False)
    eligible_max = len(scan)
    assert counts[2] <= round(GHOST_FRACTION[2] * eligible_max)


# --- spatial misalignment ---------------------------------------------------------------------------------------
def test_corrupt_rig_perturbs_one_extrinsic(rig: Rig) -> None:
    angles, shifts = [], []
    for severity in SEVERITIES:
        out = corrupt_rig(rig, kind="spatial_misalignment", severity=severity, seed=3, sensor_id=CAM)
        error = rig.sensor2base(CAM).inverse() @ out.sensor2base(CAM)
        angles.append(np.degrees(error.rotation_angle()))
        shifts.append(float(np.linalg.norm(error.translation)))
        assert angles[-1] == pytest.approx(MISALIGN_ROTATION_DEG[severity - 1], abs=1e-6)
        assert shifts[-1] == pytest.approx(MISALIGN_TRANSLATION_M[severity - 1], abs=1e-9)
        for other in rig.sensor_ids:
            if other != CAM:
                assert out.sensor2base(other).allclose(rig.sensor2base(other), atol=0)
        assert out.sensors == rig.sensors
    assert strictly_ordered(angles, decreasing=False) and strictly_ordered(shifts, decreasing=False)
    a = corrupt_rig(rig, kind="spatial_misalignment", severity=2, seed=3, sensor_id=CAM)
    b = corrupt_rig(rig, kind="spatial_misalignment", severity=2, seed=4, sensor_id=CAM)
    assert a.isclose(corrupt_rig(rig, kind="spatial_misalignment", severity=2, seed=3, sensor_id=CAM), atol=0)
    assert not a.isclose(b, atol=1e-6)


def test_spatial_misalignment_of_points_matches_the_rig(rig: Rig, cloud: PointCloud) -> None:
    """Corrupted points with the nominal rig = true points with the corrupted rig."""
    bad_rig = corrupt_rig(rig, kind="spatial_misalignment", severity=3, seed=5, sensor_id=LIDAR)
    out = corrupt(cloud, "spatial_misalignment", 3, seed=5)
    np.testing.assert_allclose(rig.sensor2base(LIDAR).apply(out.positions),
                               bad_rig.sensor2base(LIDAR).apply(cloud.positions), atol=1e-4)
    for k in cloud.fields:
        np.testing.assert_array_equal(out.fields[k], cloud.fields[k])


def test_spatial_misalignment_warps_camera_by_the_rotation(rig: Rig) -> None:
    cam = rig.sensor(CAM).camera
    assert cam is not None
    K = np.asarray(cam.K)
    u, v = round(K[0, 2]), round(K[1, 2])
    data = np.zeros((cam.height, cam.width), np.uint8)
    data[v - 2:v + 3, u - 2:u + 3] = 255
    image = CameraImage(T0, "cam_front_optical", CAM, data, "mono8")
    out = corrupt(image, "spatial_misalignment", 3, seed=9, rig=rig)
    h = K @ misalignment(CAM, severity=3, seed=9).rotation @ np.linalg.inv(K) @ np.array([u, v, 1.0])
    ys, xs = np.nonzero(out.data[:, :, 0] > 127)
    assert abs(xs.mean() - h[0] / h[2]) < 1.0 and abs(ys.mean() - h[1] / h[2]) < 1.0
    assert np.hypot(xs.mean() - u, ys.mean() - v) > 10.0  # 2 deg moves it visibly
    with pytest.raises(SimulationError) as err:
        corrupt_sample(image, kind="spatial_misalignment", severity=1, seed=0)
    assert err.value.field == "rig"


# --- temporal misalignment and dropout --------------------------------------------------------------------------
def test_temporal_misalignment_shifts_one_sensor() -> None:
    stream = make_stream(seconds=2.0)
    shifts = []
    for severity in SEVERITIES:
        out = list(corrupt_stream(stream, kind="temporal_misalignment", severity=severity, seed=1, sensors=[CAM]))
        assert len(out) == len(stream)
        deltas = {b.stamp_ns - a.stamp_ns for a, b in zip(stream, out) if a.sensor_id == CAM}
        assert len(deltas) == 1
        shift = deltas.pop()
        assert abs(shift) == TIME_SHIFT_NS[severity - 1]
        shifts.append(abs(shift))
        for a, b in zip(stream, out):
            if a.sensor_id != CAM:
                assert a is b
            else:
                np.testing.assert_array_equal(a.data, b.data)
    assert strictly_ordered([float(s) for s in shifts], decreasing=False)
    signs = {np.sign(corrupt(make_image(), "temporal_misalignment", 1, seed=s).stamp_ns - T0) for s in range(12)}
    assert signs == {-1, 1}


def test_sensor_dropout_removes_one_period() -> None:
    stream = make_stream()
    cam_stamps = np.array([s.stamp_ns for s in stream if s.sensor_id == CAM])
    lost_spans = []
    for severity in SEVERITIES:
        out = list(corrupt_stream(stream, kind="sensor_dropout", severity=severity, seed=2, sensors=[CAM]))
        kept = {s.stamp_ns for s in out if s.sensor_id == CAM}
        lost = np.array([t for t in cam_stamps if t not in kept])
        # one contiguous dead period of the severity's duration, starting within 2 s of the first sample
        assert len(lost) > 0
        assert np.all(np.diff(lost) == 100_000_000)
        span = int(lost[-1] - lost[0])
        assert DROPOUT_DURATION_NS[severity - 1] - 100_000_000 <= span <= DROPOUT_DURATION_NS[severity - 1]
        assert lost[0] - cam_stamps[0] <= 2_000_000_000 + 100_000_000
        lost_spans.append(float(span))
        others = [s for s in stream if s.sensor_id != CAM]
        assert all(a is b for a, b in zip(others, [s for s in out if s.sensor_id != CAM]))
    assert strictly_ordered(lost_spans, decreasing=False)
    assert corrupt_sample(make_image(), kind="sensor_dropout", severity=1, seed=0) is None


# --- untouched parts, determinism -------------------------------------------------------------------------------
SAMPLE_FOR: dict[str, Callable[[], Any]] = {
              "beam_reduction": make_cloud, "point_drop": make_cloud, "limited_fov": make_cloud, "fog": make_cloud,
              "sensor_dropout": make_image, "blackout": make_image, "overexposure": make_image,
              "motion_blur": make_image, "noise": make_image, "spatial_misalignment": make_cloud,
              "temporal_misalignment": make_scan, "radar_clutter": make_scan, "radar_ghosts": make_scan}
SEEDED = ("beam_reduction", "point_drop", "fog", "motion_blur", "noise", "spatial_misalignment",
          "temporal_misalignment", "radar_clutter", "radar_ghosts")


def test_every_kind_has_a_test_sample() -> None:
    assert set(SAMPLE_FOR) == set(CORRUPTIONS)


@pytest.mark.parametrize("kind", sorted(SAMPLE_FOR))
def test_other_sensors_are_untouched(kind: str) -> None:
    stream = make_stream(seconds=1.0)
    target = SAMPLE_FOR[kind]().sensor_id
    out = list(corrupt_stream(stream, kind=kind, severity=3, seed=0, sensors=[target]))
    others_in = [s for s in stream if s.sensor_id != target]
    others_out = [s for s in out if s.sensor_id != target]
    assert len(others_in) == len(others_out) and all(a is b for a, b in zip(others_in, others_out))
    sample = stream[0] if target == LIDAR else stream[1] if target == CAM else stream[2]
    other = "SOMEONE_ELSE"
    assert corrupt_sample(sample, kind=kind, severity=3, seed=0, sensor_id=other) is sample


@pytest.mark.parametrize("kind", SEEDED)
def test_deterministic_from_seed(kind: str) -> None:
    sample = SAMPLE_FOR[kind]()
    a, b = corrupt(sample, kind, 2, seed=11), corrupt(sample, kind, 2, seed=11)
    assert_samples_equal(a, b)
    c = corrupt(sample, kind, 2, seed=12)
    differs = [a.stamp_ns != c.stamp_ns]
    for name in ("data", "positions", "rcs"):
        if hasattr(a, name):
            va, vc = getattr(a, name), getattr(c, name)
            differs.append(va.shape != vc.shape or not np.array_equal(va, vc))
    if kind == "temporal_misalignment":  # only the sign is seeded: some seed flips it
        differs.append(any(corrupt(sample, kind, 2, seed=s).stamp_ns != a.stamp_ns for s in range(10)))
    if kind == "beam_reduction":  # only the phase (1 of 4 at severity 2) is seeded: some seed changes it
        differs.append(any(len(corrupt(sample, kind, 2, seed=s).fields["ring"]) == len(a.fields["ring"])
                           and not np.array_equal(corrupt(sample, kind, 2, seed=s).fields["ring"], a.fields["ring"])
                           for s in range(10)))
    assert any(differs)


@pytest.mark.parametrize("kind", ["point_drop", "noise", "radar_clutter", "fog"])
def test_stream_equals_samples_one_by_one(kind: str) -> None:
    stream = make_stream(seconds=0.3)
    out = list(corrupt_stream(stream, kind=kind, severity=1, seed=4))
    expected = [corrupt_sample(s, kind=kind, severity=1, seed=4) if isinstance(s, CORRUPTIONS[kind].applies_to)
                else s for s in stream]
    assert len(out) == len(expected)
    for a, b in zip(out, expected):
        assert_samples_equal(a, b)
    # different frames get different noise
    clouds = [s for s in out if isinstance(s, PointCloud)]
    if kind == "point_drop":
        assert not np.array_equal(clouds[0].fields["idx"], clouds[1].fields["idx"])


def test_inputs_are_not_modified(cloud: PointCloud) -> None:
    before = cloud.positions.copy()
    for kind in ("point_drop", "fog", "spatial_misalignment"):
        corrupt(cloud, kind, 3)
    np.testing.assert_array_equal(cloud.positions, before)


# --- errors -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("options", "field"), [
    ({"kind": "snow"}, "kind"), ({"kind": 3}, "kind"), ({"severity": 0}, "severity"), ({"severity": 4}, "severity"),
    ({"severity": True}, "severity"), ({"severity": "2"}, "severity"), ({"severity": 1.0}, "severity"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"kind": "noise"}, "sample"),
])
def test_bad_options_name_the_field(cloud: PointCloud, options: dict[str, Any], field: str) -> None:
    kw: dict[str, Any] = {"kind": "point_drop", "severity": 1, "seed": 0, **options}
    with pytest.raises(SimulationError) as err:
        corrupt_sample(cloud, **kw)
    assert err.value.field == field
    if field in ("kind", "severity", "seed"):
        with pytest.raises(SimulationError) as err:
            corrupt_stream([cloud], **kw)
        assert err.value.field == field


def test_stream_option_errors(rig: Rig) -> None:
    for kind in ("sensor_dropout", "temporal_misalignment", "spatial_misalignment"):
        with pytest.raises(SimulationError) as err:
            corrupt_stream([], kind=kind, severity=1, seed=0)
        assert err.value.field == "sensors"
    with pytest.raises(SimulationError) as err:
        corrupt_stream([], kind="noise", severity=1, seed=0, sensors=["CAM_NOPE"], rig=rig)
    assert err.value.field == "sensors" and "CAM_NOPE" in str(err.value)
    with pytest.raises(SimulationError) as err:
        corrupt_stream([], kind="noise", severity=1, seed=0, sensors=CAM)
    assert err.value.field == "sensors"


def test_corrupt_rig_errors(rig: Rig) -> None:
    with pytest.raises(SimulationError) as err:
        corrupt_rig(rig, kind="noise", severity=1, seed=0, sensor_id=CAM)
    assert err.value.field == "kind"
    with pytest.raises(SimulationError) as err:
        corrupt_rig(rig, kind="bogus", severity=1, seed=0, sensor_id=CAM)
    assert err.value.field == "kind"
    with pytest.raises(SimulationError) as err:
        corrupt_rig(rig, kind="spatial_misalignment", severity=5, seed=0, sensor_id=CAM)
    assert err.value.field == "severity"
    with pytest.raises(SimulationError) as err:
        corrupt_rig(rig, kind="spatial_misalignment", severity=1, seed=0, sensor_id="NOPE")
    assert err.value.field == "sensor_id"


def test_misalignment_is_exact(rig: Rig) -> None:
    for severity in SEVERITIES:
        d = misalignment("X", severity=severity, seed=0)
        assert isinstance(d, SE3)
        assert np.degrees(d.rotation_angle()) == pytest.approx(MISALIGN_ROTATION_DEG[severity - 1])


# --- recordings -------------------------------------------------------------------------------------------------
def test_apply_to_recording(tmp_path: Path) -> None:
    from fusion_stack.io.recording import open_recording
    from fusion_stack.io.recording_writer import write_recording

    stream = make_stream(seconds=0.5)
    src, dst = tmp_path / "in", tmp_path / "out"
    write_recording(src, stream)
    n = apply_to_recording(src, dst, kind="point_drop", severity=2, seed=0, sensor_id=LIDAR)
    with open_recording(dst) as rec:
        out: list[Any] = list(rec)
    assert n == len(out) == len(stream)
    by_sensor = {s: [x for x in out if x.sensor_id == s] for s in (LIDAR, CAM, RADAR)}
    assert all(len(x) == len(make_cloud(n_az=36, rings=4)) // 2 for x in by_sensor[LIDAR])
    for a, b in zip([x for x in stream if x.sensor_id == CAM], by_sensor[CAM]):
        np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(SimulationError) as err:
        apply_to_recording(src, tmp_path / "x", kind="sensor_dropout", severity=1, seed=0)
    assert err.value.field == "sensor_id"


@pytest.mark.parametrize("kind", sorted(set(SAMPLE_FOR) - {"sensor_dropout", "beam_reduction"}))
def test_empty_samples(kind: str, rig: Rig) -> None:
    empty: Any = {PointCloud: PointCloud(T0, "lidar_top", LIDAR, np.zeros((0, 3)), {"ring": np.zeros(0, np.uint16)}),
                  RadarScan: RadarScan(T0, "radar_front", RADAR, np.zeros((0, 3)), np.zeros(0), np.zeros(0)),
                  CameraImage: make_image()}[type(SAMPLE_FOR[kind]())]
    out = corrupt(empty, kind, 3, rig=rig)
    assert type(out) is type(empty)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 400), severity=st.sampled_from(SEVERITIES), seed=st.integers(0, 2**32))
def test_point_drop_property(n: int, severity: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = PointCloud(T0, "lidar_top", LIDAR, rng.normal(size=(n, 3)) * 20,
                   {"idx": np.arange(n, dtype=np.int64), "intensity": rng.random(n).astype(np.float32)})
    out = corrupt(c, "point_drop", severity, seed=seed)
    assert len(out) == round(n * (1 - (0.25, 0.5, 0.75)[severity - 1]))
    assert_subset(out, c)


def test_rgba_alpha_is_kept() -> None:
    data = np.dstack([make_image().data, np.full((96, 128), 77, np.uint8)])
    image = CameraImage(T0, "cam", CAM, data, "rgba8")
    for kind in ("noise", "overexposure"):
        out = corrupt(image, kind, 3)
        assert np.all(out.data[..., 3] == 77)
        assert not np.array_equal(out.data[..., :3], data[..., :3])
