// Triangle -> voxel pairs for attribute voxelization (see voxel_pairs.h for the crossing rule).
#include "voxel_pairs.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace ovoxel_attr {
namespace {

struct Point {  // a vertex expressed in a rotated frame: a = across-row axis, b = row axis, c = depth axis
    double a, b, c;
};

using Voxel = std::array<int32_t, 3>;

double lerp_at(double from, double to, double at, double value_from, double value_to) {
    if (from == to) return value_from;
    double alpha = (at - from) / (to - from);
    return (1 - alpha) * value_from + alpha * value_to;
}

int clamp_cell(double position, double step, int cells) {
    return std::clamp(static_cast<int>(position / step), 0, cells - 1);
}

// Calls emit(voxel) for the voxels (with repeats) touched while scanning one triangle along depth axis `depth`.
template <typename Emit>
void scan_axis(const double tri[3][3], int depth, const Grid& grid, Emit&& emit) {
    const int across = (depth + 1) % 3, row = (depth + 2) % 3;
    std::array<Point, 3> p;
    for (int k = 0; k < 3; ++k) p[k] = {tri[k][across], tri[k][row], tri[k][depth]};
    std::sort(p.begin(), p.end(), [](const Point& l, const Point& r) { return l.b < r.b; });
    const int first = clamp_cell(p[0].b, grid.step[row], grid.cells[row]);
    const int middle = clamp_cell(p[1].b, grid.step[row], grid.cells[row]);
    const int last = clamp_cell(p[2].b, grid.step[row], grid.cells[row]);

    auto scan_half = [&](int row_begin, int row_end, const Point& apex, const Point& side, const Point& far) {
        for (int j = row_begin; j < row_end; ++j) {
            const double line = (j + 1) * grid.step[row];
            double left_a = lerp_at(apex.b, side.b, line, apex.a, side.a);
            double left_c = lerp_at(apex.b, side.b, line, apex.c, side.c);
            double right_a = lerp_at(apex.b, far.b, line, apex.a, far.a);
            double right_c = lerp_at(apex.b, far.b, line, apex.c, far.c);
            if (left_a > right_a) {
                std::swap(left_a, right_a);
                std::swap(left_c, right_c);
            }
            const int col_begin = clamp_cell(left_a, grid.step[across], grid.cells[across]);
            const int col_end = clamp_cell(right_a, grid.step[across], grid.cells[across]);
            for (int i = col_begin; i < col_end; ++i) {
                const double depth_pos = lerp_at(left_a, right_a, (i + 1) * grid.step[across], left_c, right_c);
                const int k = static_cast<int>(depth_pos / grid.step[depth]);
                if (k < 0 || k >= grid.cells[depth]) continue;
                for (int di = 0; di < 2; ++di) {
                    for (int dj = 0; dj < 2; ++dj) {
                        Voxel v;
                        v[across] = i + di;
                        v[row] = j + dj;
                        v[depth] = k;
                        emit(v);
                    }
                }
            }
        }
    };
    scan_half(first, middle, p[0], p[1], p[2]);
    scan_half(middle, last, p[2], p[1], p[0]);
}

// Scans triangles and appends each one's distinct voxels in first-touch order; repeats are dropped as they come
// through a mark per cell of a box around the triangle (reused between triangles), or by sorting when that box has over
// `max_marked_box` cells.
class TriangleScanner {
public:
    TriangleScanner(const Grid& grid, uint64_t max_marked_box) : grid_(grid), max_marked_box_(max_marked_box) {}

    void add(const float* corners, uint32_t triangle, VoxelPairs& out) {
        double tri[3][3];
        for (int v = 0; v < 3; ++v)
            for (int a = 0; a < 3; ++a) tri[v][a] = corners[3 * v + a];
        // The cells of the corners' bounds and one more on each side: interpolated crossings may round past a corner.
        int low[3];
        uint64_t size[3];
        for (int a = 0; a < 3; ++a) {
            const double lo = std::min({tri[0][a], tri[1][a], tri[2][a]}) / grid_.step[a];
            const double hi = std::max({tri[0][a], tri[1][a], tri[2][a]}) / grid_.step[a];
            const double last = grid_.cells[a] - 1;
            low[a] = int(std::clamp(lo - 1, 0.0, last));
            size[a] = uint64_t(int(std::clamp(hi + 1, 0.0, last)) - low[a] + 1);
        }
        const uint64_t box = size[0] * size[1] * size[2];
        const size_t before = out.word.size();
        auto word = [&](const Voxel& v) { return grid_.key(v.data()) << out.triangle_bits | triangle; };
        if (box > max_marked_box_) {
            for (int depth = 0; depth < 3; ++depth)
                scan_axis(tri, depth, grid_, [&](const Voxel& v) { out.word.push_back(word(v)); });
            std::sort(out.word.begin() + std::ptrdiff_t(before), out.word.end());
            out.word.erase(std::unique(out.word.begin() + std::ptrdiff_t(before), out.word.end()), out.word.end());
            return;
        }
        if (marks_.size() < box) marks_.resize(box, 0);
        touched_.clear();
        for (int depth = 0; depth < 3; ++depth)
            scan_axis(tri, depth, grid_, [&](const Voxel& v) {
                const uint32_t cell = uint32_t(
                    (uint64_t(v[0] - low[0]) * size[1] + uint64_t(v[1] - low[1])) * size[2] + uint64_t(v[2] - low[2]));
                if (marks_[cell]) return;
                marks_[cell] = 1;
                touched_.push_back(cell);
                out.word.push_back(word(v));
            });
        for (uint32_t cell : touched_) marks_[cell] = 0;
    }

private:
    const Grid& grid_;
    const uint64_t max_marked_box_;
    std::vector<uint8_t> marks_;
    std::vector<uint32_t> touched_;  // marked cells of the current triangle
};

// Room for the pairs of triangles [first, last): about the grid lines their projected areas cross, plus a few voxels
// per triangle, with slack (pages of unused capacity are never touched).
size_t pair_capacity(const float* triangles, size_t first, size_t last, const Grid& grid) {
    double lines = 0.0;
    for (size_t f = first; f < last; ++f) {
        const float* t = triangles + 9 * f;
        double e0[3], e1[3];
        for (int a = 0; a < 3; ++a) {
            e0[a] = double(t[3 + a]) - t[a];
            e1[a] = double(t[6 + a]) - t[a];
        }
        for (int a = 0; a < 3; ++a) {
            const int u = (a + 1) % 3, v = (a + 2) % 3;
            lines += 0.5 * std::abs(e0[u] * e1[v] - e0[v] * e1[u]) / (grid.step[u] * grid.step[v]);
        }
    }
    return size_t(2.0 * (lines + double(last - first))) + 1024;
}

}  // namespace

VoxelPairs triangle_voxel_pairs(const float* triangles, size_t count, const Grid& grid, int threads,
                                uint64_t max_marked_box) {
    const int triangle_bits = bit_width(count);
    if (bit_width(grid.voxel_count()) + triangle_bits > 64)
        throw std::invalid_argument("grid too fine for this many triangles: voxel key and triangle id exceed 64 bits");
    const int blocks = std::max(1, std::min<int>(threads, int(count / 64) + 1));
    std::vector<VoxelPairs> parts(blocks);
    for (VoxelPairs& part : parts) part.triangle_bits = triangle_bits;
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int b = 0; b < blocks; ++b) {
        TriangleScanner scanner(grid, max_marked_box);
        const size_t first = count * size_t(b) / size_t(blocks), last = count * size_t(b + 1) / size_t(blocks);
        parts[b].word.reserve(pair_capacity(triangles, first, last, grid));
        for (size_t f = first; f < last; ++f) scanner.add(triangles + 9 * f, uint32_t(f), parts[b]);
    }
    if (blocks == 1) return std::move(parts[0]);
    VoxelPairs all;
    all.triangle_bits = triangle_bits;
    size_t total = 0;
    for (const auto& part : parts) total += part.word.size();
    all.word.reserve(total);
    for (auto& part : parts) {
        all.word.insert(all.word.end(), part.word.begin(), part.word.end());
        part = VoxelPairs();
    }
    return all;
}

}  // namespace ovoxel_attr
