"""The io package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class RecordingError(FusionStackError, ValueError):
    """An unreadable or malformed recording or dataset file; the message names the file and the field."""
