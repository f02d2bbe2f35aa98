"""The calibration package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class CalibrationError(FusionStackError, ValueError):
    """Invalid or unreadable calibration: the message names the file (``source``) and ``field``."""
