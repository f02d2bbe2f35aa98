"""The ROS 2 environment that scripts/setup_ros.sh installs: rclpy over Fast DDS and the message packages, some from
wheels and two generated (vision_msgs, tf2_msgs), working between real processes on loopback.

Every test runs its ROS processes with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (Kilted ignores
``ROS_LOCALHOST_ONLY``), a ``ROS_DOMAIN_ID`` of its own (taken with a file lock, so that xdist workers and other test
runs on the same machine never share one) and topic names of its own. Every wait has a deadline. The ROS tests are
skipped, with the reason, only when rclpy does not import in this interpreter (no ROS installed); the check that
the library itself stays free of ROS imports always runs. rclpy is only ever imported in child processes: importing
it starts native threads (LTTng tracing) that the other tests of an xdist worker should not inherit across fork().
"""

from __future__ import annotations

import ast
import fcntl
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Domains 1..19: tests/nodes/conftest.py hands out 20..99 to the node tests, 0 is what a real robot uses.
_DOMAINS = range(1, 20)
_LOCK_DIR = Path(tempfile.gettempdir()) / "fusion_stack_ros_domains"

# RIHS01 type hashes of the upstream packages (ROS 2 Jazzy/Kilted builds of vision_msgs 4.x and tf2_msgs): the
# generated packages must hash the same, or a real ROS graph would see different types.
UPSTREAM_HASHES = {
    "vision_msgs/msg/Detection3DArray": "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
    "vision_msgs/msg/Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "vision_msgs/msg/Classification": "RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143",
    "vision_msgs/msg/LabelInfo": "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
    "vision_msgs/msg/VisionInfo": "RIHS01_95d3116a17484ad91c9a2686e1d54890bbfc3ff6c6a2de137738c4950d45d284",
    "tf2_msgs/msg/TFMessage": "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
}

# The ROS processes of the tests. Roles: pub (publishes the expected messages, waits for the subscriber to come and
# go), sub (receives, compares with the expected messages, prints a JSON report), lifecycle (a lifecycle node whose
# publisher sends only while active), manager (drives it through lifecycle_msgs services and listens).
PEER = r'''
import json, sys, time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Pose, PoseWithCovariance, TransformStamped, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import (BoundingBox3D, Classification, Detection2DArray, Detection3D, Detection3DArray,
                             LabelInfo, ObjectHypothesis, ObjectHypothesisWithPose, VisionInfo)

role, prefix, deadline_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + deadline_s
QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
HEADER = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id="base_link")
N_POINTS = 65_536  # 1 MiB of point data: UDP fragments it, shared memory carries it whole


def detections():
    out = Detection3DArray(header=HEADER)
    for i in range(3):
        cov = [0.0] * 36
        cov[0] = cov[7] = cov[14] = 0.01 * (i + 1)
        hyp = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=["car", "pedestrian", "truck"][i],
                                                                   score=0.9 - 0.2 * i),
                                       pose=PoseWithCovariance(covariance=cov))
        hyp.pose.pose.position.x = 10.0 * i + 0.25
        hyp.pose.pose.orientation.z, hyp.pose.pose.orientation.w = 0.6, 0.8
        box = BoundingBox3D(center=Pose(), size=Vector3(x=4.5 - i, y=1.9, z=1.6 + 0.1 * i))
        box.center.position.x, box.center.position.y = 10.0 * i + 0.25, -2.0 * i
        out.detections.append(Detection3D(header=HEADER, results=[hyp], bbox=box, id=f"track-{i}"))
    return out


def cloud():
    xyz = np.linspace(-50.0, 50.0, N_POINTS * 3, dtype=np.float32).reshape(-1, 3)
    intensity = (np.arange(N_POINTS, dtype=np.float32) % 256)[:, None]
    points = np.hstack([xyz, intensity]).astype(np.float32)
    fields = [PointField(name=n, offset=4 * k, datatype=PointField.FLOAT32, count=1)
              for k, n in enumerate(["x", "y", "z", "intensity"])]
    return PointCloud2(header=HEADER, height=1, width=N_POINTS, fields=fields, is_bigendian=False, point_step=16,
                       row_step=16 * N_POINTS, data=points.tobytes(), is_dense=True)


def transforms():
    tf = TransformStamped(header=HEADER, child_frame_id="lidar_top")
    tf.transform.translation.z, tf.transform.rotation.w = 1.84, 1.0
    return TFMessage(transforms=[tf])


def report(**kw):
    print("REPORT " + json.dumps(kw), flush=True)


if role == "check":  # no graph: every package imports, and the generated vision_msgs has the shipped fields
    import rclpy.lifecycle
    import vision_msgs.msg as vm
    from lifecycle_msgs.msg import State
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    classes = [Detection3DArray, TFMessage, PointCloud2, Image, CameraInfo, MarkerArray, DiagnosticArray, State]
    report(equal=[c() == c() for c in classes], lifecycle_node=hasattr(rclpy.lifecycle, "LifecycleNode"),
           fields={n: list(c.get_fields_and_field_types()) for n, c in vars(vm).items()
                   if hasattr(c, "get_fields_and_field_types")})
    sys.exit(0)

rclpy.init()
node = rclpy.create_node(f"{role}_{prefix.strip('/').replace('/', '_')}")
try:
    if role == "pub":
        topics = {"detections": (Detection3DArray, detections()), "points": (PointCloud2, cloud()),
                  "tf": (TFMessage, transforms())}
        # Published once: reliable + transient local hands them to the subscriber whenever it matches.
        pubs = {}
        for name, (cls, msg) in topics.items():
            pubs[name] = node.create_publisher(cls, f"{prefix}/{name}", QOS)
            pubs[name].publish(msg)
        for cls in (Detection2DArray, Classification, LabelInfo, VisionInfo):  # advertised for their type hashes
            node.create_publisher(cls, f"{prefix}/{cls.__name__.lower()}", QOS)
        seen = False
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
            count = min(p.get_subscription_count() for p in pubs.values())
            seen = seen or count > 0
            if seen and max(p.get_subscription_count() for p in pubs.values()) == 0:
                break  # the subscriber came, took its messages and left
        report(saw_subscriber=seen)
        sys.exit(0 if seen else 3)

    if role == "sub":
        expected = {"detections": detections(), "points": cloud(), "tf": transforms()}
        classes = {"detections": Detection3DArray, "points": PointCloud2, "tf": TFMessage}
        got = {}
        for name, cls in classes.items():
            node.create_subscription(cls, f"{prefix}/{name}", lambda m, n=name: got.setdefault(n, m), QOS)
        while len(got) < len(classes) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        hashes = {}
        names = ["detections", "tf", "detection2darray", "classification", "labelinfo", "visioninfo"]
        while len(hashes) < len(names) and time.monotonic() < deadline:  # discovery of every publisher
            for name in names:
                for info in node.get_publishers_info_by_topic(f"{prefix}/{name}"):
                    hashes[info.topic_type] = str(info.topic_type_hash)
            rclpy.spin_once(node, timeout_sec=0.05)
        cloud_msg = got.get("points")
        report(received=sorted(got), intact={n: got[n] == expected[n] for n in got}, hashes=hashes,
               points=None if cloud_msg is None else
               [cloud_msg.width, len(cloud_msg.data), [f.name for f in cloud_msg.fields]],
               classes=sorted(h.hypothesis.class_id for d in got["detections"].detections for h in d.results)
               if "detections" in got else [])
        sys.exit(0 if len(got) == len(classes) else 4)

    if role == "lifecycle":
        from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

        class Diagnostics(LifecycleNode):
            def on_configure(self, state):
                self.pub = self.create_lifecycle_publisher(DiagnosticArray, f"{prefix}/diagnostics", 10)
                return TransitionCallbackReturn.SUCCESS

        node.destroy_node()
        node = Diagnostics("fusion_lifecycle", namespace=prefix)
        sent, seen = 0, False
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
            pub = getattr(node, "pub", None)
            if pub is None:
                continue
            count = pub.get_subscription_count()
            seen = seen or count > 0
            if pub.is_activated:
                status = DiagnosticStatus(level=DiagnosticStatus.OK, name="fusion", message="active",
                                          values=[KeyValue(key="sent", value=str(sent))])
                pub.publish(DiagnosticArray(header=HEADER, status=[status]))
                sent += 1
                time.sleep(0.02)
            if sent and seen and count == 0:
                break  # the manager saw it and left
        report(sent=sent)
        sys.exit(0 if sent else 5)

    if role == "manager":
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState, GetState

        got = []
        node.create_subscription(DiagnosticArray, f"{prefix}/diagnostics", got.append, 10)
        get_state = node.create_client(GetState, f"{prefix}/fusion_lifecycle/get_state")
        change = node.create_client(ChangeState, f"{prefix}/fusion_lifecycle/change_state")

        def call(client, request):
            while not client.wait_for_service(timeout_sec=0.1):
                if time.monotonic() > deadline:
                    raise TimeoutError(client.srv_name)
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=max(0.1, deadline - time.monotonic()))
            if not future.done():
                raise TimeoutError(client.srv_name)
            return future.result()

        states = [call(get_state, GetState.Request()).current_state.label]
        before = len(got)
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            ok = call(change, ChangeState.Request(transition=Transition(id=transition))).success
            states.append((ok, call(get_state, GetState.Request()).current_state.label))
            if transition == Transition.TRANSITION_CONFIGURE:
                t_end = time.monotonic() + 0.5  # configured but inactive: nothing may arrive
                while time.monotonic() < t_end:
                    rclpy.spin_once(node, timeout_sec=0.05)
                before = len(got)
        while not got and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        report(states=states, received_while_inactive=before, received=len(got),
               status=[got[0].status[0].name, got[0].status[0].message] if got else None)
        sys.exit(0 if got else 6)
finally:
    node.destroy_node()
    rclpy.try_shutdown()
'''


_RCLPY_CHECK: list[str] = []


@pytest.fixture
def needs_rclpy() -> None:
    """Skips the test when rclpy does not import in this interpreter (checked once, in a child process)."""
    if not _RCLPY_CHECK:
        try:
            proc = subprocess.run([sys.executable, "-c", "import rclpy"], capture_output=True, text=True, timeout=120)
            why = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
        except (OSError, subprocess.TimeoutExpired) as err:
            why = str(err)
        _RCLPY_CHECK.append(why)
    if _RCLPY_CHECK[0]:
        pytest.skip(f"rclpy is not importable in this interpreter ({_RCLPY_CHECK[0]}): install ROS 2 with "
                    "scripts/setup_ros.sh (docs/ros.md)")


@pytest.fixture
def ros_domain() -> Iterator[int]:
    """A ROS_DOMAIN_ID that no other test, xdist worker or concurrent test run on this machine holds: the first
    of 1..19 whose lock file this process can lock (released when the test ends)."""
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    start = os.getpid() % len(_DOMAINS)
    for k in range(len(_DOMAINS)):
        domain = _DOMAINS[(start + k) % len(_DOMAINS)]
        fd = os.open(_LOCK_DIR / f"{domain}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield domain
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    pytest.fail(f"every ROS domain in {_DOMAINS} is held by another test process (lock files in {_LOCK_DIR})")


def _ros_env(domain: int, transports: str, log_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "ROS_DISCOVERY_SERVER", "FASTRTPS_DEFAULT_PROFILES_FILE",
                "FASTDDS_DEFAULT_PROFILES_FILE", "RMW_FASTRTPS_USE_QOS_FROM_XML", "ROS_SECURITY_ENABLE"):
        env.pop(var, None)
    env.update({
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",  # discovery on 127.0.0.1 only, no multicast
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "FASTDDS_BUILTIN_TRANSPORTS": transports,
        "ROS_LOG_DIR": str(log_dir),  # not ~/.ros/log
        "RCUTILS_COLORIZED_OUTPUT": "0",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _start(role: str, prefix: str, deadline_s: float, env: dict[str, str], script: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(script), role, prefix, str(deadline_s)], env=env, cwd=script.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, dict[str, Any]]:
    """Exit code, output and REPORT of a peer; killed (the whole process group) when it outlives timeout_s."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return -9, out, {}
    reports = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("REPORT ")]
    return proc.returncode, out, reports[-1] if reports else {}


def _pair(tmp_path: Path, domain: int, transports: str, first: str, second: str,
          deadline_s: float = 20.0) -> tuple[tuple[int, str, dict[str, Any]], tuple[int, str, dict[str, Any]]]:
    script = tmp_path / "ros_peer.py"
    script.write_text(PEER, encoding="utf-8")
    env = _ros_env(domain, transports, tmp_path / "ros_log")
    prefix = f"/fs_test_{uuid.uuid4().hex[:12]}"  # no other graph on this machine uses these topics
    procs = [_start(first, prefix, deadline_s, env, script)]
    try:
        procs.append(_start(second, prefix, deadline_s, env, script))
        second_result = _finish(procs[1], deadline_s + 15)
        first_result = _finish(procs[0], deadline_s + 15)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return first_result, second_result


@pytest.mark.usefixtures("needs_rclpy")
def test_message_packages_import_and_match_the_shipped_definitions(tmp_path: Path) -> None:
    """Every package imports in the venv's interpreter; the generated vision_msgs is built from the .msg files that
    fusion_stack ships (the bag readers' definitions) and has the rest of vision_msgs 4.x."""
    script = tmp_path / "ros_peer.py"
    script.write_text(PEER, encoding="utf-8")
    proc = _start("check", "/unused", 60.0, _ros_env(1, "UDPv4", tmp_path / "ros_log"), script)
    rc, out, report = _finish(proc, 60.0)
    assert rc == 0, out[-3000:]
    assert report["equal"] == [True] * 8 and report["lifecycle_node"]
    msg_dir = REPO_ROOT / "fusion_stack" / "io" / "msg" / "vision_msgs" / "msg"
    for path in sorted(msg_dir.glob("*.msg")):
        fields = [line.split()[1] for line in path.read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
        assert report["fields"][path.stem] == fields, path.name
    assert {"Detection2DArray", "BoundingBox2DArray", "BoundingBox3DArray", "Classification", "LabelInfo",
            "VisionClass", "VisionInfo", "Point2D", "Pose2D"} <= set(report["fields"])


@pytest.mark.usefixtures("needs_rclpy")
@pytest.mark.parametrize("transports", ["UDPv4", "DEFAULT"])
def test_detections_and_point_cloud_cross_processes_intact(tmp_path: Path, ros_domain: int, transports: str) -> None:
    """A publisher process and a subscriber process: Detection3DArray, a 1 MiB PointCloud2 and a TFMessage arrive
    equal to what was sent, and the generated types hash like upstream. UDPv4: what CI uses; DEFAULT: Fast DDS's
    shared memory plus UDP, what a vehicle uses."""
    if transports == "DEFAULT" and not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm is not writable: Fast DDS's shared-memory transport cannot work here")
    (pub_rc, pub_out, pub_report), (sub_rc, sub_out, sub) = _pair(tmp_path, ros_domain, transports, "pub", "sub")
    assert sub_rc == 0, sub_out[-3000:]
    assert pub_rc == 0 and pub_report == {"saw_subscriber": True}, pub_out[-3000:]
    assert sub["received"] == ["detections", "points", "tf"]
    assert sub["intact"] == {"detections": True, "points": True, "tf": True}
    assert sub["points"] == [65_536, 65_536 * 16, ["x", "y", "z", "intensity"]]
    assert sub["classes"] == ["car", "pedestrian", "truck"]
    assert sub["hashes"] == UPSTREAM_HASHES


@pytest.mark.usefixtures("needs_rclpy")
def test_lifecycle_node_driven_through_lifecycle_services(tmp_path: Path, ros_domain: int) -> None:
    """rclpy.lifecycle and lifecycle_msgs: another process configures and activates the node through its
    services; its lifecycle publisher sends only once active."""
    (node_rc, node_out, node_report), (mgr_rc, mgr_out, mgr) = _pair(
        tmp_path, ros_domain, "UDPv4", "lifecycle", "manager")
    assert mgr_rc == 0, mgr_out[-3000:]
    assert node_rc == 0 and node_report["sent"] > 0, node_out[-3000:]
    assert mgr["states"] == ["unconfigured", [True, "inactive"], [True, "active"]]
    assert mgr["received_while_inactive"] == 0
    assert mgr["received"] > 0 and mgr["status"] == ["fusion", "active"]


@pytest.mark.usefixtures("needs_rclpy")
def test_wheel_bootstrapper_sets_the_library_path_of_a_clean_child(tmp_path: Path) -> None:
    """With the PyPI wheels, rclpy works only through the interpreter of its environment: a .pth file re-executes
    it with LD_LIBRARY_PATH set. A child started without that variable still imports everything."""
    if importlib.util.find_spec("ros_wheels_bootstrapper") is None:
        pytest.skip("ROS 2 comes from a distribution here, not from the PyPI wheels (no ros_wheels_bootstrapper)")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")}
    code = "import os, rclpy, vision_msgs.msg, tf2_msgs.msg; print(os.environ['LD_LIBRARY_PATH'])"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(Path(sys.prefix) / "lib") in proc.stdout.strip().split(os.pathsep)


# Python packages of ROS 2 that only nodes/ and the tests may import.
_ROS_MODULES = {"rclpy", "rcl_interfaces", "rosidl_runtime_py", "builtin_interfaces", "std_msgs", "geometry_msgs",
                "sensor_msgs", "vision_msgs", "tf2_msgs", "tf2_ros", "visualization_msgs", "diagnostic_msgs",
                "lifecycle_msgs", "launch", "launch_ros", "message_filters"}


def test_library_never_imports_ros() -> None:
    """fusion_stack runs without ROS: no module of the library imports rclpy or a ROS message package."""
    offenders = []
    for path in sorted((REPO_ROOT / "fusion_stack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] in _ROS_MODULES]
    assert offenders == []
