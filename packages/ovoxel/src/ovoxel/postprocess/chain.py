"""`to_glb`: turn an extracted mesh plus its sparse PBR attribute volume into a textured, game-ready GLB object."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import alpha, geometry, texture
from .inputs import check_inputs, is_tensor
from .result import TexturedMesh
from .sampling import make_sampler
from .stages import StageTimer

_CLUSTER_DEFAULTS = {"mesh_cluster_threshold_cone_half_angle_rad": float(np.radians(90.0)),
                     "mesh_cluster_refine_iterations": 0, "mesh_cluster_global_iterations": 1,
                     "mesh_cluster_smooth_strength": 1}


def _check_options(decimation_target: Any, texture_size: Any, remesh_band: Any, remesh_project: Any,
                   alpha_mode: Any, cluster: dict[str, Any]) -> None:
    if decimation_target is not None and (isinstance(decimation_target, bool) or
                                          not isinstance(decimation_target, int | np.integer) or
                                          decimation_target < 1):
        raise ValueError(f"decimation_target must be a positive face count (or None to keep all), "
                         f"got {decimation_target!r}")
    if isinstance(texture_size, bool) or not isinstance(texture_size, int | np.integer) or texture_size < 8:
        raise ValueError(f"texture_size must be an integer >= 8, got {texture_size!r}")
    if not np.isfinite(remesh_band) or remesh_band <= 0:
        raise ValueError(f"remesh_band must be a positive number of voxels, got {remesh_band!r}")
    if not 0 <= remesh_project <= 1:
        raise ValueError(f"remesh_project must lie in [0, 1], got {remesh_project!r}")
    if alpha_mode not in ("OPAQUE", "MASK", "BLEND", "auto"):
        raise ValueError(f"alpha_mode must be 'OPAQUE', 'MASK', 'BLEND' or 'auto', got {alpha_mode!r}")
    changed = [name for name, value in cluster.items() if value != _CLUSTER_DEFAULTS[name]]
    if changed:
        warnings.warn(f"{', '.join(changed)} tune upstream's CuMesh chart clustering; meshkit's UV unwrap has no "
                      "such knobs, so they have no effect", stacklevel=3)


def to_glb(
    vertices: Any,
    faces: Any,
    attr_volume: Any,
    coords: Any,
    attr_layout: dict[str, slice],
    aabb: Any,
    voxel_size: Any = None,
    grid_size: Any = None,
    decimation_target: int | None = 1_000_000,
    texture_size: int = 2048,
    remesh: bool = False,
    remesh_band: float = 1,
    remesh_project: float = 0.9,
    mesh_cluster_threshold_cone_half_angle_rad: float = float(np.radians(90.0)),
    mesh_cluster_refine_iterations: int = 0,
    mesh_cluster_global_iterations: int = 1,
    mesh_cluster_smooth_strength: float = 1,
    verbose: bool = False,
    use_tqdm: bool = False,
    *,
    alpha_mode: str = "OPAQUE",
    double_sided: bool | None = None,
    progress: bool = False,
    remesh_outer_only: bool = True,
) -> TexturedMesh:
    """Fill small holes, optionally remesh, simplify to `decimation_target` faces, clean up, UV-unwrap and bake
    `attr_volume` (trilinear at the texels' closest points on the dense input) into PBR textures.

    Arguments keep upstream's names and meanings (Z-up input; `voxel_size` or `grid_size` with `aabb` defines the
    grid; `attr_layout` maps base_color/metallic/roughness/alpha to channel slices). Additions: `alpha_mode`
    ('OPAQUE' as upstream, 'MASK' with cutoff 0.5, 'BLEND' with fully opaque faces split off to an OPAQUE copy of
    the material, or 'auto' judged on the voxels' alpha), `double_sided` (default: not `remesh`, as upstream),
    `progress` (tqdm stage bar, same as `use_tqdm`), `remesh_outer_only` (drop the hidden inner offset shell).
    Mesh tensors on an accelerator keep the geometry stages, the UV unwrap and the bake there (same result).
    Returns a `TexturedMesh`; `.export("x.glb", extension_webp=True)` writes it.
    """
    _check_options(decimation_target, texture_size, remesh_band, remesh_project, alpha_mode,
                   {"mesh_cluster_threshold_cone_half_angle_rad": mesh_cluster_threshold_cone_half_angle_rad,
                    "mesh_cluster_refine_iterations": mesh_cluster_refine_iterations,
                    "mesh_cluster_global_iterations": mesh_cluster_global_iterations,
                    "mesh_cluster_smooth_strength": mesh_cluster_smooth_strength})
    inputs = check_inputs(vertices, faces, attr_volume, coords, attr_layout, aabb, voxel_size, grid_size)
    extent = float((inputs.aabb[1] - inputs.aabb[0]).max())
    target = None if decimation_target is None else int(decimation_target)
    timer = StageTimer(total=7 if remesh else 8, progress=progress or use_tqdm, verbose=verbose)
    if verbose:
        print(f"[to_glb] input: {len(inputs.vertices):,} vertices, {len(inputs.faces):,} faces, "
              f"{inputs.attr_volume.shape[0]:,} voxels, grid {inputs.grid_size.tolist()}", flush=True)
    try:
        start = geometry.device_mesh(vertices, faces, (inputs.vertices, inputs.faces))
        reference = timer.mesh_step("fill holes", geometry.fill_small_holes, start, extent)
        if remesh:
            mesh = timer.mesh_step("remesh", geometry.remesh, reference, inputs.aabb, inputs.grid_size,
                                   float(remesh_band), float(remesh_project), remesh_outer_only)
        else:  # upstream: to 3x the target, clean up, then to the target
            mesh = timer.mesh_step("simplify", geometry.simplify, reference, None if target is None else 3 * target)
            mesh = timer.mesh_step("cleanup", geometry.clean, mesh, extent)
        mesh = timer.mesh_step("simplify", geometry.simplify, mesh, target)
        mesh = timer.mesh_step("cleanup", geometry.final_cleanup, mesh, extent, target)
        with timer.stage("uv unwrap") as info:  # on the device when the geometry stages ran there
            uv_mesh = texture.unwrap(*(mesh if is_tensor(mesh[0]) else geometry.as_arrays(mesh)), int(texture_size))
            info["faces"] = len(uv_mesh.faces)
        with timer.stage("bake"):
            sampler = make_sampler(inputs.coords, inputs.attr_volume, inputs.aabb[0], inputs.voxel_size, inputs.device)
            baked = texture.bake(uv_mesh, geometry.as_arrays(reference), sampler, int(texture_size), inputs.device)
            uv_mesh = uv_mesh.to_numpy()
        with timer.stage("material"):
            sided = (not remesh) if double_sided is None else bool(double_sided)
            mode = alpha.resolve_mode(alpha_mode, inputs.attr_volume[:, inputs.layout["alpha"]])
            pbr = texture.material(baked, inputs.layout, mode, sided)
            opaque = None if mode != "BLEND" else alpha.opaque_faces(uv_mesh.faces, uv_mesh.uvs,
                                                                     pbr.base_color_texture, baked.mask)
    finally:
        timer.close()
    return TexturedMesh(uv_mesh.vertices, uv_mesh.faces, uv_mesh.uvs, uv_mesh.normals, pbr, dict(timer.timings),
                        opaque_faces=opaque)
