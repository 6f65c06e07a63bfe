// Triangle -> voxel pairs for attribute voxelization (see voxel_pairs.h for the crossing rule).
#include "voxel_pairs.h"

#include <algorithm>
#include <array>
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

// Appends the voxels (with repeats) touched while scanning one triangle along depth axis `depth`.
void scan_axis(const double tri[3][3], int depth, const Grid& grid, std::vector<Voxel>& out) {
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
                        out.push_back(v);
                    }
                }
            }
        }
    };
    scan_half(first, middle, p[0], p[1], p[2]);
    scan_half(middle, last, p[2], p[1], p[0]);
}

// Scans triangles and appends each one's distinct voxels; repeats are dropped through a mark per cell of the
// triangle's voxel box (reused between triangles), or by sorting when that box has over `max_marked_box` cells.
class TriangleScanner {
public:
    TriangleScanner(const Grid& grid, uint64_t max_marked_box) : grid_(grid), max_marked_box_(max_marked_box) {}

    void add(const float* corners, uint32_t triangle, VoxelPairs& out) {
        double tri[3][3];
        for (int v = 0; v < 3; ++v)
            for (int a = 0; a < 3; ++a) tri[v][a] = corners[3 * v + a];
        raw_.clear();
        for (int depth = 0; depth < 3; ++depth) scan_axis(tri, depth, grid_, raw_);
        if (raw_.empty()) return;
        Voxel low = raw_[0], high = raw_[0];
        for (const Voxel& v : raw_) {
            for (int a = 0; a < 3; ++a) {
                low[a] = std::min(low[a], v[a]);
                high[a] = std::max(high[a], v[a]);
            }
        }
        const uint64_t size[3] = {uint64_t(high[0] - low[0] + 1), uint64_t(high[1] - low[1] + 1),
                                  uint64_t(high[2] - low[2] + 1)};
        const uint64_t box = size[0] * size[1] * size[2];
        const size_t before = out.word.size();
        auto word = [&](const Voxel& v) { return grid_.key(v.data()) << out.triangle_bits | triangle; };
        if (box > max_marked_box_) {
            for (const Voxel& v : raw_) out.word.push_back(word(v));
            std::sort(out.word.begin() + std::ptrdiff_t(before), out.word.end());
            out.word.erase(std::unique(out.word.begin() + std::ptrdiff_t(before), out.word.end()), out.word.end());
        } else {
            auto cell = [&](const Voxel& v) {
                return (uint64_t(v[0] - low[0]) * size[1] + uint64_t(v[1] - low[1])) * size[2] + uint64_t(v[2] - low[2]);
            };
            if (marks_.size() < box) marks_.resize(box, 0);
            for (const Voxel& v : raw_) {
                if (marks_[cell(v)]) continue;
                marks_[cell(v)] = 1;
                out.word.push_back(word(v));
            }
            for (const Voxel& v : raw_) marks_[cell(v)] = 0;
        }
    }

private:
    const Grid& grid_;
    const uint64_t max_marked_box_;
    std::vector<Voxel> raw_;
    std::vector<uint8_t> marks_;
};

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
        for (size_t f = count * size_t(b) / size_t(blocks); f < count * size_t(b + 1) / size_t(blocks); ++f)
            scanner.add(triangles + 9 * f, uint32_t(f), parts[b]);
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
