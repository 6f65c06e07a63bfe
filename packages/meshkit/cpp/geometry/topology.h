// Graph helpers on mesh connectivity: connected components and consistent face orientation.
#pragma once
#include <cstdint>
#include <vector>

namespace meshkit {

// Labels 0..k-1 of the connected components of an n-node graph given as edge pairs, numbered by first node.
std::vector<int64_t> connected_components(int64_t n, const int64_t* pairs, int64_t num_pairs);

// Component label per face (numbered by first face), faces being connected when they share an edge: two faces share
// edge {a, b} (a != b) when both use a and b, and edge {a, a} when both repeat a.
std::vector<int64_t> face_components(const int64_t* faces, int64_t num_faces, int64_t num_vertices);

// Half-edges h = 3 * face + corner grouped by undirected edge: pairs (h1 < h2) of the edges exactly two half-edges
// use, ordered by (smaller, larger) vertex, as a flat (P * 2) list; writes the most half-edges any edge has.
std::vector<int64_t> manifold_half_edge_pairs(const int64_t* faces, int64_t num_faces, int64_t num_vertices,
                                              int64_t& max_per_edge);

// Breadth-first orientation propagation: adjacency pairs (f, g, same) say faces f and g share an edge, walked in
// the same direction when same != 0. Returns, per face, whether to flip it so that neighbours agree.
std::vector<uint8_t> propagate_orientation(int64_t num_faces, const int64_t* pairs, const uint8_t* same,
                                           int64_t num_pairs);

}  // namespace meshkit
