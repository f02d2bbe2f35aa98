"""fusion-stack simulate: a short drive written through the CLI and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion_stack.cli import EXIT_INVALID, EXIT_OK, main


def test_simulate_writes_a_replayable_bag_and_a_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drive.mcap"
    assert main(["simulate", "--seed", "4", "--duration", "0.3", "--out", str(out), "--preview"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "LIDAR_TOP: 6" in text and "preview:" in text
    png = Path(str(out) + ".preview.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    from fusion_stack.io.recording import open_recording
    from fusion_stack.types import Boxes3D, PointCloud

    with open_recording(out) as rec:
        samples = list(rec)
    clouds = [s for s in samples if isinstance(s, PointCloud)]
    boxes = [s for s in samples if isinstance(s, Boxes3D)]
    assert len(clouds) == 6 and len(boxes) == 6 and all(len(c) > 10_000 for c in clouds)
    assert main(["simulate", "--seed", "4", "--duration", "0.3", "--out", str(out)]) == EXIT_INVALID
