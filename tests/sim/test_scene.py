"""Scenes: seeded and deterministic, object meshes inside their boxes, plausible agents, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion_stack.calibration import load_rig
from fusion_stack.sim.classes import BOX_CLASSES
from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.meshes import object_mesh, sample_size
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.scene import Scene, make_scene


def test_same_seed_same_scene_other_seed_other_scene() -> None:
    a = make_scene(seed=4, duration_s=2.0)
    b = make_scene(seed=4, duration_s=2.0)
    c = make_scene(seed=5, duration_s=2.0)
    np.testing.assert_array_equal(a.static.vertices, b.static.vertices)
    np.testing.assert_array_equal(a.ego.states, b.ego.states)
    assert [x.class_name for x in a.agents] == [x.class_name for x in b.agents]
    for x, y in zip(a.agents, b.agents):
        np.testing.assert_array_equal(x.track.states, y.track.states)
        np.testing.assert_array_equal(x.mesh.vertices, y.mesh.vertices)
    assert a.static.vertices.shape != c.static.vertices.shape or not np.array_equal(a.static.vertices,
                                                                                  c.static.vertices)


@pytest.mark.parametrize("cls", BOX_CLASSES)
def test_object_meshes_fill_their_boxes(cls: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        size = sample_size(cls, rng)
        mesh = object_mesh(cls, size, rng)
        lo, hi = mesh.bounds()
        assert np.all(lo >= -size / 2 - 1e-9) and np.all(hi <= size / 2 + 1e-9)
        assert np.all(hi - lo > 0.4 * size)  # it fills the box (walkers swing within theirs), not a speck
        assert len(mesh) > 12  # assembled from parts, not a plain box


def test_agents_move_plausibly(scene: Scene) -> None:
    dyn = [a for a in scene.agents if not a.static]
    assert {a.class_name for a in dyn} >= {"car", "pedestrian"}
    t = np.linspace(0.0, scene.duration_s, 81)
    for a in dyn:
        v = a.track.velocity_at(t)
        speed = np.hypot(v[:, 0], v[:, 1])
        limit = 2.5 if a.class_name == "pedestrian" else 20.0
        assert speed.max() < limit, a.class_name
        if a.class_name in ("car", "truck", "bus", "motorcycle"):  # drive forwards along their heading
            heading = np.stack([np.cos(a.track.state_at(t)[:, 3]), np.sin(a.track.state_at(t)[:, 3])], 1)
            assert np.all(np.einsum("ij,ij->i", v[:, :2], heading) > -0.05)
    # the ego follows its lane, on the ground
    _rot, trans = scene.ego.poses_at(t)
    ground = scene.road.ground.height(trans[:, 0], trans[:, 1])
    np.testing.assert_allclose(trans[:, 2], ground, atol=1e-6)
    assert np.all(np.diff(np.linalg.norm(trans - trans[0], axis=1)) >= -1e-9)


def test_invalid_options_raise() -> None:
    with pytest.raises(SimulationError, match="seed"):
        make_scene(seed=-1, duration_s=1.0)
    with pytest.raises(SimulationError, match="duration_s"):
        make_scene(seed=1, duration_s=0.0)
    with pytest.raises(SimulationError, match="object class"):
        sample_size("tram", np.random.default_rng(0))


def test_shipped_rig_file_is_the_default_rig() -> None:
    rig = load_rig(Path(__file__).resolve().parents[2] / "calib" / "sim_default.yaml")
    assert rig.isclose(default_rig(), atol=1e-9)
    assert len(rig.sensors_of_kind("camera")) == 6 and len(rig.sensors_of_kind("radar")) == 5
    assert all(s.camera is not None and s.camera.model_name == "plumb_bob" for s in rig.sensors_of_kind("camera"))
