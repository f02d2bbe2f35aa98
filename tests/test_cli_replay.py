"""fusion-stack replay and fusion-stack demo through the CLI: outputs, tables, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusion_stack.cli import EXIT_INVALID, EXIT_OK, main

RIG = str(Path(__file__).resolve().parents[1] / "calib" / "sim_default.yaml")


def test_demo_runs_all_presets_and_writes_its_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--duration", "2", "--seed", "5", "--picture-every", "1"]) == EXIT_OK
    text = capsys.readouterr().out
    for name in ("lidar_only", "camera_only", "radar_only", "data_level", "decision_level"):
        assert name in text
    assert "mAP" in text and "x real time" in text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pipelines"]) == {"lidar_only", "camera_only", "radar_only", "data_level", "decision_level"}
    for p in summary["pipelines"].values():
        assert p["frames"] > 0 and p["metrics"] is not None and 0 <= p["metrics"]["mean_ap"] <= 1
    assert (out / "report.txt").read_text().startswith("detection metrics")
    pngs = sorted((out / "pictures").rglob("*.png"))
    assert any(p.name.startswith("compare_") for p in pngs) and len(pngs) >= 5
    assert (out / "annotated.mcap").is_dir() and (out / "drive.mcap").is_dir()
    # a second run reuses the drive
    assert main(["demo", "--out", str(out), "--duration", "2", "--seed", "5", "--pipelines", "radar_only"]) == 0
    assert "reusing" in capsys.readouterr().out


def test_replay_errors_are_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "drive.mcap"
    assert main(["simulate", "--seed", "2", "--duration", "0.3", "--out", str(bag)]) == EXIT_OK
    capsys.readouterr()
    assert main(["replay", str(bag), "--config", "lidar_only", "--out", str(tmp_path / "a.mcap")]) == EXIT_INVALID
    assert "rig" in capsys.readouterr().err
    assert main(["replay", str(bag), "--rig", RIG, "--config", "no_such_preset", "--out",
                 str(tmp_path / "b.mcap")]) == EXIT_INVALID
    assert "no_such_preset" in capsys.readouterr().err
    assert main(["replay", str(bag), "--rig", RIG, "--config", "lidar_only", "--out",
                 str(bag)]) == EXIT_INVALID
    assert "exists" in capsys.readouterr().err
    metrics = tmp_path / "m.json"
    assert main(["replay", str(bag), "--rig", RIG, "--config", "lidar_only", "radar_only",
                 "--out", str(tmp_path / "ok.mcap"), "--metrics", str(metrics)]) == EXIT_OK
    assert set(json.loads(metrics.read_text())["pipelines"]) == {"lidar_only", "radar_only"}
