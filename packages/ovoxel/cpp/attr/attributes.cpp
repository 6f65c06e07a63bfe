// PBR attribute voxelization (see attributes.h). Expressions keep the operation order of the previous numpy
// implementation (no fused multiply-add, same association), so every voxel's bytes are unchanged.
#include "attributes.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ovoxel_attr {
namespace {

constexpr int kMaxRadixBits = 11;
constexpr size_t kBlockPairs = size_t(1) << 14;  // pairs per block of voxels evaluated by one thread

// Stable LSD radix sort of the packed pairs by their voxel-key bits (whole words move, so the pairs of one voxel stay
// in triangle order); the digit histograms of all passes come from one read.
void sort_by_key(VoxelPairs& pairs, uint64_t key_limit) {
    const int key_bits = bit_width(key_limit);
    VoxelPairs::Words& words = pairs.word;
    VoxelPairs::Words scratch(words.size());
    const int passes = (key_bits + kMaxRadixBits - 1) / kMaxRadixBits;
    const int digit_bits = passes ? (key_bits + passes - 1) / passes : 0;
    const uint64_t mask = (uint64_t(1) << digit_bits) - 1;
    const size_t buckets = size_t(1) << digit_bits;
    std::vector<size_t> start(size_t(passes) * buckets, 0);
    for (uint64_t word : words)
        for (int p = 0; p < passes; ++p)
            ++start[size_t(p) * buckets + ((word >> (pairs.triangle_bits + p * digit_bits)) & mask)];
    for (int p = 0; p < passes; ++p) {
        size_t* next = start.data() + size_t(p) * buckets;
        size_t offset = 0;
        for (size_t d = 0; d < buckets; ++d) offset += std::exchange(next[d], offset);
        const int shift = pairs.triangle_bits + p * digit_bits;
        for (uint64_t word : words) scratch[next[(word >> shift) & mask]++] = word;
        words.swap(scratch);
    }
}

double dot(const double* l, const double* r) { return l[0] * r[0] + l[1] * r[1] + l[2] * r[2]; }

// The per-triangle part of every voxel's projection: first corner, edges from it and their dot products.
struct TriangleGeometry {
    double origin[3], ab[3], ac[3], d00, d01, d11, denom;
};

std::vector<TriangleGeometry> triangle_geometry(const TriangleTable& table, int threads) {
    std::vector<TriangleGeometry> geometry(table.count);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long long f = 0; f < (long long)table.count; ++f) {
        const float* c = table.corners + 9 * f;
        TriangleGeometry& g = geometry[size_t(f)];
        for (int a = 0; a < 3; ++a) {
            g.origin[a] = c[a];
            g.ab[a] = double(c[3 + a]) - double(c[a]);
            g.ac[a] = double(c[6 + a]) - double(c[a]);
        }
        g.d00 = dot(g.ab, g.ab);
        g.d01 = dot(g.ab, g.ac);
        g.d11 = dot(g.ac, g.ac);
        g.denom = g.d00 * g.d11 - g.d01 * g.d01;
    }
    return geometry;
}

// Material sample of triangle `f` at the centre of `voxel`: writes the plane weight and kAttributeChannels values.
double sample_pair(const TriangleTable& table, const TriangleGeometry& g, const std::vector<Material>& materials,
                   const Grid& grid, size_t f, const int32_t voxel[3], double values[kAttributeChannels]) {
    const double* tangent = table.frames + 9 * f;
    const double* bitangent = tangent + 3;
    const double* normal = tangent + 6;
    const double* c0 = g.origin;
    double point[3];
    for (int a = 0; a < 3; ++a) point[a] = (double(voxel[a]) + 0.5) * grid.step[a];
    // Summed x, z, then y: the association numpy's einsum used for this dot product in the previous implementation.
    const double distance =
        ((point[0] - c0[0]) * normal[0] + (point[2] - c0[2]) * normal[2]) + (point[1] - c0[1]) * normal[1];
    double ap[3];
    for (int a = 0; a < 3; ++a) ap[a] = (point[a] - distance * normal[a]) - c0[a];
    const double d00 = g.d00, d01 = g.d01, d11 = g.d11, d20 = dot(ap, g.ab), d21 = dot(ap, g.ac), denom = g.denom;
    const double v = (d11 * d20 - d01 * d21) / denom;
    const double w = (d00 * d21 - d01 * d20) / denom;
    const double bary[3] = {1 - v - w, v, w};
    const double* uvs = table.uvs + 6 * f;
    const double* vertex_normals = table.normals + 9 * f;
    double uv[2], vertex_normal[3];
    for (int k = 0; k < 2; ++k) uv[k] = bary[0] * uvs[k] + bary[1] * uvs[2 + k] + bary[2] * uvs[4 + k];
    for (int k = 0; k < 3; ++k)
        vertex_normal[k] = bary[0] * vertex_normals[k] + bary[1] * vertex_normals[3 + k] + bary[2] * vertex_normals[6 + k];

    const Material& material = materials[size_t(table.material[f])];
    static constexpr double kUntextured[4] = {1.0, 1.0, 1.0, 1.0};
    double sampled[kTextureSlots][kMaxChannels];
    const double* texel[kTextureSlots];
    for (int slot = 0; slot < kTextureSlots; ++slot) {
        const MipTexture* texture = material.textures[slot];
        int first = 0;
        while (first < slot && material.textures[first] != texture) ++first;
        if (texture && first == slot)
            texture->sample(uv[0], uv[1], table.mip_levels[kTextureSlots * f + slot], sampled[slot]);
        texel[slot] = texture ? sampled[first] + material.channel_offset[slot] : kUntextured;
    }
    for (int k = 0; k < 3; ++k) values[k] = texel[kBaseColor][k] * material.base_color[k];
    values[3] = texel[kMetallicRoughness][1] * material.metallic;
    values[4] = texel[kMetallicRoughness][0] * material.roughness;
    for (int k = 0; k < 3; ++k) values[5 + k] = texel[kEmissive][k] * material.emissive[k];
    values[8] = 1.0;
    if (material.alpha_mode != 0) {
        values[8] = texel[kBaseColor][3] * material.base_color[3];
        if (material.alpha_mode == 1) values[8] = values[8] >= material.alpha_cutoff ? 1.0 : 0.0;
    }
    double* mapped = values + kNormalChannel;
    if (material.textures[kNormalMap]) {
        double local[3];
        for (int k = 0; k < 3; ++k) local[k] = texel[kNormalMap][k] * 2 - 1;
        for (int k = 0; k < 3; ++k)
            mapped[k] = local[0] * tangent[k] + local[1] * bitangent[k] + local[2] * vertex_normal[k];
        const double length = std::max(std::sqrt(dot(mapped, mapped)), 1e-30);
        for (int k = 0; k < 3; ++k) mapped[k] /= length;
    } else {
        std::copy(vertex_normal, vertex_normal + 3, mapped);
    }
    return 1.0 - distance;
}

// Truncating uint8 quantization of a [0, 1] value (signed: [-1, 1]); NaN fails both tests and becomes 0. Written as
// selects (branch-free max and min), not as tests and branches.
uint8_t quantize(double value, bool is_signed) {
    const double scaled = (is_signed ? value * 0.5 + 0.5 : value) * 255.0;
    const double floored = scaled > 0.0 ? scaled : 0.0;
    return uint8_t(floored < 255.0 ? floored : 255.0);
}

}  // namespace

SortedPairs sort_pairs(const TriangleTable& table, const Grid& grid, int threads) {
    SortedPairs sorted{triangle_voxel_pairs(table.corners, table.count, grid, threads), {}, {}};
    VoxelPairs& pairs = sorted.pairs;
    sort_by_key(pairs, grid.voxel_count());
    const size_t n = pairs.word.size(), blocks = (n + kBlockPairs - 1) / kBlockPairs;
    sorted.block_begin.resize(blocks + 1);
    sorted.block_row.assign(blocks + 1, 0);
    for (size_t b = 0; b <= blocks; ++b) {  // nominal block starts moved forward to the next voxel's first pair
        size_t i = std::min(b * kBlockPairs, n);
        while (i > 0 && i < n && pairs.key(i) == pairs.key(i - 1)) ++i;
        sorted.block_begin[b] = i;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long long b = 0; b < (long long)blocks; ++b) {
        const size_t first = sorted.block_begin[b], last = sorted.block_begin[b + 1];
        size_t voxels = first < last;
        for (size_t i = first + 1; i < last; ++i) voxels += pairs.key(i) != pairs.key(i - 1);
        sorted.block_row[b + 1] = voxels;
    }
    for (size_t b = 0; b < blocks; ++b) sorted.block_row[b + 1] += sorted.block_row[b];
    return sorted;
}

void evaluate_voxels(const SortedPairs& sorted, const TriangleTable& table, const std::vector<Material>& materials,
                     const Grid& grid, int threads, const AttributeRows& out) {
    const VoxelPairs& pairs = sorted.pairs;
    const std::vector<TriangleGeometry> geometry = triangle_geometry(table, threads);
    // Voxels in key order: pairs are read and rows written sequentially, which beats following the mesh for texture
    // locality (that order gathered the pairs and scattered the rows at random).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long long b = 0; b < (long long)sorted.block_begin.size() - 1; ++b) {
        size_t row = sorted.block_row[b];
        const size_t begin = sorted.block_begin[b], last = sorted.block_begin[b + 1];
        for (size_t first = begin, end; first < last; first = end, ++row) {
            const uint64_t key = pairs.key(first);
            int32_t* voxel = out.coords + 3 * row;
            // A voxel further along the previous one's z line (most are: a surface crossing is a few voxels deep)
            // takes its coordinates from that one's row, without the two divisions of a full decode.
            const uint64_t step = first > begin ? key - pairs.key(first - 1) : 0;
            if (step && step < uint64_t(grid.cells[2] - voxel[-1])) {  // (the block's first voxel: step 0)
                voxel[0] = voxel[-3];
                voxel[1] = voxel[-2];
                voxel[2] = voxel[-1] + int32_t(step);
            } else {
                grid.coords(key, voxel);
            }
            double total_weight = 0.0, sums[kAttributeChannels] = {};
            for (end = first; end < last && pairs.key(end) == key; ++end) {
                double values[kAttributeChannels];
                const uint32_t f = pairs.triangle(end);
                const double weight = sample_pair(table, geometry[f], materials, grid, f, voxel, values);
                total_weight += weight;
                for (int c = 0; c < kAttributeChannels; ++c) sums[c] += values[c] * weight;
            }
            double means[kAttributeChannels];  // a loop of its own, so the divisions run two to a vector
            for (int c = 0; c < kAttributeChannels; ++c) means[c] = sums[c] / total_weight;
            int c = 0;
            for (size_t a = 0; a < std::size(kAttributeWidths); ++a)
                for (int k = 0; k < kAttributeWidths[a]; ++k, ++c)
                    out.attribute[a][kAttributeWidths[a] * row + k] = quantize(means[c], c >= kNormalChannel);
        }
    }
}

}  // namespace ovoxel_attr
