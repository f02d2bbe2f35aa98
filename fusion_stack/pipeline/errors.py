"""The pipeline package's exception type."""

from __future__ import annotations

from fusion_stack.errors import FusionStackError


class PipelineError(FusionStackError, ValueError):
    """An invalid pipeline configuration or a recording the pipeline cannot run on; names the file and field."""
