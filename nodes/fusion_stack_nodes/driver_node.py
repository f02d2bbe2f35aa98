"""A sensor driver node: Velodyne or ARS548 packets (UDP, pcap, packet bag) or a camera (device, file, GStreamer)
decoded by the library's drivers and published as ``sensor_msgs/PointCloud2`` (radar: with ``radial_velocity``
and ``rcs`` fields) or ``sensor_msgs/Image`` + ``CameraInfo``; the rig's transforms go out on ``/tf_static``.

Parameters: ``driver`` (velodyne | ars548 | camera), ``sensor_id`` (a sensor of the rig), ``rig``, ``source``
(``udp://HOST:PORT``, a ``.pcap`` file, a bag with packets, or for cameras a device index / file / pipeline),
``options`` (``KEY=VALUE`` decoder options, e.g. ``model=VLP-32C``), ``topic`` (default ``/<sensor_id>/points``
or ``/<sensor_id>/image_raw``), ``reliable`` (QoS), ``publish_tf_static``, ``start_delay_s`` (replays: give
subscribers time to connect).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from rclpy.node import Node

from fusion_stack.errors import FusionStackError
from fusion_stack.io.calibration_samples import StampedTransform
from fusion_stack.io.message_codec import MSGTYPES, MessageCodec
from fusion_stack.types import CameraImage, PointCloud, RadarScan
from fusion_stack_nodes.ros_glue import TF_STATIC_QOS, declare, message_class, parse_pairs, run_node, sensor_qos

DRIVERS = ("velodyne", "ars548", "camera")


def _option_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


class DriverNode(Node):
    """See the module docstring."""

    def __init__(self, *, node_name: str = "driver", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p_driver = declare(self, "driver", "velodyne", f"one of {', '.join(DRIVERS)}")
        self.p_sensor = declare(self, "sensor_id", "", "the rig's id of this sensor")
        self.p_rig = declare(self, "rig", "", "rig file (frame, time offset, camera model, /tf_static)")
        self.p_source = declare(self, "source", "", "udp://HOST:PORT, .pcap, packet bag, or camera device/file")
        self.p_options = declare(self, "options", [""], "KEY=VALUE decoder options (e.g. model=VLP-32C)")
        self.p_topic = declare(self, "topic", "", "output topic (default /<sensor_id>/points or /image_raw)")
        self.p_reliable = declare(self, "reliable", False, "publish reliably (default: sensor_data QoS)")
        self.p_tf = declare(self, "publish_tf_static", True, "publish the rig's transforms on /tf_static")
        self.p_delay = declare(self, "start_delay_s", 0.0, "wall seconds to wait before reading the source (replays)")
        from fusion_stack.calibration.formats import load_any

        if self.p_driver not in DRIVERS:
            raise ValueError(f"parameter driver must be one of {DRIVERS}, got {self.p_driver!r}")
        if not self.p_sensor or not self.p_source:
            raise ValueError("parameters sensor_id and source are required")
        self.rig = load_any(Path(self.p_rig)) if self.p_rig else None
        self.codec = MessageCodec()
        options = {k: _option_value(v) for k, v in parse_pairs([o for o in self.p_options if o],
                                                                what="options").items()}
        self.driver = self._make_driver(options)
        camera = self.p_driver == "camera"
        topic = self.p_topic or (f"/{self.p_sensor}/image_raw" if camera else f"/{self.p_sensor}/points")
        qos = sensor_qos(self.p_reliable)
        self._pub = self.create_publisher(message_class(MSGTYPES["image" if camera else "pointcloud"]), topic, qos)
        self._info_pub = (self.create_publisher(message_class(MSGTYPES["camera_info"]),
                                                topic.rsplit("/", 1)[0] + "/camera_info", qos) if camera else None)
        if self.p_tf and self.rig is not None:
            self._tf_pub = self.create_publisher(message_class(MSGTYPES["tf"]), "/tf_static", TF_STATIC_QOS)
            stamp = self.get_clock().now().nanoseconds
            edges = [StampedTransform(stamp, t.parent, t.child, t.child2parent) for t in self.rig.transforms]
            self._tf_pub.publish(self.codec.encode_tf(edges))
        self.published = 0
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._run, name="driver", daemon=True)
        self._thread.start()

    def _make_driver(self, options: dict[str, Any]) -> Any:
        if self.p_driver == "camera":
            from fusion_stack.drivers.camera import CameraDriver

            src = int(self.p_source) if self.p_source.isdigit() else self.p_source
            return CameraDriver(src, rig=self.rig, sensor_id=self.p_sensor, **options)
        from fusion_stack.drivers.packet_driver import ars548_driver, velodyne_driver
        from fusion_stack.drivers.source_spec import packet_source

        source = packet_source(self.p_source, timeout=None)
        make = velodyne_driver if self.p_driver == "velodyne" else ars548_driver
        return make(source, rig=self.rig, sensor_id=self.p_sensor, **options)

    def _run(self) -> None:
        if self.p_delay > 0:
            threading.Event().wait(self.p_delay)
        try:
            for sample in self.driver:
                if isinstance(sample, (PointCloud, RadarScan)):
                    self._pub.publish(self.codec.encode(sample)[1])
                elif isinstance(sample, CameraImage):
                    self._pub.publish(self.codec.encode(sample)[1])
                    cam = self.rig.sensor(self.p_sensor).camera if self.rig is not None else None
                    if self._info_pub is not None and cam is not None:
                        self._info_pub.publish(self.codec.encode_camera_info(sample, cam))
                else:
                    continue
                self.published += 1
        except FusionStackError as err:
            self.failed = str(err)
            self.get_logger().error(f"driver stopped: {err}")

    def stop(self) -> None:
        """Close the driver's source (ends its thread)."""
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()
        self._thread.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    """``ros2 run fusion_stack_nodes driver_node`` / ``python -m fusion_stack_nodes.driver_node``."""
    return run_node(DriverNode, name="driver_node", args=args, errors=(ValueError, OSError, FusionStackError))


if __name__ == "__main__":
    sys.exit(main())
