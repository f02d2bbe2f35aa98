"""Shared fixtures. Real recordings are found through one fixture, ``shared_data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("FUSION_STACK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings (``$FUSION_STACK_SHARED_DATA``, default ``../shared/data``); tests that
    use it are skipped with a clear reason when it is absent."""
    path = _shared_data_dir()
    if not (path / "README.md").exists():
        pytest.skip(f"real data folder {path} is absent (set FUSION_STACK_SHARED_DATA to run these tests)")
    return path
