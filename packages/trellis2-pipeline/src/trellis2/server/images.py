"""Decoding of user-supplied base64 images, with the checks a public endpoint needs."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError


class ImageRejected(ValueError):
    """An uploaded image that cannot be used; `status_code` is the HTTP status to answer with."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


def decode_image(image_base64: str, max_bytes: int, max_pixels: int) -> Image.Image:
    """Base64 (optionally a data URL) -> RGBA or RGB PIL image; raises ImageRejected with a readable reason."""
    payload = image_base64.strip()
    if payload.startswith("data:"):
        payload = payload.partition(",")[2]
    if len(payload) * 3 // 4 > max_bytes:
        raise ImageRejected(f"image is larger than the limit of {max_bytes} bytes", 413)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("image_base64 is not valid base64") from None
    if not raw:
        raise ImageRejected("image_base64 is empty")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            width, height = probe.size
            if width * height > max_pixels:
                raise ImageRejected(f"image has {width}x{height} pixels, more than the limit of {max_pixels}", 413)
            probe.load()
            image = probe.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageRejected("image_base64 does not decode to an image (PNG, JPEG or WebP expected)") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    return image
