"""gather: nearest and bilinear sampling == NumPy reference == cv2.remap (bilinear)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion_stack.kernels import KernelError, gather
from fusion_stack.kernels.reference import gather_reference


def random_uv(n: int, width: int, height: int, seed: int, *, step: float | None = None) -> np.ndarray:
    """(n, 2) float32 coordinates covering the image and a margin around it, with NaN / inf and edge cases."""
    rng = np.random.default_rng(seed)
    uv = np.stack([rng.uniform(-3.0, width + 2.0, n), rng.uniform(-3.0, height + 2.0, n)], axis=1)
    if step is not None:
        uv = np.round(uv / step) * step
    edges = [[np.nan, 1.0], [1.0, np.inf], [-np.inf, -np.inf], [-0.5, -0.5], [-0.50001, 0.0], [width - 0.5, 0.0],
             [width - 0.50001, height - 0.50001], [0.0, 0.0], [width - 1.0, height - 1.0], [-1.0, 2.0],
             [width, height], [-0.99, -0.99], [2.5, 1.5]]
    return np.concatenate([uv, edges]).astype(np.float32)


def image_of(dtype: type, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return rng.normal(size=shape).astype(dtype)
    if dtype is np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 60000), size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "mode"),
    [(np.uint8, "nearest"), (np.int16, "nearest"), (np.float32, "nearest"), (np.bool_, "nearest"),
     (np.uint8, "bilinear"), (np.float32, "bilinear"), (np.float64, "bilinear")],
)
def test_matches_reference(dtype: type, mode: str) -> None:
    image = image_of(dtype, (37, 53, 3), 0)
    uv = random_uv(4000, 53, 37, 1)
    fill = (1, 0, 1)
    got = gather(image, uv, mode=mode, fill=fill)
    want = gather_reference(image, uv, mode=mode, fill=fill)
    assert got.shape == (uv.shape[0], 3)
    if mode == "nearest":
        assert got.dtype == image.dtype
    else:
        assert got.dtype == (np.float64 if dtype is np.float64 else np.float32)
    np.testing.assert_array_equal(got, want)


def test_nearest_rule_and_fill() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    uv = np.array([[0.49, 0.0], [0.5, 0.0], [-0.5, -0.5], [-0.51, 0.0], [3.49, 2.49], [3.5, 0.0], [np.nan, 0.0],
                   [1.0, 1.5]], dtype=np.float32)
    got = gather(image, uv, fill=99)
    np.testing.assert_array_equal(got, [0, 1, 0, 99, 11, 99, 99, 9])


def test_bilinear_matches_cv2_remap() -> None:
    """cv2.remap quantises coordinates to 1/32 px: on that grid the two agree to float rounding."""
    image = image_of(np.float32, (41, 67, 3), 2)
    uv = random_uv(3000, 67, 41, 3, step=1.0 / 32.0)[:-13]  # no NaN / inf for OpenCV
    fill = -2.0
    got = gather(image, uv, mode="bilinear", fill=fill)
    remapped = cv2.remap(image, uv[None, :, 0].copy(), uv[None, :, 1].copy(), interpolation=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill, fill))[0]
    np.testing.assert_allclose(got, remapped, rtol=0, atol=1e-5)


def test_bilinear_interpolates_and_blends_with_fill() -> None:
    image = np.array([[0.0, 10.0], [20.0, 30.0]], dtype=np.float32)
    uv = np.array([[0.5, 0.5], [0.25, 0.0], [1.0, 1.0], [1.5, 0.0], [-1.0, 0.0], [-5.0, 0.0]], dtype=np.float64)
    got = gather(image, uv, mode="bilinear", fill=100.0)
    np.testing.assert_allclose(got, [15.0, 2.5, 30.0, 55.0, 100.0, 100.0], rtol=1e-6)
    assert got.dtype == np.float32


def test_two_dimensional_image_gives_flat_output() -> None:
    image = image_of(np.uint16, (10, 12), 4)
    uv = random_uv(100, 12, 10, 5)
    got = gather(image, uv)
    assert got.shape == (uv.shape[0],)
    np.testing.assert_array_equal(got, gather_reference(image, uv))


def test_fill_must_fit_the_dtype() -> None:
    image = np.zeros((4, 4, 2), dtype=np.uint8)
    uv = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(KernelError, match="fill"):
        gather(image, uv, fill=-1)
    with pytest.raises(KernelError, match="fill"):
        gather(image, uv, fill=(1, 2, 3))
    with pytest.raises(KernelError, match="mode"):
        gather(image, uv, mode="cubic")
    np.testing.assert_array_equal(gather(image, uv, mode="bilinear", fill=-1.5).shape, (3, 2))


def test_float16_image_is_read_as_float32() -> None:
    image = image_of(np.float16, (5, 6, 2), 6)
    uv = random_uv(50, 6, 5, 7)
    got = gather(image, uv)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, gather_reference(image.astype(np.float32), uv))
