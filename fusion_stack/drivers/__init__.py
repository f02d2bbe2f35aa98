"""Sensor drivers: packet decoders (Velodyne, Continental ARS548), packet sources (bag, live UDP, pcap), a
camera driver on OpenCV, and recording live drivers into a bag.

Sources yield :class:`Packet` s; decoders (:data:`DECODERS`, by name) turn them into typed samples;
:class:`PacketDriver` joins the two and takes the sensor's frame and time offset from the rig calibration;
:func:`record_drivers` writes running drivers into a bag. Errors are :class:`DriverError`; bad packets are
counted drops (``decoder.counts``), never exceptions, unless a decoder is made ``strict``.
"""

from fusion_stack.drivers.ars548_decoder import Ars548Decoder, Ars548DetectionHeader, Ars548Status
from fusion_stack.drivers.bag_source import BagPacketSource
from fusion_stack.drivers.camera import CameraDriver
from fusion_stack.drivers.clock import MonotonicToSystem
from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packet_driver import (
    DECODERS,
    PacketDecoder,
    PacketDriver,
    ars548_driver,
    make_decoder,
    velodyne_driver,
)
from fusion_stack.drivers.packets import Packet, PacketSource
from fusion_stack.drivers.pcap import PcapSource, PcapWriter
from fusion_stack.drivers.radar_objects import RadarObject, RadarObjectList
from fusion_stack.drivers.record import RecordSummary, record_drivers
from fusion_stack.drivers.udp_source import UdpSource
from fusion_stack.drivers.velodyne_decoder import RETURN_TYPES, VelodyneDecoder
from fusion_stack.drivers.velodyne_models import HDL32E, MODELS, VLP16, VLP32C, VelodyneModel, hdl64e_model

__all__ = [
    "DECODERS", "HDL32E", "MODELS", "RETURN_TYPES", "VLP16", "VLP32C", "Ars548Decoder", "Ars548DetectionHeader",
    "Ars548Status", "BagPacketSource", "CameraDriver", "DriverError", "MonotonicToSystem", "Packet", "PacketDecoder",
    "PacketDriver", "PacketSource", "PcapSource", "PcapWriter", "RadarObject", "RadarObjectList", "RecordSummary",
    "UdpSource", "VelodyneDecoder", "VelodyneModel", "ars548_driver", "hdl64e_model", "make_decoder",
    "record_drivers", "velodyne_driver",
]
