"""to_glb's UV step on tensors: the torch unwrap keeps the mesh on its device and lays it out as the numpy path."""

import numpy as np
import pytest
from ovoxel.postprocess import texture

torch = pytest.importorskip("torch")
trimesh = pytest.importorskip("trimesh")


def bumpy_sphere() -> tuple[np.ndarray, np.ndarray]:
    sphere = trimesh.creation.icosphere(3)
    vertices = np.asarray(sphere.vertices)
    return vertices * (1 + 0.05 * np.sin(5 * vertices[:, :1])), np.asarray(sphere.faces)


def check_tensor_unwrap(device: str) -> None:
    vertices, faces = bumpy_sphere()
    expected = texture.unwrap(vertices, faces, 256)
    result = texture.unwrap(torch.from_numpy(vertices).to(device), torch.from_numpy(faces).to(device), 256)
    assert all(torch.is_tensor(array) and array.device.type == device for array in result)
    host = result.to_numpy()
    assert all(isinstance(array, np.ndarray) for array in host)
    for name in ("vertices", "faces", "uvs"):
        np.testing.assert_array_equal(getattr(host, name), getattr(expected, name), err_msg=name)
    np.testing.assert_allclose(host.normals, expected.normals, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(host.normals, axis=1), 1.0, atol=1e-12)


def test_tensor_unwrap_stays_on_the_device_and_equals_numpy():
    check_tensor_unwrap("cpu")


def test_float32_tensors_keep_their_dtype_for_positions_and_normals():
    vertices, faces = bumpy_sphere()
    result = texture.unwrap(torch.from_numpy(vertices).float(), torch.from_numpy(faces).int(), 64)
    assert result.vertices.dtype == torch.float32 and result.normals.dtype == torch.float32
    assert result.uvs.dtype == torch.float64 and result.faces.dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_unwrap_equals_numpy():
    check_tensor_unwrap("cuda")
