"""Load meshes and their glTF metal-roughness materials into flat, world-space triangle parts.

Scenes (glTF/GLB, OBJ, PLY, STL) go through trimesh, which bakes node transforms into the vertices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

ALPHA_MODES = {"OPAQUE": 0, "MASK": 1, "BLEND": 2}


@dataclass
class PbrMaterial:
    """glTF metal-roughness material: factors in [0, 1] and optional uint8 (H, W, C) textures."""

    base_color_factor: np.ndarray = field(default_factory=lambda: np.ones(4, np.float32))
    base_color_texture: np.ndarray | None = None  # RGBA
    metallic_factor: float = 1.0
    roughness_factor: float = 1.0
    metallic_roughness_texture: np.ndarray | None = None  # RGB: roughness in G, metallic in B
    emissive_factor: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    emissive_texture: np.ndarray | None = None
    normal_texture: np.ndarray | None = None
    alpha_mode: int = 0
    alpha_cutoff: float = 0.5


@dataclass
class MeshPart:
    """One world-space triangle mesh with per-vertex normals, optional UVs and one material."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    vertex_normals: np.ndarray  # (V, 3)
    uv: np.ndarray | None  # (V, 2)
    material: PbrMaterial


def _image(image, mode: str) -> np.ndarray | None:
    """uint8 array of a PIL image in `mode` (converted only when it is in another mode: convert would copy it)."""
    if image is None:
        return None
    return np.asarray(image if image.mode == mode else image.convert(mode), dtype=np.uint8)


def _material_from_trimesh(visual) -> PbrMaterial:
    """Translate a trimesh visual (PBR or simple material, or vertex colours) into a `PbrMaterial`."""
    from trimesh.visual.material import PBRMaterial

    material = getattr(visual, "material", None)
    if isinstance(material, PBRMaterial):
        factor = material.baseColorFactor
        return PbrMaterial(
            base_color_factor=np.ones(4, np.float32) if factor is None else np.asarray(factor, np.float32) / 255.0,
            base_color_texture=_image(material.baseColorTexture, "RGBA"),
            metallic_factor=1.0 if material.metallicFactor is None else float(material.metallicFactor),
            roughness_factor=1.0 if material.roughnessFactor is None else float(material.roughnessFactor),
            metallic_roughness_texture=_image(material.metallicRoughnessTexture, "RGB"),
            emissive_factor=np.zeros(3, np.float32) if material.emissiveFactor is None
            else np.asarray(material.emissiveFactor, np.float32)[:3],
            emissive_texture=_image(material.emissiveTexture, "RGB"),
            normal_texture=_image(material.normalTexture, "RGB"),
            alpha_mode=ALPHA_MODES.get(str(material.alphaMode).upper(), 0),
            alpha_cutoff=0.5 if material.alphaCutoff is None else float(material.alphaCutoff),
        )
    if material is not None and hasattr(material, "to_pbr"):
        return _material_from_trimesh(type("Visual", (), {"material": material.to_pbr()})())
    return PbrMaterial()


def _baked_instances(scene) -> list:
    """(mesh moved to its instance position, its visual) for every mesh instance of a scene: Scene.dump's geometry,
    with the visuals shared rather than copied (a copy decodes and duplicates every texture, used or not)."""
    import trimesh

    instances = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        source = scene.geometry[name]
        if isinstance(source, trimesh.Trimesh):
            instances.append((source.copy(include_visual=False).apply_transform(transform), source.visual))
    return instances


def _parts_from_trimesh(loaded) -> list[MeshPart]:
    import trimesh

    instances = _baked_instances(loaded) if isinstance(loaded, trimesh.Scene) else [(loaded, loaded.visual)]
    parts = []
    for mesh, visual in instances:
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            continue
        uv = getattr(visual, "uv", None)
        parts.append(MeshPart(
            vertices=np.asarray(mesh.vertices, np.float64), faces=np.asarray(mesh.faces, np.int64),
            vertex_normals=np.asarray(mesh.vertex_normals, np.float64),
            uv=None if uv is None or len(uv) != len(mesh.vertices) else np.asarray(uv, np.float64),
            material=_material_from_trimesh(visual),
        ))
    return parts


def _check_raw_vertices(path) -> None:
    """Refuse files with NaN/inf vertices, which trimesh's default load would silently drop with their faces."""
    import trimesh

    try:
        raw = trimesh.load(path, force="scene", process=False, skip_materials=True)
    except Exception as exc:  # trimesh raises many unrelated types for unreadable files
        raise ValueError(f"cannot read mesh {path}: {exc}") from None
    for geometry in raw.geometry.values():
        if isinstance(geometry, trimesh.Trimesh) and not np.all(np.isfinite(geometry.vertices)):
            raise ValueError(f"mesh {path} has NaN or infinite vertex coordinates")


def load_parts(mesh_or_path) -> list[MeshPart]:
    """Load a path, trimesh object or list of `MeshPart` as world-space parts; ValueError if there are no triangles."""
    import trimesh

    if isinstance(mesh_or_path, list) and all(isinstance(p, MeshPart) for p in mesh_or_path):
        parts = mesh_or_path
    elif isinstance(mesh_or_path, (str, os.PathLike)):
        if not os.path.isfile(mesh_or_path):
            raise FileNotFoundError(f"no such mesh file: {mesh_or_path}")
        _check_raw_vertices(mesh_or_path)
        try:
            loaded = trimesh.load(mesh_or_path, force="scene")
        except Exception as exc:  # trimesh raises many unrelated types for unreadable files
            raise ValueError(f"cannot read mesh {mesh_or_path}: {exc}") from None
        parts = _parts_from_trimesh(loaded)
    elif isinstance(mesh_or_path, (trimesh.Trimesh, trimesh.Scene)):
        parts = _parts_from_trimesh(mesh_or_path)
    else:
        raise TypeError(f"expected a mesh path, trimesh object or list of MeshPart, got {type(mesh_or_path).__name__}")
    if not parts:
        raise ValueError(f"mesh {mesh_or_path if isinstance(mesh_or_path, (str, os.PathLike)) else ''} "
                         "contains no triangles".replace("  ", " "))
    for part in parts:
        if not np.all(np.isfinite(part.vertices)):
            raise ValueError("mesh has NaN or infinite vertex coordinates")
        if part.faces.size and (part.faces.min() < 0 or part.faces.max() >= len(part.vertices)):
            raise ValueError("mesh has face indices outside its vertex range")
    return parts


def scene_bounds(parts: list[MeshPart]) -> np.ndarray:
    """(2, 3) bounding box of all vertices used by faces."""
    used = np.concatenate([p.vertices[p.faces.reshape(-1)] for p in parts])
    return np.stack([used.min(axis=0), used.max(axis=0)])
