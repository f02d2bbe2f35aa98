"""Shared simulator fixtures: one small scene, packed once per test session."""

from __future__ import annotations

import pytest

from fusion_stack.calibration.rig import Rig
from fusion_stack.sim.raycast import World, build_world
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.scene import Scene, make_scene


@pytest.fixture(scope="session")
def scene() -> Scene:
    """A 4-second scene (seed 11) with a straight road."""
    return make_scene(seed=11, duration_s=4.0, curved=False)


@pytest.fixture(scope="session")
def world(scene: Scene) -> World:
    return build_world(scene)


@pytest.fixture(scope="session")
def rig() -> Rig:
    return default_rig()
