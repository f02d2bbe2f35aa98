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
    capsys.readouterr()

    # fusion-stack corrupt on the simulated drive: half of every LiDAR sweep dropped, cameras untouched
    dropped = tmp_path / "dropped.mcap"
    assert main(["corrupt", str(out), str(dropped), "--kind", "point_drop", "--severity", "2", "--seed", "1"]) == 0
    with open_recording(dropped) as rec:
        after = [s for s in rec if isinstance(s, PointCloud)]
    assert len(after) == len(clouds)
    assert all(abs(len(a) - len(c) / 2) <= 1 for a, c in zip(after, clouds))
    assert main(["corrupt", str(out), str(tmp_path / "x.mcap"), "--kind", "sensor_dropout", "--severity",
                 "1"]) == EXIT_INVALID
    assert "sensor_id" in capsys.readouterr().err


def test_corrupt_command_lists_every_corruption() -> None:
    from fusion_stack.commands.corrupt import KINDS
    from fusion_stack.sim.corruptions import CORRUPTIONS

    assert sorted(KINDS) == sorted(CORRUPTIONS)
