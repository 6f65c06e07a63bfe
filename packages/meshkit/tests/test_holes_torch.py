"""``fill_holes_on_device`` (boundary search in torch) against the native CPU path, on CPU tensors (and CUDA if any)."""

import numpy as np
import pytest
from meshkit import fill_holes
from meshkit.holes import fill_holes_on_device
from test_holes_reference import damaged_torus

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("vertex_dtype", "face_dtype"), [(torch.float64, torch.int64), (torch.float32, torch.int32),
                                                          (torch.float16, torch.int64)])
def test_device_path_equals_the_native_path(device, vertex_dtype, face_dtype):
    v, f = damaged_torus(rings=120, segments=60, seed=1)
    vertices, faces = torch.from_numpy(v).to(device, vertex_dtype), torch.from_numpy(f).to(device, face_dtype)
    out_v, out_f = fill_holes_on_device(vertices, faces, 0.5)
    ref_v, ref_f = fill_holes(vertices.cpu(), faces.cpu(), 0.5)  # CPU tensors take the native numpy path
    assert out_v.device.type == out_f.device.type == device
    assert out_v.dtype == ref_v.dtype == vertex_dtype and out_f.dtype == ref_f.dtype == torch.int64
    assert len(out_f) > len(faces)
    np.testing.assert_array_equal(out_f.cpu().numpy(), ref_f.numpy())
    np.testing.assert_array_equal(out_v.cpu().numpy(), ref_v.numpy())


def test_device_path_rejects_bad_meshes_like_the_native_path():
    v, f = (torch.from_numpy(a) for a in damaged_torus(rings=20, segments=10))
    bad = v.clone()
    bad[7, 1] = float("nan")
    cases = [(bad, f, "NaN or infinite values \\(first at row 7\\)"), (v, f + len(v), "index out of range"),
             (v, f[:0], "faces is empty"), (v[:, :2], f, "shape \\(N, 3\\)")]
    for vertices, faces, message in cases:
        for function in (fill_holes, fill_holes_on_device):
            with pytest.raises(ValueError, match=message):
                function(vertices, faces)
    with pytest.raises(TypeError, match="integer vertex indices"):
        fill_holes_on_device(v, f.double())
    with pytest.raises(ValueError, match="max_hole_perimeter"):
        fill_holes_on_device(v, f, -1.0)
