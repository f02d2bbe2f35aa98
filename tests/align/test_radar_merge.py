"""Merging radar scans into one frame with ego-compensated Doppler: exact geometry on synthetic scans, the Doppler
of the simulator's static world and moving objects against ground truth, the radar velocity estimate, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fusion_stack.align.deskew import compensate_radial_velocity
from fusion_stack.align.errors import AlignmentError
from fusion_stack.align.radar_merge import RadarPoints, estimate_sensor_velocity, merge_radar_scans
from fusion_stack.calibration.rig import Rig
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3
from fusion_stack.sim.radar import KIND_CLUTTER, KIND_STRUCTURE, KIND_TARGET, RadarModel
from fusion_stack.sim.raycast import build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import run_simulation
from fusion_stack.sim.scene import make_scene
from fusion_stack.types import EgoPose, RadarScan, SampleError

S = 1_000_000_000
NOISE = RadarModel().velocity_noise_mps  # 1-sigma radial-velocity noise of the simulated radar (0.1 m/s)


def _scan(sensor_id: str, n: int, *, seed: int, stamp_ns: int = S) -> RadarScan:
    rng = np.random.default_rng(seed)
    az = rng.uniform(-1.0, 1.0, n)
    r = rng.uniform(3.0, 60.0, n)
    pos = np.column_stack([r * np.cos(az), r * np.sin(az), rng.uniform(-1, 1, n)])
    return RadarScan(stamp_ns, sensor_id.lower(), sensor_id, pos, rng.normal(0, 3, n), rng.normal(5, 5, n))


def _mounts() -> dict[str, SE3]:
    return {"R0": SE3(yaw_matrix(0.0), np.array([3.4, 0.0, 0.5])),
            "R1": SE3(yaw_matrix(1.5), np.array([2.4, 0.8, 0.5])),
            "R2": SE3(yaw_matrix(-3.0), np.array([-0.5, -0.6, 0.5]))}


# --- synthetic ---------------------------------------------------------------------------------------------------
def test_positions_origins_and_bookkeeping_equal_a_direct_transform() -> None:
    scans = [_scan("R0", 20, seed=1), _scan("R1", 0, seed=2), _scan("R2", 7, seed=3, stamp_ns=S + 14_000_000)]
    motion = SE3(yaw_matrix(0.02), np.array([0.3, -0.1, 0.0]))  # ego motion between the scans and the output stamp
    scan2out = {k: motion @ m for k, m in _mounts().items()}
    pts = merge_radar_scans(scans, scan2out=scan2out, out_frame="base_link", ego_linear_velocity=None,
                            ego_angular_velocity=None)
    assert pts.frame_id == "base_link" and pts.sensor_ids == ("R0", "R1", "R2") and len(pts) == 27
    want = np.concatenate([scan2out[s.sensor_id].apply(s.positions.astype(np.float64)) for s in scans])
    np.testing.assert_allclose(pts.positions, want, atol=1e-12)
    np.testing.assert_array_equal(pts.sensor_index, [0] * 20 + [2] * 7)
    np.testing.assert_allclose(pts.sensor_origins[:20], np.tile(scan2out["R0"].translation, (20, 1)))
    np.testing.assert_allclose(pts.sensor_origins[20:], np.tile(scan2out["R2"].translation, (7, 1)))
    np.testing.assert_array_equal(pts.stamps_ns, [S] * 20 + [S + 14_000_000] * 7)
    raw = np.concatenate([s.radial_velocity for s in scans])
    np.testing.assert_array_equal(pts.raw_radial_velocity, raw)
    np.testing.assert_array_equal(pts.radial_velocity, raw)  # no twist: nothing removed
    np.testing.assert_allclose(pts.rcs, np.concatenate([s.rcs for s in scans]))
    # line of sight in the output frame = the scan's direction rotated
    u = pts.lines_of_sight()[:20]
    p = scans[0].positions.astype(np.float64)
    np.testing.assert_allclose(u, scan2out["R0"].apply_rotation(p / np.linalg.norm(p, axis=1)[:, None]), atol=1e-9)
    assert not pts.positions.flags.writeable


def test_static_world_reads_zero_after_compensation_exactly() -> None:
    """Noise-free static targets seen by three radars on a car moving and turning: 0 m/s after the merge."""
    v, w = np.array([9.0, 0.4, 0.0]), np.array([0.0, 0.0, 0.3])
    mounts = _mounts()
    scans = []
    for i, (sid, mount) in enumerate(mounts.items()):
        s = _scan(sid, 30, seed=10 + i)
        v_radar = mount.inverse().apply_rotation(v + np.cross(w, mount.translation))
        u = s.positions / np.linalg.norm(s.positions, axis=1)[:, None]
        scans.append(RadarScan(s.stamp_ns, s.frame_id, sid, s.positions, -(u @ v_radar), s.rcs))
    pts = merge_radar_scans(scans, scan2out=mounts, out_frame="base_link", ego_linear_velocity=v,
                            ego_angular_velocity=w)
    np.testing.assert_allclose(pts.radial_velocity, 0.0, atol=1e-5)
    assert np.abs(pts.raw_radial_velocity).max() > 3.0
    # same numbers as the deskew helper it reuses; out2body / sensor2body give the same mounts
    ref = np.concatenate([compensate_radial_velocity(s, sensor2body=mounts[s.sensor_id], linear_velocity=v,
                                                     angular_velocity=w).radial_velocity for s in scans])
    np.testing.assert_allclose(pts.radial_velocity, ref, atol=1e-6)
    body2out = SE3(yaw_matrix(0.7), np.array([1.0, 2.0, 0.0]))
    other = merge_radar_scans(scans, scan2out={k: body2out @ m for k, m in mounts.items()}, out_frame="odom",
                              ego_linear_velocity=v, ego_angular_velocity=w, out2body=body2out.inverse())
    np.testing.assert_allclose(other.radial_velocity, pts.radial_velocity, atol=1e-6)
    np.testing.assert_allclose(other.positions, body2out.apply(pts.positions), atol=1e-9)
    third = merge_radar_scans(scans, scan2out={k: body2out @ m for k, m in mounts.items()}, out_frame="odom",
                              ego_linear_velocity=v, ego_angular_velocity=w, sensor2body=mounts)
    np.testing.assert_allclose(third.radial_velocity, pts.radial_velocity, atol=1e-6)


def test_empty_input_gives_empty_points() -> None:
    pts = merge_radar_scans([], scan2out={}, out_frame="base_link", ego_linear_velocity=None,
                            ego_angular_velocity=None)
    assert len(pts) == 0 and pts.positions.shape == (0, 3) and pts.sensor_ids == ()
    pts = merge_radar_scans([_scan("R0", 0, seed=0)], scan2out={"R0": SE3()}, out_frame="b",
                            ego_linear_velocity=[1.0, 0, 0], ego_angular_velocity=None)
    assert len(pts) == 0 and pts.sensor_ids == ("R0",) and pts.select(np.zeros(0, bool)).frame_id == "b"


def _call(**over: Any) -> RadarPoints:
    kw: dict[str, Any] = {"scan2out": {"R0": SE3(), "R1": SE3()}, "out_frame": "base_link",
                          "ego_linear_velocity": [1.0, 0.0, 0.0], "ego_angular_velocity": [0.0, 0.0, 0.1]}
    scans = over.pop("scans", [_scan("R0", 3, seed=0), _scan("R1", 3, seed=1)])
    kw.update(over)
    return merge_radar_scans(scans, **kw)


@pytest.mark.parametrize(("over", "field", "text"), [
    ({"scans": "R0"}, "scans", "sequence of RadarScan"),
    ({"scans": [np.zeros((3, 3))]}, "scans", "scans[0] must be a RadarScan, got ndarray of shape (3, 3)"),
    ({"scans": [_scan("R0", 3, seed=0), _scan("R0", 2, seed=1)]}, "scans", "repeats sensor 'R0'"),
    ({"scan2out": {"R0": SE3()}}, "scan2out", "scan2out['R1'] must be an SE3, got nothing"),
    ({"scan2out": {"R0": SE3(), "R1": np.eye(4)}}, "scan2out", "got ndarray of shape (4, 4)"),
    ({"scan2out": [SE3(), SE3()]}, "scan2out", "must map sensor id"),
    ({"out_frame": ""}, "out_frame", "non-empty string"),
    ({"ego_linear_velocity": [1.0, 0.0]}, "ego_linear_velocity", "(3,)"),
    ({"ego_linear_velocity": [np.nan, 0.0, 0.0]}, "ego_linear_velocity", "NaN"),
    ({"ego_angular_velocity": "fast"}, "ego_angular_velocity", "real-valued"),
    ({"ego_linear_velocity": None}, "ego_angular_velocity", "without ego_linear_velocity"),
    ({"out2body": np.eye(4)}, "out2body", "SE3 or None"),
    ({"sensor2body": {"R0": SE3()}}, "sensor2body", "sensor2body['R1']"),
])
def test_bad_input_names_the_argument(over: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(AlignmentError) as err:
        _call(**over)
    assert err.value.field == field and text in str(err.value)


def test_radar_points_checks_its_arrays() -> None:
    ok = RadarPoints.empty("base_link", ("R0",))
    z3, z1, zi = np.zeros((2, 3)), np.zeros(2), np.zeros(2, np.int64)
    with pytest.raises(SampleError) as err:
        RadarPoints("base_link", ("R0",), z3, np.zeros(3), z1, z1, z3, zi, zi)
    assert err.value.field == "radial_velocity" and "(3,)" in str(err.value)
    with pytest.raises(SampleError) as err:
        RadarPoints("base_link", ("R0",), z3, z1, z1, np.array([0.0, np.inf]), z3, zi, zi)
    assert err.value.field == "rcs"
    with pytest.raises(SampleError) as err:
        RadarPoints("base_link", ("R0",), z3, z1, z1, z1, z3, np.array([0, 1]), zi)
    assert err.value.field == "sensor_index" and "range [0, 1]" in str(err.value)
    with pytest.raises(SampleError) as err:
        RadarPoints("base_link", ("R0", "R0"), z3, z1, z1, z1, z3, zi, zi)
    assert err.value.field == "sensor_ids"
    with pytest.raises(SampleError) as err:
        RadarPoints("", ("R0",), z3, z1, z1, z1, z3, zi, zi)
    assert err.value.field == "frame_id"
    with pytest.raises(SampleError) as err:
        RadarPoints("b", ("R0",), z3, z1, z1, z1, z3, zi, z1)
    assert err.value.field == "stamps_ns" and "integer" in str(err.value)
    assert len(ok) == 0


# --- the simulator -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_cycles(radar_cycles: Any) -> list[dict[str, Any]]:
    """Radar cycles (the 5 radars' scans within 28 ms) of a 2 s simulated drive, merged into base_link at the
    ground-truth stamp nearest each cycle (poses from the simulated odometry), with truth per detection."""
    out: list[dict[str, Any]] = radar_cycles(3, 2.0)
    assert len(out) >= 20
    return out

def test_simulated_static_world_reads_zero(sim_cycles: list[dict[str, Any]]) -> None:
    """Unannotated structure and clutter (static world): compensated Doppler is the radar's noise around 0."""
    vals = np.concatenate([c["points"].radial_velocity[(c["ids"] < 0) & np.isin(c["kind"], [KIND_STRUCTURE,
                                                                                            KIND_CLUTTER])]
                           for c in sim_cycles])
    raw = np.concatenate([c["points"].raw_radial_velocity[(c["ids"] < 0) & np.isin(c["kind"], [KIND_STRUCTURE,
                                                                                                KIND_CLUTTER])]
                          for c in sim_cycles])
    assert len(vals) > 100
    assert raw.std() > 3.0  # the ego drives: raw static Doppler is far from 0
    assert abs(vals.mean()) < 0.03 and vals.std() < 1.5 * NOISE, (vals.mean(), vals.std())
    assert np.abs(vals).max() < 6 * NOISE


def test_simulated_moving_objects_read_their_velocity_along_the_line_of_sight(
        sim_cycles: list[dict[str, Any]]) -> None:
    """On annotated objects: compensated Doppler = the object's ground-truth velocity (over ground) projected on
    the line of sight, within the radar noise (the yaw-rate lever arm of turning objects adds a little)."""
    errs, speeds = [], []
    for c in sim_cycles:
        pts, gt = c["points"], c["gt"]
        u = pts.lines_of_sight()
        on = np.nonzero((c["kind"] == KIND_TARGET) & np.isin(c["ids"], gt.track_ids))[0]
        j = np.searchsorted(gt.track_ids, c["ids"][on], sorter=np.argsort(gt.track_ids))
        j = np.argsort(gt.track_ids)[j]
        v = gt.velocities[j].astype(np.float64)
        errs.append(pts.radial_velocity[on] - np.einsum("ij,ij->i", u[on], v))
        speeds.append(np.linalg.norm(v[:, :2], axis=1))
    err, speed = np.concatenate(errs), np.concatenate(speeds)
    assert np.count_nonzero(speed > 3.0) > 200
    assert abs(err.mean()) < 0.03 and err.std() < 1.5 * NOISE, (err.mean(), err.std())
    assert np.percentile(np.abs(err), 99) < 4 * NOISE and np.abs(err).max() < 6 * NOISE


def test_sensor_velocity_from_doppler_matches_the_ego() -> None:
    """Without odometry: each radar's velocity from its static-world Doppler equals the ego twist at its mount.
    Needs the static world to dominate the scan (the default simulated radar sees mostly cars driving together;
    here, as with real radars, structure returns are dense)."""
    rig = default_rig()
    radars = Rig("radars", rig.base_frame, rig.sensors_of_kind("radar"), rig.transforms)
    scene = make_scene(seed=3, duration_s=1.0)
    model = RadarModel(structure_probability=0.6, clutter_rate=20.0)
    samples = list(run_simulation(scene, radars, radar=model, world=build_world(scene), with_tf=False))
    poses = [s.sample for s in samples if isinstance(s.sample, EgoPose)]
    errs = []
    for s in samples:
        scan = s.sample
        if not isinstance(scan, RadarScan) or len(scan) < 12:
            continue
        est = estimate_sensor_velocity(scan)
        mount = rig.sensor2base(scan.sensor_id)
        ego = min(poses, key=lambda p: abs(p.stamp_ns - scan.stamp_ns))
        assert ego.linear_velocity is not None and ego.angular_velocity is not None
        v_true = mount.inverse().apply_rotation(ego.linear_velocity + np.cross(ego.angular_velocity,
                                                                               mount.translation))
        errs.append(np.linalg.norm(est.velocity[:2] - v_true[:2]))
        assert est.inliers.sum() >= 5 and est.residual_rms < 2 * NOISE
    assert len(errs) >= 30
    assert np.median(errs) < 0.1 and np.percentile(errs, 90) < 0.3, np.round(errs, 2)


def test_sensor_velocity_exact_and_errors() -> None:
    s = _scan("R0", 40, seed=4)
    v = np.array([7.0, -1.5, 0.0])
    u = s.positions / np.linalg.norm(s.positions, axis=1)[:, None]
    vr = -(u[:, :2] @ v[:2])
    vr[:6] += 5.0  # six movers
    est = estimate_sensor_velocity(RadarScan(S, "r", "R0", s.positions, vr, s.rcs))
    np.testing.assert_allclose(est.velocity, v, atol=1e-6)
    assert not est.inliers[:6].any() and est.inliers[6:].all()
    with pytest.raises(AlignmentError) as err:
        estimate_sensor_velocity(_scan("R0", 3, seed=0))
    assert err.value.field == "scan" and "3 detections" in str(err.value)
    with pytest.raises(AlignmentError) as err:
        estimate_sensor_velocity(s, inlier_mps=-1.0)
    assert err.value.field == "inlier_mps"
