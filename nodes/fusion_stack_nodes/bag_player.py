"""The bag player node: publishes a recording's messages on their topics at real time (or ``rate`` times it),
with ``/clock`` so that nodes with ``use_sim_time`` live on the recording's time (like ``ros2 bag play --clock``).

Any bag the library reads (ROS 1, ROS 2 sqlite3/mcap) is played; messages go out as their stored bytes (ROS 1
converted to CDR). ``/tf_static`` is latched (transient local). Topics whose message type has no Python interface
on this machine are skipped with a warning. Parameters: ``bag``, ``rate``, ``topics``, ``start_delay_s``,
``wait_for_subscribers`` (topics that need a subscriber before playing starts), ``clock``, ``clock_hz``,
``loop``, ``exit_when_done``, and ``mute`` (``TOPIC@START:END``: withhold a topic between two times in seconds
from the recording's start; fault injection: a sensor that dies and comes back).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import rclpy
from rclpy.node import Node

from fusion_stack.errors import FusionStackError
from fusion_stack.io.recording import open_recording
from fusion_stack_nodes.ros_glue import CLOCK_QOS, OUTPUT_QOS, TF_STATIC_QOS, declare, message_class, run_node


class BagPlayer(Node):
    """See the module docstring."""

    def __init__(self, *, node_name: str = "bag_player", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p_bag = declare(self, "bag", "", "the recording to play (ROS 1 .bag, ROS 2 folder, .mcap, .db3)")
        self.p_rate = declare(self, "rate", 1.0, "playback speed (1 = real time)")
        self.p_topics = declare(self, "topics", [""], "topics to play (default: every topic with a known type)")
        self.p_delay = declare(self, "start_delay_s", 0.5, "wall seconds to wait before playing")
        self.p_wait = declare(self, "wait_for_subscribers", [""], "topics that need a subscriber before playing")
        self.p_wait_timeout = declare(self, "wait_timeout_s", 20.0, "longest wait for those subscribers (s)")
        self.p_clock = declare(self, "clock", True, "publish /clock with the recording's time")
        self.p_clock_hz = declare(self, "clock_hz", 100.0, "/clock messages per second of wall time")
        self.p_loop = declare(self, "loop", False, "play again from the start when done")
        self.p_exit = declare(self, "exit_when_done", True, "shut the node down when the recording ends")
        self.p_mute = declare(self, "mute", [""], "TOPIC@START:END: withhold TOPIC between START and END s")
        self._mute: list[tuple[str, float, float]] = []
        for item in (m for m in self.p_mute if m):
            topic, _, window = item.rpartition("@")
            start, _, end = window.partition(":")
            try:
                self._mute.append((topic, float(start), float(end)))
            except ValueError:
                raise ValueError(f"parameter 'mute': expected TOPIC@START:END seconds, got {item!r}") from None
        if not self.p_bag:
            raise ValueError("parameter 'bag' is required")
        if not self.p_rate > 0:
            raise ValueError(f"parameter 'rate' must be > 0, got {self.p_rate}")
        self.recording = open_recording(self.p_bag, skip_bad_messages=True)
        wanted = [t for t in self.p_topics if t] or list(self.recording.topics)
        self._pubs: dict[str, Any] = {}
        for topic in wanted:
            info = self.recording.topics.get(topic)
            if info is None:
                raise ValueError(f"topic {topic} is not in {self.p_bag}")
            try:
                cls = message_class(info.msgtype)
            except ImportError as err:
                self.get_logger().warning(f"skipping {topic}: {err}")
                continue
            qos = TF_STATIC_QOS if topic.rstrip("/").endswith("tf_static") else OUTPUT_QOS
            self._pubs[topic] = self.create_publisher(cls, topic, qos)
        self._clock = (self.create_publisher(message_class("rosgraph_msgs/msg/Clock"), "/clock", CLOCK_QOS)
                       if self.p_clock else None)
        self.published = 0
        self.muted = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="bag_player", daemon=True)
        self._thread.start()

    def _publish_clock(self, stamp_ns: int) -> None:
        if self._clock is None:
            return
        from builtin_interfaces.msg import Time
        from rosgraph_msgs.msg import Clock

        self._clock.publish(Clock(clock=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)))

    def _wait_for_subscribers(self) -> None:
        topics = [t for t in self.p_wait if t]
        deadline = time.monotonic() + self.p_wait_timeout
        while topics and time.monotonic() < deadline and not self._stop.is_set():
            if all(self.count_subscribers(t) > 0 for t in topics):
                return
            time.sleep(0.05)
        if topics and not self._stop.is_set():
            self.get_logger().warning(f"playing without subscribers on some of {topics}")

    def _play(self) -> None:
        try:
            self._wait_for_subscribers()
            self._stop.wait(self.p_delay)
            while not self._stop.is_set():
                self._play_once()
                if not self.p_loop:
                    break
        except Exception as err:  # a broken bag ends playback with a message, never a hang
            self.get_logger().error(f"playback failed: {err}")
        finally:
            self.done.set()
            if self.p_exit and not self._stop.is_set():
                self.get_logger().info(f"done: {self.published} messages")
                rclpy.try_shutdown()

    def _play_once(self) -> None:
        start_log: int | None = None
        start_wall = time.monotonic()
        clock_period = 1.0 / self.p_clock_hz
        for topic, _msgtype, log_ns, raw in self.recording.serialized_messages(list(self._pubs)):
            if self._stop.is_set():
                return
            if start_log is None:
                start_log = log_ns
                self._publish_clock(log_ns)
            due = start_wall + (log_ns - start_log) * 1e-9 / self.p_rate
            while True:  # sleep until due, ticking /clock on the way
                wait = due - time.monotonic()
                if wait <= 0:
                    break
                self._stop.wait(min(wait, clock_period))
                if self._stop.is_set():
                    return
                elapsed = (time.monotonic() - start_wall) * self.p_rate
                self._publish_clock(min(start_log + int(elapsed * 1e9), log_ns))
            self._publish_clock(log_ns)
            t = (log_ns - start_log) * 1e-9
            if any(topic == m and a <= t < b for m, a, b in self._mute):
                self.muted += 1
                continue
            self._pubs[topic].publish(raw)
            self.published += 1

    def stop(self) -> None:
        """Stop playing (from any thread)."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.recording.close()


def main(args: list[str] | None = None) -> int:
    """``ros2 run fusion_stack_nodes bag_player`` / ``python -m fusion_stack_nodes.bag_player``."""
    return run_node(BagPlayer, name="bag_player", args=args, errors=(ValueError, OSError, FusionStackError))


if __name__ == "__main__":
    sys.exit(main())
