"""The fuse package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class FusionError(FusionStackError, ValueError):
    """Invalid input to a fuser (modalities, shapes, masks); the message shows what came in."""
