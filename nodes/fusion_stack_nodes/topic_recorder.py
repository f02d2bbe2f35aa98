"""A minimal topic recorder node: subscribes raw to the given topics and writes the messages, as received, into a
new ROS 2 bag (mcap) with the node clock (ROS time: ``/clock`` under ``use_sim_time``) as log time, so that
``log stamp - header stamp`` is the end-to-end latency. Used by the integration tests and
``benchmarks/ros_latency.py``; ``ros2 bag record`` does the same on a vehicle.

Parameters: ``out`` (new bag path), ``topics`` (``TOPIC=pkg/msg/Type`` items), ``reliable`` (default true),
``duration_s`` (wall seconds, 0 = until SIGINT).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosbags.rosbag2 import StoragePlugin, Writer

from fusion_stack.io.message_types import default_typestore
from fusion_stack_nodes.ros_glue import OUTPUT_QOS, declare, message_class, now_ns, parse_pairs, run_node, sensor_qos


class TopicRecorder(Node):
    """See the module docstring."""

    def __init__(self, *, node_name: str = "topic_recorder", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p_out = declare(self, "out", "", "bag folder to create")
        self.p_topics = declare(self, "topics", [""], "TOPIC=pkg/msg/Type items")
        self.p_reliable = declare(self, "reliable", True, "reliable subscriptions (else sensor_data QoS)")
        self.p_duration = declare(self, "duration_s", 0.0, "stop after this many wall seconds (0: on SIGINT)")
        topics = parse_pairs([t for t in self.p_topics if t], what="topics")
        if not self.p_out or not topics:
            raise ValueError("parameters out and topics are required")
        typestore = default_typestore()
        self.writer: Writer | None = Writer(Path(self.p_out), version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self._lock = threading.Lock()
        self.count = 0
        qos = OUTPUT_QOS if self.p_reliable else sensor_qos(False)
        self._subs = []
        for topic, msgtype in topics.items():
            conn = self.writer.add_connection(topic, msgtype, typestore=typestore)

            def callback(raw: bytes, conn: Any = conn) -> None:
                with self._lock:
                    if self.writer is not None:
                        self.writer.write(conn, now_ns(self), raw)
                        self.count += 1

            self._subs.append(self.create_subscription(message_class(msgtype), topic, callback, qos, raw=True))
        self.started = time.monotonic()
        if self.p_duration > 0:  # wall time, also under use_sim_time
            self.create_timer(self.p_duration, rclpy.try_shutdown, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def stop(self) -> None:
        """Finish the bag (idempotent)."""
        with self._lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None


def main(args: list[str] | None = None) -> int:
    """``python -m fusion_stack_nodes.topic_recorder --ros-args -p out:=... -p topics:=[...]``."""
    return run_node(TopicRecorder, name="topic_recorder", args=args)


if __name__ == "__main__":
    sys.exit(main())
