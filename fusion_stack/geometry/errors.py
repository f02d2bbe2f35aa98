"""The geometry package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class GeometryError(FusionStackError, ValueError):
    """Invalid geometric input (shapes, non-rotations, unknown or disconnected frames)."""
