"""The pipeline benchmark runs end to end in its tiny CPU mode, and its full-size models match the checkpoints."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
ASSET = SHARED / "assets" / "DamagedHelmet" / "DamagedHelmet.gltf"

pytestmark = pytest.mark.skipif(not (SHARED / "spec").is_dir() or not ASSET.is_file(),
                                reason=f"needs the shared specs and assets at {SHARED} (../shared beside the repo)")

#: Parameter counts of the official checkpoints (shared/spec/checkpoints.md).
PUBLISHED_PARAMETERS = {
    "sparse_structure_flow_model": 1_292_179_976,
    "shape_slat_flow_model_512": 1_292_253_728,
    "shape_slat_flow_model_1024": 1_292_253_728,
    "tex_slat_flow_model_512": 1_292_302_880,
    "tex_slat_flow_model_1024": 1_292_302_880,
    "shape_slat_decoder": 474_231_463,
    "tex_slat_decoder": 474_216_006,
    "sparse_structure_decoder": 73_671_201,
}


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("transformers")
    from trellis2.testing import missing_requirements

    missing = missing_requirements(for_running=True)
    if missing:
        pytest.skip(f"the benchmark needs components not available here: {', '.join(missing)}")
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH_DIR / "bench_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    argv = ["--quick", "--types", "1024_cascade", "--low-vram", "none", "--steps", "1", "--asset-extent", "0.05",
            "--asset", str(ASSET), "--json", str(path)]
    return bench.main(argv), path


def test_quick_run_times_every_stage(quick_run):
    report, path = quick_run
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    (run,) = report["runs"]
    assert (run["pipeline_type"], run["low_vram"], run["resolution"], run["steps"]) == ("1024_cascade", False, 1024, 1)
    stages = {stage["name"]: stage for stage in run["stages"]}
    assert list(stages) == [
        "conditioning 512", "conditioning 1024", "ss flow", "ss decode", "shape flow 512 (cascade)",
        "cascade upsample", "shape flow", "texture flow", "shape decode", "texture decode", "mesh extraction",
        "hole filling", "decode transfers, attrs", "other (preprocess, noise, glue)",
    ]
    assert all(stage["seconds"] >= 0 for stage in run["stages"])
    assert run["total_s"] == pytest.approx(sum(stage["seconds"] for stage in run["stages"]), rel=1e-9)
    assert run["upstream_over_ours"] == pytest.approx(17.0 / run["total_s"])
    assert [stage["name"] for stage in run["excluded"]] == ["benchmark: asset lookups"]
    assert stages["ss flow"]["count"] == 16**3 and stages["conditioning 1024"]["count"] == 1 + 4 + 64**2
    assert stages["shape decode"]["calls"] == 2 and stages["hole filling"]["count"] == run["faces"] > 0


def test_quick_run_token_counts_follow_the_asset(bench, quick_run):
    (run,) = quick_run[0]["runs"]
    counts = {stage["name"]: stage["count"] for stage in run["stages"]}
    surface = bench.AssetSurface(ASSET, 0.05)
    # the asset's sparse structure at 32 feeds the low-resolution shape flow
    assert counts["ss decode"] == counts["shape flow 512 (cascade)"] == len(surface.level_keys(512, 32)) > 0
    # four asset-guided subdivisions reach the asset's voxels at 512, requantized to the 64^3 latent grid
    assert counts["cascade upsample"] == len(surface.grid(512)[0])
    assert counts["shape flow"] == counts["texture flow"] == len(surface.level_keys(512, 64))
    decoded = len(surface.grid(1024)[0])
    assert 0.9 * decoded <= counts["shape decode"] <= decoded
    assert counts["texture decode"] == counts["shape decode"]


def test_summary_table_compares_with_upstream(bench, quick_run):
    table = bench.summary_table(quick_run[0]["runs"])
    (row,) = [line for line in table.splitlines() if line.startswith("| 1024_cascade")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["1024_cascade", "no", "1024"] and cells[4] == "17" and cells[6] == "10"


def test_full_size_configs_build_with_published_parameter_counts(bench):
    from trellis2.pipelines.config import read_pipeline_config

    configs = bench.checkpoint_configs(SHARED / "spec", read_pipeline_config(SHARED / "spec" / "pipeline.json"))
    models = bench.build_full_models(configs, list(configs), "meta")
    counts = {key: sum(param.numel() for param in model.parameters()) for key, model in models.items()}
    assert counts == PUBLISHED_PARAMETERS


def test_random_dinov3_has_vitl16_token_layout(bench):
    import torch

    extractor = bench.build_dinov3(bench.DINOV3_VITL16, "meta")
    assert sum(param.numel() for param in extractor.model.parameters()) == 303_129_600  # ViT-L/16
    assert extractor(torch.zeros(1, 3, 512, 512, device="meta")).shape == (1, 1 + 4 + 32**2, 1024)


def test_bad_pipeline_type_is_a_clear_error(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--types", "2048"])
    assert "unknown pipeline type '2048'" in capsys.readouterr().err


def test_low_vram_runs_follow_their_normal_run(bench):
    plan = bench.run_plan(["512", "1024_cascade", "1536_cascade"], ["1024_cascade", "1024"])
    assert plan == [("512", False), ("1024_cascade", False), ("1024_cascade", True), ("1536_cascade", False),
                    ("1024", True)]
