"""What every fusion_stack node shares: message classes by type name, the QoS of each kind of topic, declared
parameters with descriptions, and the node clock in integer nanoseconds.

QoS choices (documented in docs/ros.md):

* sensor topics (point clouds, images, radar): ``sensor_data`` by default (best effort, keep last 5: a late frame
  is worth less than the next one; a best-effort subscription also accepts reliable publishers); ``reliable``
  on request (lossless replays and tests);
* odometry: reliable, keep last 50 (poses are small and every one helps interpolation);
* detections, markers, diagnostics: reliable, keep last 10;
* ``/tf_static``: reliable, transient local, keep last 1 (late joiners get the rig);
* ``/clock``: best effort, keep last 1 (as ``ros2 bag play --clock``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name`` (ImportError naming the type when its package is missing)."""
    pkg, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise ImportError(f"no Python interface for {msgtype}: install or generate the {pkg} package "
                          f"(scripts/setup_ros.sh does for this project)") from err


def sensor_qos(reliable: bool = False) -> QoSProfile:
    """QoS of sensor topics: ``sensor_data`` (best effort, depth 5) or reliable with depth 10."""
    if not reliable:
        return qos_profile_sensor_data
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


ODOMETRY_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
CLOCK_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare a parameter with its description and return its value (numbers: ``5`` is as good as ``5.0``, as
    launch files and ``-p`` write them)."""
    dynamic = isinstance(default, float)
    node.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=dynamic))
    value = node.get_parameter(name).value
    if dynamic:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter {name!r} must be a number, got {value!r}")
        return float(value)
    return value


def now_ns(node: Node) -> int:
    """The node's clock (ROS time: ``/clock`` when ``use_sim_time`` is set) in integer nanoseconds."""
    return int(node.get_clock().now().nanoseconds)


def parse_pairs(items: list[str], *, what: str) -> dict[str, str]:
    """``["A=x", "B=y"]`` -> ``{"A": "x", "B": "y"}`` (ValueError naming ``what`` on a malformed item)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{what}: expected KEY=VALUE items, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def run_node(make: Callable[[], Node], *, name: str, args: list[str] | None = None,
             errors: tuple[type[BaseException], ...] = (ValueError, OSError)) -> int:
    """Init rclpy with ``args`` (default ``sys.argv``), build the node with ``make`` (``errors`` raised there end
    the process with status 1 and one line on stderr), spin it until shutdown or Ctrl-C, then call its ``stop()``
    when it has one and destroy it. Returns the process exit status."""
    rclpy.init(args=args if args is not None else sys.argv)
    try:
        node = make()
    except errors as err:
        print(f"{name}: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    if getattr(node, "autostart_failed", False):  # a lifecycle node whose configure/activate failed (logged)
        node.destroy_node()
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        stop = getattr(node, "stop", None)
        if callable(stop):
            stop()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
