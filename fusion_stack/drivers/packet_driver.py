"""Packet drivers: a packet source (bag, UDP, pcap) feeding a decoder configured from the rig calibration.

Decoders are looked up by name in :data:`DECODERS` (``"velodyne"``, ``"ars548"``); add your own by registering
a factory that returns a :class:`PacketDecoder`. :func:`make_decoder` takes the sensor's ``frame_id`` and
``time_offset_ns`` from the rig (and, for the ARS548, the rig's base frame as the object frame).
:class:`PacketDriver` iterates the source in batches, decodes, and yields the typed samples; at the end of the
source it flushes the decoder (the last, usually partial, scan).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from fusion_stack.calibration.errors import CalibrationError
from fusion_stack.calibration.rig import Rig
from fusion_stack.drivers.ars548_decoder import Ars548Decoder
from fusion_stack.drivers.errors import DriverError
from fusion_stack.drivers.packets import Packet, PacketSource
from fusion_stack.drivers.velodyne_decoder import VelodyneDecoder


class PacketDecoder(Protocol):
    """What a decoder offers a driver: ``decode`` a batch of packets into samples, ``flush`` what is buffered,
    and ``counts`` of what happened (packets, drops by reason, losses). A decoder may also offer
    ``completes_output(packet) -> bool`` (a cheap test whether the packet may complete a sample): the driver then
    decodes a batch as soon as such a packet arrives."""

    @property
    def counts(self) -> Counter[str]: ...

    def decode(self, packets: Iterable[Packet], /) -> list[Any]: ...

    def flush(self) -> list[Any]: ...


DecoderFactory = Callable[..., PacketDecoder]

DECODERS: Mapping[str, DecoderFactory] = MappingProxyType({"velodyne": VelodyneDecoder, "ars548": Ars548Decoder})
"""Decoder factories by name; each takes keyword options (``sensor_id``, ``frame_id``, ``time_offset_ns``, ...)."""

_KINDS = {"velodyne": "lidar", "ars548": "radar"}


def make_decoder(name: str, *, rig: Rig | None = None, sensor_id: str | None = None,
                 decoders: Mapping[str, DecoderFactory] = DECODERS, **options: Any) -> PacketDecoder:
    """A decoder by name, configured from ``rig``'s sensor ``sensor_id`` (frame id, time offset) when given.

    Options not taken from the rig pass through to the factory (e.g. ``model="VLP-32C"``,
    ``scan_phase_deg=180``). Raises DriverError for an unknown decoder or a sensor the rig lacks.
    """
    if name not in decoders:
        raise DriverError(f"unknown decoder {name!r} (decoders: {', '.join(sorted(decoders))})", field="decoder")
    if sensor_id is not None:
        options["sensor_id"] = sensor_id
    if rig is not None:
        if sensor_id is None:
            raise DriverError("pass sensor_id= to configure a decoder from a rig", field="sensor_id")
        try:
            sensor = rig.sensor(sensor_id)
        except CalibrationError as err:
            raise DriverError(err.reason, source=rig.source, field="sensor_id") from err
        want = _KINDS.get(name)
        if want is not None and sensor.kind != want:
            raise DriverError(f"rig sensor {sensor_id!r} is a {sensor.kind}, the {name} decoder needs a {want}",
                              source=rig.source, field="sensor_id")
        options.setdefault("frame_id", sensor.frame_id)
        options.setdefault("time_offset_ns", sensor.time_offset_ns)
        if name == "ars548":
            options.setdefault("object_frame_id", rig.base_frame)
    try:
        return decoders[name](**options)
    except TypeError as err:
        raise DriverError(f"bad options for the {name} decoder: {err}", field="options") from err


class PacketDriver:
    """Samples decoded from a packet source (see the module docstring).

    Up to ``batch_packets`` packets are decoded together (vectorised), and at once when the decoder says a
    packet may complete a sample (``completes_output``), so batching costs no latency where the decoder offers
    that; else the latency is the time the sensor takes to send a batch. ``counts`` are the decoder's counters;
    :meth:`close` closes the source (from any thread), which ends the iteration.
    """

    def __init__(self, source: PacketSource, decoder: PacketDecoder, *, batch_packets: int = 64,
                 flush_at_end: bool = True) -> None:
        if batch_packets < 1:
            raise DriverError(f"batch_packets must be at least 1, got {batch_packets}", field="batch_packets")
        self.source = source
        self.decoder = decoder
        self.batch_packets = batch_packets
        self.flush_at_end = flush_at_end

    @property
    def counts(self) -> Counter[str]:
        """The decoder's counters."""
        return self.decoder.counts

    def __iter__(self) -> Iterator[Any]:
        batch: list[Packet] = []
        completes: Callable[[Packet], bool] | None = getattr(self.decoder, "completes_output", None)
        for packet in self.source:
            batch.append(packet)
            if len(batch) >= self.batch_packets or (completes is not None and completes(packet)):
                yield from self.decoder.decode(batch)
                batch = []
        if batch:
            yield from self.decoder.decode(batch)
        if self.flush_at_end:
            yield from self.decoder.flush()

    def close(self) -> None:
        """Close the source; the iteration ends."""
        self.source.close()

    def __enter__(self) -> PacketDriver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def velodyne_driver(source: PacketSource, *, rig: Rig | None = None, sensor_id: str = "velodyne",
                    batch_packets: int = 64, **options: Any) -> PacketDriver:
    """A Velodyne driver: ``options`` are :class:`~fusion_stack.drivers.velodyne_decoder.VelodyneDecoder`'s
    (``model``, ``scan_phase_deg``, ``min_range_m``, ...); frame id and time offset come from the rig."""
    return PacketDriver(source, make_decoder("velodyne", rig=rig, sensor_id=sensor_id, **options),
                        batch_packets=batch_packets)


def ars548_driver(source: PacketSource, *, rig: Rig | None = None, sensor_id: str = "radar",
                  **options: Any) -> PacketDriver:
    """An ARS548 driver: ``options`` are :class:`~fusion_stack.drivers.ars548_decoder.Ars548Decoder`'s; frame
    id and time offset come from the rig, the object frame is the rig's base frame."""
    return PacketDriver(source, make_decoder("ars548", rig=rig, sensor_id=sensor_id, **options), batch_packets=1)
