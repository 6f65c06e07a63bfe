"""`resize_lanczos` reproduces Pillow 13's Lanczos resize (pass order included) whatever Pillow is installed.

Oracles that hold in every Pillow version: a plain `resize` for images whose height shrinks by at most twice as many
pixels as their width (horizontal pass first everywhere), and transpose-resize-transpose for the others (Pillow 13
runs the vertical pass first there, which is the horizontal-first resize of the transposed image).
"""

import numpy as np
import pytest
from PIL import Image
from trellis2_models.conditioning import resize_lanczos


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Uniform noise, the input on which the pass order matters most (Lanczos overshoot is clipped to 8 bits)."""
    pixels = np.random.default_rng(width * 1000 + height).integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    return Image.fromarray(pixels, mode)


def plain_resize(image: Image.Image, size: int) -> np.ndarray:
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.int16)


def horizontal_first(image: Image.Image, size: int) -> np.ndarray:
    """Horizontal pass, then vertical, in every Pillow version: each call resizes one axis only."""
    wide = image.resize((size, image.height), Image.Resampling.LANCZOS)
    return np.asarray(wide.resize((size, size), Image.Resampling.LANCZOS), dtype=np.int16)


def vertical_first(image: Image.Image, size: int) -> np.ndarray:
    transposed = image.transpose(Image.Transpose.TRANSPOSE).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(transposed.transpose(Image.Transpose.TRANSPOSE), dtype=np.int16)


@pytest.mark.parametrize(
    ("width", "height", "size"),
    [(70, 90, 64), (79, 96, 64), (40, 50, 48), (33, 200, 64)],  # height shrinks by more than twice the width
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_tall_images_run_the_vertical_pass_first(width: int, height: int, size: int, mode: str) -> None:
    image = noise(width, height, mode)
    ours = np.asarray(resize_lanczos(image, size), dtype=np.int16)
    np.testing.assert_array_equal(ours, vertical_first(image, size))
    # the two orders really differ here, so the check above can tell them apart
    assert np.abs(horizontal_first(image, size) - vertical_first(image, size)).max() >= 5


@pytest.mark.parametrize(
    ("width", "height", "size"),
    [(90, 70, 64), (80, 96, 64), (100, 100, 64), (50, 40, 64)],  # (80, 96): exactly twice, still horizontal first
)
def test_other_images_run_the_horizontal_pass_first(width: int, height: int, size: int) -> None:
    image = noise(width, height)
    np.testing.assert_array_equal(np.asarray(resize_lanczos(image, size), dtype=np.int16), plain_resize(image, size))


def test_same_size_and_palette_images_resize_as_pillow_does() -> None:
    image = noise(64, 64, "RGBA")
    np.testing.assert_array_equal(np.asarray(resize_lanczos(image, 64)), np.asarray(image))  # no premultiply round trip
    palette = noise(70, 90).convert("P")
    assert resize_lanczos(palette, 64).tobytes() == palette.resize((64, 64), Image.Resampling.NEAREST).tobytes()
