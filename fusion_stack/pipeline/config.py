"""The pipeline configuration: a YAML file validated into a frozen :class:`PipelineConfig`.

Schema (``docs/pipeline.md`` explains every key; the presets in ``fusion_stack/pipeline/presets/`` are examples)::

    fusion_stack_pipeline: 1          # format version (required)
    name: decision_level              # names the output topic /<name>/detections and the tables
    level: decision                   # lidar | camera | radar | data | decision (shown in tables)
    sensors: [lidar, camera, radar]   # sensor kinds of the rig the pipeline subscribes to
    reference_sensor: null            # FrameSet stamps come from it (default: the rig's first LiDAR,
                                      #   else its first camera, else its first radar among `sensors`)
    output_frame: null                # frame of the detections (default: the rig's base frame)
    max_range_m: 60.0                 # detections farther than this (BEV, from the output frame's origin) are dropped
    deskew: true                      # move LiDAR points to the reference stamp with the ego poses (when present)
    sync: {policy: nearest, window_ms: 60, timeout_ms: 250, buffer_size: 64, reference_stride: 1}
    camera_network: {checkpoint: null, num_threads: null}    # optional: the camera segmentation network
    painting: {radar_points: false}   # optional (data level): paint LiDAR points with the network's classes
    detectors:                        # name -> {type: <implementation>, <its keyword options>}
      lidar: {type: lidar_clusters}
    fusion: {type: decision}          # optional: decision-level fuser over the detectors' boxes
    tracker: {type: kalman}           # optional: multi-object tracker (in the ego poses' fixed frame)

Implementation names (``type``) are looked up in plain dicts of builders
(:data:`fusion_stack.pipeline.stages.DEFAULT_COMPONENTS`); their keyword options are checked against the
implementation's signature when the pipeline is built. Unknown keys are errors naming the file and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from fusion_stack.pipeline.errors import PipelineError

FORMAT_VERSION = 1
SENSOR_KINDS = ("lidar", "camera", "radar")
LEVELS = ("lidar", "camera", "radar", "data", "decision", "feature", "custom")
SYNC_POLICIES = ("nearest", "latest", "approximate_time")
PRESET_DIR = Path(__file__).parent / "presets"

_TOP_KEYS = ("fusion_stack_pipeline", "name", "description", "level", "sensors", "reference_sensor", "output_frame",
             "max_range_m", "deskew", "sync", "camera_network", "painting", "detectors", "fusion", "tracker")


@dataclass(frozen=True)
class SyncConfig:
    """Synchronizer settings: ``policy`` (nearest | latest | approximate_time), ``window_ms`` (largest |t - T| of a
    sample joining reference stamp T), ``timeout_ms`` (longest wait for a late sensor, then the group goes out
    with it missing; None = wait), ``buffer_size`` (samples held per sensor), ``reference_stride`` (use every n-th
    reference sample: a 20 Hz LiDAR with stride 2 gives fused boxes at 10 Hz)."""

    policy: str = "nearest"
    window_ms: float = 60.0
    timeout_ms: float | None = 250.0
    buffer_size: int = 64
    reference_stride: int = 1


@dataclass(frozen=True)
class ComponentConfig:
    """One pluggable stage: ``type`` names the implementation, ``options`` its keyword arguments."""

    type: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class CameraNetworkConfig:
    """The camera segmentation network: ``checkpoint`` (None = the shipped one), ``num_threads`` for torch."""

    checkpoint: str | None = None
    num_threads: int | None = None


@dataclass(frozen=True)
class PaintingConfig:
    """Data-level fusion: paint LiDAR points with the camera network's class probabilities; ``radar_points``
    also appends the radar detections to the cloud with their velocities over ground."""

    radar_points: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline configuration (see the module docstring); ``source`` is the file it came from."""

    name: str
    level: str
    sensors: tuple[str, ...]
    detectors: Mapping[str, ComponentConfig]
    description: str = ""
    reference_sensor: str | None = None
    output_frame: str | None = None
    max_range_m: float = 60.0
    deskew: bool = True
    sync: SyncConfig = SyncConfig()
    camera_network: CameraNetworkConfig | None = None
    painting: PaintingConfig | None = None
    fusion: ComponentConfig | None = None
    tracker: ComponentConfig | None = None
    source: str | None = None


def _err(message: str, source: str | None, key: str) -> PipelineError:
    return PipelineError(message, source=source, field=key)


def _mapping(value: object, source: str | None, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(f"must be a mapping, got {type(value).__name__} {value!r}", source, key)
    for k in value:
        if not isinstance(k, str):
            raise _err(f"keys must be strings, got {k!r}", source, key)
    return value


def _only(mapping: Mapping[str, Any], allowed: tuple[str, ...], source: str | None, key: str) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        where = f"{key}." if key else ""
        raise _err(f"unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}", source,
                   f"{where}{unknown[0]}")


def _number(value: object, source: str | None, key: str, *, positive: bool = True, allow_none: bool = False
            ) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(f"must be a number, got {value!r}", source, key)
    if positive and not value > 0:
        raise _err(f"must be > 0, got {value!r}", source, key)
    return float(value)


def _bool(value: object, source: str | None, key: str) -> bool:
    if not isinstance(value, bool):
        raise _err(f"must be true or false, got {value!r}", source, key)
    return value


def _optional_str(value: object, source: str | None, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _err(f"must be a non-empty string or null, got {value!r}", source, key)
    return value


def _component(value: object, source: str | None, key: str) -> ComponentConfig:
    m = dict(_mapping(value, source, key))
    kind = m.pop("type", None)
    if not isinstance(kind, str) or not kind:
        raise _err(f"needs `type: <implementation name>`, got {value!r}", source, f"{key}.type")
    return ComponentConfig(kind, MappingProxyType(m))


def config_from_dict(doc: object, *, source: str | None = None) -> PipelineConfig:
    """Validate a parsed YAML document into a :class:`PipelineConfig` (errors name ``source`` and the key)."""
    d = _mapping(doc, source, "")
    _only(d, _TOP_KEYS, source, "")
    version = d.get("fusion_stack_pipeline")
    if version != FORMAT_VERSION:
        raise _err(f"must be {FORMAT_VERSION} (the pipeline file format version), got {version!r}", source,
                   "fusion_stack_pipeline")
    name = d.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c == "_" for c in name):
        raise _err(f"must be a non-empty name of letters, digits and _ (it names ROS topics), got {name!r}", source,
                   "name")
    level = d.get("level", "custom")
    if level not in LEVELS:
        raise _err(f"must be one of {', '.join(LEVELS)}, got {level!r}", source, "level")
    sensors = d.get("sensors", list(SENSOR_KINDS))
    if (not isinstance(sensors, list) or not sensors or any(s not in SENSOR_KINDS for s in sensors)
            or len(set(sensors)) != len(sensors)):
        raise _err(f"must be a list of distinct sensor kinds from {', '.join(SENSOR_KINDS)}, got {sensors!r}",
                   source, "sensors")
    sync_doc = _mapping(d.get("sync"), source, "sync")
    _only(sync_doc, ("policy", "window_ms", "timeout_ms", "buffer_size", "reference_stride"), source, "sync")
    policy = sync_doc.get("policy", "nearest")
    if policy not in SYNC_POLICIES:
        raise _err(f"must be one of {', '.join(SYNC_POLICIES)}, got {policy!r}", source, "sync.policy")
    buffer_size = sync_doc.get("buffer_size", 64)
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
        raise _err(f"must be an integer >= 1, got {buffer_size!r}", source, "sync.buffer_size")
    stride = sync_doc.get("reference_stride", 1)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise _err(f"must be an integer >= 1, got {stride!r}", source, "sync.reference_stride")
    window = _number(sync_doc.get("window_ms", 60.0), source, "sync.window_ms")
    assert window is not None
    sync = SyncConfig(policy, window,
                      _number(sync_doc.get("timeout_ms", 250.0), source, "sync.timeout_ms", allow_none=True),
                      buffer_size, stride)
    net = None
    if "camera_network" in d:
        n = _mapping(d["camera_network"], source, "camera_network")
        _only(n, ("checkpoint", "num_threads"), source, "camera_network")
        threads = n.get("num_threads")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise _err(f"must be an integer >= 1 or null, got {threads!r}", source, "camera_network.num_threads")
        net = CameraNetworkConfig(_optional_str(n.get("checkpoint"), source, "camera_network.checkpoint"), threads)
    painting = None
    if "painting" in d:
        p = _mapping(d["painting"], source, "painting")
        _only(p, ("radar_points",), source, "painting")
        painting = PaintingConfig(_bool(p.get("radar_points", False), source, "painting.radar_points"))
        if net is None:
            raise _err("painting needs the camera network: add `camera_network: {}`", source, "painting")
    dets = _mapping(d.get("detectors"), source, "detectors")
    if not dets:
        raise _err("needs at least one detector, e.g. `lidar: {type: lidar_clusters}`", source, "detectors")
    detectors = {k: _component(v, source, f"detectors.{k}") for k, v in dets.items()}
    fusion = _component(d["fusion"], source, "fusion") if d.get("fusion") is not None else None
    tracker = _component(d["tracker"], source, "tracker") if d.get("tracker") is not None else None
    if len(detectors) > 1 and fusion is None:
        raise _err(f"{len(detectors)} detectors need a `fusion:` stage to combine their boxes", source, "fusion")
    description = d.get("description", "")
    if not isinstance(description, str):
        raise _err(f"must be a string, got {description!r}", source, "description")
    max_range = _number(d.get("max_range_m", 60.0), source, "max_range_m")
    assert max_range is not None
    return PipelineConfig(
        name=name, level=level, sensors=tuple(sensors), detectors=MappingProxyType(detectors),
        description=description,
        reference_sensor=_optional_str(d.get("reference_sensor"), source, "reference_sensor"),
        output_frame=_optional_str(d.get("output_frame"), source, "output_frame"), max_range_m=max_range,
        deskew=_bool(d.get("deskew", True), source, "deskew"), sync=sync, camera_network=net, painting=painting,
        fusion=fusion, tracker=tracker, source=source)


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate a pipeline YAML file (or the name of a preset, see :func:`preset_names`)."""
    p = Path(path)
    if not p.exists() and str(path) in preset_names():
        p = PRESET_DIR / f"{path}.yaml"
    source = str(p)
    try:
        text = p.read_text()
    except OSError as err:
        hint = f" (presets: {', '.join(preset_names())})" if not p.suffix else ""
        raise PipelineError(f"cannot read pipeline file: {err.strerror or err}{hint}", source=source) from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PipelineError(f"not valid YAML: {err}", source=source) from err
    return config_from_dict(doc, source=source)


def preset_names() -> tuple[str, ...]:
    """The shipped pipeline presets (``fusion_stack/pipeline/presets/<name>.yaml``), sorted."""
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


def config_to_dict(config: PipelineConfig) -> dict[str, Any]:
    """The YAML document of ``config`` (``config_from_dict(config_to_dict(c)) == c`` up to ``source``)."""
    doc: dict[str, Any] = {"fusion_stack_pipeline": FORMAT_VERSION, "name": config.name, "level": config.level}
    if config.description:
        doc["description"] = config.description
    doc["sensors"] = list(config.sensors)
    doc["reference_sensor"] = config.reference_sensor
    doc["output_frame"] = config.output_frame
    doc["max_range_m"] = config.max_range_m
    doc["deskew"] = config.deskew
    s = config.sync
    doc["sync"] = {"policy": s.policy, "window_ms": s.window_ms, "timeout_ms": s.timeout_ms,
                   "buffer_size": s.buffer_size, "reference_stride": s.reference_stride}
    if config.camera_network is not None:
        doc["camera_network"] = {"checkpoint": config.camera_network.checkpoint,
                                 "num_threads": config.camera_network.num_threads}
    if config.painting is not None:
        doc["painting"] = {"radar_points": config.painting.radar_points}
    doc["detectors"] = {k: {"type": c.type, **c.options} for k, c in config.detectors.items()}
    for key in ("fusion", "tracker"):
        comp = getattr(config, key)
        if comp is not None:
            doc[key] = {"type": comp.type, **comp.options}
    return doc
