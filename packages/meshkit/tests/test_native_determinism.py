"""The native BVH (parallel build, batched queries), remesher and push-pull fill give the same bytes whatever the
number of OpenMP threads."""

from mesh_checks import outputs_per_thread_count

SCRIPT = """
import hashlib, numpy as np, trimesh, meshkit
from meshkit.bake import push_pull_fill
s = trimesh.creation.icosphere(4)
v = s.vertices * (1 + 0.1 * np.sin(5 * s.vertices[:, :1]))
rng = np.random.default_rng(0)
parts = list(meshkit.BVH(v, s.faces).closest_point(rng.normal(size=(20000, 3))))
parts += list(meshkit.remesh_narrow_band_dc(v, s.faces, [0, 0, 0], 2.6, 40, band=1.0, project_back=0.5))
parts.append(push_pull_fill(rng.random((97, 130, 3)).astype(np.float32), rng.random((97, 130)) < 0.1))
print(hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in parts)).hexdigest())
"""


def test_native_results_do_not_depend_on_the_thread_count():
    digests = outputs_per_thread_count(SCRIPT)
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64
