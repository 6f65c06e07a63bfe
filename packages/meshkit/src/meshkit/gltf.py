"""Mesh export: binary glTF (GLB) with an optional metal-roughness PBR material, plus plain OBJ and PLY.

Coordinates: meshkit meshes are Z-up; glTF is +Y up, so positions and normals are written as (x, z, -y) unless
``z_up=False``. Texture convention: row ``i`` of a texture array covers ``v`` in ``[i/H, (i+1)/H]`` (the glTF image
convention, origin at the first row), so UVs and images are written unchanged.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from .mesh import vertex_normals
from .validation import check_mesh, to_numpy

ALPHA_MODES = ("OPAQUE", "MASK", "BLEND", "auto")
IMAGE_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
WEBP_EXTENSION = "EXT_texture_webp"
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR = 9729, 9987


@dataclass
class PBRMaterial:
    """A glTF metal-roughness material: baseColor RGBA texture (alpha in A) and a metallicRoughness texture
    (roughness in G, metallic in B), each multiplied by its factor; either texture may be omitted. ``texel_mask``
    (H, W) marks the texels holding baked values (e.g. ``BakeResult.mask``): alpha_mode ``auto`` looks only there, so
    filled gutters and empty space do not turn a cut-out into BLEND."""

    base_color_texture: Any = None
    metallic_roughness_texture: Any = None
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic_factor: float = 1.0
    roughness_factor: float = 1.0
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5
    double_sided: bool = False
    texel_mask: Any = None


def texture_to_uint8(texture: Any, name: str, channels: tuple[int, ...] = (3, 4)) -> np.ndarray:
    """Return an (H, W, C) texture (uint8, or float in [0, 1]) as uint8, checking its shape and values."""
    array = to_numpy(texture, name)
    if array.ndim != 3 or array.shape[2] not in channels or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape (H, W, C) with C in {channels}, got {tuple(array.shape)}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 or float in [0, 1], got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8))


def resolve_alpha_mode(mode: str, base_color: np.ndarray | None, texel_mask: Any = None) -> str:
    """Pick the glTF alpha mode; ``auto`` gives OPAQUE for (near) opaque alpha, MASK for binary alpha, else BLEND
    (judged on the texels of ``texel_mask`` when given)."""
    if mode not in ALPHA_MODES:
        raise ValueError(f"alpha_mode must be one of {ALPHA_MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    if base_color is None or base_color.shape[2] < 4:
        return "OPAQUE"
    alpha = base_color[..., 3]
    if texel_mask is not None:
        mask = to_numpy(texel_mask, "texel_mask")
        if mask.shape != alpha.shape:
            raise ValueError(f"texel_mask must have the texture's shape {alpha.shape}, got {tuple(mask.shape)}")
        alpha = alpha[mask.astype(bool)]
    if alpha.size == 0 or alpha.min() >= 250:
        return "OPAQUE"
    return "MASK" if np.all((alpha <= 5) | (alpha >= 250)) else "BLEND"


def encode_image(pixels: np.ndarray, image_format: str) -> bytes:
    """Encode uint8 (H, W, 3|4) pixels as PNG, JPEG or WebP bytes (JPEG drops alpha, which it cannot store)."""
    from PIL import Image

    pil_format = IMAGE_FORMATS[image_format][0]
    if image_format == "jpeg":
        pixels = pixels[..., :3]
    buffer = io.BytesIO()
    options = {"lossless": True} if image_format == "webp" else {"quality": 95} if image_format == "jpeg" else {}
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format=pil_format, **options)
    return buffer.getvalue()


class _GLBBuilder:
    """Accumulates buffer views, accessors and images in one binary chunk while a glTF document is assembled."""

    def __init__(self) -> None:
        self.gltf = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0", generator="meshkit"))
        self.blob = bytearray()
        self._pixels: dict[int, tuple[Any, np.ndarray]] = {}  # id(texture argument) -> (it, uint8 pixels)
        self._textures: dict[int, tuple[np.ndarray, int]] = {}  # id(uint8 pixels) -> (them, texture index)

    def pixels(self, texture: Any, name: str, channels: tuple[int, ...] = (3, 4)) -> np.ndarray:
        """``texture`` as uint8 pixels, converted once per texture object (materials may share textures)."""
        if id(texture) not in self._pixels:
            self._pixels[id(texture)] = (texture, texture_to_uint8(texture, name, channels))
        return self._pixels[id(texture)][1]

    def add_view(self, data: bytes, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.gltf.bufferViews.append(
            pygltflib.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target)
        )
        self.blob.extend(data)
        return len(self.gltf.bufferViews) - 1

    def add_accessor(self, array: np.ndarray, kind: str, target: int, normalized: bool = False,
                     bounds: bool = False) -> int:
        component = {np.dtype(np.float32): pygltflib.FLOAT, np.dtype(np.uint32): pygltflib.UNSIGNED_INT,
                     np.dtype(np.uint16): pygltflib.UNSIGNED_SHORT, np.dtype(np.uint8): pygltflib.UNSIGNED_BYTE}
        view = self.add_view(np.ascontiguousarray(array).tobytes(), target)
        flat = array.reshape(len(array), -1)
        self.gltf.accessors.append(pygltflib.Accessor(
            bufferView=view, componentType=component[array.dtype], count=len(array), type=kind,
            normalized=normalized or None,
            min=flat.min(axis=0).tolist() if bounds else None, max=flat.max(axis=0).tolist() if bounds else None,
        ))
        return len(self.gltf.accessors) - 1

    def add_texture(self, pixels: np.ndarray, image_format: str) -> int:
        """Texture index of ``pixels``, encoding and storing them on first use only."""
        if id(pixels) in self._textures:
            return self._textures[id(pixels)][1]
        view = self.add_view(encode_image(pixels, image_format))
        self.gltf.images.append(pygltflib.Image(bufferView=view, mimeType=IMAGE_FORMATS[image_format][1]))
        image = len(self.gltf.images) - 1
        if not self.gltf.samplers:
            self.gltf.samplers.append(pygltflib.Sampler(magFilter=_LINEAR, minFilter=_LINEAR_MIPMAP_LINEAR))
        if image_format == "webp":
            texture = pygltflib.Texture(sampler=0, extensions={WEBP_EXTENSION: {"source": image}})
        else:
            texture = pygltflib.Texture(sampler=0, source=image)
        self.gltf.textures.append(texture)
        self._textures[id(pixels)] = (pixels, len(self.gltf.textures) - 1)
        return len(self.gltf.textures) - 1

    def to_bytes(self) -> bytes:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.gltf.buffers.append(pygltflib.Buffer(byteLength=len(self.blob)))
        self.gltf.set_binary_blob(bytes(self.blob))
        return b"".join(self.gltf.save_to_bytes())


def _check_vertex_array(value: Any, name: str, num_vertices: int, widths: tuple[int, ...]) -> np.ndarray:
    array = to_numpy(value, name)
    if array.ndim != 2 or array.shape[0] != num_vertices or array.shape[1] not in widths:
        raise ValueError(f"{name} must have shape ({num_vertices}, {' or '.join(map(str, widths))}), "
                         f"got {tuple(array.shape)}")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array.astype(np.float64)).all():
        raise ValueError(f"{name} must hold finite numbers")
    return array


def _z_up_to_y_up(xyz: np.ndarray) -> np.ndarray:
    return np.stack([xyz[:, 0], xyz[:, 2], -xyz[:, 1]], axis=1)


def _material_to_gltf(builder: _GLBBuilder, material: PBRMaterial, image_format: str) -> pygltflib.Material:
    base = None if material.base_color_texture is None else builder.pixels(
        material.base_color_texture, "base_color_texture")
    alpha_mode = resolve_alpha_mode(material.alpha_mode, base, material.texel_mask)
    if image_format == "jpeg" and base is not None and base.shape[2] == 4 and alpha_mode != "OPAQUE":
        raise ValueError("JPEG cannot store the alpha channel that alpha_mode needs; use image_format 'png' or 'webp'")
    if len(material.base_color_factor) != 4:
        raise ValueError(f"base_color_factor must have 4 values (RGBA), got {material.base_color_factor}")
    pbr = pygltflib.PbrMetallicRoughness(baseColorFactor=[float(c) for c in material.base_color_factor],
                                         metallicFactor=float(material.metallic_factor),
                                         roughnessFactor=float(material.roughness_factor))
    if base is not None:
        pbr.baseColorTexture = pygltflib.TextureInfo(index=builder.add_texture(base, image_format))
    if material.metallic_roughness_texture is not None:
        packed = builder.pixels(material.metallic_roughness_texture, "metallic_roughness_texture", (3,))
        pbr.metallicRoughnessTexture = pygltflib.TextureInfo(index=builder.add_texture(packed, image_format))
    return pygltflib.Material(pbrMetallicRoughness=pbr, alphaMode=alpha_mode, doubleSided=bool(material.double_sided),
                              alphaCutoff=float(material.alpha_cutoff) if alpha_mode == "MASK" else None)


def _face_groups(materials: Any, face_materials: Any, num_faces: int) -> list[tuple[PBRMaterial, np.ndarray]]:
    """Each material that some face uses, with the indices of its faces (one group of all faces by default)."""
    if materials is None or isinstance(materials, PBRMaterial):
        materials = [materials or PBRMaterial(metallic_factor=0.0)]
    materials = list(materials)
    if not materials or not all(isinstance(m, PBRMaterial) for m in materials):
        raise TypeError("material must be a PBRMaterial or a non-empty sequence of them")
    if face_materials is None:
        if len(materials) > 1:
            raise ValueError(f"{len(materials)} materials need face_materials (each face's material index)")
        return [(materials[0], np.arange(num_faces))]
    which = to_numpy(face_materials, "face_materials")
    if which.shape != (num_faces,) or not np.issubdtype(which.dtype, np.integer) or (
            num_faces and (which.min() < 0 or which.max() >= len(materials))):
        raise ValueError(f"face_materials must hold one integer in [0, {len(materials)}) per face ({num_faces}), "
                         f"got shape {tuple(which.shape)} and dtype {which.dtype}")
    groups = [(material, np.flatnonzero(which == index)) for index, material in enumerate(materials)]
    return [(material, faces) for material, faces in groups if len(faces)]


def write_glb(path: str | Path | None, vertices: Any, faces: Any, *, normals: Any = None, uvs: Any = None,
              vertex_colors: Any = None, material: PBRMaterial | Sequence[PBRMaterial] | None = None,
              face_materials: Any = None, image_format: str = "png", z_up: bool = True,
              metadata: dict | None = None) -> bytes:
    """Write a triangle mesh as one GLB (returned as bytes, and saved to ``path`` unless it is None).

    Normals default to area-weighted vertex normals; textured materials need ``uvs`` (V, 2); ``vertex_colors``
    (V, 3|4) in uint8 or float [0, 1] are written as COLOR_0; ``metadata`` (JSON-serialisable) goes to asset.extras.
    ``material`` may be a sequence with ``face_materials`` (F,) giving each face's index into it: every material
    in use gets one primitive over the shared vertex arrays, and a texture object shared by materials is stored once.
    """
    v, f = check_mesh(vertices, faces)
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {tuple(IMAGE_FORMATS)}, got {image_format!r}")
    groups = _face_groups(material, face_materials, len(f))
    textured = any(m.base_color_texture is not None or m.metallic_roughness_texture is not None for m, _ in groups)
    if uvs is None and textured:
        raise ValueError("a textured material needs per-vertex uvs")
    n = vertex_normals(v, f) if normals is None else _check_vertex_array(normals, "normals", len(v), (3,))
    positions, n = (_z_up_to_y_up(v), _z_up_to_y_up(n)) if z_up else (v, n)

    builder = _GLBBuilder()
    attributes = pygltflib.Attributes(
        POSITION=builder.add_accessor(positions.astype(np.float32), "VEC3", _ARRAY_BUFFER, bounds=True),
        NORMAL=builder.add_accessor(n.astype(np.float32), "VEC3", _ARRAY_BUFFER),
    )
    if uvs is not None:
        uv = _check_vertex_array(uvs, "uvs", len(v), (2,)).astype(np.float32)
        attributes.TEXCOORD_0 = builder.add_accessor(uv, "VEC2", _ARRAY_BUFFER)
    if vertex_colors is not None:
        colors = texture_to_uint8(_check_vertex_array(vertex_colors, "vertex_colors", len(v), (3, 4))[None],
                                  "vertex_colors")[0]
        colors = np.concatenate([colors, np.full((len(v), 4 - colors.shape[1]), 255, np.uint8)], axis=1)
        attributes.COLOR_0 = builder.add_accessor(colors, "VEC4", _ARRAY_BUFFER, normalized=True)
    index_dtype = np.uint16 if len(v) <= 65535 else np.uint32
    primitives = []
    for index, (group_material, group_faces) in enumerate(groups):
        indices = builder.add_accessor(f[group_faces].reshape(-1).astype(index_dtype), "SCALAR",
                                       _ELEMENT_ARRAY_BUFFER)
        builder.gltf.materials.append(_material_to_gltf(builder, group_material, image_format))
        primitives.append(pygltflib.Primitive(attributes=attributes, indices=indices, material=index,
                                              mode=pygltflib.TRIANGLES))
    builder.gltf.meshes.append(pygltflib.Mesh(primitives=primitives))
    builder.gltf.nodes.append(pygltflib.Node(mesh=0))
    builder.gltf.scenes.append(pygltflib.Scene(nodes=[0]))
    builder.gltf.scene = 0
    if builder.gltf.textures and image_format == "webp":
        builder.gltf.extensionsUsed = [WEBP_EXTENSION]
        builder.gltf.extensionsRequired = [WEBP_EXTENSION]
    if metadata is not None:
        try:
            builder.gltf.asset.extras = json.loads(json.dumps(metadata))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metadata must be a JSON-serialisable dict: {exc}") from exc
    data = builder.to_bytes()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def write_obj(path: str | Path, vertices: Any, faces: Any, *, uvs: Any = None, normals: Any = None) -> None:
    """Write a plain Wavefront OBJ (positions, optional per-vertex UVs and normals; coordinates unchanged)."""
    v, f = check_mesh(vertices, faces)
    corner = f + 1
    lines = ["# written by meshkit"]
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in v]
    refs = [[str(i) for i in row] for row in corner]
    if uvs is not None:
        lines += [f"vt {a:.9g} {b:.9g}" for a, b in _check_vertex_array(uvs, "uvs", len(v), (2,))]
    if normals is not None:
        lines += [f"vn {a:.9g} {b:.9g} {c:.9g}" for a, b, c in _check_vertex_array(normals, "normals", len(v), (3,))]
    suffix = {(False, False): "{0}", (True, False): "{0}/{0}", (False, True): "{0}//{0}", (True, True): "{0}/{0}/{0}"}
    pattern = suffix[(uvs is not None, normals is not None)]
    lines += ["f " + " ".join(pattern.format(i) for i in row) for row in refs]
    Path(path).write_text("\n".join(lines) + "\n")


def write_ply(path: str | Path, vertices: Any, faces: Any, *, vertex_colors: Any = None) -> None:
    """Write a binary little-endian PLY with float32 positions, optional uint8 RGBA colours and int32 faces."""
    v, f = check_mesh(vertices, faces)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if vertex_colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1"), ("alpha", "u1")]
    records = np.zeros(len(v), dtype=fields)
    for axis, name in enumerate("xyz"):
        records[name] = v[:, axis]
    if vertex_colors is not None:
        colors = texture_to_uint8(_check_vertex_array(vertex_colors, "vertex_colors", len(v), (3, 4))[None],
                                  "vertex_colors")[0]
        for channel, name in enumerate(("red", "green", "blue", "alpha")):
            records[name] = colors[:, channel] if channel < colors.shape[1] else 255
    face_records = np.zeros(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_records["n"] = 3
    face_records["idx"] = f
    ply_types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}"]
    header += [f"property {ply_types[t]} {name}" for name, t in fields]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    Path(path).write_bytes(("\n".join(header) + "\n").encode() + records.tobytes() + face_records.tobytes())
