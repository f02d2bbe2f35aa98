"""The one exception type of the simulator."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class SimulationError(FusionStackError, ValueError):
    """A simulation was asked for with invalid options (duration, seed, rig) or could not be produced."""
