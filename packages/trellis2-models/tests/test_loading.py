"""from_pretrained: local and hub resolution, strictness, dtype casting and actionable errors (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import trellis2_models
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError
from safetensors.torch import save_file
from trellis2_models.loading import CheckpointAccessError, CheckpointMismatchError, build_model, files

TINY_FLOW = {
    "name": "SparseStructureFlowModel",
    "args": {
        "resolution": 2,
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": 24,
        "cond_channels": 8,
        "num_blocks": 1,
        "num_heads": 2,
        "mlp_ratio": 2,
        "pe_mode": "rope",
        "share_mod": True,
        "qk_rms_norm": True,
        "qk_rms_norm_cross": True,
        "dtype": "bfloat16",
    },
}


def _write_checkpoint(prefix: Path, config: dict, edit=None) -> dict[str, torch.Tensor]:
    """Write NAME.json + NAME.safetensors for a randomly initialised model, optionally editing its tensors."""
    torch.manual_seed(0)
    model = build_model(config, device="cpu")
    state = {k: v.clone() for k, v in model.state_dict().items() if k not in model.computed_buffers}
    if edit is not None:
        edit(state)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(config))
    save_file(state, prefix.with_suffix(".safetensors"))
    return state


@pytest.fixture
def tiny_prefix(tmp_path: Path) -> Path:
    return tmp_path / "ckpts" / "tiny_flow"


def test_local_round_trip_keeps_weights_and_mixed_precision(tiny_prefix):
    state = _write_checkpoint(tiny_prefix, TINY_FLOW)
    model = trellis2_models.from_pretrained(str(tiny_prefix))
    assert not model.training
    loaded = model.state_dict()
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value), key
    assert model.blocks[0].self_attn.to_qkv.weight.dtype == torch.bfloat16
    assert model.input_layer.weight.dtype == torch.float32
    assert model.rope_phases.dtype == torch.complex64 and not model.rope_phases.is_meta
    expected_phases = build_model(TINY_FLOW, device="cpu").rope_phases
    assert torch.equal(model.rope_phases, expected_phases)


def test_weights_are_cast_to_each_module_dtype(tiny_prefix):
    def to_half(state):
        for key in state:
            if state[key].is_floating_point():
                state[key] = state[key].half()

    _write_checkpoint(tiny_prefix, TINY_FLOW, edit=to_half)
    model = trellis2_models.from_pretrained(str(tiny_prefix))
    assert model.t_embedder.mlp[0].weight.dtype == torch.float32
    assert model.blocks[0].mlp.mlp[0].weight.dtype == torch.bfloat16
    as_fp32 = trellis2_models.from_pretrained(str(tiny_prefix), dtype=torch.float32)
    assert {p.dtype for p in as_fp32.parameters()} == {torch.float32}
    x, t, cond = torch.randn(1, 4, 2, 2, 2), torch.tensor([500.0]), torch.randn(1, 3, 8)
    with torch.no_grad():
        assert as_fp32(x, t, cond).shape == (1, 4, 2, 2, 2)


def test_missing_tensor_is_named(tiny_prefix):
    _write_checkpoint(tiny_prefix, TINY_FLOW, edit=lambda s: s.pop("blocks.0.mlp.mlp.2.bias"))
    with pytest.raises(CheckpointMismatchError, match=r"missing tensors \(1\): blocks\.0\.mlp\.mlp\.2\.bias") as info:
        trellis2_models.from_pretrained(str(tiny_prefix))
    assert info.value.missing == ["blocks.0.mlp.mlp.2.bias"] and not info.value.unexpected


def test_renamed_tensor_is_reported_as_missing_and_unexpected(tiny_prefix):
    def rename(state):
        state["blocks.0.self_attn.to_q.weight"] = state.pop("blocks.0.self_attn.to_qkv.weight")

    _write_checkpoint(tiny_prefix, TINY_FLOW, edit=rename)
    with pytest.raises(CheckpointMismatchError) as info:
        trellis2_models.from_pretrained(str(tiny_prefix))
    message = str(info.value)
    assert "missing tensors (1): blocks.0.self_attn.to_qkv.weight" in message
    assert "unexpected tensors (1): blocks.0.self_attn.to_q.weight" in message


def test_mis_shaped_tensor_is_named_with_both_shapes(tiny_prefix):
    def reshape(state):
        state["out_layer.weight"] = torch.zeros(5, 24)

    _write_checkpoint(tiny_prefix, TINY_FLOW, edit=reshape)
    expected = r"out_layer\.weight: checkpoint \[5, 24\], model expects \[4, 24\]"
    with pytest.raises(CheckpointMismatchError, match=expected):
        trellis2_models.from_pretrained(str(tiny_prefix))


def test_computed_buffer_in_checkpoint_is_loaded_when_present(tiny_prefix):
    def add_phases(state):
        state["rope_phases"] = torch.polar(torch.ones(8, 6), torch.full((8, 6), 0.5))

    _write_checkpoint(tiny_prefix, TINY_FLOW, edit=add_phases)
    model = trellis2_models.from_pretrained(str(tiny_prefix))
    assert torch.allclose(model.rope_phases.angle(), torch.full((8, 6), 0.5))


def test_unknown_harmless_args_are_kept_and_alias_resolves(tmp_path):
    config = {"name": "ElasticSLatFlowModel", "args": {**TINY_FLOW["args"], "in_channels": 8, "future_field": 3}}
    _write_checkpoint(tmp_path / "slat", config)
    model = trellis2_models.from_pretrained(str(tmp_path / "slat"))
    assert type(model).__name__ == "SLatFlowModel"
    assert model.extra_config == {"future_field": 3}


def test_unknown_class_and_bad_args_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model class 'NoSuchModel'"):
        build_model({"name": "NoSuchModel", "args": {}})
    with pytest.raises(ValueError, match="invalid args for SparseStructureFlowModel"):
        build_model({"name": "SparseStructureFlowModel", "args": {"resolution": 2}})
    (tmp_path / "bad.json").write_text("[1, 2]")
    (tmp_path / "bad.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="must be a JSON object"):
        trellis2_models.from_pretrained(str(tmp_path / "bad"))


def test_local_prefix_with_missing_weights_names_the_file(tiny_prefix):
    _write_checkpoint(tiny_prefix, TINY_FLOW)
    tiny_prefix.with_suffix(".safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"tiny_flow\.safetensors"):
        trellis2_models.from_pretrained(str(tiny_prefix))
    with pytest.raises(ValueError, match="neither an existing local prefix"):
        trellis2_models.from_pretrained("just-a-name")


def test_hub_reference_downloads_json_and_weights(tiny_prefix, monkeypatch):
    _write_checkpoint(tiny_prefix, TINY_FLOW)
    calls = []

    def fake_download(repo_id, filename, revision=None):
        calls.append((repo_id, filename, revision))
        return str(tiny_prefix.parent / Path(filename).name)

    monkeypatch.setattr(files, "hf_hub_download", fake_download)
    model = trellis2_models.from_pretrained("owner/repo/ckpts/tiny_flow", revision="abc")
    assert calls == [
        ("owner/repo", "ckpts/tiny_flow.json", "abc"),
        ("owner/repo", "ckpts/tiny_flow.safetensors", "abc"),
    ]
    assert type(model).__name__ == "SparseStructureFlowModel"


def test_gated_repository_gives_an_actionable_message(monkeypatch):
    def gated(repo_id, filename, revision=None):
        response = SimpleNamespace(headers={}, request=None, status_code=403)
        raise GatedRepoError("403 Client Error: access to model is restricted", response=response)

    monkeypatch.setattr(files, "hf_hub_download", gated)
    with pytest.raises(CheckpointAccessError) as info:
        trellis2_models.from_pretrained("facebook/gated-model/ckpts/NAME")
    message = str(info.value)
    assert "https://huggingface.co/facebook/gated-model" in message
    assert "accept its licence" in message and "HF_TOKEN" in message


def test_offline_cache_miss_explains_hf_hub_offline(monkeypatch):
    def offline(repo_id, filename, revision=None):
        raise LocalEntryNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr(files, "hf_hub_download", offline)
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        trellis2_models.from_pretrained("owner/repo/ckpts/NAME")


def test_download_hub_file_returns_the_cached_path_and_maps_gated_errors(tmp_path, monkeypatch):
    (tmp_path / "pipeline.json").write_text("{}")
    monkeypatch.setattr(files, "hf_hub_download", lambda repo_id, filename, revision=None: str(tmp_path / filename))
    assert files.download_hub_file("owner/repo", "pipeline.json") == tmp_path / "pipeline.json"

    def gated(repo_id, filename, revision=None):
        raise GatedRepoError("403", response=SimpleNamespace(headers={}, request=None, status_code=403))

    monkeypatch.setattr(files, "hf_hub_download", gated)
    with pytest.raises(CheckpointAccessError, match="owner/repo is a gated repository"):
        files.download_hub_file("owner/repo", "pipeline.json")
