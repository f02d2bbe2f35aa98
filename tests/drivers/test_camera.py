"""The OpenCV camera driver on a generated video file, and the monotonic-to-system clock mapping."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from drivers_testlib import make_rig, write_video

from fusion_stack.drivers import CameraDriver, DriverError, MonotonicToSystem
from fusion_stack.io.calibration_samples import CameraInfoSample
from fusion_stack.types import CameraImage


def test_camera_driver_frames_stamps_and_model(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", frames=12, fps=20.0)
    rig = make_rig(time_offsets={"cam": 5_000_000})
    before = time.time_ns()
    with CameraDriver(str(video), rig=rig, sensor_id="cam", encoding="rgb8", stamp_source="capture",
                      with_camera_info=True) as driver:
        samples = list(driver)
    images = [s for s in samples if isinstance(s, CameraImage)]
    infos = [s for s in samples if isinstance(s, CameraInfoSample)]
    assert len(images) == len(infos) == 12 and driver.frames == 12
    assert all(isinstance(s, CameraImage) for s in samples[0::2])
    assert driver.camera is rig.sensor("cam").camera
    for i, image in enumerate(images):
        assert image.frame_id == "cam_optical" and image.sensor_id == "cam" and image.encoding == "rgb8"
        assert image.data.shape == (48, 64, 3)
        assert abs(float(image.data.mean()) - (10 * i + 5)) < 3  # the frames in order
        assert infos[i].stamp_ns == image.stamp_ns and infos[i].camera is driver.camera
    stamps = np.array([im.stamp_ns for im in images])
    assert before + 5_000_000 <= stamps[0] <= time.time_ns() + 5_000_000  # mapped clock + the rig's offset
    np.testing.assert_allclose(np.diff(stamps), 50_000_000, atol=1_000_000)  # 20 fps presentation times


def test_camera_driver_clock_stamps_and_limits(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", frames=6)
    driver = CameraDriver(str(video), sensor_id="cam", frame_id="cam_optical", encoding="mono8", max_frames=4)
    images = list(driver)
    assert len(images) == 4 and images[0].data.shape == (48, 64, 1)
    assert all(b.stamp_ns > a.stamp_ns for a, b in itertools.pairwise(images))
    assert abs(images[-1].stamp_ns - time.time_ns()) < 2_000_000_000
    driver.close()
    driver.close()
    assert list(driver) == []


def test_camera_driver_errors(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", frames=2)
    with pytest.raises(DriverError, match="cannot open"):
        CameraDriver(str(tmp_path / "missing.avi"))
    wrong = make_rig(camera_size=(32, 24))
    with pytest.raises(DriverError, match="camera model"):
        list(CameraDriver(str(video), rig=wrong, sensor_id="cam"))
    with pytest.raises(DriverError, match="not a camera"):
        CameraDriver(str(video), rig=wrong, sensor_id="top")
    with pytest.raises(DriverError, match="encoding"):
        CameraDriver(str(video), encoding="yuv")


def test_monotonic_to_system_mapping() -> None:
    mono = [1_000_000_000]
    offset = [5_000_000_000_000]

    def monotonic() -> int:
        mono[0] += 1_000
        return mono[0]

    def system() -> int:
        return mono[0] + offset[0]

    clock = MonotonicToSystem(resync_s=1.0, monotonic=monotonic, system=system, max_step_ns=1_000_000)
    assert abs(clock.to_system(2_000_000_000) - (2_000_000_000 + offset[0])) <= 1_000
    offset[0] += 500_000  # NTP slews the system clock by 0.5 ms: followed gradually
    mono[0] += 1_000_000_000
    t = mono[0]
    first = clock.to_system(t) - t - 5_000_000_000_000
    assert clock.resyncs == 1 and first < 100_000
    mono[0] += 900_000_000
    t = mono[0]
    assert clock.to_system(t) - t - 5_000_000_000_000 > 400_000
    offset[0] += 3_000_000_000  # the system clock is set: followed at once
    mono[0] += 1_100_000_000
    t = mono[0]
    assert abs(clock.to_system(t) - t - offset[0]) <= 2_000
    real = MonotonicToSystem()
    assert abs(real.now() - time.time_ns()) < 50_000_000
