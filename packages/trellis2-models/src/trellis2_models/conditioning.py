"""DINOv3 image conditioning: patch-token features that the TRELLIS.2 flows attend to.

Features are the hidden states after the last transformer block (skipping the model's own final norm), passed
through a parameter-free layer norm; tokens are CLS, the register tokens and then the patches. PIL inputs are
Lanczos-resized with Pillow 13's pass order whatever Pillow is installed (see `resize_lanczos`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .hf_models import load_transformers_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_lanczos(image: Image.Image, size: int) -> Image.Image:
    """Lanczos-resize `image` to size x size exactly as Pillow >= 13 does, also on older Pillow.

    Pillow resamples in two 1-D passes through an 8-bit intermediate image (rounded and clipped), so the pass order
    changes the result: up to 25/255 per pixel on noisy images. Pillow 13 (python-pillow/Pillow#9549) runs the
    vertical pass first when the height shrinks by more than twice as many pixels as the width; Pillow <= 12 always
    runs the horizontal pass first. Upstream calls `image.resize`, and the golden features were made with Pillow 13.
    """
    if image.mode in ("1", "P") or image.size == (size, size):  # NEAREST (Pillow's rule for these modes) or a copy
        return image.resize((size, size), Image.Resampling.LANCZOS)
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(image.mode)  # as `Image.resize` does, once around both passes
    work = image.convert(premultiplied) if premultiplied else image
    width, height = work.size
    shrink_x, shrink_y = width - size, height - size
    # each call below resizes one axis only, so Pillow runs exactly one pass of its own whatever its version
    first = (width, size) if shrink_y > 0 and shrink_y > 2 * shrink_x else (size, height)
    work = work.resize(first, Image.Resampling.LANCZOS).resize((size, size), Image.Resampling.LANCZOS)
    return work.convert(image.mode) if premultiplied else work


def _block_stack(model: nn.Module) -> nn.ModuleList:
    """Return the transformer blocks: `model.layer` in transformers 4.56+, `model.model.layer` in 5.x."""
    if isinstance(getattr(model, "layer", None), nn.ModuleList):
        return model.layer
    inner = getattr(model, "model", None)
    if inner is not None and isinstance(getattr(inner, "layer", None), nn.ModuleList):
        return inner.layer
    raise TypeError(f"{type(model).__name__} has no DINOv3 block list at .layer or .model.layer")


class DinoV3FeatureExtractor:
    """Image -> DINOv3 token features [B, 1 + registers + patches, C] as the TRELLIS.2 flows expect them."""

    def __init__(self, model_name: str, image_size: int = 512, model: nn.Module | None = None) -> None:
        if not isinstance(image_size, int) or image_size <= 0:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        self.model_name = model_name
        self.image_size = image_size
        self.model = (model if model is not None else load_transformers_model("AutoModel", model_name)).eval()
        self._blocks = _block_stack(self.model)

    @property
    def device(self) -> torch.device:
        """Device the DINOv3 weights live on."""
        return self.model.embeddings.patch_embeddings.weight.device

    def to(self, device: torch.device | str) -> DinoV3FeatureExtractor:
        """Move the model (e.g. to CPU between calls to save GPU memory); returns self."""
        self.model.to(device)
        return self

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Resize PIL images square with Lanczos (before dropping alpha, as upstream) to [0, 1] [B, 3, S, S]."""
        if not all(isinstance(image, Image.Image) for image in images):
            raise TypeError("images must be PIL images (or pass a [B, 3, H, W] tensor in [0, 1])")
        resized = [resize_lanczos(image, self.image_size).convert("RGB") for image in images]
        arrays = [np.asarray(image, dtype=np.float32) / 255 for image in resized]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    def extract_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Run ImageNet-normalised pixels [B, 3, H, W] through the blocks and apply a non-affine layer norm."""
        hidden = self.model.embeddings(pixels, bool_masked_pos=None)
        rope = self.model.rope_embeddings(pixels)
        for block in self._blocks:
            hidden = block(hidden, position_embeddings=rope)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return F.layer_norm(hidden, hidden.shape[-1:])

    @torch.no_grad()
    def __call__(self, images: torch.Tensor | Sequence[Image.Image]) -> torch.Tensor:
        """Features for a [B, 3, H, W] tensor in [0, 1] or a list of PIL images."""
        if isinstance(images, torch.Tensor):
            if images.ndim != 4 or images.shape[1] != 3:
                raise ValueError(f"image tensor must be [B, 3, H, W], got shape {tuple(images.shape)}")
            pixels = images
        elif isinstance(images, (list, tuple)):
            pixels = self.preprocess(images)
        else:
            raise TypeError(f"expected a tensor or a list of PIL images, got {type(images).__name__}")
        weight = self.model.embeddings.patch_embeddings.weight
        mean = torch.tensor(IMAGENET_MEAN, device=weight.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=weight.device).view(1, 3, 1, 1)
        pixels = (pixels.to(weight.device, torch.float32) - mean) / std
        return self.extract_features(pixels.to(weight.dtype))
