import math

import pytest
import torch
from helpers import random_sparse
from sparsetensor.nn import SparseRotaryPositionEmbedder
from sparsetensor.ops import windowed_cross_attention, windowed_self_attention
from test_attention import naive


def test_rope_rotates_pairs_by_axis_frequencies():
    x = random_sparse([6, 2], 9, channels=2 * 14, seed=5).float()
    q = x.reshape(2, 14)
    rope = SparseRotaryPositionEmbedder(14, rope_freq=(1.0, 100.0))
    out = rope(q)
    freqs = [100.0 ** (-i / 2) for i in range(2)]
    for n, (_, cx, cy, cz) in enumerate(q.coords.tolist()):
        angles = [c * f for c in (cx, cy, cz) for f in freqs] + [0.0]
        for p, a in enumerate(angles):
            re, im = q.feats[n, :, 2 * p], q.feats[n, :, 2 * p + 1]
            torch.testing.assert_close(out.feats[n, :, 2 * p], re * math.cos(a) - im * math.sin(a), atol=1e-5, rtol=0)
            torch.testing.assert_close(out.feats[n, :, 2 * p + 1], re * math.sin(a) + im * math.cos(a), atol=1e-5,
                                       rtol=0)


def test_rope_preserves_relative_dot_products_and_checks_head_dim():
    x = random_sparse([5], 6, channels=12, seed=2).float().reshape(1, 12)
    rope = SparseRotaryPositionEmbedder(12)
    q, k = rope(x, x)
    torch.testing.assert_close(q.feats.norm(dim=-1), x.feats.norm(dim=-1))
    torch.testing.assert_close(q.feats, k.feats)
    with pytest.raises(ValueError, match="even"):
        SparseRotaryPositionEmbedder(7)


@pytest.mark.parametrize("shift", [0, 1, (2, 0, 1)])
def test_windowed_self_attention_matches_per_window_naive(shift):
    x = random_sparse([30, 0, 12], 6, channels=3 * 2 * 4, seed=9)
    qkv = x.reshape(3, 2, 4)
    out = windowed_self_attention(qkv, window_size=3, shift_window=shift)
    s = torch.tensor(shift if isinstance(shift, tuple) else (shift,) * 3)
    cells = torch.cat([qkv.coords[:, :1].long(), (qkv.coords[:, 1:].long() + s) // 3], 1)
    for cell in torch.unique(cells, dim=0):
        rows = (cells == cell).all(1)
        f = qkv.feats[rows]
        torch.testing.assert_close(out.feats[rows], naive(f[:, 0], f[:, 1], f[:, 2]))


def test_windowed_cross_attention_pairs_windows():
    q = random_sparse([10], 4, channels=8, seed=1).reshape(2, 4)
    kv = q.replace(torch.randn(10, 2, 2, 4, dtype=torch.float64))
    out = windowed_cross_attention(q, kv, 4, 4)
    torch.testing.assert_close(out.feats, naive(q.feats, kv.feats[:, 0], kv.feats[:, 1]))
    other = random_sparse([10], 4, channels=16, seed=1).reshape(2, 2, 4)
    with pytest.raises(ValueError, match="non-empty windows"):
        windowed_cross_attention(q, other, 2, 4)


@pytest.mark.parametrize(("mode", "shift_sequence"), [("z_order", 0), ("hilbert", 3)])
def test_serialized_self_attention_matches_curve_runs(mode, shift_sequence):
    from sparsetensor.ops import encode_seq, serialized_self_attention

    x = random_sparse([23, 0, 9], 6, channels=3 * 2 * 4, seed=4)
    qkv = x.reshape(3, 2, 4)
    out = serialized_self_attention(qkv, window_size=5, mode=mode, shift_sequence=shift_sequence)
    for part in qkv.layout:
        rows = torch.arange(part.start, part.stop)
        rows = rows[torch.argsort(encode_seq(qkv.coords[part, 1:], mode=mode))]
        cuts = [0, *range(5 - shift_sequence, len(rows), 5), len(rows)]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if b > a:
                f = qkv.feats[rows[a:b]]
                torch.testing.assert_close(out.feats[rows[a:b]], naive(f[:, 0], f[:, 1], f[:, 2]))
