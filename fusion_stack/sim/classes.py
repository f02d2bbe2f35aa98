"""Class tables of the simulated world: the annotated object classes (boxes) and the semantic classes of every
surface (per LiDAR point, per pixel), with the per-class radar cross-section."""

from __future__ import annotations

from types import MappingProxyType

BOX_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "pedestrian", "bicycle", "motorcycle", "barrier",
                                "traffic_cone")
"""``Boxes3D.class_names`` of the ground truth (nuScenes detection names)."""

SEMANTIC_CLASSES: tuple[str, ...] = ("sky", "road", "sidewalk", "terrain", "lane_marking", "building", "pole",
                                     "vegetation", *BOX_CLASSES)
"""Semantic class of each surface; index 0 (``sky``) is "no surface" in masks and point labels."""

SEM = MappingProxyType({name: i for i, name in enumerate(SEMANTIC_CLASSES)})
"""Semantic class name -> index into :data:`SEMANTIC_CLASSES`."""

DYNAMIC_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "pedestrian", "bicycle", "motorcycle")

RADAR_BASE_RCS_DBSM = MappingProxyType({
    "road": -30.0, "sidewalk": -25.0, "terrain": -25.0, "lane_marking": -30.0, "building": 15.0, "pole": 5.0,
    "vegetation": -5.0, "car": 10.0, "truck": 20.0, "bus": 22.0, "pedestrian": -5.0, "bicycle": -2.0,
    "motorcycle": 2.0, "barrier": 5.0, "traffic_cone": -8.0,
})
"""Typical radar cross-section (dBsm) of a surface of each class seen head-on (aspect adds to it)."""
