// Narrow-band dual contouring of an unsigned distance field (CPU): a watertight, manifold offset surface.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

namespace meshkit {

struct RemeshResult {
    std::vector<double> vertices;  // (V, 3)
    std::vector<int64_t> faces;    // (F, 3)
};

// Contours {p : distance(p, input) = band * voxel} over a resolution^3 grid of cube side `scale` centred at
// `center`, with one vertex per crossed voxel, then moves each vertex `project_back` of the way to the input.
RemeshResult remesh_narrow_band(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                                const double center[3], double scale, int64_t resolution, double band,
                                double project_back);

void bind_remesh(pybind11::module_& m);

}  // namespace meshkit
