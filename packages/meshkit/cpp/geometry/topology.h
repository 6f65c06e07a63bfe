// Graph helpers on mesh connectivity: connected components and consistent face orientation.
#pragma once
#include <cstdint>
#include <vector>

namespace meshkit {

// Labels 0..k-1 of the connected components of an n-node graph given as edge pairs, numbered by first node.
std::vector<int64_t> connected_components(int64_t n, const int64_t* pairs, int64_t num_pairs);

// Breadth-first orientation propagation: adjacency pairs (f, g, same) say faces f and g share an edge, walked in
// the same direction when same != 0. Returns, per face, whether to flip it so that neighbours agree.
std::vector<uint8_t> propagate_orientation(int64_t num_faces, const int64_t* pairs, const uint8_t* same,
                                           int64_t num_pairs);

}  // namespace meshkit
