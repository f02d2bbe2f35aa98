"""The kernels package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class KernelError(FusionStackError, ValueError):
    """Invalid input to a kernel (shapes, dtypes, parameters) or an unavailable device.

    ``field`` names the argument that was wrong; the message shows what came in.
    """
