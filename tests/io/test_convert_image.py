"""sensor_msgs/Image and CompressedImage round trips and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from fusion_stack.io.convert_common import ConversionContext
from fusion_stack.io.convert_image import (
    compressed_image_from_msg,
    decode_raw_image,
    image_from_msg,
    image_to_compressed_msg,
    image_to_msg,
)
from fusion_stack.io.errors import RecordingError
from fusion_stack.types import IMAGE_ENCODINGS, CameraImage

RNG = np.random.default_rng(0)


def _image(encoding: str, h: int = 5, w: int = 7) -> CameraImage:
    channels, dtypes = IMAGE_ENCODINGS[encoding]
    dtype = np.dtype(dtypes[0])
    if dtype.kind == "f":
        data = RNG.normal(size=(h, w, channels)).astype(dtype)
    else:
        data = RNG.integers(0, np.iinfo(dtype).max, size=(h, w, channels), endpoint=True).astype(dtype)
    return CameraImage(1_700_000_000_123_456_789, "cam_optical", "cam", data, encoding)


def _through_cdr(msg: Any, msgtype: str, typestore: Any) -> Any:
    return typestore.deserialize_cdr(typestore.serialize_cdr(msg, msgtype), msgtype)


@pytest.mark.parametrize("encoding", list(IMAGE_ENCODINGS))
@pytest.mark.parametrize(("padding", "bigendian"), [(0, False), (5, False), (3, True)])
def test_raw_image_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], encoding: str,
                              padding: int, bigendian: bool) -> None:
    image = _image(encoding)
    row = image.width * image.data.shape[2] * image.data.dtype.itemsize
    msg = _through_cdr(image_to_msg(image, typestore, step=row + padding, is_bigendian=bigendian),
                       "sensor_msgs/msg/Image", typestore)
    assert msg.step == row + padding and bool(msg.is_bigendian) == bigendian
    back = image_from_msg(msg, ctx("sensor_msgs/msg/Image", sensor_id="cam"))
    assert (back.stamp_ns, back.frame_id, back.sensor_id, back.encoding) == (
        image.stamp_ns, image.frame_id, image.sensor_id, image.encoding)
    assert back.data.dtype == image.data.dtype and back.data.dtype.isnative
    np.testing.assert_array_equal(back.data, image.data)


def test_raw_image_is_a_view_of_the_message_buffer(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    image = _image("rgb8", 4, 6)
    msg = _through_cdr(image_to_msg(image, typestore, step=6 * 3 + 2), "sensor_msgs/msg/Image", typestore)
    back = image_from_msg(msg, ctx("sensor_msgs/msg/Image"))
    assert np.shares_memory(back.data, msg.data)


def test_frame_override_and_zero_stamp(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    image = CameraImage(0, "cam_optical", "cam", np.zeros((2, 2), np.uint8), "mono8")
    msg = image_to_msg(image, typestore)
    back = image_from_msg(msg, ctx("sensor_msgs/msg/Image", frame_id="override", log_stamp_ns=99))
    assert (back.frame_id, back.stamp_ns) == ("override", 99)  # an unset header stamp takes the log stamp


@pytest.mark.parametrize(("data_size", "step", "field"), [(5 * 21 - 1, 21, "data"), (5 * 21 + 3, 21, "data"),
                                                          (5 * 20, 20, "step")])
def test_data_size_disagreeing_with_header(data_size: int, step: int, field: str) -> None:
    with pytest.raises(RecordingError) as info:
        decode_raw_image(np.zeros(data_size, np.uint8), height=5, width=7, encoding="rgb8", step=step,
                         is_bigendian=False)
    assert info.value.field == field


def test_unknown_encoding() -> None:
    with pytest.raises(RecordingError, match="unsupported image encoding 'nv12'") as info:
        decode_raw_image(np.zeros(10, np.uint8), height=1, width=10, encoding="nv12", step=10, is_bigendian=False)
    assert info.value.field == "encoding"


def test_bayer_and_yuv_become_bgr8() -> None:
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 2] = 200  # red
    bayer = np.zeros((4, 6), np.uint8)
    bayer[0::2, 0::2] = 200  # RGGB: red at even rows and columns
    pixels, enc = decode_raw_image(bayer.reshape(-1), height=4, width=6, encoding="bayer_rggb8", step=6,
                                   is_bigendian=False)
    assert enc == "bgr8" and pixels.shape == (4, 6, 3)
    assert pixels[1:3, 1:5, 2].mean() > 150 and pixels[1:3, 1:5, :2].mean() < 30
    yuv = cv2.cvtColor(np.full((2, 4, 3), 128, np.uint8), cv2.COLOR_BGR2YUV)
    uyvy = np.stack([yuv[..., 1], yuv[..., 0]], axis=-1)  # U Y V Y: (H, W, 2) with chroma 128 for grey
    pixels, enc = decode_raw_image(uyvy.reshape(-1), height=2, width=4, encoding="yuv422", step=8,
                                   is_bigendian=False)
    assert enc == "bgr8" and abs(int(pixels.mean()) - 128) <= 2


@pytest.mark.parametrize(("encoding", "image_format", "expect"), [
    ("bgr8", "png", "bgr8"), ("rgb8", "png", "bgr8"), ("rgba8", "png", "bgra8"), ("mono8", "png", "mono8"),
    ("mono16", "png", "mono16"), ("16UC1", "png", "mono16"), ("bgr8", "jpeg", "bgr8"), ("mono8", "jpeg", "mono8"),
])
def test_compressed_round_trip(typestore: Any, ctx: Callable[..., ConversionContext], encoding: str,
                               image_format: str, expect: str) -> None:
    image = _image(encoding, 16, 24)
    if image_format == "jpeg":  # JPEG is lossy: use a smooth image
        smooth = np.broadcast_to(np.linspace(0, 255, 24, dtype=np.uint8)[None, :, None], image.data.shape)
        image = CameraImage(image.stamp_ns, image.frame_id, image.sensor_id, smooth.copy(), encoding)
    msg = _through_cdr(image_to_compressed_msg(image, typestore, image_format=image_format),
                       "sensor_msgs/msg/CompressedImage", typestore)
    assert msg.format.startswith(f"{encoding}; {image_format} compressed")
    back = compressed_image_from_msg(msg, ctx("sensor_msgs/msg/CompressedImage"))
    assert back.encoding == expect and back.stamp_ns == image.stamp_ns
    want = image.data
    if encoding == "rgb8":
        want = want[..., ::-1]
    elif encoding == "rgba8":
        want = want[..., [2, 1, 0, 3]]
    got = back.data.astype(np.int32)
    if image_format == "png":
        np.testing.assert_array_equal(got, want.astype(np.int32))
    else:
        assert np.abs(got - want.astype(np.int32)).max() <= 8


def test_compressed_depth(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    depth = RNG.integers(0, 5000, size=(6, 8)).astype(np.uint16)
    ok, png = cv2.imencode(".png", depth)
    assert ok
    header = np.zeros(12, np.uint8)
    msg = typestore.types["sensor_msgs/msg/CompressedImage"](
        header=image_to_msg(_image("mono8"), typestore).header, format="16UC1; compressedDepth png",
        data=np.concatenate([header, png.reshape(-1)]))
    back = compressed_image_from_msg(msg, ctx("sensor_msgs/msg/CompressedImage"))
    assert back.encoding == "16UC1"
    np.testing.assert_array_equal(back.data[..., 0], depth)


def test_corrupt_compressed_image(typestore: Any, ctx: Callable[..., ConversionContext]) -> None:
    msg = image_to_compressed_msg(_image("bgr8", 8, 8), typestore, image_format="png")
    msg.data = msg.data[: len(msg.data) // 3]
    with pytest.raises(RecordingError) as info:
        compressed_image_from_msg(msg, ctx("sensor_msgs/msg/CompressedImage"))
    assert info.value.field == "data"
