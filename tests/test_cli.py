"""The fusion-stack command: sub-commands, exit codes and outputs (run in-process and once as a console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fusion_stack.calibration.rig_file import load_rig
from fusion_stack.cli import EXIT_INVALID, EXIT_OK, main

REPO = Path(__file__).resolve().parents[1]
NUSC_RIG = REPO / "calib" / "nuscenes_keyframe.yaml"


def test_validate_all_shipped_rigs(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (REPO / "calib").glob("*.yaml"))
    assert main(["calib", "validate", *files]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.count("OK ") == len(files)
    assert "6 camera, 1 lidar" in out


def test_validate_reports_each_bad_file_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(NUSC_RIG.read_text().replace("fx: 1266.", "fx: -1266."))
    assert main(["calib", "validate", str(NUSC_RIG), str(bad)]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert f"OK      {NUSC_RIG}" in captured.out
    assert f"INVALID {bad}: {bad}: sensors[1].camera.fx:" in captured.err
    assert main(["calib", "validate", str(NUSC_RIG), "--require", "LIDAR_TOP", "RADAR_FRONT"]) == EXIT_INVALID
    assert "missing sensors ['RADAR_FRONT']" in capsys.readouterr().err


def test_convert_and_show_with_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "tables"
    assert main(["calib", "convert", str(NUSC_RIG), str(out_dir), "--to", "nuscenes"]) == EXIT_OK
    back = tmp_path / "back.yaml"
    assert main(["calib", "convert", str(out_dir), str(back), "--to", "rig", "--name", "nuscenes_keyframe"]) == 0
    assert load_rig(back).isclose(load_rig(NUSC_RIG), atol=1e-12)
    png = tmp_path / "rig.png"
    assert main(["calib", "show", str(NUSC_RIG), "--plot", str(png)]) == EXIT_OK
    text = capsys.readouterr().out
    assert "base_link" in text and "└─ cam_front_optical" in text and "CAM_BACK" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_errors_become_exit_codes_not_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calib", "show", str(tmp_path / "nope.yaml")]) == EXIT_INVALID
    assert "no such file" in capsys.readouterr().err
    assert main(["calib", "convert", str(NUSC_RIG), str(tmp_path / "x"), "--to", "kitti-info"]) == EXIT_INVALID
    assert "cannot be written" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["calib", "convert", str(NUSC_RIG)])
    assert exc.value.code == 2


def test_console_script_help_lists_formats() -> None:
    exe = shutil.which("fusion-stack", path=str(Path(sys.executable).parent))
    assert exe is not None, "the fusion-stack console script is not installed"
    res = subprocess.run([exe, "calib", "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0
    for fmt in ("rig", "kitti", "nuscenes", "opencalib", "ros"):
        assert f"  {fmt} " in res.stdout


def test_convert_dataset_then_bag_info(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nuscenes.mcap"
    assert main(["convert", str(shared_data / "nuscenes_keyframe" / "info.json"), str(out)]) == EXIT_OK
    assert "17 messages from 1 nuscenes frames" in capsys.readouterr().out
    assert main(["convert", str(shared_data / "nuscenes_keyframe" / "info.json"), str(out)]) == EXIT_INVALID
    assert "exists already" in capsys.readouterr().err
    assert main(["bag", "info", str(out)]) == EXIT_OK
    text = capsys.readouterr().out
    assert "/LIDAR_TOP/points" in text and "sensor_msgs/msg/PointCloud2" in text
    assert "vision_msgs/msg/Detection3DArray" in text
    assert "└─ cam_front_optical" in text  # the rig came back from /tf_static
    from fusion_stack.io.recording import open_recording

    with open_recording(out) as rec:
        clouds = [s for s in rec if type(s).__name__ == "PointCloud"]
    assert len(clouds) == 1 and len(clouds[0]) == 34688


def test_bag_info_on_real_bags_guesses_sensors(shared_data: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bag", "info", str(shared_data / "rosbag1_ouster" / "512x10_raw.bag")]) == EXIT_OK
    text = capsys.readouterr().out
    assert "ROS 1, 43 messages" in text
    assert "/os_node0/lidar_packets" in text and "*os_node0_lidar [lidar]" in text
    bag = next(p for p in (shared_data / "rosbag2_velodyne" / "vlp16").iterdir() if p.is_dir())
    assert main(["bag", "info", str(bag)]) == EXIT_OK
    assert "velodyne_msgs/msg/VelodyneScan" in capsys.readouterr().out


def test_drivers_record_from_recorded_packets(shared_data: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    velodyne = next(p for p in (shared_data / "rosbag2_velodyne" / "vlp16").iterdir() if p.is_dir())
    radar = next(p for p in (shared_data / "rosbag2_radar" / "ars548").iterdir() if p.is_dir())
    out = tmp_path / "drive.mcap"
    assert main(["drivers", "record", str(out), "--velodyne", f"LIDAR={velodyne}", "--ars548",
                 f"RADAR={radar}", "--duration", "60"]) == EXIT_OK
    assert "stopped by drivers_ended" in capsys.readouterr().out
    from fusion_stack.io.recording import open_recording
    from fusion_stack.types import PointCloud, RadarScan

    with open_recording(out) as rec:
        samples = list(rec)
    clouds = [s for s in samples if isinstance(s, PointCloud) and s.sensor_id == "LIDAR"]
    scans = [s for s in samples if isinstance(s, RadarScan) and s.sensor_id == "RADAR"]
    assert clouds and max(len(c) for c in clouds) > 10_000 and "ring" in clouds[0].fields
    assert len(scans) == 1 and len(scans[0]) == 308  # the ARS548 detection list of the recording
    assert main(["drivers", "record", str(tmp_path / "x.mcap"), "--velodyne", "LIDAR"]) == EXIT_INVALID
    assert "expected SENSOR_ID=SOURCE" in capsys.readouterr().err
