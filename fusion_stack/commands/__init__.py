"""Sub-commands of the ``fusion-stack`` CLI: each module adds its parser and runs it (no algorithms here)."""
