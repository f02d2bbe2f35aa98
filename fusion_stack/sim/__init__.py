"""A small, fast, deterministic driving world: procedural road scenes with moving agents, seen by a LiDAR,
cameras and radars placed by a rig file, with ground truth, written through the stack's own formats.

Entry point: :func:`simulate` (scene from a seed -> ROS 2 mcap bag or nuScenes info folder, optional preview).
Building blocks: :func:`~fusion_stack.sim.scene.make_scene` (the world), :func:`~fusion_stack.sim.run.run_simulation`
(the time-ordered stream of samples with their ground truth), :mod:`~fusion_stack.sim.export`,
:mod:`~fusion_stack.sim.preview`, :func:`~fusion_stack.sim.rig.default_rig` (``calib/sim_default.yaml``).
"""

from fusion_stack.sim.errors import SimulationError
from fusion_stack.sim.rig import default_rig
from fusion_stack.sim.run import SimulatedSample, run_simulation
from fusion_stack.sim.scene import Scene, make_scene
from fusion_stack.sim.simulate import SimulationSummary, simulate

__all__ = ["Scene", "SimulatedSample", "SimulationError", "SimulationSummary", "default_rig", "make_scene",
           "run_simulation", "simulate"]
