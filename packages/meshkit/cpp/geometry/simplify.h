// Quadric-error edge-collapse simplification (CPU): exact face targets, no flips, manifold-preserving.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace meshkit {

struct SimplifyOptions {
    int64_t target_faces = 0;
    double min_normal_cos = 0.1;   // a moved face must keep its normal within acos(min_normal_cos)
    double boundary_weight = 1e3;  // quadric weight of the planes that hold open boundaries in place
    double round_fraction = 0.1;   // at most this share of the edges are candidates in one batch
};

struct SimplifyResult {
    std::vector<double> vertices;     // (V', 3)
    std::vector<double> attributes;   // (V', K)
    std::vector<int64_t> faces;       // (F', 3)
    std::vector<int64_t> vertex_source;  // (V',) input vertex each output vertex descends from
    std::string stop_reason;          // empty when the target was reached
};

// Collapses edges in batches, cheapest quadric error first, until at most target_faces faces remain or no legal
// collapse is left.
// locked vertices are never moved or removed. Attributes (K per vertex) are interpolated along collapsed edges.
SimplifyResult simplify_mesh(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                             const double* attributes, int64_t num_attributes, const uint8_t* locked,
                             const SimplifyOptions& options);

void bind_simplify(pybind11::module_& m);

}  // namespace meshkit
