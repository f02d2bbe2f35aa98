"""Pipeline configuration: presets load, round-trip, and every bad input names the file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fusion_stack.pipeline.config import config_from_dict, config_to_dict, load_config, preset_names
from fusion_stack.pipeline.errors import PipelineError
from fusion_stack.pipeline.pipeline import FusionPipeline
from fusion_stack.sim.rig import default_rig

PRESETS = ("camera_only", "data_level", "decision_level", "lidar_only", "radar_only")


def test_presets_are_shipped_and_valid() -> None:
    assert set(PRESETS) <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert cfg.name == name
        assert cfg.source is not None and cfg.source.endswith(f"{name}.yaml")
        again = config_from_dict(yaml.safe_load(yaml.safe_dump(config_to_dict(cfg))), source=cfg.source)
        assert again == cfg


def test_levels_and_stages_of_presets() -> None:
    assert load_config("data_level").painting is not None
    assert load_config("data_level").painting.radar_points  # type: ignore[union-attr]
    dec = load_config("decision_level")
    assert set(dec.detectors) == {"lidar", "radar", "camera"} and dec.fusion is not None
    assert load_config("lidar_only").camera_network is None


def _base() -> dict[str, Any]:
    return {"fusion_stack_pipeline": 1, "name": "p", "sensors": ["lidar"],
            "detectors": {"lidar": {"type": "lidar_clusters"}}}


@pytest.mark.parametrize(("change", "field"), [
    ({"fusion_stack_pipeline": 2}, "fusion_stack_pipeline"),
    ({"name": "has space"}, "name"),
    ({"colour": "red"}, "colour"),
    ({"level": "bogus"}, "level"),
    ({"sensors": ["lidar", "sonar"]}, "sensors"),
    ({"sync": {"policy": "magic"}}, "sync.policy"),
    ({"sync": {"window_ms": -1}}, "sync.window_ms"),
    ({"sync": {"buffer_size": 0}}, "sync.buffer_size"),
    ({"sync": {"reference_stride": 0}}, "sync.reference_stride"),
    ({"sync": {"windw_ms": 5}}, "sync.windw_ms"),
    ({"painting": {"radar_points": True}}, "painting"),
    ({"detectors": {}}, "detectors"),
    ({"detectors": {"lidar": {"max_range_m": 3}}}, "detectors.lidar.type"),
    ({"detectors": {"a": {"type": "lidar_clusters"}, "b": {"type": "radar_clusters"}}}, "fusion"),
    ({"deskew": "yes"}, "deskew"),
    ({"camera_network": {"num_threads": 0}}, "camera_network.num_threads"),
])
def test_bad_documents_name_the_key(change: dict[str, Any], field: str) -> None:
    doc = {**_base(), **change}
    with pytest.raises(PipelineError) as info:
        config_from_dict(doc, source="mine.yaml")
    assert info.value.field == field
    assert "mine.yaml" in str(info.value)


def test_unknown_implementation_and_option_at_build_time() -> None:
    rig = default_rig()
    cfg = config_from_dict({**_base(), "detectors": {"lidar": {"type": "pointpillars"}}}, source="x.yaml")
    with pytest.raises(PipelineError) as info:
        FusionPipeline.from_config(cfg, rig)
    assert info.value.field == "detectors.lidar.type" and "lidar_clusters" in str(info.value)
    cfg = config_from_dict({**_base(), "detectors": {"lidar": {"type": "lidar_clusters", "max_rnage_m": 3}}},
                           source="x.yaml")
    with pytest.raises(PipelineError) as info:
        FusionPipeline.from_config(cfg, rig)
    assert info.value.field == "detectors.lidar.max_rnage_m" and "max_range_m" in str(info.value)


def test_reference_and_frames_checked_against_the_rig() -> None:
    rig = default_rig()
    with pytest.raises(PipelineError) as info:
        FusionPipeline.from_config(config_from_dict({**_base(), "reference_sensor": "CAM_FRONT"}), rig)
    assert info.value.field == "reference_sensor"
    with pytest.raises(PipelineError) as info:
        FusionPipeline.from_config(config_from_dict({**_base(), "output_frame": "nowhere"}), rig)
    assert info.value.field == "output_frame"


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(PipelineError, match="YAML") as info:
        load_config(bad)
    assert str(bad) in str(info.value)


def test_a_users_detector_plugs_in_without_touching_the_pipeline() -> None:
    import numpy as np

    from fusion_stack.pipeline.frame import AlignedFrame
    from fusion_stack.pipeline.stages import DEFAULT_COMPONENTS
    from fusion_stack.sim.classes import BOX_CLASSES
    from fusion_stack.types import Boxes3D, FrameSet, PointCloud

    class Ahead:
        """Puts one car 10 m ahead of the ego vehicle when the LiDAR saw anything."""

        modality = "lidar"

        def __init__(self, *, distance_m: float = 10.0) -> None:
            self.distance_m = distance_m

        def __call__(self, frame: AlignedFrame) -> Boxes3D | None:
            if frame.lidar is None:
                return None
            return Boxes3D.from_array([[self.distance_m, 0, 1, 4, 2, 1.5, 0]], [0], BOX_CLASSES,
                                      stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, sensor_id="ahead")

    comps = DEFAULT_COMPONENTS.with_detector("ahead", Ahead)
    cfg = config_from_dict({**_base(), "detectors": {"lidar": {"type": "ahead", "distance_m": 12.0}}})
    rig = default_rig()
    pipe = FusionPipeline.from_config(cfg, rig, components=comps)
    cloud = PointCloud(5, rig.sensor("LIDAR_TOP").frame_id, "LIDAR_TOP", np.zeros((3, 3)))
    res = pipe.process(FrameSet(5, "LIDAR_TOP", {"LIDAR_TOP": cloud}))
    assert res.detections.sensor_id == "p" and res.detections.frame_id == "base_link"
    np.testing.assert_allclose(res.detections.centers[0], [12, 0, 1])
    assert set(res.timings_ms) >= {"align", "detect_lidar", "fusion", "total"}
