"""The root of fusion_stack's exceptions.

Each package defines one exception type derived from :class:`FusionStackError`
(for example ``GeometryError``, ``CalibrationError``); the CLI maps them to exit codes.
"""

from __future__ import annotations


class FusionStackError(Exception):
    """Base class of every error fusion_stack raises on purpose.

    ``source`` names the file (or other origin) and ``field`` the field of the input that was wrong,
    where known; both are part of the message.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        self.source = source
        self.field = field
        self.reason = message
        prefix = ""
        if source:
            prefix += f"{source}: "
        if field:
            prefix += f"{field}: "
        super().__init__(prefix + message)
