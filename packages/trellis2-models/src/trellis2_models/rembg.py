"""Background removal with a BiRefNet-style segmentation model, producing the RGBA input TRELLIS.2 expects.

The default `ZhengPeng7/BiRefNet` is MIT-licensed; upstream's `briaai/RMBG-2.0` (gated, CC BY-NC) or any other
compatible model name or local folder can be passed instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .conditioning import IMAGENET_MEAN, IMAGENET_STD
from .hf_models import load_transformers_model

DEFAULT_REMBG_MODEL = "ZhengPeng7/BiRefNet"


def has_meaningful_alpha(image: Image.Image) -> bool:
    """True when the image carries an alpha channel that is not fully opaque (so it already has a cut-out)."""
    if "A" not in image.getbands():
        return False
    return image.getchannel("A").getextrema()[0] < 255


class BackgroundRemover:
    """Predict a foreground mask and return the image as RGBA; images that already have an alpha mask pass through."""

    def __init__(
        self,
        model_name: str = DEFAULT_REMBG_MODEL,
        input_size: int = 1024,
        model: nn.Module | Callable[[torch.Tensor], object] | None = None,
    ) -> None:
        if not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"input_size must be a positive int, got {input_size!r}")
        self.model_name = model_name
        self.input_size = input_size
        self._model = model
        self._device = torch.device("cpu")

    @property
    def model(self) -> nn.Module | Callable[[torch.Tensor], object]:
        """The segmentation network, loaded on first use so alpha-only workloads never download it."""
        if self._model is None:
            self._model = load_transformers_model(
                "AutoModelForImageSegmentation", self.model_name, trust_remote_code=True
            ).to(self._device)
        return self._model

    def to(self, device: torch.device | str) -> BackgroundRemover:
        """Move the model between devices (e.g. back to CPU after use to free GPU memory); returns self."""
        self._device = torch.device(device)
        if isinstance(self._model, nn.Module):
            self._model.to(self._device)
        return self

    def predict_mask(self, image: Image.Image) -> Image.Image:
        """Foreground probability as an 8-bit "L" image of the input's size."""
        rgb = np.asarray(image.convert("RGB").resize((self.input_size,) * 2, Image.BILINEAR), dtype=np.float32)
        pixels = torch.from_numpy(rgb / 255).permute(2, 0, 1)[None]
        pixels = (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        with torch.no_grad():
            outputs = self.model(pixels.to(self._device))
        logits = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
        if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[:2] != (1, 1):
            raise TypeError(f"segmentation model {self.model_name!r} must return [1, 1, H, W] mask logits (or a list "
                            "ending with them)")
        probability = F.interpolate(logits.float().sigmoid().cpu(), size=image.size[::-1], mode="bilinear")
        return Image.fromarray((probability[0, 0].numpy() * 255).round().astype(np.uint8), mode="L")

    def __call__(self, image: Image.Image) -> Image.Image:
        """Return an RGBA copy of `image` whose alpha is the predicted foreground mask (or its own alpha)."""
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image, got {type(image).__name__}")
        if has_meaningful_alpha(image):
            return image.convert("RGBA")
        result = image.convert("RGB")
        result.putalpha(self.predict_mask(image))
        return result
