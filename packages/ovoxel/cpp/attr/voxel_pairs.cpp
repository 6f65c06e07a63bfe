// Which voxels each triangle touches, by the scan-line edge-crossing rule shared with the dual grid:
// every crossing of the triangle with a grid line parallel to an axis marks the 4 voxels around that line.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

struct Point {  // a vertex expressed in a rotated frame: a = across-row axis, b = row axis, c = depth axis
    double a, b, c;
};

double lerp_at(double from, double to, double at, double value_from, double value_to) {
    if (from == to) return value_from;
    double alpha = (at - from) / (to - from);
    return (1 - alpha) * value_from + alpha * value_to;
}

int clamp_cell(double position, double step, int cells) {
    return std::clamp(static_cast<int>(position / step), 0, cells - 1);
}

struct Grid {
    double step[3];
    int cells[3];
};

// Collects the packed voxel keys touched while scanning one triangle along depth axis `depth`.
void scan_axis(const std::array<std::array<double, 3>, 3>& tri, int depth, const Grid& grid,
               std::vector<int64_t>& keys) {
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
                        int64_t v[3];
                        v[across] = i + di;
                        v[row] = j + dj;
                        v[depth] = k;
                        keys.push_back((v[0] << 42) | (v[1] << 21) | v[2]);
                    }
                }
            }
        }
    };
    scan_half(first, middle, p[0], p[1], p[2]);
    scan_half(middle, last, p[2], p[1], p[0]);
}

py::tuple triangle_voxel_pairs(py::array_t<float, py::array::c_style | py::array::forcecast> triangles,
                               std::array<double, 3> voxel_size, std::array<int, 3> grid_size) {
    if (triangles.ndim() != 3 || triangles.shape(1) != 3 || triangles.shape(2) != 3)
        throw std::invalid_argument("triangles must have shape (F, 3, 3)");
    for (int a = 0; a < 3; ++a) {
        if (grid_size[a] < 1 || grid_size[a] >= (1 << 20)) throw std::invalid_argument("grid size out of range");
        if (!(voxel_size[a] > 0)) throw std::invalid_argument("voxel size must be positive");
    }
    const Grid grid{{voxel_size[0], voxel_size[1], voxel_size[2]}, {grid_size[0], grid_size[1], grid_size[2]}};
    const auto tri = triangles.unchecked<3>();
    const py::ssize_t count = triangles.shape(0);
    std::vector<int32_t> owners;
    std::vector<int64_t> all_keys;
    {
        py::gil_scoped_release release;
        std::vector<int64_t> keys;
        for (py::ssize_t f = 0; f < count; ++f) {
            std::array<std::array<double, 3>, 3> corners;
            for (int v = 0; v < 3; ++v)
                for (int a = 0; a < 3; ++a) corners[v][a] = tri(f, v, a);
            keys.clear();
            for (int depth = 0; depth < 3; ++depth) scan_axis(corners, depth, grid, keys);
            std::sort(keys.begin(), keys.end());
            keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
            all_keys.insert(all_keys.end(), keys.begin(), keys.end());
            owners.insert(owners.end(), keys.size(), static_cast<int32_t>(f));
        }
    }
    const py::ssize_t pairs = static_cast<py::ssize_t>(all_keys.size());
    py::array_t<int32_t> owner_array(pairs);
    py::array_t<int32_t> coord_array({pairs, py::ssize_t(3)});
    auto owner_out = owner_array.mutable_unchecked<1>();
    auto coord_out = coord_array.mutable_unchecked<2>();
    const int64_t mask = (int64_t(1) << 21) - 1;
    for (py::ssize_t n = 0; n < pairs; ++n) {
        owner_out(n) = owners[n];
        coord_out(n, 0) = static_cast<int32_t>(all_keys[n] >> 42);
        coord_out(n, 1) = static_cast<int32_t>((all_keys[n] >> 21) & mask);
        coord_out(n, 2) = static_cast<int32_t>(all_keys[n] & mask);
    }
    return py::make_tuple(owner_array, coord_array);
}

}  // namespace

PYBIND11_MODULE(_attr, m) {
    m.doc() = "Native helpers for PBR attribute voxelization.";
    m.def("triangle_voxel_pairs", &triangle_voxel_pairs, py::arg("triangles"), py::arg("voxel_size"),
          py::arg("grid_size"),
          "For each triangle (coordinates relative to the grid origin), the distinct voxels its edge-line "
          "crossings touch; returns (triangle ids int32 (M,), voxel coords int32 (M, 3)) grouped by triangle.");
}
