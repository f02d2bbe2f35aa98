"""The fusion node: sensor topics in, ``vision_msgs/Detection3DArray`` + markers + diagnostics out.

A lifecycle node (configure: load the rig and the pipeline; activate: subscribe and publish; deactivate;
cleanup) that starts itself active unless ``autostart`` is false. Every received message is decoded by the
library's codec, checked (stamp zero or from the future, decoding errors: counted per sensor and reason, shown in
diagnostics, never fatal), and pushed into :class:`fusion_stack.pipeline.pipeline.FusionPipeline` with the node
clock as arrival time; a timer polls the pipeline so groups still come out when a sensor dies, another publishes
``/diagnostics``. Parameters (``ros2 param describe``) are validated by the library's config schema.

Topics: inputs ``/<sensor_id>/points`` (LiDAR and radar PointCloud2), ``/<sensor_id>/image_raw`` or
``.../image_raw/compressed`` (``image_transport``), odometry on ``odometry_topic``; override any with
``sensor_topics: ["SENSOR=/topic", ...]``. Outputs ``/<pipeline name>/detections``, ``/<pipeline name>/markers``
(remappable), ``/diagnostics``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from fusion_stack.errors import FusionStackError
from fusion_stack.io.message_codec import MSGTYPES, MessageCodec
from fusion_stack.io.message_errors import BadMessageError
from fusion_stack.types import CameraImage, EgoPose, PointCloud, RadarScan
from fusion_stack_nodes.ros_glue import (
    ODOMETRY_QOS,
    OUTPUT_QOS,
    declare,
    message_class,
    now_ns,
    parse_pairs,
    run_node,
    sensor_qos,
)

_EXPECTED = {PointCloud: ("lidar",), RadarScan: ("radar",), CameraImage: ("camera",)}


def reject_reason(err: BadMessageError) -> str:
    """The diagnostics reason of a message the codec refused."""
    if err.field == "encoding" or "encoding" in str(err.reason):
        return "bad_encoding"
    return "malformed" if err.reason_kind in ("deserialize", "convert") else "conversion"


class FusionNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, *, node_name: str = "fusion", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p_pipeline = declare(self, "pipeline", "decision_level",
                                  "pipeline preset name or YAML file (docs/pipeline.md)")
        self.p_rig = declare(self, "rig", "", "rig file (fusion_stack YAML, KITTI, nuScenes, OpenCalib, ...)")
        self.p_topics = declare(self, "sensor_topics", [""], "SENSOR=/topic overrides of the default topics")
        self.p_transport = declare(self, "image_transport", "raw", "camera topics: raw or compressed")
        self.p_odometry = declare(self, "odometry_topic", "/ego_pose/odom",
                                  "nav_msgs/Odometry of the base frame ('' = none)")
        self.p_reliable = declare(self, "reliable_sensors", False,
                                  "subscribe to sensors reliably (default: sensor_data QoS, best effort)")
        self.p_output = declare(self, "output_topic", "", "detections topic (default /<pipeline name>/detections)")
        self.p_rates = declare(self, "expected_rates_hz", [""], "SENSOR=HZ expected rates (default: measured)")
        self.p_poll = declare(self, "poll_period_s", 0.05, "period of the timer that lets late groups out (s)")
        self.p_diag = declare(self, "diagnostics_period_s", 0.1, "period of /diagnostics (s)")
        self.p_future = declare(self, "max_future_s", 0.5, "stamps later than now by more are rejected (s)")
        self.p_timeout = declare(self, "sync_timeout_ms", -1.0,
                                 "longest wait for a late sensor, ms of the node clock (-1: the pipeline's; 0: wait)")
        self.p_autostart = declare(self, "autostart", True, "configure and activate on start")
        self.codec = MessageCodec()
        self.pipeline: Any = None
        self.health: Any = None
        self._lock = threading.Lock()
        self._subs: list[Any] = []
        self._timers: list[Any] = []
        self._pubs: dict[str, Any] = {}
        self._last_missing: frozenset[str] = frozenset()
        self.published = 0
        self.autostart_failed = False
        if self.p_autostart:
            ok = (self.trigger_configure() == TransitionCallbackReturn.SUCCESS
                  and self.trigger_activate() == TransitionCallbackReturn.SUCCESS)
            self.autostart_failed = not ok

    # --- lifecycle -----------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from fusion_stack.calibration.formats import load_any
        from fusion_stack.pipeline.config import load_config
        from fusion_stack.pipeline.health import SensorHealth
        from fusion_stack.pipeline.pipeline import FusionPipeline

        try:
            if not self.p_rig:
                raise ValueError("parameter 'rig' is required: the rig file of the vehicle")
            rig = load_any(Path(self.p_rig))
            config = load_config(self.p_pipeline)
            if self.p_timeout >= 0:
                from dataclasses import replace

                config = replace(config, sync=replace(config.sync, timeout_ms=float(self.p_timeout) or None))
            self.pipeline = FusionPipeline.from_config(config, rig)
            rates = {k: float(v) for k, v in parse_pairs([x for x in self.p_rates if x],
                                                          what="expected_rates_hz").items()}
            self.health = SensorHealth(self.pipeline.sensors, expected_rates_hz=rates,
                                       max_future_ns=int(self.p_future * 1e9))
            self._inputs = self._input_topics(rig)
        except (FusionStackError, ValueError, OSError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        out = self.p_output or f"/{self.pipeline.name}/detections"
        markers = out.rsplit("/", 1)[0] + "/markers" if out.endswith("/detections") else out + "_markers"
        self._pubs = {
            "detections": self.create_lifecycle_publisher(message_class(MSGTYPES["detections"]), out, OUTPUT_QOS),
            "markers": self.create_lifecycle_publisher(message_class(MSGTYPES["markers"]), markers, OUTPUT_QOS),
            "diagnostics": self.create_lifecycle_publisher(message_class(MSGTYPES["diagnostics"]), "/diagnostics",
                                                           OUTPUT_QOS),
        }
        self.get_logger().info(f"configured pipeline {self.pipeline.name} on {len(self._inputs)} topics -> {out}")
        return TransitionCallbackReturn.SUCCESS

    def _input_topics(self, rig: Any) -> list[tuple[str, str, str]]:
        """(topic, message type, sensor id) of every input."""
        overrides = parse_pairs([x for x in self.p_topics if x], what="sensor_topics")
        unknown = sorted(set(overrides) - set(self.pipeline.sensors))
        if unknown:
            raise ValueError(f"sensor_topics names sensors the pipeline does not use: {unknown}")
        if self.p_transport not in ("raw", "compressed"):
            raise ValueError(f"image_transport must be raw or compressed, got {self.p_transport!r}")
        out = []
        for sid in self.pipeline.sensors:
            kind = rig.sensor(sid).kind
            if kind == "camera":
                compressed = self.p_transport == "compressed"
                topic = overrides.get(sid, f"/{sid}/image_raw" + ("/compressed" if compressed else ""))
                msgtype = MSGTYPES["compressed_image"] if topic.endswith("/compressed") else MSGTYPES["image"]
            else:
                topic, msgtype = overrides.get(sid, f"/{sid}/points"), MSGTYPES["pointcloud"]
            out.append((topic, msgtype, sid))
        if self.p_odometry:
            out.append((self.p_odometry, MSGTYPES["odometry"], "ego_pose"))
        return out

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._subscribe()
        except (ImportError, ValueError) as err:  # rclpy would swallow it: say why
            self.get_logger().error(f"activate failed: {err}")
            return TransitionCallbackReturn.FAILURE
        return super().on_activate(state)

    def _subscribe(self) -> None:
        for topic, msgtype, sid in self._inputs:
            qos = ODOMETRY_QOS if sid == "ego_pose" else sensor_qos(self.p_reliable)

            def callback(raw: bytes, topic: str = topic, msgtype: str = msgtype, sid: str = sid) -> None:
                self.on_message(raw, topic, msgtype, sid)

            self._subs.append(self.create_subscription(message_class(msgtype), topic, callback, qos, raw=True))
        self._timers = [self.create_timer(self.p_poll, self.on_poll),
                        self.create_timer(self.p_diag, self.on_diagnostics)]

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self._subs:
            self.destroy_subscription(s)
        for t in self._timers:
            self.destroy_timer(t)
        self._subs, self._timers = [], []
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for p in self._pubs.values():
            self.destroy_lifecycle_publisher(p)
        self._pubs = {}
        self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    # --- messages ------------------------------------------------------------------------------------------------
    def on_message(self, raw: bytes, topic: str, msgtype: str, sensor_id: str) -> None:
        """Decode, check and push one message; never raises (bad messages are counted)."""
        now = now_ns(self)
        try:
            sample = self.codec.decode(raw, msgtype, topic=topic, sensor_id=sensor_id, receive_ns=now,
                                       stamp_zero_as_receive=False)
        except BadMessageError as err:
            self._reject(sensor_id, reject_reason(err), now, str(err))
            return
        if isinstance(sample, EgoPose):
            try:
                with self._lock:
                    self._publish(self.pipeline.push(sample, now_ns=now))
            except FusionStackError as err:  # counted and logged: the node goes on
                self._reject("ego_pose", "conversion", now, str(err))
            return
        bad = self.health.check_stamp(sample.stamp_ns, now)
        if bad is not None:
            self._reject(sensor_id, bad, now, f"{topic}: stamp {sample.stamp_ns} ns at {now} ns")
            return
        kinds = _EXPECTED.get(type(sample))
        if kinds is None:
            self._reject(sensor_id, "conversion", now, f"{topic}: a {type(sample).__name__} is not a sensor sample")
            return
        self.health.arrived(sensor_id, sample.stamp_ns, now)
        try:
            with self._lock:
                results = self.pipeline.push(sample, now_ns=now)
                self._publish(results)
        except FusionStackError as err:  # a sample the stages refuse: counted, the node goes on
            self._reject(sensor_id, "conversion", now, str(err))

    def _reject(self, sensor_id: str, reason: str, now: int, text: str) -> None:
        if self.health is not None and sensor_id in self.health.sensor_ids:
            self.health.rejected(sensor_id, reason, now)
        self.get_logger().warning(f"rejected ({reason}): {text}", throttle_duration_sec=2.0)

    def on_poll(self) -> None:
        now = now_ns(self)
        try:
            with self._lock:
                self._publish(self.pipeline.poll(now))
        except FusionStackError as err:
            self._reject(self.pipeline.reference_sensor, "conversion", now, str(err))

    def _publish(self, results: list[Any]) -> None:
        for r in results:
            self._pubs["detections"].publish(self.codec.encode(r.detections)[1])
            self._pubs["markers"].publish(self.codec.encode_markers(r.detections))
            self._last_missing = r.missing
            self.published += 1

    def on_diagnostics(self) -> None:
        now = now_ns(self)
        sync = self.pipeline.synchronizer
        stats = sync.stats if hasattr(sync, "stats") else None
        statuses = self.health.statuses(now, sync_stats=stats, degraded=sorted(self._last_missing))
        self._pubs["diagnostics"].publish(self.codec.encode_diagnostics(now, statuses,
                                                                        node_name=self.get_name()))


def main(args: list[str] | None = None) -> int:
    """``ros2 run fusion_stack_nodes fusion_node`` / ``python -m fusion_stack_nodes.fusion_node``."""
    return run_node(FusionNode, name="fusion_node", args=args)


if __name__ == "__main__":
    sys.exit(main())
