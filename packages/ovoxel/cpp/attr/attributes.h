// Per-voxel PBR attributes: every (triangle, voxel) pair samples the triangle's material at the voxel centre
// projected onto the triangle; a voxel averages its samples with weight 1 - plane distance, then quantizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "texture.h"
#include "voxel_pairs.h"

namespace ovoxel_attr {

// Output channels per voxel, in this order: base colour 3, metallic, roughness, emissive 3, alpha, normal 3.
constexpr int kAttributeChannels = 12;
constexpr int kAttributeWidths[] = {3, 1, 1, 3, 1, 3};
constexpr int kNormalChannel = 9;
enum TextureSlot { kBaseColor = 0, kMetallicRoughness = 1, kEmissive = 2, kNormalMap = 3, kTextureSlots = 4 };
// Channels each slot reads: base colour RGBA, roughness and metallic (the glTF texture's G and B: its R, occlusion
// at most, is never read, so it need not be stored), emissive RGB, normal XYZ.
constexpr int kSlotChannels[kTextureSlots] = {4, 2, 3, 3};

struct Material {
    // Texture of each slot (null: none) and the slot's first channel in it; slots may share one interleaved texture.
    const MipTexture* textures[kTextureSlots];
    int channel_offset[kTextureSlots];
    double base_color[4], metallic, roughness, emissive[3], alpha_cutoff;
    int alpha_mode;  // 0 opaque, 1 mask, 2 blend
};

// Per-triangle inputs (views of caller-owned arrays, F triangles).
struct TriangleTable {
    size_t count;                 // F
    const float* corners;         // (F, 3, 3) relative to the grid origin
    const double* uvs;            // (F, 3, 2)
    const double* normals;        // (F, 3, 3) vertex normals at the corners
    const double* frames;         // (F, 3, 3) unit tangent, bitangent and face normal
    const double* mip_levels;     // (F, 4) mip level of each texture slot
    const int32_t* material;      // (F,)
};

// Pairs sorted by voxel key (triangle order within a voxel), cut into blocks that each start at a voxel's first pair.
struct SortedPairs {
    VoxelPairs pairs;
    std::vector<size_t> block_begin;  // blocks + 1 pair offsets
    std::vector<size_t> block_row;    // blocks + 1 output rows: the first voxel of each block, then the voxel count

    size_t voxels() const { return block_row.back(); }
};

SortedPairs sort_pairs(const TriangleTable& triangles, const Grid& grid, int threads);

// Caller-owned output rows, one per voxel: coords (N, 3) int32 and one uint8 array per kAttributeWidths entry.
struct AttributeRows {
    int32_t* coords;
    uint8_t* attribute[std::size(kAttributeWidths)];
};

// Each voxel sums its samples in triangle order, so the result does not depend on the number of threads. Voxels come
// out sorted lexicographically.
void evaluate_voxels(const SortedPairs& sorted, const TriangleTable& triangles, const std::vector<Material>& materials,
                     const Grid& grid, int threads, const AttributeRows& out);

}  // namespace ovoxel_attr
