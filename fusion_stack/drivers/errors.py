"""The drivers package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class DriverError(FusionStackError, ValueError):
    """A driver was misconfigured, a source could not be opened or read, or a packet was rejected where the
    caller asked for errors instead of counted drops. The message names the source and the field."""
