"""Box corners and BEV IoU against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_stack.geometry.boxes import bev_iou, box_corners
from fusion_stack.geometry.errors import GeometryError


def test_corners_of_a_rotated_box() -> None:
    c = box_corners(np.array([[1.0, 2.0, 3.0, 4.0, 2.0, 1.0, np.pi / 2]]))[0]
    # yaw 90 deg: length along +y
    np.testing.assert_allclose(c[0], [1 - 1.0, 2 + 2.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(c.mean(axis=0), [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(np.ptp(c, axis=0), [2, 4, 1], atol=1e-12)


def test_bev_iou_closed_forms() -> None:
    a = np.array([[0, 0, 0, 2, 2, 1, 0.0]])
    b = np.array([
        [1, 0, 0, 2, 2, 1, 0.0],          # half overlap: 2 / (4 + 4 - 2)
        [0, 0, 5, 2, 2, 1, np.pi / 4],    # same centre rotated 45 deg (z ignored in BEV)
        [0, 0, 0, 2, 2, 1, np.pi / 2],    # symmetric square: identical footprint
        [10, 0, 0, 2, 2, 1, 0.0],         # far away
    ])
    inter45 = 8 * (np.sqrt(2) - 1)
    np.testing.assert_allclose(bev_iou(a, b)[0], [1 / 3, inter45 / (8 - inter45), 1.0, 0.0], atol=1e-12)
    assert bev_iou(np.zeros((0, 7)), b).shape == (0, 4)


@settings(max_examples=40, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.5, 5), st.floats(0.5, 5), st.floats(-4, 4),
       st.floats(-1, 1), st.floats(-1, 1))
def test_bev_iou_is_symmetric_bounded_and_one_on_itself(x: float, y: float, length: float, w: float, yaw: float,
                                                        dx: float, dy: float) -> None:
    a = np.array([[x, y, 0, length, w, 1, yaw]])
    b = np.array([[x + dx, y + dy, 0, w, length, 1, yaw + 0.3]])
    assert bev_iou(a, a)[0, 0] == pytest.approx(1.0)
    ab, ba = bev_iou(a, b)[0, 0], bev_iou(b, a)[0, 0]
    assert ab == pytest.approx(ba, abs=1e-9)
    assert 0.0 <= ab <= 1.0


def test_bad_boxes_are_rejected_with_their_shape() -> None:
    with pytest.raises(GeometryError, match=r"got shape \(3, 6\)"):
        bev_iou(np.zeros((3, 6)), np.zeros((1, 7)))
    with pytest.raises(GeometryError, match="NaN"):
        box_corners(np.full((1, 7), np.nan))
