"""Regenerate the example inputs bundled with the web demo (`src/trellis2/app/examples/*.png`).

Each example is a procedurally modelled, procedurally coloured object (surfaces of revolution plus a few flat
fins and sprinkles), rendered with meshkit's PBR renderer under the bundled forest light and saved as a 512 x 512
RGBA PNG with a transparent background, the object centred, like upstream's example inputs. Everything is
deterministic (fixed seeds, fixed cameras), so running it again reproduces the committed files:

    python packages/trellis2-pipeline/scripts/make_demo_examples.py [--out DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from meshkit.render import Camera, look_at, render_mesh
from PIL import Image
from trellis2.renderers import EnvMap
from trellis2.renderers.pbr_mesh_renderer import GAMMA, aces_tonemap

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "src" / "trellis2" / "app" / "examples"
SIZE, SUPERSAMPLING, FILL = 512, 3, 0.86  # output size, samples per pixel side, fraction of the frame the object spans


@dataclass
class Part:
    """Triangles with per-vertex normals and material: sRGB base colour (V, 3), metallic (V,), roughness (V,)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colour: np.ndarray
    metallic: np.ndarray
    roughness: np.ndarray


@dataclass
class Lathe:
    """A surface of revolution about +Z, with the parameters colour functions use: `angle` in [0, 1) around the axis
    and `t` in [0, 1] along the profile (arc length)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    angle: np.ndarray
    t: np.ndarray


def spline(points: list[tuple[float, float]], samples: int) -> np.ndarray:
    """`samples` points on the Catmull-Rom curve through `points` (2D), evenly spaced in arc length."""
    p = np.asarray(points, float)
    padded = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    s = np.linspace(0, 1, 64, endpoint=False)[:, None]
    dense = []
    for i in range(len(p) - 1):
        a, b, c, d = padded[i:i + 4]
        dense.append(0.5 * (2 * b + (c - a) * s + (2 * a - 5 * b + 4 * c - d) * s**2 + (3 * b - a - 3 * c + d) * s**3))
    dense = np.concatenate([*dense, p[-1:]])
    length = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    wanted = np.linspace(0, length[-1], samples)
    return np.stack([np.interp(wanted, length, dense[:, k]) for k in range(2)], axis=1)


def lathe(profile: np.ndarray, segments: int, closed: bool = False) -> Lathe:
    """Revolve a profile of (r, z) points; traversed bottom to top on the outside, so (dz, -dr) points outwards."""
    count = len(profile)
    tangent = (np.roll(profile, -1, 0) - np.roll(profile, 1, 0)) if closed else np.gradient(profile, axis=0)
    normal2d = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal2d /= np.linalg.norm(normal2d, axis=1, keepdims=True)
    phi = np.arange(segments) / segments * 2 * np.pi
    cos, sin = np.cos(phi)[None, :], np.sin(phi)[None, :]
    r, z = profile[:, :1], profile[:, 1:]
    vertices = np.stack([r * cos, r * sin, np.broadcast_to(z, (count, segments))], axis=-1).reshape(-1, 3)
    normals = np.stack([normal2d[:, :1] * cos, normal2d[:, :1] * sin,
                        np.broadcast_to(normal2d[:, 1:], (count, segments))], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(count if closed else count - 1), np.arange(segments), indexing="ij")
    a, b = i * segments + j, i * segments + (j + 1) % segments
    c, d = ((i + 1) % count) * segments + (j + 1) % segments, ((i + 1) % count) * segments + j
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    step = np.linalg.norm(np.diff(profile, axis=0), axis=1)
    t = np.concatenate([[0], np.cumsum(step)]) / step.sum()
    return Lathe(vertices, faces, normals, np.tile(phi / (2 * np.pi), count), np.repeat(t, segments))


def paint(shape: Lathe | Part, colour, metallic=0.0, roughness=0.5) -> Part:
    """A Part from a shape and its material; each value is a constant or a per-vertex array."""
    count = len(shape.vertices)
    return Part(shape.vertices, shape.faces, shape.normals, np.broadcast_to(np.asarray(colour, float), (count, 3)),
                np.broadcast_to(np.asarray(metallic, float), (count,)), np.broadcast_to(np.asarray(roughness, float),
                                                                                         (count,)))


def prism(outline: list[tuple[float, float]], thickness: float) -> Part:
    """A flat-shaded slab: the convex polygon `outline` in the XZ plane, `thickness` thick along Y (unpainted)."""
    ring = np.asarray(outline, float)
    front = np.stack([ring[:, 0], np.full(len(ring), thickness / 2), ring[:, 1]], axis=1)
    back = front * [1, -1, 1]
    triangles = [[front[0], front[k], front[k + 1]] for k in range(1, len(ring) - 1)]
    triangles += [[back[0], back[k + 1], back[k]] for k in range(1, len(ring) - 1)]
    for k in range(len(ring)):
        n = (k + 1) % len(ring)
        triangles += [[front[k], back[k], back[n]], [front[k], back[n], front[n]]]
    vertices = np.asarray(triangles).reshape(-1, 3)
    faces = np.arange(len(vertices)).reshape(-1, 3)
    face_normal = np.cross(vertices[1::3] - vertices[::3], vertices[2::3] - vertices[::3])
    face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
    return Part(vertices, faces, np.repeat(face_normal, 3, axis=0), np.zeros((len(vertices), 3)),
                np.zeros(len(vertices)), np.zeros(len(vertices)))


def moved(part: Part, rotation: np.ndarray, offset) -> Part:
    """`part` rotated by the 3x3 `rotation` about the origin, then shifted by `offset`."""
    return Part(part.vertices @ rotation.T + np.asarray(offset, float), part.faces, part.normals @ rotation.T,
                part.colour, part.metallic, part.roughness)


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def hex_colour(code: str) -> np.ndarray:
    return np.array([int(code[k:k + 2], 16) for k in (1, 3, 5)]) / 255


def mix(a, b, weight: np.ndarray) -> np.ndarray:
    """Per-vertex blend of colours (or values) `a` and `b`; `weight` 0 gives `a`."""
    weight = np.clip(weight, 0, 1)[:, None] if np.ndim(a) or np.ndim(b) else np.clip(weight, 0, 1)
    return np.asarray(a) * (1 - weight) + np.asarray(b) * weight


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    s = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return s * s * (3 - 2 * s)


# ---- the objects ----------------------------------------------------------------------------------------------------

def mushroom() -> list[Part]:
    """A toadstool: red cap with white spots and pale gills, a cream stem."""
    stem = lathe(spline([(0.0, 0.0), (0.15, 0.0), (0.2, 0.06), (0.17, 0.25), (0.13, 0.5), (0.12, 0.62)], 160), 160)
    stem_colour = mix(hex_colour("#f2e6cf"), hex_colour("#c9b48e"), 1 - smoothstep(0.0, 0.25, stem.vertices[:, 2]))
    cap_profile = spline([(0.1, 0.55), (0.36, 0.52), (0.6, 0.51), (0.65, 0.58), (0.58, 0.79), (0.36, 0.95),
                          (0.0, 1.01)], 400)
    cap = lathe(cap_profile, 720)
    top = smoothstep(0.38, 0.42, cap.t)  # the profile passes the rim about 40% along
    rng = np.random.default_rng(3)
    centres = _spots(rng, 24, min_elevation=0.15)
    sizes = rng.uniform(0.09, 0.16, len(centres))  # angular radii
    direction = cap.vertices - [0, 0, 0.5]
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    gap = (np.arccos(np.clip(direction @ centres.T, -1, 1)) - sizes).min(axis=1)
    spot = smoothstep(0.012, -0.012, gap) * top
    red = mix(hex_colour("#b3120f"), hex_colour("#e8361c"), smoothstep(0.5, 0.95, cap.vertices[:, 2]))
    cap_colour = mix(mix(hex_colour("#e9d9bf"), red, top), hex_colour("#fbf6ec"), spot)
    return [paint(stem, stem_colour, roughness=0.8), paint(cap, cap_colour, roughness=mix(0.75, 0.35, top))]


def _spots(rng: np.random.Generator, count: int, min_elevation: float) -> np.ndarray:
    """Unit directions above `min_elevation` (z) that keep apart from each other (dart throwing)."""
    chosen: list[np.ndarray] = []
    while len(chosen) < count:
        v = rng.normal(size=3)
        v /= np.linalg.norm(v)
        if v[2] > min_elevation and all(v @ c < 0.94 for c in chosen):
            chosen.append(v)
    return np.asarray(chosen)


def donut() -> list[Part]:
    """A glazed ring doughnut with a wavy pink icing edge and glossy sprinkles."""
    big, small = 0.5, 0.25
    theta = np.linspace(-np.pi / 2, 1.5 * np.pi, 160, endpoint=False)
    ring = lathe(np.stack([big + small * np.cos(theta), small * np.sin(theta)], axis=1), 320, closed=True)
    x, y, z = ring.vertices.T
    phi = ring.angle * 2 * np.pi
    edge = 0.02 * np.sin(7 * phi) + 0.012 * np.sin(17 * phi + 1.0) - 0.02 * np.cos(3 * phi)
    icing = smoothstep(-0.004, 0.004, z - edge)
    dough = mix(hex_colour("#c98a47"), hex_colour("#f0d3a0"), 1 - smoothstep(0.0, 0.06, np.abs(z + 0.01)))
    parts = [paint(ring, mix(dough, hex_colour("#f27fb2"), icing), roughness=mix(0.8, 0.28, icing))]
    rng = np.random.default_rng(7)
    palette = [hex_colour(c) for c in ("#ffffff", "#ffd23f", "#3bceac", "#5b8def", "#ee4266", "#8f5bd8")]
    sprinkle = lathe(spline([(0.0, -0.035), (0.009, -0.03), (0.011, 0.0), (0.009, 0.03), (0.0, 0.035)], 24), 16)
    placed: list[np.ndarray] = []
    while len(placed) < 70:
        around, up = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.95) * np.pi
        normal = np.array([np.cos(up) * np.cos(around), np.cos(up) * np.sin(around), np.sin(up)])
        centre = np.array([big * np.cos(around), big * np.sin(around), 0]) + small * normal
        if centre[2] < 0.07 or any(np.linalg.norm(centre - p) < 0.07 for p in placed):
            continue
        placed.append(centre)
        along = np.cross(normal, rng.normal(size=3))
        along /= np.linalg.norm(along)
        side = np.cross(normal, along)
        orient = np.stack([side, normal, along], axis=1)  # lathe axis Z -> `along`, lying on the icing
        colour = palette[rng.integers(len(palette))]
        parts.append(moved(paint(sprinkle, colour, roughness=0.3), orient, centre + 0.006 * normal))
    return parts


def vase() -> list[Part]:
    """A glazed ceramic vase: deep blue to turquoise with a checkered shoulder band, an unglazed foot."""
    outline = [(0.0, 0.0), (0.24, 0.0), (0.27, 0.03), (0.36, 0.2), (0.4, 0.38), (0.34, 0.6), (0.2, 0.78),
               (0.17, 0.9), (0.22, 1.0), (0.215, 1.03), (0.19, 1.02), (0.15, 0.92), (0.16, 0.8), (0.0, 0.72)]
    body = lathe(spline(outline, 400), 320)
    z, angle = body.vertices[:, 2], body.angle
    outside = body.t < 0.9
    glaze = mix(hex_colour("#10266b"), hex_colour("#2fb3b0"), smoothstep(0.05, 0.95, z))
    checker = ((np.floor(angle * 24) + np.floor((z - 0.5) / 0.045)) % 2 == 0) & (z > 0.5) & (z < 0.59) & outside
    band = (z > 0.48) & (z < 0.61) & outside
    colour = np.where(band[:, None], hex_colour("#f4efe2"), glaze)
    colour = np.where(checker[:, None], hex_colour("#0c1f57"), colour)
    foot = 1 - smoothstep(0.04, 0.06, z + 0.012 * np.sin(angle * 2 * np.pi * 9))
    colour = mix(colour, hex_colour("#b8703f"), foot * outside)
    return [paint(body, colour, roughness=mix(0.12, 0.8, foot * outside))]


def beach_ball() -> list[Part]:
    """A glossy beach ball: six coloured gores with white polar caps."""
    theta = np.linspace(-np.pi / 2, np.pi / 2, 200)
    ball = lathe(np.stack([0.5 * np.cos(theta), 0.5 + 0.5 * np.sin(theta)], axis=1), 360)
    gores = np.array([hex_colour(c) for c in ("#e63946", "#ffffff", "#1d70d6", "#ffd23f", "#ffffff", "#2bb673")])
    colour = gores[(np.floor(ball.angle * 6).astype(int)) % 6]
    cap = smoothstep(0.455, 0.46, np.abs(ball.vertices[:, 2] - 0.5))
    return [paint(ball, mix(colour, np.ones(3), cap), roughness=0.3)]


def rocket() -> list[Part]:
    """A toy rocket: white body with a red nose, a checkered band, a porthole, three red fins, a metal nozzle."""
    body = lathe(spline([(0.0, 0.12), (0.17, 0.12), (0.2, 0.3), (0.21, 0.6), (0.18, 0.85), (0.1, 1.05),
                         (0.0, 1.16)], 400), 320)
    z, angle = body.vertices[:, 2], body.angle
    colour = mix(hex_colour("#f5f5f2"), hex_colour("#d62828"), smoothstep(0.84, 0.85, z))
    checker = ((np.floor(angle * 16) + np.floor((z - 0.3) / 0.06)) % 2 == 0) & (z > 0.3) & (z < 0.42)
    colour = np.where(checker[:, None], hex_colour("#1b1b1f"), colour)
    # a porthole facing the camera: distance on the unrolled surface from (angle 0, height 0.64)
    around = (np.mod(angle + 0.5, 1.0) - 0.5) * 2 * np.pi * 0.21
    hole = np.hypot(around, z - 0.64)
    glass = mix(hex_colour("#0b3d91"), hex_colour("#7fd4ff"), smoothstep(0.07, 0.0, np.hypot(around + 0.02, z - 0.67)))
    colour = mix(colour, hex_colour("#d9a521"), smoothstep(0.088, 0.084, hole))
    colour = mix(colour, glass, smoothstep(0.068, 0.064, hole))
    ring = smoothstep(0.088, 0.084, hole) * smoothstep(0.064, 0.068, hole)
    parts = [paint(body, colour, metallic=ring, roughness=mix(0.35, 0.25, ring))]
    nozzle = lathe(spline([(0.08, 0.0), (0.12, 0.02), (0.1, 0.08), (0.13, 0.13)], 60), 160)
    parts.append(paint(nozzle, hex_colour("#9aa0a6"), metallic=1.0, roughness=0.3))
    fin = paint(prism([(0.16, 0.45), (0.36, 0.12), (0.36, 0.0), (0.17, 0.14)], 0.03), hex_colour("#d62828"),
                roughness=0.4)
    parts += [moved(fin, rotation_z(np.pi / 3 + k * 2 * np.pi / 3), (0, 0, 0)) for k in range(3)]
    return parts


#: name -> (builder, camera yaw, camera pitch) in radians; yaw 0 looks from +X.
OBJECTS: dict[str, tuple[Callable[[], list[Part]], float, float]] = {
    "mushroom": (mushroom, -0.6, 0.35),
    "donut": (donut, 0.3, 0.75),
    "vase": (vase, 0.4, 0.3),
    "beach_ball": (beach_ball, 1.57, 0.75),
    "rocket": (rocket, 0.0, 0.25),
}


# ---- rendering ------------------------------------------------------------------------------------------------------

def framed_camera(vertices: np.ndarray, yaw: float, pitch: float) -> Camera:
    """A camera looking at the object's centre from (yaw, pitch), its lens fitted so the object spans FILL of the
    frame, centred."""
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    radius = 4 * np.linalg.norm(vertices - centre, axis=1).max()
    eye = centre + radius * np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    extrinsics = look_at(eye, centre)
    local = vertices @ extrinsics[:3, :3].T + extrinsics[:3, 3]
    screen = local[:, :2] / local[:, 2:]
    low, high = screen.min(axis=0), screen.max(axis=0)
    focal = FILL / (high - low).max()
    principal = 0.5 - focal * (low + high) / 2
    intrinsics = np.array([[focal, 0, principal[0]], [0, focal, principal[1]], [0, 0, 1]])
    return Camera(extrinsics, intrinsics)


def render(parts: list[Part], yaw: float, pitch: float, envmap: EnvMap) -> Image.Image:
    """The object lit by `envmap`, tone mapped like the demo's previews, as a straight-alpha RGBA image."""
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets, strict=True)])
    linear = np.concatenate([p.colour for p in parts]) ** GAMMA
    material = np.stack([np.concatenate([p.metallic for p in parts]), np.concatenate([p.roughness for p in parts])], 1)
    images = render_mesh(vertices, faces, framed_camera(vertices, yaw, pitch), SIZE * SUPERSAMPLING,
                         modes=("shaded",), normals=np.concatenate([p.normals for p in parts]), vertex_colors=linear,
                         metallic_roughness=material, environment=envmap.prefiltered)
    colour = aces_tonemap(images["shaded"]) ** (1 / GAMMA) * images["mask"][..., None]
    blocks = (SIZE, SUPERSAMPLING, SIZE, SUPERSAMPLING)
    coverage = images["mask"].reshape(blocks).mean(axis=(1, 3))
    premultiplied = colour.reshape(*blocks, 3).mean(axis=(1, 3))
    straight = premultiplied / np.maximum(coverage, 1e-6)[..., None]
    rgba = np.concatenate([straight, coverage[..., None]], axis=-1)
    return Image.fromarray(np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8), "RGBA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR, help=f"output folder (default {EXAMPLES_DIR})")
    parser.add_argument("--only", nargs="*", choices=list(OBJECTS), help="render only these objects")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    envmap = EnvMap.builtin("forest")
    for name in args.only or OBJECTS:
        build, yaw, pitch = OBJECTS[name]
        path = args.out / f"{name}.png"
        render(build(), yaw, pitch, envmap).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
