"""Input image preparation: keep or compute an alpha matte, crop square around the object, premultiply."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

MAX_INPUT_SIZE = 1024
#: Alpha above this fraction of 255 counts as object when finding its bounding box.
OBJECT_ALPHA_THRESHOLD = 0.8


def has_transparency(image: Image.Image) -> bool:
    """True when the image carries an alpha channel that is not fully opaque (so no matting is needed)."""
    if image.mode not in ("RGBA", "LA", "PA") and not (image.mode == "P" and "transparency" in image.info):
        return False
    alpha = np.asarray(image.convert("RGBA"))[:, :, 3]
    return bool((alpha < 255).any())


def limit_size(image: Image.Image, max_size: int = MAX_INPUT_SIZE) -> Image.Image:
    """Downscale (Lanczos) so the longer side is at most `max_size`; smaller images are returned unchanged."""
    scale = min(1.0, max_size / max(image.size))
    if scale >= 1.0:
        return image
    return image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)


def object_square(alpha: np.ndarray) -> tuple[float, float, float, float]:
    """Square crop box (left, top, right, bottom) centred on the pixels with alpha > 80%, side = their extent."""
    ys, xs = np.nonzero(alpha > OBJECT_ALPHA_THRESHOLD * 255)
    if xs.size == 0:
        raise ValueError("the image contains no object: its alpha matte is (almost) empty")
    left, top, right, bottom = xs.min(), ys.min(), xs.max(), ys.max()
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = int(max(right - left, bottom - top)) // 2
    return cx - half, cy - half, cx + half, cy + half


def premultiplied_rgb(rgba: Image.Image) -> Image.Image:
    """RGB image with colour multiplied by alpha (the object over black)."""
    pixels = np.asarray(rgba.convert("RGBA")).astype(np.float32) / 255
    rgb = pixels[:, :, :3] * pixels[:, :, 3:4]
    return Image.fromarray((rgb * 255).astype(np.uint8))


def preprocess_image(image: Image.Image, remove_background: Callable[[Image.Image], Image.Image] | None) -> Image.Image:
    """Object-centred square RGB image for conditioning.

    Uses the image's own alpha when it has a non-trivial one, otherwise `remove_background(rgb) -> RGBA`; crops a
    square around the object (alpha > 80%) and premultiplies the colour by alpha.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, got {type(image).__name__}")
    image = limit_size(image)
    if has_transparency(image):
        rgba = image.convert("RGBA")
    elif remove_background is None:
        raise ValueError("the image has no transparency and no background-removal model is configured")
    else:
        rgba = remove_background(image.convert("RGB")).convert("RGBA")
    box = object_square(np.asarray(rgba)[:, :, 3])
    return premultiplied_rgb(rgba.crop(box))
