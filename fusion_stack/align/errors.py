"""The align package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class AlignmentError(FusionStackError, ValueError):
    """Invalid input to an aligner (shapes, dtypes, parameters); the message shows what came in."""
