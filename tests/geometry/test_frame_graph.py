"""The frame graph: lookups along the tree, time-stamped edges and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_stack.geometry.frame_graph import FrameGraph, FrameGraphError
from fusion_stack.geometry.rotations import yaw_matrix
from fusion_stack.geometry.se3 import SE3


def _rig() -> tuple[FrameGraph, SE3, SE3, SE3]:
    g = FrameGraph()
    lidar2base = SE3(yaw_matrix(0.3), [1.0, 0.0, 1.8])
    cam2base = SE3(np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float), [1.5, 0.1, 1.5])  # optical
    radar2base = SE3(yaw_matrix(-0.1), [3.6, 0.0, 0.5])
    g.add_static("base_link", "lidar", lidar2base)
    g.add_static("base_link", "cam_optical", cam2base)
    g.add_static("base_link", "radar", radar2base)
    return g, lidar2base, cam2base, radar2base


def test_lookup_composes_along_the_tree() -> None:
    g, lidar2base, cam2base, _ = _rig()
    lidar2cam = g.lookup("lidar", "cam_optical")
    assert lidar2cam.allclose(cam2base.inverse() @ lidar2base, atol=1e-12)
    assert g.lookup("cam_optical", "lidar").allclose(lidar2cam.inverse(), atol=1e-12)
    assert g.lookup("lidar", "lidar").allclose(SE3.identity())
    # a point 10 m ahead of the car lands 10-ish m ahead of the optical camera (z forward)
    p = g.lookup("base_link", "cam_optical") @ np.array([[11.5, 0.1, 1.5]])
    np.testing.assert_allclose(p, [[0, 0, 10.0]], atol=1e-12)


def test_deep_chain_and_common_ancestor() -> None:
    g = FrameGraph()
    a2b = SE3(yaw_matrix(0.5), [1, 2, 3])
    c2b = SE3(yaw_matrix(-1.0), [0, 1, 0])
    d2c = SE3(yaw_matrix(0.2), [5, 0, 0])
    g.add_static("b", "a", a2b)
    g.add_static("b", "c", c2b)
    g.add_static("c", "d", d2c)
    assert g.lookup("a", "d").allclose((c2b @ d2c).inverse() @ a2b, atol=1e-12)
    assert g.roots() == ("b",)
    assert g.children("b") == ("a", "c")
    assert "d" in g.tree_text()


def test_unknown_frame_names_the_known_frames() -> None:
    g, *_ = _rig()
    with pytest.raises(FrameGraphError, match=r"unknown frame 'camera'.*known frames: base_link, cam_optical"):
        g.lookup("lidar", "camera")


def test_cycles_and_second_parents_are_rejected() -> None:
    g = FrameGraph()
    g.add_static("a", "b", SE3())
    g.add_static("b", "c", SE3())
    with pytest.raises(FrameGraphError, match="cycle"):
        g.add_static("c", "a", SE3())
    with pytest.raises(FrameGraphError, match="already has parent"):
        g.add_static("x", "c", SE3())
    with pytest.raises(FrameGraphError, match="own parent"):
        g.add_static("a", "a", SE3())


def test_disconnected_frames_name_both_trees() -> None:
    g, *_ = _rig()
    g.add_static("map", "odom", SE3())
    with pytest.raises(FrameGraphError, match=r"not connected.*'base_link'.*'map'"):
        g.lookup("lidar", "odom")
    assert not g.connected("lidar", "odom")


def test_time_stamped_edges_interpolate_and_bound_extrapolation() -> None:
    g, lidar2base, *_ = _rig()
    g.add_transform("map", "base_link", 1_000_000_000, SE3(yaw_matrix(0.0), [0, 0, 0]))
    g.add_transform("map", "base_link", 2_000_000_000, SE3(yaw_matrix(0.4), [10, 0, 0]))
    mid = g.lookup("base_link", "map", 1_500_000_000)
    assert mid.allclose(SE3(yaw_matrix(0.2), [5, 0, 0]), atol=1e-12)
    assert g.lookup("lidar", "map", 1_500_000_000).allclose(mid @ lidar2base, atol=1e-12)
    with pytest.raises(FrameGraphError, match="needs stamp_ns"):
        g.lookup("lidar", "map")
    with pytest.raises(FrameGraphError, match="outside the buffered range"):
        g.lookup("lidar", "map", 2_000_000_001)
    g.max_extrapolation_ns = 100_000_000
    ext = g.lookup("base_link", "map", 2_100_000_000)
    np.testing.assert_allclose(ext.translation, [11, 0, 0], atol=1e-9)
    with pytest.raises(FrameGraphError, match="static"):
        g.add_static("map", "base_link", SE3())


def test_lookup_between_two_stamps_through_a_fixed_frame() -> None:
    g, lidar2base, cam2base, _ = _rig()
    g.add_transform("map", "base_link", 0, SE3())
    g.add_transform("map", "base_link", 100_000_000, SE3(np.eye(3), [1.0, 0, 0]))  # 10 m/s forward
    # a static point seen by the LiDAR at t=0 is 1 m closer when the camera sees it at t=100 ms
    p_lidar = lidar2base.inverse() @ np.array([[20.0, 0.0, 0.0]])
    moved = g.lookup_between("lidar", 0, "cam_optical", 100_000_000, fixed_frame="map") @ p_lidar
    np.testing.assert_allclose(cam2base @ moved, [[19.0, 0.0, 0.0]], atol=1e-9)


def test_cache_bounds_history() -> None:
    g = FrameGraph(cache_ns=1_000)
    for t in range(0, 10_000, 100):
        g.add_transform("odom", "base_link", t, SE3(np.eye(3), [t, 0, 0]))
    with pytest.raises(FrameGraphError, match="outside"):
        g.lookup("base_link", "odom", 5_000)
    np.testing.assert_allclose(g.lookup("base_link", "odom", 9_450).translation, [9_450, 0, 0])
