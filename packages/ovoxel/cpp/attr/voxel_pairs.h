// Which voxels each triangle touches, by the scan-line edge-crossing rule shared with the dual grid:
// every crossing of the triangle with a grid line parallel to an axis marks the 4 voxels around that line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "uninitialized.h"

namespace ovoxel_attr {

struct Grid {
    double step[3];
    int cells[3];

    // Lexicographic (x, y, z) rank of a voxel: sorting keys sorts voxels by x, then y, then z.
    uint64_t key(const int32_t v[3]) const {
        return (uint64_t(v[0]) * uint64_t(cells[1]) + uint64_t(v[1])) * uint64_t(cells[2]) + uint64_t(v[2]);
    }
    void coords(uint64_t key, int32_t out[3]) const {
        out[2] = int32_t(key % uint64_t(cells[2]));
        key /= uint64_t(cells[2]);
        out[1] = int32_t(key % uint64_t(cells[1]));
        out[0] = int32_t(key / uint64_t(cells[1]));
    }
    uint64_t voxel_count() const { return uint64_t(cells[0]) * uint64_t(cells[1]) * uint64_t(cells[2]); }
};

// Bits needed to write every value below `limit`.
inline int bit_width(uint64_t limit) {
    int bits = 0;
    while (bits < 64 && (limit - 1) >> bits) ++bits;
    return bits;
}

// (triangle, voxel key) pairs, each packed in one word as key << triangle_bits | triangle: every triangle's distinct
// voxels, triangles in input order. One word per pair keeps the list small and lets the key sort move whole words.
struct VoxelPairs {
    using Words = std::vector<uint64_t, UninitializedAllocator<uint64_t>>;  // (the sort's scratch needs no zero fill)
    Words word;
    int triangle_bits = 0;

    uint64_t key(size_t i) const { return word[i] >> triangle_bits; }
    uint32_t triangle(size_t i) const { return uint32_t(word[i] & ((uint64_t(1) << triangle_bits) - 1)); }
};

// Cells of the largest per-triangle voxel box deduplicated with marks; larger boxes are sorted instead.
constexpr uint64_t kMaxMarkedBox = uint64_t(1) << 24;

// Pairs of `count` triangles given as float32 (count, 3, 3) corners relative to the grid origin. The result is
// the same for any number of threads (triangles are cut into contiguous blocks joined in order). Throws
// std::invalid_argument when a voxel key and a triangle id do not fit in one 64-bit word together.
VoxelPairs triangle_voxel_pairs(const float* triangles, size_t count, const Grid& grid, int threads,
                                uint64_t max_marked_box = kMaxMarkedBox);

}  // namespace ovoxel_attr
