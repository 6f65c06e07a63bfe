"""Print the relative L2 error of every parity case (../shared/parity) per device and precision.

The tests assert these errors on the CPU in float32; this report also covers the GPU paths (Triton sparse conv, flash
attention) in float32 and in the checkpoints' own mixed precision, which is what issue 4 asks to record.
Usage: python parity_report.py [--shared ../shared] [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from sparsetensor import SparseTensor
from trellis2_models import from_pretrained

# precision label -> dtype passed to from_pretrained (None keeps the checkpoint's mixed precision)
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "mixed": None}
FLOW_PRECISIONS = ("fp32", "bf16", "fp16")
DECODER_PRECISIONS = ("fp32", "mixed")


def rel_l2(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours.double().cpu() - reference.double().cpu()).norm() / reference.double().cpu().norm())


def sparse_error(coords: torch.Tensor, feats: torch.Tensor, ref_coords: torch.Tensor, ref_feats: torch.Tensor) -> str:
    """Error after sorting rows by coordinates; reports a coordinate mismatch instead when the voxel sets differ."""
    def ordered(c, f):
        order = torch.from_numpy(np.lexsort(c.long().cpu().numpy().T[::-1]).copy())
        return c.cpu()[order].int(), f.cpu()[order]

    coords, feats = ordered(coords, feats)
    ref_coords, ref_feats = ordered(ref_coords, ref_feats)
    if not torch.equal(coords, ref_coords):
        return f"voxel sets differ ({len(coords)} vs {len(ref_coords)})"
    return f"{rel_l2(feats, ref_feats):.1e}"


def run_case(case: str, parity: Path, device: str, precision: str) -> str:
    """Run one parity case and return its error as text."""
    model = from_pretrained(str(parity / case), device=device, dtype=PRECISIONS[precision])
    io = load_file(parity / f"{case}.io.safetensors", device=device)
    with torch.no_grad():
        if case == "ss_flow":
            return f"{rel_l2(model(io['x'], io['t'], io['cond']), io['out']):.1e}"
        if case in ("shape_flow", "tex_flow"):
            concat = SparseTensor(io["concat_feats"], io["coords"]) if "concat_feats" in io else None
            out = model(SparseTensor(io["feats"], io["coords"]), io["t"], io["cond"], concat_cond=concat)
            return sparse_error(out.coords, out.feats, io["out_coords"], io["out_feats"])
        if case == "ss_dec":
            return f"{rel_l2(model(io['z']), io['out']):.1e}"
        latent = SparseTensor(io["feats"], io["coords"])
        if case == "shape_dec":
            raw, _ = model.decode_features(latent)
        else:
            raw = model(latent, guide_subs=[io["sub0_logits"], io["sub1_logits"]])
        return sparse_error(raw.coords, raw.feats.float(), io["out_coords"], io["out_feats"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / ".." / "shared")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    parity = args.shared / "parity"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print("| case | device | precision | relative L2 error |")
    print("| --- | --- | --- | ---: |")
    for case in ("ss_flow", "shape_flow", "tex_flow", "ss_dec", "shape_dec", "tex_dec"):
        precisions = FLOW_PRECISIONS if case.endswith("flow") else DECODER_PRECISIONS
        for device in args.devices.split(","):
            for precision in precisions:
                print(f"| {case} | {device} | {precision} | {run_case(case, parity, device, precision)} |", flush=True)


if __name__ == "__main__":
    main()
