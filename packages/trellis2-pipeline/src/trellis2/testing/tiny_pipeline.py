"""Write a tiny TRELLIS.2 pipeline (random weights, real classes and channel counts) in the hub folder layout.

The folder holds `pipeline.json` plus `ckpts/NAME.json|safetensors` for every model and a tiny DINOv3 in
`dinov3/` (transformers format), so `Trellis2ImageTo3DPipeline.from_pretrained(folder)` runs the whole chain on a
CPU in seconds. A few layers are scaled so the random model produces small, bounded workloads: the flows predict
small velocities, the sparse-structure decoder keeps about `occupancy` of the grid, and the shape decoder subdivides
each voxel into one child per level except the last, which keeps all eight.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

LATENT_CHANNELS = 32
COND_CHANNELS = 64  # hidden size of the tiny DINOv3 below
SPARSE_BLOCK_ARGS = [{"use_checkpoint": False}] * 5


def _flow(in_channels: int, resolution: int, sparse: bool) -> dict[str, Any]:
    return {
        "name": "SLatFlowModel" if sparse else "SparseStructureFlowModel",
        "args": {
            "resolution": resolution, "in_channels": in_channels,
            "out_channels": LATENT_CHANNELS if sparse else in_channels,
            "model_channels": 64, "cond_channels": COND_CHANNELS, "num_blocks": 1, "num_heads": 2,
            "mlp_ratio": 2.0, "pe_mode": "rope", "share_mod": True, "initialization": "scaled",
            "qk_rms_norm": True, "qk_rms_norm_cross": True, "dtype": "float32",
        },
    }


def _sparse_decoder(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "args": {
            **extra, "model_channels": [64, 32, 16, 16, 16], "latent_channels": LATENT_CHANNELS,
            "num_blocks": [1, 0, 0, 0, 0], "block_type": ["SparseConvNeXtBlock3d"] * 5,
            "up_block_type": ["SparseResBlockC2S3d"] * 4, "block_args": SPARSE_BLOCK_ARGS, "use_fp16": False,
        },
    }


#: Tiny configs keyed by the pipeline's model names (the official checkpoints' classes and channel counts).
TINY_MODEL_CONFIGS: dict[str, dict[str, Any]] = {
    "sparse_structure_flow_model": _flow(8, 16, sparse=False),
    "sparse_structure_decoder": {
        "name": "SparseStructureDecoder",
        "args": {"out_channels": 1, "latent_channels": 8, "num_res_blocks": 1, "num_res_blocks_middle": 1,
                 "channels": [32, 16, 8], "use_fp16": False},
    },
    "shape_slat_flow_model_512": _flow(LATENT_CHANNELS, 32, sparse=True),
    "shape_slat_flow_model_1024": _flow(LATENT_CHANNELS, 64, sparse=True),
    "tex_slat_flow_model_512": _flow(2 * LATENT_CHANNELS, 32, sparse=True),
    "tex_slat_flow_model_1024": _flow(2 * LATENT_CHANNELS, 64, sparse=True),
    "shape_slat_decoder": _sparse_decoder("FlexiDualGridVaeDecoder", {"resolution": 256}),
    "tex_slat_decoder": _sparse_decoder("SparseUnetVaeDecoder", {"out_channels": 6, "pred_subdiv": False}),
}

TINY_DINOV3 = {
    "hidden_size": COND_CHANNELS, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_register_tokens": 4, "patch_size": 16, "image_size": 64, "layerscale_value": 0.5,
}

TINY_SAMPLER_PARAMS = {
    "sparse_structure_sampler": {"guidance_strength": 7.5, "guidance_rescale": 0.7, "guidance_interval": [0.6, 1.0],
                                 "rescale_t": 5.0},
    "shape_slat_sampler": {"guidance_strength": 7.5, "guidance_rescale": 0.5, "guidance_interval": [0.6, 1.0],
                           "rescale_t": 3.0},
    "tex_slat_sampler": {"guidance_strength": 1.0, "guidance_rescale": 0.0, "guidance_interval": [0.6, 0.9],
                         "rescale_t": 3.0},
}


def _randomize(model: nn.Module, generator: torch.Generator) -> None:
    """Give every parameter a random value: fan-in scaled weights, scales near 1, small offsets (nothing zero)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.ndim >= 2:
                value = noise / math.sqrt(param[0].numel())
            elif name.endswith(("weight", "gamma")):
                value = 1.0 + 0.1 * noise
            else:
                value = 0.1 * noise
            param.copy_(value.to(param.dtype))


def _shrink_flow_output(model: nn.Module, factor: float = 0.2) -> None:
    """Scale the output layer so sampled latents stay near unit scale (keeps downstream calibration valid)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("out_layer."):
                param.mul_(factor)


def _calibrate_occupancy(decoder: nn.Module, occupancy: float, generator: torch.Generator) -> None:
    """Shift the decoder's final bias so about `occupancy` of the output grid is occupied for unit-normal latents."""
    flow_args = TINY_MODEL_CONFIGS["sparse_structure_flow_model"]["args"]
    resolution = flow_args["resolution"]
    z = torch.randn(2, flow_args["out_channels"], resolution, resolution, resolution, generator=generator)
    bias = [param for name, param in decoder.named_parameters() if name.endswith("bias")][-1]
    with torch.no_grad():
        logits = decoder(z).flatten().float()
        bias -= torch.quantile(logits, 1.0 - occupancy).to(bias.dtype)


def _limit_subdivision(decoder: nn.Module, generator: torch.Generator) -> None:
    """Make every upsampling block but the last keep one random child per voxel and the last keep all eight, so the
    voxel count stays small while each final 2x2x2 block has interior edges to extract faces from."""
    with torch.no_grad():
        biases = [param for name, param in decoder.named_parameters() if name.endswith("to_subdiv.bias")]
        for name, param in decoder.named_parameters():
            if name.endswith("to_subdiv.weight"):
                param.mul_(0.05)
        for level, bias in enumerate(biases):
            value = torch.full(bias.shape, 2.0)
            if level < len(biases) - 1:
                value.fill_(-2.0)
                value[torch.randint(bias.numel(), (1,), generator=generator)] = 2.0
            bias.copy_(value.to(bias.dtype))


def _save_checkpoint(model: nn.Module, config: dict[str, Any], prefix: Path) -> None:
    computed = set(getattr(model, "computed_buffers", ()))
    state = {key: value.contiguous() for key, value in model.state_dict().items() if key not in computed}
    save_file(state, str(prefix.with_suffix(".safetensors")))
    prefix.with_suffix(".json").write_text(json.dumps(config, indent=2))


def _write_dinov3(folder: Path, seed: int) -> None:
    try:
        from transformers import DINOv3ViTConfig, DINOv3ViTModel
    except ImportError:
        raise ImportError(
            "writing the tiny pipeline needs transformers>=4.56 for its DINOv3 conditioning model: "
            "pip install 'transformers>=4.56'"
        ) from None
    with torch.random.fork_rng(devices=[]):  # transformers initialises from the global RNG; leave the caller's alone
        torch.manual_seed(seed)
        DINOv3ViTModel(DINOv3ViTConfig(**TINY_DINOV3)).save_pretrained(str(folder))


def _normalization(generator: torch.Generator) -> dict[str, list[float]]:
    mean = torch.randn(LATENT_CHANNELS, generator=generator)
    std = 1.0 + 2.0 * torch.rand(LATENT_CHANNELS, generator=generator)
    return {"mean": [round(v, 6) for v in mean.tolist()], "std": [round(v, 6) for v in std.tolist()]}


def _pipeline_config(models: dict[str, str], generator: torch.Generator, steps: int) -> dict[str, Any]:
    samplers = {
        stage: {"name": "FlowEulerGuidanceIntervalSampler", "args": {"sigma_min": 1e-5},
                "params": {"steps": steps, **params}}
        for stage, params in TINY_SAMPLER_PARAMS.items()
    }
    return {
        "name": "Trellis2ImageTo3DPipeline",
        "args": {
            "models": models,
            **samplers,
            "shape_slat_normalization": _normalization(generator),
            "tex_slat_normalization": _normalization(generator),
            "image_cond_model": {"name": "DinoV3FeatureExtractor", "args": {"model_name": "dinov3"}},
            "rembg_model": {"name": "BiRefNet", "args": {"model_name": "ZhengPeng7/BiRefNet"}},
            "default_pipeline_type": "1024_cascade",
        },
    }


def build_tiny_model(key: str, generator: torch.Generator, occupancy: float = 0.0004) -> nn.Module:
    """The tiny random model for pipeline model `key` (a TINY_MODEL_CONFIGS key), in eval mode on the CPU."""
    from trellis2_models.loading import build_model

    model = build_model(copy.deepcopy(TINY_MODEL_CONFIGS[key]), device="cpu").eval()
    _randomize(model, generator)
    if "flow_model" in key:
        _shrink_flow_output(model)
    elif key == "sparse_structure_decoder":
        _calibrate_occupancy(model, occupancy, generator)
    elif key == "shape_slat_decoder":
        _limit_subdivision(model, generator)
    return model


def missing_requirements(for_running: bool = False) -> list[str]:
    """What this environment lacks to write the tiny pipeline (model classes, transformers) or, with
    `for_running`, also to run it end to end (sparse tensors, conditioning, mesh extraction); empty when ready."""
    from trellis2_models.registry import resolve_model_class

    missing = set()
    for config in TINY_MODEL_CONFIGS.values():
        try:
            resolve_model_class(config["name"])
        except (ValueError, ImportError, AttributeError):
            missing.add(config["name"])
    if importlib.util.find_spec("transformers") is None:
        missing.add("transformers")
    if for_running:
        needed = {"sparsetensor": "SparseTensor", "ovoxel": "flexible_dual_grid_to_mesh",
                  "trellis2_models.conditioning": "DinoV3FeatureExtractor"}
        for module, attribute in needed.items():
            try:
                getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError):
                missing.add(f"{module}.{attribute}")
    return sorted(missing)


def write_tiny_pipeline(
    directory: str | Path, seed: int = 0, steps: int = 4, occupancy: float = 0.0004
) -> Path:
    """Write a complete tiny random-weight pipeline folder into `directory` (created if needed) and return it.

    Same `seed` gives byte-identical weights. `steps` sets every sampler's default step count; `occupancy` the
    fraction of the 64^3 sparse-structure grid the decoder keeps (about 100 voxels at the default).
    """
    if not 0.0 < occupancy < 1.0:
        raise ValueError(f"occupancy must be in (0, 1), got {occupancy!r}")
    missing = missing_requirements()
    if missing:
        raise ImportError(f"the tiny pipeline needs components this environment lacks: {', '.join(missing)}")
    root = Path(directory)
    (root / "ckpts").mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    models = {}
    for key, config in TINY_MODEL_CONFIGS.items():
        model = build_tiny_model(key, generator, occupancy)
        _save_checkpoint(model, config, root / "ckpts" / f"tiny_{key}")
        models[key] = f"ckpts/tiny_{key}"
    _write_dinov3(root / "dinov3", seed)
    config = _pipeline_config(models, generator, steps)
    (root / "pipeline.json").write_text(json.dumps(config, indent=2))
    return root
