"""The kernels on a real nuScenes keyframe: 6-camera depth images and point painting end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion_stack.calibration import load_rig
from fusion_stack.kernels import CameraParams, camera_params, depth_image, gather, project_points
from fusion_stack.kernels.reference import depth_image_reference

pytestmark = pytest.mark.real_data

REPO = Path(__file__).resolve().parents[2]
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
NEAR = 1.0


@pytest.fixture(scope="module")
def keyframe(shared_data: Path) -> tuple[np.ndarray, list[CameraParams], list[np.ndarray]]:
    """(N, 5) float32 scan (x, y, z, intensity, ring), the 6 cameras (LIDAR_TOP -> camera), the 6 BGR images."""
    folder = shared_data / "nuscenes_keyframe"
    info = json.loads((folder / "info.json").read_text())["data_list"][0]
    scan = np.fromfile(folder / info["lidar_points"]["lidar_path"], dtype=np.float32).reshape(-1, 5)
    rig = load_rig(REPO / "calib" / "nuscenes_keyframe.yaml")
    cams = [camera_params(rig.sensor(name).camera, rig.extrinsic("LIDAR_TOP", name)) for name in CAMERAS]
    images = [cv2.imread(str(folder / info["images"][name]["img_path"]), cv2.IMREAD_COLOR) for name in CAMERAS]
    for name, image in zip(CAMERAS, images):
        assert image is not None, f"cannot read the {name} image"
    return scan, cams, images


def test_depth_images_match_the_reference(keyframe: tuple) -> None:
    scan, cams, images = keyframe
    got = depth_image(scan, cams, near=NEAR)
    want = depth_image_reference(scan, cams, near=NEAR)
    drawn = 0
    for c, cam in enumerate(cams):
        assert got.depth[c].shape == (cam.height, cam.width) == images[c].shape[:2]
        np.testing.assert_array_equal(got.depth[c], want.depth[c])
        np.testing.assert_array_equal(got.index[c], want.index[c])
        occupied = got.index[c] >= 0
        assert occupied.sum() > 1000, CAMERAS[c]
        depths = got.depth[c][occupied]
        assert depths.min() > NEAR and depths.max() < 120.0  # a LiDAR sweep: metres, not millimetres
        drawn += int(occupied.sum())
    assert drawn > 0.4 * scan.shape[0]


def test_painting_end_to_end(keyframe: tuple) -> None:
    """Each point takes the colour of the first camera it projects into; the colour is the image's at the
    rounded pixel; a reasonable fraction of the sweep gets one."""
    scan, cams, images = keyframe
    proj = project_points(scan, cams, near=NEAR)
    colour = np.zeros((scan.shape[0], 3), dtype=np.uint8)
    painted = np.zeros(scan.shape[0], dtype=bool)
    for c, image in enumerate(images):
        sampled = gather(image, proj.uv[c], mode="nearest", fill=0)
        col = np.floor(proj.uv[c, :, 0].astype(np.float64) + 0.5)
        row = np.floor(proj.uv[c, :, 1].astype(np.float64) + 0.5)
        lands = proj.valid[c] & (col < image.shape[1]) & (row < image.shape[0])
        take = lands & ~painted
        np.testing.assert_array_equal(sampled[lands], image[row[lands].astype(int), col[lands].astype(int)])
        colour[take] = sampled[take]
        painted |= take
    fraction = painted.mean()
    assert 0.4 < fraction < 0.9, f"painted fraction {fraction:.2f}"
    # real colours, not a constant: the painted points span a range of brightness
    brightness = colour[painted].astype(np.float64).mean(axis=1)
    assert brightness.std() > 10.0
    bilinear = gather(images[0], proj.uv[0], mode="bilinear")
    lands = proj.valid[0]
    assert np.abs(bilinear[lands] - gather(images[0], proj.uv[0])[lands]).mean() < 30.0
