"""Gradient checkpointing (`use_checkpoint`) changes memory use only, not values or gradients."""

from __future__ import annotations

import torch
from trellis2_models.loading import build_model

ARGS = {
    "resolution": 2,
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 24,
    "cond_channels": 8,
    "num_blocks": 2,
    "num_heads": 2,
    "mlp_ratio": 2,
    "share_mod": False,
    "qk_rms_norm": True,
}


def _loss_and_grads(use_checkpoint: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = build_model({"name": "SparseStructureFlowModel", "args": {**ARGS, "use_checkpoint": use_checkpoint}}, "cpu")
    x, t, cond = torch.randn(2, 4, 2, 2, 2), torch.tensor([100.0, 900.0]), torch.randn(2, 3, 8)
    loss = model(x, t, cond).square().mean()
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in model.named_parameters()}


def test_checkpointed_blocks_give_identical_loss_and_gradients():
    plain_loss, plain_grads = _loss_and_grads(use_checkpoint=False)
    ckpt_loss, ckpt_grads = _loss_and_grads(use_checkpoint=True)
    assert torch.equal(plain_loss, ckpt_loss)
    assert plain_grads.keys() == ckpt_grads.keys()
    assert "blocks.0.adaLN_modulation.1.weight" in plain_grads  # the per-block adaLN variant (share_mod=False)
    for name, grad in plain_grads.items():
        assert grad is not None and torch.allclose(grad, ckpt_grads[name], atol=1e-7), name
