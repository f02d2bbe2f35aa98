"""The ROS 2 nodes as real rclpy processes on loopback: the fusion node equals the offline pipeline, survives a
dying sensor and bad messages, and the launch command starts and stops the graph cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusion_stack.io.recording import open_recording
from fusion_stack.launcher.launch_file import NodeSpec, source_root
from fusion_stack.launcher.process_group import ProcessGroup
from fusion_stack.pipeline.config import load_config
from fusion_stack.pipeline.health import OK, STALE
from fusion_stack.pipeline.pipeline import FusionPipeline
from fusion_stack.pipeline.runner import CollectSink, open_source, run_pipelines
from fusion_stack.sim.rig import default_rig
from fusion_stack.types import Boxes3D

RIG = str(source_root() / "calib" / "sim_default.yaml")
PKG = "fusion_stack_nodes"
DETECTIONS = "vision_msgs/msg/Detection3DArray"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"


def _node(exe: str, name: str, params: dict[str, str], *, shutdown: bool = False) -> NodeSpec:
    return NodeSpec(PKG, exe, name, params=tuple(params.items()), shutdown_on_exit=shutdown)


def _cpu_ticks(pid: int) -> int:
    try:
        return sum(int(x) for x in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
    except (OSError, ValueError):
        return -1


def _wait_idle(pid: int, *, quiet_s: float = 1.5, max_s: float = 30.0) -> None:
    """Wait until process ``pid`` used no CPU for ``quiet_s`` (it finished what was queued), at most ``max_s``."""
    deadline = time.monotonic() + max_s
    last, since = _cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = _cpu_ticks(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return


def _run(nodes: list[NodeSpec], env: dict[str, str], *, timeout_s: float, linger_s: float = 1.0) -> list[str]:
    lines: list[str] = []
    group = ProcessGroup(nodes, env=env, on_output=lambda n, line: lines.append(f"[{n}] {line}"))
    group.start()
    try:
        why = group.wait(timeout_s=timeout_s)
        assert why == "shutdown", (why, lines[-30:])
        ended = [n.name for n in nodes if n.shutdown_on_exit]
        assert all(group.exit_codes.get(n) == 0 for n in ended), (group.exit_codes, lines[-30:])
        if "fusion" in group.pids:  # the fusion node works off what is queued (a loaded machine lags)
            _wait_idle(group.pids["fusion"])
        time.sleep(linger_s)  # the recorder writes what is in flight
    finally:
        group.stop()
    return lines


def _offline(drive: Path, preset: str) -> dict[int, Boxes3D]:
    rig = default_rig()
    source = open_source(drive, rig=rig)
    keep = CollectSink()
    try:
        run_pipelines(source, [FusionPipeline.from_config(load_config(preset), rig)], sinks=[keep])
    finally:
        source.close()
    return {r.stamp_ns: r.detections for r in keep.results[load_config(preset).name]}


def _recorded(path: Path, topic: str) -> list[tuple[int, Any]]:
    with open_recording(path, topics=[topic]) as rec:
        return [(r.log_stamp_ns, r.sample) for r in rec.records()]


def _diagnostics(path: Path) -> list[tuple[int, Any]]:
    from fusion_stack.io.message_codec import MessageCodec

    codec = MessageCodec()
    with open_recording(path, topics=[]) as rec:
        return [(stamp, codec.deserialize(raw, DIAGNOSTICS, topic=t))
                for t, _, stamp, raw in rec.serialized_messages(["/diagnostics"])]


def _lidar_stamps(drive: Path) -> list[int]:
    with open_recording(drive, topics=["/LIDAR_TOP/points"]) as rec:
        return [s.stamp_ns for s in rec]


def test_fusion_node_publishes_what_the_offline_pipeline_computes(ros_env: dict[str, str], ros_drive: Path,
                                                                  tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    nodes = [
        _node("fusion_node", "fusion", {"pipeline": "decision_level", "rig": RIG, "image_transport": "compressed",
                                        "reliable_sensors": "true", "use_sim_time": "true",
                                        "sync_timeout_ms": "3000"}),
        _node("topic_recorder", "recorder", {"out": str(rec), "use_sim_time": "true",
                                             "topics": f"[/decision_level/detections={DETECTIONS}]"}),
        _node("bag_player", "player", {"bag": str(ros_drive), "rate": "0.25", "start_delay_s": "1.0",
                                       "wait_for_subscribers": "[/ego_pose/odom, /decision_level/detections]"},
              shutdown=True),
    ]
    lines = _run(nodes, ros_env, timeout_s=240)
    online = _recorded(rec, "/decision_level/detections")
    offline = _offline(ros_drive, "decision_level")
    lidar = _lidar_stamps(ros_drive)[::2]  # the preset fuses every 2nd sweep
    assert len(online) >= len(lidar) - 2, (len(online), len(lidar), lines[-20:])  # the last groups wait for data
    stamps = [b.stamp_ns for _, b in online]
    assert stamps == lidar[:len(stamps)]  # one message per fused LiDAR sweep, in order, with its stamp
    for _, boxes in online:
        assert boxes.frame_id == "base_link"
        want = offline[boxes.stamp_ns]
        assert len(boxes) == len(want), boxes.stamp_ns
        np.testing.assert_allclose(boxes.centers, want.centers, atol=1e-4)
        np.testing.assert_allclose(boxes.sizes, want.sizes, atol=1e-4)
        np.testing.assert_allclose(boxes.scores, want.scores, atol=1e-5)
        np.testing.assert_array_equal(boxes.label_names(), want.label_names())
        np.testing.assert_array_equal(boxes.track_ids, want.track_ids)


def test_dying_camera_is_flagged_and_recovers_while_detections_go_on(ros_env: dict[str, str], ros_drive: Path,
                                                                     tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    topic = "/CAM_FRONT/image_raw/compressed"
    nodes = [
        _node("fusion_node", "fusion", {"pipeline": "decision_level", "rig": RIG, "image_transport": "compressed",
                                        "reliable_sensors": "true", "use_sim_time": "true",
                                        "expected_rates_hz": "[CAM_FRONT=12]", "diagnostics_period_s": "0.02"}),
        _node("topic_recorder", "recorder", {"out": str(rec), "use_sim_time": "true",
                                             "topics": f"[/decision_level/detections={DETECTIONS}, "
                                                       f"/diagnostics={DIAGNOSTICS}]"}),
        _node("bag_player", "player", {"bag": str(ros_drive), "rate": "0.25", "start_delay_s": "1.0",
                                       "mute": f'["{topic}@0.7:1.3"]',
                                       "wait_for_subscribers": "[/ego_pose/odom, /diagnostics]"}, shutdown=True),
    ]
    lines = _run(nodes, ros_env, timeout_s=240)
    with open_recording(ros_drive, topics=[topic]) as r:
        t0 = r.recorded_start_ns
        cam = [s.stamp_ns for s in r]
    last_before = max(s for s in cam if s - t0 < 0.7e9)
    first_after = min(s for s in cam if s - t0 >= 1.3e9)
    diags = _diagnostics(rec)
    levels = []
    for _, msg in diags:
        for st in msg.status:
            if st.name.endswith("CAM_FRONT"):
                levels.append((int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec), int(st.level)))
    stale = [t for t, lv in levels if lv == STALE and last_before < t < first_after]
    assert stale, (levels[:20], lines[-20:])
    period = 1e9 / 12
    assert stale[0] - last_before <= 2.5 * period  # flagged within 1.5 periods + the diagnostics tick
    assert any(lv == OK for t, lv in levels if t > first_after + 0.2e9)  # recovers
    assert not any(lv == STALE for t, lv in levels if first_after + 0.2e9 < t)
    # detections kept coming through the dead camera's window
    det = [b.stamp_ns for _, b in _recorded(rec, "/decision_level/detections")]
    during = [s for s in det if t0 + 0.8e9 < s < t0 + 1.2e9]
    assert len(during) >= 3  # every fused sweep (10 Hz) of the window


BAD_PUBLISHER = r"""
import sys, time
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from fusion_stack.io.message_codec import MessageCodec
from fusion_stack.types import PointCloud

rclpy.init()
node = rclpy.create_node("bad_publisher")
qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
lidar = node.create_publisher(PointCloud2, "/LIDAR_TOP/points", qos)
cam = node.create_publisher(Image, "/CAM_FRONT/image_raw", qos)
codec = MessageCodec()
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (lidar.get_subscription_count() == 0 or cam.get_subscription_count() == 0):
    rclpy.spin_once(node, timeout_sec=0.1)
time.sleep(1.0)
now = node.get_clock().now().nanoseconds
pts = np.zeros((10, 3), np.float32)
lidar.publish(b"\x00\x01\x00\x00" + b"\xff" * 13)                                      # malformed
lidar.publish(codec.encode(PointCloud(0, "lidar_top", "LIDAR_TOP", pts))[1])              # zero stamp
lidar.publish(codec.encode(PointCloud(now + 60 * 10**9, "lidar_top", "LIDAR_TOP", pts))[1])  # from the future
img = Image(encoding="32FC3", height=2, width=2, step=24, data=bytes(48))               # not a camera encoding
img.header.stamp.sec = now // 10**9
cam.publish(img)
for _ in range(30):
    rclpy.spin_once(node, timeout_sec=0.1)
node.destroy_node()
rclpy.shutdown()
"""


def test_bad_messages_are_counted_in_diagnostics_and_the_node_lives(ros_env: dict[str, str], tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    script = tmp_path / "bad_publisher.py"
    script.write_text(BAD_PUBLISHER)
    env = {**os.environ, **ros_env}
    nodes = [
        _node("fusion_node", "fusion", {"pipeline": "decision_level", "rig": RIG, "image_transport": "raw",
                                        "reliable_sensors": "true", "diagnostics_period_s": "0.2"}),
        _node("topic_recorder", "recorder", {"out": str(rec), "topics": f"[/diagnostics={DIAGNOSTICS}]",
                                             "duration_s": "60"}),
    ]
    lines: list[str] = []
    group = ProcessGroup(nodes, env=ros_env, on_output=lambda n, line: lines.append(f"[{n}] {line}"))
    group.start()
    try:
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)
        assert proc.returncode == 0, proc.stderr[-2000:]
        time.sleep(1.5)
        assert set(group.running()) == {"fusion", "recorder"}, lines[-30:]  # the node did not die
    finally:
        group.stop()
    final: dict[str, dict[str, str]] = {}
    for _, msg in _diagnostics(rec):
        for st in msg.status:
            final[st.name.split(": ")[-1]] = {v.key: v.value for v in st.values}
    assert final["LIDAR_TOP"].get("rejected_malformed") == "1"
    assert final["LIDAR_TOP"].get("rejected_zero_stamp") == "1"
    assert final["LIDAR_TOP"].get("rejected_future_stamp") == "1"
    assert final["CAM_FRONT"].get("rejected_bad_encoding") == "1"


def test_launch_command_runs_the_graph_and_stops_it_on_sigint(ros_env: dict[str, str], ros_drive: Path) -> None:
    env = {**os.environ, **ros_env}
    cmd = [sys.executable, "-m", "fusion_stack.cli", "launch", str(source_root() / "launch" / "lidar_only.launch.xml"),
           "play:=true", f"bag:={ros_drive}", "rate:=0.2", "--domain-id", ros_env["ROS_DOMAIN_ID"]]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            out.append(line)
            if "configured pipeline lidar_only" in line:
                break
        assert any("configured pipeline lidar_only on 2 topics -> /lidar_only/detections" in x for x in out), out
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", err)]
    assert len(pids) == 2 and "stopped (stopped)" in err
    for pid in pids:  # no orphans
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_velodyne_driver_node_publishes_what_the_library_decodes(ros_env: dict[str, str], shared_data: Path,
                                                                 tmp_path: Path) -> None:
    from fusion_stack.drivers.bag_source import BagPacketSource
    from fusion_stack.drivers.velodyne_decoder import VelodyneDecoder
    from fusion_stack.types import PointCloud

    bag = shared_data / "rosbag2_velodyne" / "vlp16" / "1673400471837873222"
    rec = tmp_path / "rec"
    nodes = [
        _node("topic_recorder", "recorder", {"out": str(rec),
                                             "topics": "[/velodyne/points=sensor_msgs/msg/PointCloud2]"}),
        _node("driver_node", "velodyne", {"driver": "velodyne", "sensor_id": "velodyne", "source": str(bag),
                                          "options": "[model=VLP-16, scan_phase_deg=0.0]", "reliable": "true",
                                          "start_delay_s": "3.0"}),
    ]
    group = ProcessGroup(nodes, env=ros_env)
    group.start()
    try:
        time.sleep(8.0)
        assert set(group.running()) == {"recorder", "velodyne"}  # the driver node stays up when the bag ends
    finally:
        group.stop()
    got = [s for _, s in _recorded(rec, "/velodyne/points")]
    decoder = VelodyneDecoder("VLP-16", scan_phase_deg=0.0)
    with BagPacketSource(bag) as source:
        want = decoder.decode(list(source)) + decoder.flush()
    assert len(got) == len(want) >= 3
    for g, w in zip(got, want):
        assert isinstance(g, PointCloud) and g.stamp_ns == w.stamp_ns and len(g) == len(w)
        np.testing.assert_array_equal(g.positions, w.positions)
        np.testing.assert_array_equal(g.fields["ring"], w.fields["ring"])
