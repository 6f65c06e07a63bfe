// Boundary loops and hole filling (CPU): boundary half-edges found by bucketing every edge on its smaller vertex,
// loops traced against the neighbouring faces, small loops closed by triangles, quads or centroid fans.
#pragma once
#include <cstdint>
#include <vector>

namespace meshkit {

// Half-edge h = 3 * face + corner runs from faces[h] to the next corner of the same face.
// Returns, in increasing order, the half-edges whose undirected edge no other half-edge uses.
std::vector<int64_t> boundary_half_edges(const int64_t* faces, int64_t num_faces, int64_t num_vertices);

// Closed boundary loops in compressed form: loop k is vertices[offsets[k]:offsets[k + 1]].
struct BoundaryLoops {
    std::vector<int64_t> vertices;
    std::vector<int64_t> offsets{0};
};

// Chains the arcs tail -> head (boundary half-edges walked from end to start, so that a face filling a loop in that
// order matches its neighbours' orientation) into closed loops: loops start at the smallest tail with unused arcs,
// and where a vertex has several unused arcs the walk takes the last one in input order. Open chains (possible only
// with inconsistent orientation) are dropped.
BoundaryLoops trace_loops(const int64_t* tails, const int64_t* heads, int64_t num_arcs);

// Vertices and faces to append to a mesh so that every loop with perimeter <= max_perimeter is closed: triangles
// and quads directly, longer loops by a fan around their centroid (new vertices numbered from first_new_vertex).
// Loop k is loop_vertices[offsets[k]:offsets[k + 1]]; positions holds the (x, y, z) of every loop vertex entry.
struct HolePatch {
    std::vector<double> vertices;  // (K, 3)
    std::vector<int64_t> faces;    // (M, 3)
};

HolePatch close_loops(const int64_t* loop_vertices, const int64_t* offsets, int64_t num_loops, const double* positions,
                      int64_t first_new_vertex, double max_perimeter);

}  // namespace meshkit
