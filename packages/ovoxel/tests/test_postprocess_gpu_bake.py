"""The GPU texture bake of `to_glb` (meshkit's Triton rasterizer and BVH query, sparsetensor's sampler, torch
push-pull) against the numpy bake: on CPU tensors through Triton's interpreter here, with the CUDA dispatch forced,
and on CUDA tensors as they come on a GPU."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the GPU bake needs torch")
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated, i.e. at first import
pytest.importorskip("triton", reason="the GPU bake needs Triton")
pytest.importorskip("sparsetensor.ops", reason="the GPU bake samples with sparsetensor")

import meshkit.bvh  # noqa: E402
import meshkit.raster  # noqa: E402
import ovoxel  # noqa: E402
from meshkit.bake import push_pull_fill  # noqa: E402
from meshkit.gpu import bvh_triton, raster_triton  # noqa: E402
from ovoxel.postprocess import device_bake, geometry, inputs, texture  # noqa: E402
from ovoxel.postprocess.sampling import make_sampler  # noqa: E402
from postprocess_fixtures import voxel_sphere  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def sphere():
    return voxel_sphere(24)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Names of the device steps run (Triton raster, Triton BVH query, torch push-pull), recorded as they run."""
    calls = []

    def spy(owner, name, label):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls.append(label)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    spy(raster_triton, "rasterize_uv_triton", "raster")
    spy(bvh_triton.DeviceBVH, "closest_point", "bvh")
    spy(device_bake, "push_pull", "fill")
    return calls


@pytest.fixture
def forced(monkeypatch, kernel_calls):
    """Dispatch any torch tensor, CPU ones included, to the device code (Triton's interpreter runs the kernels);
    one 128-lane BVH program per batch keeps the interpreter quick."""

    def tensor_device(*values):
        return next((value.device for value in values if inputs.is_tensor(value)), None)

    for module in (meshkit.raster, meshkit.bvh):
        monkeypatch.setattr(module, "cuda_device", tensor_device)
    monkeypatch.setattr(inputs, "bake_device", tensor_device)
    if DEVICE.type == "cpu":
        monkeypatch.setattr(bvh_triton, "_BLOCK", 128)
    return kernel_calls


def on_device(sphere):
    """to_glb's mesh and volume arguments as tensors on DEVICE."""
    arrays = dict(vertices=sphere.vertices, faces=sphere.faces, attr_volume=sphere.attrs, coords=sphere.coords)
    return {name: torch.from_numpy(array).to(DEVICE) for name, array in arrays.items()}


def assert_same_asset(gpu, cpu):
    """Same geometry and texel coverage; uint8 textures within 1 (float rounding on either side of a step)."""
    np.testing.assert_array_equal(gpu.faces, cpu.faces)
    np.testing.assert_array_equal(gpu.uvs, cpu.uvs)
    np.testing.assert_array_equal(gpu.material.texel_mask, cpu.material.texel_mask)
    assert 0.1 < cpu.material.texel_mask.mean() < 0.9
    for name in ("base_color_texture", "metallic_roughness_texture"):
        difference = np.abs(getattr(gpu.material, name).astype(int) - getattr(cpu.material, name))
        assert difference.max() <= 1, (name, difference.max())
        assert (difference == 0).mean() > 0.99, name


@pytest.mark.parametrize("height, width, channels", [(13, 7, 3), (8, 8, 4), (1, 5, 2), (1, 1, 2)])
@pytest.mark.parametrize("coverage", [0.0, 0.3, 1.0])
def test_push_pull_equals_meshkit_fill_bit_for_bit(height, width, channels, coverage):
    rng = np.random.default_rng(height * width + int(coverage * 10))
    texture = rng.random((height, width, channels)).astype(np.float32)
    mask = rng.random((height, width)) < coverage
    expected = push_pull_fill(texture, mask)
    got = device_bake.push_pull(torch.from_numpy(texture).to(DEVICE), torch.from_numpy(mask).to(DEVICE))
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.cpu().numpy(), expected)


@pytest.mark.parametrize("height, width", [(13, 7), (8, 8), (1, 5)])
def test_edge_dilation_on_tensors_equals_numpy_bit_for_bit(height, width):
    from meshkit.bake import dilate_edges

    rng = np.random.default_rng(height + width)
    texture = rng.random((height, width, 3)).astype(np.float32)
    mask = rng.random((height, width)) < 0.2
    expected = dilate_edges(texture, mask)
    got = dilate_edges(torch.from_numpy(texture).to(DEVICE), torch.from_numpy(mask).to(DEVICE))
    assert got[0].device.type == DEVICE.type and got[0].dtype == torch.float32
    for have, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(have.cpu().numpy(), want)
    assert (expected[1] & ~mask).any()  # something was dilated


def test_device_bake_matches_the_numpy_bake(sphere, forced):
    simplified = meshkit.simplify(sphere.vertices, sphere.faces, 300)
    uv_mesh = texture.unwrap(simplified.vertices, simplified.faces, 48)
    reference, origin, size = (sphere.vertices, sphere.faces), np.full(3, -0.5), np.full(3, 1 / sphere.resolution)
    cpu = texture.bake(uv_mesh, reference, make_sampler(sphere.coords, sphere.attrs, origin, size), 48)
    sampler = make_sampler(torch.from_numpy(sphere.coords), torch.from_numpy(sphere.attrs), origin, size, DEVICE)
    gpu = texture.bake(uv_mesh, reference, sampler, 48, DEVICE)
    assert forced == ["raster", "bvh", "fill"]
    np.testing.assert_array_equal(gpu.mask, cpu.mask)
    assert 0.1 < cpu.mask.mean() < 0.9
    assert gpu.texture.dtype == np.float32 and gpu.texture.shape == cpu.texture.shape == (48, 48, 6)
    np.testing.assert_allclose(gpu.texture, cpu.texture, rtol=0, atol=1e-5)
    assert np.ptp(cpu.texture[cpu.mask][:, 0]) > 0.3  # a real colour gradient was compared, not a constant


@pytest.fixture
def host_geometry(monkeypatch):
    """Keep to_glb's geometry stages (simplify, cleanup, UV unwrap) on the CPU for device inputs, so that the bake
    alone is compared: meshkit's device simplification orders equal-cost collapses differently from the native one."""
    monkeypatch.setattr(geometry, "device_mesh", lambda vertices, faces, checked: checked)


def test_to_glb_with_tensors_bakes_on_the_device_like_numpy(sphere, forced, host_geometry):
    small = dict(decimation_target=300, texture_size=48)
    cpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**small))
    assert forced == []  # numpy inputs keep the CPU bake
    gpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**on_device(sphere), **small))
    assert forced == ["raster", "bvh", "fill"]
    assert_same_asset(gpu, cpu)


def test_numpy_and_cpu_tensor_inputs_bake_on_the_cpu(sphere):
    args = sphere.kwargs()
    names = ("vertices", "faces", "attr_volume", "coords", "attr_layout", "aabb", "voxel_size")
    checked = inputs.check_inputs(*(args[name] for name in names), None)
    assert checked.device is None
    tensors = on_device(sphere) if DEVICE.type == "cpu" else {k: v.cpu() for k, v in on_device(sphere).items()}
    checked = inputs.check_inputs(*(tensors.get(name, args[name]) for name in names), None)
    assert checked.device is None and isinstance(checked.vertices, np.ndarray)


@needs_cuda
def test_cuda_inputs_bake_on_the_gpu_like_numpy(kernel_calls, host_geometry):
    sphere = voxel_sphere(48)
    settings = dict(decimation_target=1500, texture_size=256)
    cpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**settings))
    gpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**on_device(sphere), **settings))
    assert kernel_calls == ["raster", "bvh", "fill"]
    assert_same_asset(gpu, cpu)


@needs_cuda
def test_cuda_inputs_run_the_whole_chain_on_the_device_close_to_numpy(kernel_calls, monkeypatch):
    from meshkit import cleanup_torch, simplify_torch, uv_torch

    device_steps = []
    for module, name in ((simplify_torch, "simplify_torch"), (cleanup_torch, "repair_non_manifold"),
                         (uv_torch, "unwrap_uv_torch")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name, **k: device_steps.append(_n) or _f(*a, **k))
    sphere = voxel_sphere(48)
    settings = dict(decimation_target=1500, texture_size=256)
    gpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**on_device(sphere), **settings))
    cpu = ovoxel.postprocess.to_glb(**sphere.kwargs(**settings))
    assert {"simplify_torch", "repair_non_manifold", "unwrap_uv_torch"} <= set(device_steps)
    assert kernel_calls == ["raster", "bvh", "fill"]
    assert abs(len(gpu.faces) - len(cpu.faces)) <= 0.005 * settings["decimation_target"]
    # Same surface (the simplifications differ in the order of equal-cost collapses; their face centres lie within
    # 0.05 voxel of each other's surface on this sphere when run alone).
    for a, b in ((gpu, cpu), (cpu, gpu)):
        centres = a.vertices[a.faces].mean(axis=1)
        distance = np.linalg.norm(meshkit.BVH(b.vertices, b.faces).closest_surface_point(centres) - centres, axis=1)
        assert distance.max() < 0.25 / sphere.resolution
    coverage = gpu.material.texel_mask.mean(), cpu.material.texel_mask.mean()
    assert abs(coverage[0] - coverage[1]) < 0.05
    colours = [m.material.base_color_texture[m.material.texel_mask][:, :3].mean(0) for m in (gpu, cpu)]
    np.testing.assert_allclose(colours[0], colours[1], atol=3)
