// O-Voxel -> mesh: every flagged grid edge whose four surrounding voxels exist becomes a quad split into two
// triangles, in the order of the vectorised (torch) path: axis by axis, owners by linear voxel key.
// Voxels are sorted once by key (stable parallel radix sort). The wanted key of each of the six neighbour offsets
// grows with the owner's key, so each is found by a forward-only galloping search over the sorted keys; a hash map
// such as dualgrid/voxel_index.h would cost a random probe per lookup instead. Chunks of owners are processed in
// parallel and concatenated in chunk order, so the output is identical for any thread count.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "radix_sort.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

constexpr uint32_t kMissing = std::numeric_limits<uint32_t>::max();

// The six voxel offsets of quad corners, and per edge axis which offset gives corners 1..3 (corner 0 is the owner),
// in upstream's cyclic order: x {001, 011, 010}, y {100, 101, 001}, z {010, 110, 100}.
constexpr int kOffsets[6][3] = {{0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}};
constexpr int kCornerOffset[3][3] = {{0, 2, 1}, {3, 4, 0}, {1, 5, 3}};
// Corners of the two triangles of a quad split along diagonal 0-2 or 1-3.
constexpr int kSplit02[6] = {0, 1, 2, 0, 2, 3};
constexpr int kSplit13[6] = {0, 1, 3, 3, 1, 2};

int bit_width(uint64_t x) {
    int bits = 0;
    for (; x; x >>= 1) ++bits;
    return bits;
}

// Voxels in ascending key order: keys relative to the smallest key, and the input row of each.
struct SortedVoxels {
    std::vector<uint64_t> keys;
    std::vector<uint32_t> order;
};

// Stable sort of relative keys given in input order (skipped when they already ascend).
SortedVoxels sort_voxels(std::vector<uint64_t> keys, int threads) {
    const long long n = (long long)keys.size();
    uint64_t largest = 0;
    bool ascending = true;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(max : largest) reduction(&& : ascending)
    for (long long i = 0; i < n; ++i) {
        largest = std::max(largest, keys[i]);
        ascending = ascending && (i == 0 || keys[i - 1] <= keys[i]);
    }
    SortedVoxels out;
    out.order.resize(size_t(n));
    if (ascending) {
        for (long long i = 0; i < n; ++i) out.order[i] = uint32_t(i);
        out.keys = std::move(keys);
        return out;
    }
    const int row_bits = std::max(1, bit_width(uint64_t(n - 1)));
    const int key_bits = bit_width(largest);
    if (row_bits + key_bits <= 64) {  // sort words (key << row_bits | row), in place of the keys
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long long i = 0; i < n; ++i) keys[i] = (keys[i] << row_bits) | uint64_t(i);
        radix_sort(keys, row_bits, row_bits + key_bits, threads);
        const uint64_t row_mask = (uint64_t(1) << row_bits) - 1;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long long i = 0; i < n; ++i) {
            out.order[i] = uint32_t(keys[i] & row_mask);
            keys[i] >>= row_bits;
        }
    } else {  // keys too wide to share a word with the row (far out-of-grid coordinates)
        std::vector<std::pair<uint64_t, uint32_t>> pairs(static_cast<size_t>(n));
        for (long long i = 0; i < n; ++i) pairs[i] = {keys[i], uint32_t(i)};
        std::sort(pairs.begin(), pairs.end());
        for (long long i = 0; i < n; ++i) std::tie(keys[i], out.order[i]) = pairs[i];
    }
    out.keys = std::move(keys);
    return out;
}

// First position at or after `from` whose key is at least `wanted` (n when none): gallop forward, then bisect.
size_t seek(const uint64_t* keys, size_t n, size_t from, uint64_t wanted) {
    if (from >= n || keys[from] >= wanted) return from;
    size_t below = from, step = 1;  // keys[below] < wanted
    while (below + step < n && keys[below + step] < wanted) {
        below += step;
        step <<= 1;
    }
    const size_t above = std::min(below + step, n);
    return size_t(std::lower_bound(keys + below + 1, keys + above, wanted) - keys);
}

struct Vec3d {
    double x, y, z;
};

Vec3d load(const float* verts, uint32_t row) {
    const float* p = verts + 3 * size_t(row);
    return {double(p[0]), double(p[1]), double(p[2])};
}

Vec3d normal(const Vec3d& a, const Vec3d& b, const Vec3d& c) {
    const Vec3d u{b.x - a.x, b.y - a.y, b.z - a.z}, v{c.x - a.x, c.y - a.y, c.z - a.z};
    return {u.y * v.z - u.z * v.y, u.z * v.x - u.x * v.z, u.x * v.y - u.y * v.x};
}

double cosine(const Vec3d& m, const Vec3d& n) {
    const double dot = m.x * n.x + m.y * n.y + m.z * n.z;
    const double norms = std::sqrt((m.x * m.x + m.y * m.y + m.z * m.z) * (n.x * n.x + n.y * n.y + n.z * n.z));
    return dot / (norms + 1e-30);
}

// True where the quad is split along diagonal 0-2: weighted rule w0*w2 > w1*w3 (float32, as upstream), else the
// diagonal whose two triangle normals agree best, near ties going to 0-2 (float64, same operation order as torch).
bool split_02(const uint32_t q[4], const float* verts, const float* weight) {
    if (weight) return weight[q[0]] * weight[q[2]] > weight[q[1]] * weight[q[3]];
    const Vec3d p0 = load(verts, q[0]), p1 = load(verts, q[1]), p2 = load(verts, q[2]), p3 = load(verts, q[3]);
    const double d02 = cosine(normal(p0, p1, p2), normal(p0, p2, p3));
    const double d13 = cosine(normal(p0, p1, p3), normal(p3, p1, p2));
    return d02 >= d13 - 1e-9;
}

// Calls emit(axis, quad) for each complete quad owned by the sorted voxels [begin, end), in sorted order; quad holds
// the input rows of its four voxels.
template <typename Emit>
void visit_quads(const SortedVoxels& sorted, size_t begin, size_t end, const bool* flags, const uint64_t delta[6],
                 Emit&& emit) {
    const size_t n = sorted.keys.size();
    const uint64_t* keys = sorted.keys.data();
    size_t cursor[6];
    std::fill(cursor, cursor + 6, begin);  // a neighbour key exceeds the owner's, so it lies at or after begin
    for (size_t i = begin; i < end; ++i) {
        const uint32_t row = sorted.order[i];
        const bool* f = flags + 3 * size_t(row);
        if (!(f[0] || f[1] || f[2])) continue;
        uint32_t found[6];
        bool looked[6] = {};
        for (int axis = 0; axis < 3; ++axis) {
            if (!f[axis]) continue;
            uint32_t quad[4] = {row, 0, 0, 0};
            bool complete = true;
            for (int k = 0; k < 3 && complete; ++k) {
                const int o = kCornerOffset[axis][k];
                if (!looked[o]) {
                    const uint64_t wanted = keys[i] + delta[o];
                    cursor[o] = seek(keys, n, cursor[o], wanted);
                    found[o] = cursor[o] < n && keys[cursor[o]] == wanted ? sorted.order[cursor[o]] : kMissing;
                    looked[o] = true;
                }
                quad[k + 1] = found[o];
                complete = found[o] != kMissing;
            }
            if (complete) emit(axis, quad);
        }
    }
}

int thread_count(int requested) {
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    return 1;
#endif
}

template <typename Int>
py::tuple dual_grid_to_mesh(py::array_t<Int, py::array::c_style> coords, py::array_t<float, py::array::c_style> offsets,
                            py::array_t<bool, py::array::c_style> intersected,
                            std::optional<py::array_t<float, py::array::c_style>> split_weight,
                            std::array<float, 3> origin, std::array<float, 3> voxel_size,
                            std::array<int64_t, 3> grid_size, int num_threads) {
    const py::ssize_t n = coords.ndim() == 2 ? coords.shape(0) : -1;
    if (n < 0 || coords.shape(1) != 3 || offsets.ndim() != 2 || offsets.shape(0) != n || offsets.shape(1) != 3 ||
        intersected.ndim() != 2 || intersected.shape(0) != n || intersected.shape(1) != 3)
        throw std::invalid_argument("coords, dual_vertices and intersected must all have shape [N, 3]");
    if (split_weight && split_weight->size() != n)
        throw std::invalid_argument("split_weight must have N entries");
    if (uint64_t(n) >= kMissing) throw std::invalid_argument("too many voxels (at most 2^32 - 2)");
    const int threads = thread_count(num_threads);
    const Int* c = coords.data();
    const float* off = offsets.data();
    const bool* flags = intersected.data();
    const float* weight = split_weight ? split_weight->data() : nullptr;
    py::array_t<float> vertices({n, py::ssize_t(3)});
    float* verts = vertices.mutable_data();
    // Linear key as the torch path (cells padded by 2 per axis), wrapped like int64.
    const uint64_t span1 = uint64_t(grid_size[1] + 2), span2 = uint64_t(grid_size[2] + 2);
    uint64_t delta[6];
    for (int o = 0; o < 6; ++o) delta[o] = (uint64_t(kOffsets[o][0]) * span1 + kOffsets[o][1]) * span2 + kOffsets[o][2];
    const int chunks = int(std::max<py::ssize_t>(1, std::min<py::ssize_t>(py::ssize_t(threads) * 8, n / 16384)));
    auto chunk_begin = [&](int k) { return size_t(n) * size_t(k) / size_t(chunks); };
    std::vector<size_t> first(size_t(chunks) * 3, 0);  // [chunk * 3 + axis]: count, then output quad position
    std::optional<SortedVoxels> sorted;
    {
        py::gil_scoped_release release;
        std::vector<uint64_t> keys(static_cast<size_t>(n));
        int64_t smallest = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(static) num_threads(threads) reduction(min : smallest)
        for (py::ssize_t i = 0; i < n; ++i) {
            const Int* ci = c + 3 * i;
            for (int a = 0; a < 3; ++a) verts[3 * i + a] = (float(ci[a]) + off[3 * i + a]) * voxel_size[a] + origin[a];
            keys[i] = (uint64_t(int64_t(ci[0])) * span1 + uint64_t(int64_t(ci[1]))) * span2 + uint64_t(int64_t(ci[2]));
            smallest = std::min(smallest, int64_t(keys[i]));
        }
#pragma omp parallel for schedule(static) num_threads(threads)
        for (py::ssize_t i = 0; i < n; ++i) keys[i] -= uint64_t(smallest);  // order-preserving for signed keys
        sorted = sort_voxels(std::move(keys), threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int k = 0; k < chunks; ++k)
            visit_quads(*sorted, chunk_begin(k), chunk_begin(k + 1), flags, delta,
                        [&](int axis, const uint32_t*) { ++first[size_t(k) * 3 + axis]; });
    }
    size_t total = 0;  // output is axis-major, then chunk order
    for (int axis = 0; axis < 3; ++axis)
        for (int k = 0; k < chunks; ++k) total += std::exchange(first[size_t(k) * 3 + axis], total);
    py::array_t<int64_t> faces({py::ssize_t(2 * total), py::ssize_t(3)});
    int64_t* tri = faces.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int k = 0; k < chunks; ++k) {
            int64_t* out[3];
            for (int axis = 0; axis < 3; ++axis) out[axis] = tri + 6 * first[size_t(k) * 3 + axis];
            visit_quads(*sorted, chunk_begin(k), chunk_begin(k + 1), flags, delta,
                        [&](int axis, const uint32_t* quad) {
                            const int* corner = split_02(quad, verts, weight) ? kSplit02 : kSplit13;
                            for (int j = 0; j < 6; ++j) *out[axis]++ = quad[corner[j]];
                        });
        }
    }
    return py::make_tuple(vertices, faces);
}

}  // namespace

PYBIND11_MODULE(_extract, m) {
    m.doc() = "Flexible dual grid to triangle mesh (O-Voxel extraction) on the CPU.";
    const char* doc =
        "coords [N,3] int, in-voxel offsets [N,3] float32, intersected [N,3] bool, split_weight [N] float32 or None; "
        "returns (vertices float32 [N,3], faces int64 [F,3]), identical for any num_threads (0 = all).";
    m.def("dual_grid_to_mesh", &dual_grid_to_mesh<int32_t>, py::arg("coords"), py::arg("offsets"),
          py::arg("intersected"), py::arg("split_weight"), py::arg("origin"), py::arg("voxel_size"),
          py::arg("grid_size"), py::arg("num_threads") = 0, doc);
    m.def("dual_grid_to_mesh", &dual_grid_to_mesh<int64_t>, py::arg("coords"), py::arg("offsets"),
          py::arg("intersected"), py::arg("split_weight"), py::arg("origin"), py::arg("voxel_size"),
          py::arg("grid_size"), py::arg("num_threads") = 0, doc);
}
