"""Background removal: alpha pass-through, mask application, device moves and error messages, all offline."""

import numpy as np
import pytest
import torch
from PIL import Image
from trellis2_models.loading.errors import CheckpointAccessError
from trellis2_models.rembg import BackgroundRemover, has_meaningful_alpha


class LeftHalfSegmenter(torch.nn.Module):
    """Stand-in segmentation net: foreground is the left half of the frame, returned as a list like BiRefNet."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(20.0))
        self.calls = 0

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        width = pixels.shape[-1]
        logits = torch.full((1, 1, pixels.shape[-2], width), -1.0, device=pixels.device)
        logits[..., : width // 2] = 1.0
        return [logits * 0, logits * self.scale]


def test_alpha_image_passes_through_without_a_model() -> None:
    remover = BackgroundRemover(model_name="owner/never-downloaded")
    rgba = Image.new("RGBA", (8, 6), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (10, 20, 30, 0))
    result = remover(rgba)
    assert result.mode == "RGBA" and np.array_equal(np.asarray(result), np.asarray(rgba))
    assert remover._model is None


def test_has_meaningful_alpha() -> None:
    assert not has_meaningful_alpha(Image.new("RGB", (4, 4)))
    assert not has_meaningful_alpha(Image.new("RGBA", (4, 4), (1, 2, 3, 255)))
    assert has_meaningful_alpha(Image.new("LA", (4, 4), (1, 254)))


def test_opaque_image_gets_predicted_mask() -> None:
    segmenter = LeftHalfSegmenter()
    remover = BackgroundRemover(input_size=32, model=segmenter)
    image = Image.new("RGBA", (40, 20), (200, 100, 50, 255))
    result = remover(image)
    alpha = np.asarray(result)[..., 3]
    assert result.size == (40, 20) and segmenter.calls == 1
    assert alpha[:, :15].min() == 255 and alpha[:, 25:].max() == 0
    assert np.array_equal(np.asarray(result)[..., :3], np.asarray(image)[..., :3])


def test_to_moves_the_model() -> None:
    segmenter = LeftHalfSegmenter()
    remover = BackgroundRemover(model=segmenter).to("meta")
    assert segmenter.scale.device.type == "meta" and remover._device.type == "meta"


def test_errors_are_clear() -> None:
    with pytest.raises(TypeError, match="PIL image"):
        BackgroundRemover(model=LeftHalfSegmenter())(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="input_size"):
        BackgroundRemover(input_size=0)
    with pytest.raises(TypeError, match=r"\[1, 1, H, W\]"):
        BackgroundRemover(input_size=8, model=lambda pixels: pixels)(Image.new("RGB", (8, 8)))


def test_missing_local_model_or_gated_repo(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("transformers", reason="transformers (the 'conditioning' extra) is not installed")
    import transformers

    def gated(*args, **kwargs):
        raise OSError("You are trying to access a gated repo. Make sure to have access to it (401 Client Error)")

    monkeypatch.setattr(transformers.AutoModelForImageSegmentation, "from_pretrained", gated)
    with pytest.raises(CheckpointAccessError, match="accept its licence"):
        BackgroundRemover("briaai/RMBG-2.0")(Image.new("RGB", (4, 4)))
    monkeypatch.undo()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError):
        BackgroundRemover(str(tmp_path / "missing"))(Image.new("RGB", (4, 4)))
