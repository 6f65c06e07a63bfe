"""to_glb's alpha decisions on small synthetic inputs: 'auto' from the voxels' alpha, and the faces of a BLEND
export whose baked alpha is fully opaque."""

from __future__ import annotations

import numpy as np
import pytest
from ovoxel.postprocess.alpha import face_min_alpha, opaque_faces, resolve_mode


@pytest.mark.parametrize("values, expected", [
    ([1.0, 1.0, 254.6 / 255], "OPAQUE"),
    ([0.0, 1.0, 3 / 255, 252 / 255], "MASK"),  # binary within the tolerance
    ([0.0, 1.0, 0.5], "BLEND"),
    ([1.0, 250 / 255], "MASK"),
    ([], "OPAQUE"),
])
def test_auto_follows_the_voxel_alpha(values, expected):
    assert resolve_mode("auto", np.array(values, np.float32)[:, None]) == expected
    assert resolve_mode("BLEND", np.array(values, np.float32)[:, None]) == "BLEND"  # explicit modes pass


def strip(texels: int) -> tuple[np.ndarray, np.ndarray]:
    """`texels` quads of two triangles along u, each quad one texel wide, the whole strip one texel tall."""
    xs = np.arange(texels + 1) / texels
    uvs = np.concatenate([np.c_[xs, np.zeros_like(xs)], np.c_[xs, np.ones_like(xs)]])
    a = np.arange(texels)
    faces = np.concatenate([np.c_[a, a + 1, a + texels + 2], np.c_[a, a + texels + 2, a + texels + 1]])
    return faces, uvs


def test_faces_take_the_least_alpha_of_the_texels_they_sample():
    faces, uvs = strip(8)
    alpha = np.full((1, 8), 255, np.uint8)
    alpha[0, 5] = 254
    least = face_min_alpha(faces, uvs, alpha, np.ones_like(alpha, bool))
    quads = np.r_[np.arange(8), np.arange(8)]
    # Bilinear footprints reach one texel either side: quads 4-6 sample texel 5.
    np.testing.assert_array_equal(least, np.where(np.isin(quads, [4, 5, 6]), 254, 255))
    base = np.dstack([np.zeros((1, 8, 3), np.uint8), alpha])
    np.testing.assert_array_equal(opaque_faces(faces, uvs, base, np.ones((1, 8), bool)), least == 255)


def test_a_large_face_is_sampled_across_its_inside_and_filled_texels_are_ignored():
    faces, uvs = np.array([[0, 1, 2]]), np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[20, 20] = 10  # one translucent texel well inside the triangle
    baked = np.ones_like(alpha, bool)
    assert face_min_alpha(faces, uvs, alpha, baked)[0] == 10
    alpha[20, 20], alpha[60, 60] = 255, 0  # outside the triangle
    baked[40:, 40:] = False
    alpha[30, 30] = 7  # on the hypotenuse, but a filled (unbaked) texel
    baked[30, 30] = False
    assert face_min_alpha(faces, uvs, alpha, baked)[0] == 255
    assert face_min_alpha(faces, uvs, alpha, np.zeros_like(baked))[0] == 7  # no baked texel: filled ones count
