"""Shared helpers for the geometry tests: topology checks, Hausdorff distances, damaged meshes, asset loading."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from meshkit import BVH

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
ASSETS = ["Duck.glb", "monkey.glb", "fandisk.obj", "rabbit.obj", "WaterBottle.glb", "lantern.glb", "Avocado.glb",
          "CesiumMilkTruck.glb", "BoxTextured.glb", "DamagedHelmet/DamagedHelmet.gltf"]


def load_asset(name):
    """The asset's merged triangle mesh (scene transforms applied), vertices welded by trimesh."""
    trimesh = pytest.importorskip("trimesh")
    path = SHARED / "assets" / name
    if not path.exists():
        pytest.skip(f"shared asset {path} is absent (../shared beside the repository root)")
    mesh = trimesh.load(path, force="mesh", process=True)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def edge_face_counts(faces):
    """Number of faces on each undirected edge."""
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(e, axis=0, return_counts=True)[1]


def is_watertight(faces):
    return bool((edge_face_counts(faces) == 2).all())


def is_edge_manifold(faces):
    return bool((edge_face_counts(faces) <= 2).all())


def directed_edges_unique(faces):
    """True when no directed edge repeats: the orientation is consistent across every two-face edge."""
    e = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    return len(np.unique(e, axis=0)) == len(e)


def surface_samples(vertices, faces, per_face=3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), size=(len(faces), per_face))
    pts = np.einsum("fsk,fkd->fsd", w, vertices[faces]).reshape(-1, 3)
    return np.concatenate([vertices[np.unique(faces)], pts])


def one_sided(a, b):
    """Max distance from samples of surface a to surface b."""
    return float(BVH(*b).closest_point(surface_samples(*a))[0].max())


def hausdorff(a, b):
    return max(one_sided(a, b), one_sided(b, a))


def signed_volume(vertices, faces):
    v = vertices[faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6)


def sphere(subdivisions=3, radius=1.0, center=(0, 0, 0)):
    trimesh = pytest.importorskip("trimesh")
    s = trimesh.creation.icosphere(subdivisions, radius=radius)
    return np.asarray(s.vertices) + np.asarray(center), np.asarray(s.faces, dtype=np.int64)


def combine(*meshes):
    vs, fs, offset = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + offset)
        offset += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def fans_per_vertex(faces):
    """Number of face fans around each vertex (1 for a manifold vertex), by union-find over link edges."""
    corner_pairs = []
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        # Around vertex faces[:, a], this face joins the link vertices faces[:, b] and faces[:, c].
        corner_pairs.append(np.stack([faces[:, a], faces[:, b], faces[:, c]], axis=1))
    links = np.concatenate(corner_pairs)
    nodes = {}
    parent = []

    def node(v, w):
        key = (v, w)
        if key not in nodes:
            nodes[key] = len(parent)
            parent.append(len(parent))
        return nodes[key]

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v, w1, w2 in links.tolist():
        r1, r2 = root(node(v, w1)), root(node(v, w2))
        if r1 != r2:
            parent[r1] = r2
    fans = np.zeros(faces.max() + 1, dtype=int)
    for (v, _), index in nodes.items():
        if root(index) == index:
            fans[v] += 1
    return fans


def is_closed_manifold(faces):
    """Watertight, every edge on two faces, every vertex a single fan, orientation consistent."""
    used = np.unique(faces)
    return is_watertight(faces) and directed_edges_unique(faces) and bool((fans_per_vertex(faces)[used] == 1).all())


def outputs_per_thread_count(script: str, thread_counts=(1, 2, 3)) -> set[str]:
    """The distinct stdouts of `python -c script` run with each OMP_NUM_THREADS (one element when deterministic)."""
    return {
        subprocess.run(
            [sys.executable, "-c", script], env=os.environ | {"OMP_NUM_THREADS": str(threads)},
            capture_output=True, text=True, check=True,
        ).stdout
        for threads in thread_counts
    }
