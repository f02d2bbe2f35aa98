"""``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` <-> :class:`CameraImage`.

Raw images: the encodings of :data:`fusion_stack.types.IMAGE_ENCODINGS` (rgb8, bgr8, rgba8, bgra8, mono8,
mono16, 16UC1, 32FC1) decode as zero-copy NumPy views over the message buffer (rows ``step`` bytes apart, so
row padding costs nothing); 16/32-bit data whose ``is_bigendian`` differs from the machine is byte-swapped (a
copy). ``8UC1`` is read as mono8; Bayer (``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``, ``bayer_grbg8``) and
YUV 4:2:2 (``yuv422``/``uyvy``, ``yuv422_yuy2``/``yuyv``) are converted to bgr8 with OpenCV.

Compressed images (``format`` as written by image_transport, e.g. ``jpeg``, ``png``, ``rgb8; jpeg compressed
bgr8``) decode with ``cv2.imdecode``: colour images come back as bgr8/bgra8 (OpenCV's order, stated in the
sample's ``encoding``), grey ones as mono8/mono16. ``compressedDepth`` PNGs decode to 16UC1, or to 32FC1 with
the inverse-depth quantisation of compressed_depth_image_transport (invalid pixels NaN).
"""

from __future__ import annotations

import struct
import sys
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fusion_stack.io.convert_common import ConversionContext, header_of
from fusion_stack.io.errors import RecordingError
from fusion_stack.io.ros_messages import make_header, message_class
from fusion_stack.types import CameraImage

#: encoding -> (channels, dtype, encoding of the decoded CameraImage)
RAW_ENCODINGS: dict[str, tuple[int, type[np.generic], str]] = {
    "rgb8": (3, np.uint8, "rgb8"),
    "bgr8": (3, np.uint8, "bgr8"),
    "rgba8": (4, np.uint8, "rgba8"),
    "bgra8": (4, np.uint8, "bgra8"),
    "mono8": (1, np.uint8, "mono8"),
    "8UC1": (1, np.uint8, "mono8"),
    "mono16": (1, np.uint16, "mono16"),
    "16UC1": (1, np.uint16, "16UC1"),
    "32FC1": (1, np.float32, "32FC1"),
}
#: encodings converted to bgr8 with OpenCV: encoding -> (channels in the message, cv2 conversion code)
CONVERTED_ENCODINGS: dict[str, tuple[int, int]] = {
    "bayer_rggb8": (1, cv2.COLOR_BayerBG2BGR),  # OpenCV names Bayer patterns by the second row (as cv_bridge)
    "bayer_bggr8": (1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": (1, cv2.COLOR_BayerGB2BGR),
    "yuv422": (2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2BGR_YUYV),
    "yuyv": (2, cv2.COLOR_YUV2BGR_YUYV),
}
_NATIVE_BIG = sys.byteorder == "big"


def decode_raw_image(data: Any, *, height: int, width: int, encoding: str, step: int,
                     is_bigendian: bool) -> tuple[npt.NDArray[Any], str]:
    """(pixels (H, W, C), CameraImage encoding) of a raw image buffer; zero copy where the layout allows.

    RecordingError (field ``encoding``, ``step``, ``data``, ``height``/``width``) when the header and the buffer
    disagree.
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.dtype != np.uint8:
        buf = buf.view(np.uint8)
    if height <= 0 or width <= 0:
        raise RecordingError(f"image size must be positive, got height {height}, width {width}",
                             field="height" if height <= 0 else "width")
    if encoding in RAW_ENCODINGS:
        channels, dtype_type, out_encoding = RAW_ENCODINGS[encoding]
    elif encoding in CONVERTED_ENCODINGS:
        channels, dtype_type, out_encoding = CONVERTED_ENCODINGS[encoding][0], np.uint8, "bgr8"
    else:
        raise RecordingError(
            f"unsupported image encoding {encoding!r}; supported: "
            f"{', '.join([*RAW_ENCODINGS, *CONVERTED_ENCODINGS])}", field="encoding")
    dtype = np.dtype(dtype_type)
    if dtype.itemsize > 1 and bool(is_bigendian) != _NATIVE_BIG:
        dtype = dtype.newbyteorder()
    pixel = channels * dtype.itemsize
    if step < width * pixel:
        raise RecordingError(f"step {step} is less than width {width} x {pixel} bytes per {encoding} pixel",
                             field="step")
    if buf.size != step * height:
        raise RecordingError(f"data has {buf.size} bytes but height {height} x step {step} = {step * height}",
                             field="data")
    pixels: npt.NDArray[Any] = np.ndarray((height, width, channels), dtype=dtype, buffer=buf,
                                          strides=(step, pixel, dtype.itemsize))
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    if encoding in CONVERTED_ENCODINGS:
        code = CONVERTED_ENCODINGS[encoding][1]
        src = np.ascontiguousarray(pixels[:, :, 0] if channels == 1 else pixels)
        pixels = cv2.cvtColor(src, code)
    return pixels, out_encoding


def image_from_msg(msg: Any, ctx: ConversionContext) -> CameraImage:
    """``sensor_msgs/Image`` -> CameraImage (see the module docstring)."""
    stamp, frame = header_of(msg)
    pixels, encoding = decode_raw_image(msg.data, height=int(msg.height), width=int(msg.width),
                                        encoding=str(msg.encoding), step=int(msg.step),
                                        is_bigendian=bool(msg.is_bigendian))
    return CameraImage(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, pixels, encoding)


def decode_compressed_image(data: Any, fmt: str) -> tuple[npt.NDArray[Any], str]:
    """(pixels, CameraImage encoding) of a CompressedImage payload with image_transport ``format``."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    depth = "compresseddepth" in fmt.lower()
    if depth:
        if buf.size < 12:
            raise RecordingError(f"compressedDepth data has {buf.size} bytes, less than its 12-byte header",
                                 field="data")
        quant_a, quant_b = struct.unpack("<ff", buf[4:12].tobytes())
        buf = buf[12:]
    pixels = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if pixels is None:
        raise RecordingError(f"cannot decode {buf.size} bytes of format {fmt!r} (corrupt or unsupported)",
                             field="data")
    if depth:
        if pixels.dtype != np.uint16 or pixels.ndim != 2:
            raise RecordingError(f"compressedDepth must hold a 16-bit grey PNG, got {pixels.dtype} "
                                 f"shape {pixels.shape}", field="data")
        if fmt.strip().lower().startswith("32fc1"):
            with np.errstate(divide="ignore"):
                depth32 = (quant_a / (pixels.astype(np.float32) - np.float32(quant_b))).astype(np.float32)
            depth32[pixels == 0] = np.nan
            return depth32, "32FC1"
        return pixels, "16UC1"
    if pixels.ndim == 2:
        if pixels.dtype == np.uint8:
            return pixels, "mono8"
        if pixels.dtype == np.uint16:
            return pixels, "mono16"
    elif pixels.dtype == np.uint8 and pixels.shape[2] in (3, 4):
        return pixels, "bgr8" if pixels.shape[2] == 3 else "bgra8"
    raise RecordingError(f"decoded image of dtype {pixels.dtype} shape {pixels.shape} has no CameraImage "
                         f"encoding", field="format")


def compressed_image_from_msg(msg: Any, ctx: ConversionContext) -> CameraImage:
    """``sensor_msgs/CompressedImage`` -> CameraImage (see the module docstring)."""
    stamp, frame = header_of(msg)
    pixels, encoding = decode_compressed_image(msg.data, str(msg.format))
    return CameraImage(ctx.stamp(stamp), ctx.frame(frame), ctx.sensor_id, pixels, encoding)


# --- encoding (writing recordings, tests) ---------------------------------------------------------------------
def image_to_msg(image: CameraImage, typestore: Any, *, step: int | None = None,
                 is_bigendian: bool = False) -> Any:
    """A ``sensor_msgs/msg/Image`` of ``image`` (rows ``step`` bytes apart, default packed; byte order as
    ``is_bigendian``)."""
    a = image.data
    h, w = a.shape[:2]
    channels = a.shape[2] if a.ndim == 3 else 1
    dtype = a.dtype.newbyteorder(">" if is_bigendian else "<")
    row = w * channels * dtype.itemsize
    step = row if step is None else int(step)
    if step < row:
        raise RecordingError(f"step {step} is less than a row of {row} bytes", field="step")
    out = np.zeros((h, step), dtype=np.uint8)
    out[:, :row] = np.ascontiguousarray(a, dtype=dtype).view(np.uint8).reshape(h, row)
    cls = message_class(typestore, "sensor_msgs/msg/Image")
    return cls(header=make_header(typestore, image.stamp_ns, image.frame_id), height=h, width=w,
               encoding=image.encoding, is_bigendian=int(is_bigendian), step=step, data=out.reshape(-1))


def image_to_compressed_msg(image: CameraImage, typestore: Any, *, image_format: str = "jpeg",
                            jpeg_quality: int = 95) -> Any:
    """A ``sensor_msgs/msg/CompressedImage`` (``jpeg`` or ``png``) of ``image``; format string as
    image_transport writes it (``rgb8; jpeg compressed bgr8``)."""
    if image_format not in ("jpeg", "png"):
        raise RecordingError(f"image_format must be 'jpeg' or 'png', got {image_format!r}", field="format")
    a = np.asarray(image.data)
    enc = image.encoding
    if enc == "32FC1" or (image_format == "jpeg" and a.dtype != np.uint8):
        raise RecordingError(f"cannot {image_format}-compress a {enc} image", field="encoding")
    if enc == "rgb8":
        a, stored = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGR), "bgr8"
    elif enc == "rgba8":
        a, stored = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGBA2BGRA), "bgra8"
    else:
        stored = enc
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if image_format == "jpeg" else ".png", np.ascontiguousarray(a), params)
    if not ok:
        raise RecordingError(f"OpenCV could not {image_format}-encode a {enc} image", field="data")
    cls = message_class(typestore, "sensor_msgs/msg/CompressedImage")
    return cls(header=make_header(typestore, image.stamp_ns, image.frame_id),
               format=f"{enc}; {image_format} compressed {stored}", data=encoded.reshape(-1))
