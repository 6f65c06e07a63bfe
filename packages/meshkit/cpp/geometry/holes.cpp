// Boundary half-edges, boundary loops and centroid-fan hole filling.
//
// Every half-edge is bucketed on the smaller vertex of its edge (a counting sort, so nearby vertex ids stay close in
// memory); inside a bucket, a half-edge is on the boundary when no other entry has the same larger vertex. Buckets
// are independent, so OpenMP threads split them; the result is a set, identical for any thread count.
// The numbers (perimeters, centroids) are summed in the same order as the numpy code this replaced, so the output
// is bit-identical to it: perimeter = numpy's pairwise sum of the edge lengths, centroid = running sum / count.
#include "holes.h"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>

#ifdef __linux__
#include <sys/mman.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace meshkit {

namespace {

constexpr int64_t kParallelMin = 1 << 16;  // below this many half-edges everything runs on one thread
constexpr int64_t kBlocks = 2048;          // at most this many vertex blocks in the first counting-sort pass

// An uninitialised array of n T, on transparent huge pages where Linux offers them (a fresh 100 MB buffer otherwise
// costs tens of thousands of page faults).
template <typename T>
std::unique_ptr<T[], decltype(&std::free)> big_array(int64_t n) {
    constexpr size_t kHugePage = size_t(1) << 21;
    const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + kHugePage - 1) / kHugePage * kHugePage;
    std::unique_ptr<T[], decltype(&std::free)> array(static_cast<T*>(std::aligned_alloc(kHugePage, bytes)), &std::free);
    if (!array) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(array.get(), bytes, MADV_HUGEPAGE);
#endif
    return array;
}

int64_t max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int64_t end_of(const int64_t* faces, int64_t h) {
    const int64_t corner = h % 3;
    return faces[h - corner + (corner == 2 ? 0 : corner + 1)];
}

// Flags the half-edges of one bucket (entries hi << 32 | half-edge, all with the same smaller vertex) whose larger
// vertex appears only once.
void flag_unique(uint64_t* begin, uint64_t* end, uint8_t* flags) {
    const int64_t n = end - begin;
    if (n <= 16) {
        for (int64_t i = 0; i < n; ++i) {
            const uint64_t hi = begin[i] >> 32;
            bool alone = true;
            for (int64_t j = 0; j < n && alone; ++j) alone = j == i || (begin[j] >> 32) != hi;
            if (alone) flags[begin[i] & 0xffffffffu] = 1;
        }
        return;
    }
    std::sort(begin, end);
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && (begin[j] >> 32) == (begin[i] >> 32)) ++j;
        if (j == i + 1) flags[begin[i] & 0xffffffffu] = 1;
        i = j;
    }
}

// numpy's float64 add.reduce over a contiguous array: pairwise summation with 8 accumulators per block of 128.
double numpy_sum(const double* a, int64_t n) {
    if (n < 8) {
        double sum = -0.0;
        for (int64_t i = 0; i < n; ++i) sum += a[i];
        return sum;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; ++k) r[k] = a[k];
        int64_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int k = 0; k < 8; ++k) r[k] += a[i + k];
        double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) sum += a[i];
        return sum;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return numpy_sum(a, half) + numpy_sum(a + half, n - half);
}

// x * x rounded on its own (never fused into a following add), as numpy computes the squares before summing them.
inline double rounded_square(double x) {
    double square = x * x;
#if defined(__GNUC__)
    asm volatile("" : "+m"(square));
#endif
    return square;
}

double perimeter(const double* ring, int64_t n, std::vector<double>& lengths) {
    lengths.resize(n);
    for (int64_t i = 0; i < n; ++i) {
        const double* p = ring + 3 * i;
        const double* q = ring + 3 * (i + 1 == n ? 0 : i + 1);
        lengths[i] = std::sqrt((rounded_square(p[0] - q[0]) + rounded_square(p[1] - q[1])) +
                               rounded_square(p[2] - q[2]));
    }
    return 0.0 + numpy_sum(lengths.data(), n);
}

}  // namespace

std::vector<int64_t> boundary_half_edges(const int64_t* faces, int64_t num_faces, int64_t num_vertices) {
    const int64_t num_half_edges = 3 * num_faces;
    if (num_half_edges > INT64_C(0xffffffff) || num_vertices > INT64_C(0xffffffff))
        throw std::length_error("meshes with more than 2^32 half-edges or vertices are not supported");
    // Two-level counting sort on the smaller vertex: first into blocks of 2^shift consecutive vertices (few enough
    // that every block's write position stays cached), then each block on its own, in cache.
    int shift = 0;
    while ((num_vertices >> shift) >= kBlocks) ++shift;
    const int64_t num_blocks = (num_vertices >> shift) + 1;
    const int64_t chunks = num_half_edges > kParallelMin ? max_threads() : 1;
    std::vector<int64_t> position(chunks * num_blocks + 1, 0);  // block-major, then chunk
    auto chunk_range = [&](int64_t c) {
        return std::pair<int64_t, int64_t>{num_faces * c / chunks * 3, num_faces * (c + 1) / chunks * 3};
    };
#pragma omp parallel for schedule(static, 1)
    for (int64_t c = 0; c < chunks; ++c) {
        const auto [begin, end] = chunk_range(c);
        for (int64_t h = begin; h < end; ++h)
            ++position[1 + (std::min(faces[h], end_of(faces, h)) >> shift) * chunks + c];
    }
    for (size_t i = 1; i < position.size(); ++i) position[i] += position[i - 1];
    const auto smaller = big_array<uint32_t>(num_half_edges);
    const auto entries = big_array<uint64_t>(num_half_edges);  // larger vertex << 32 | half-edge
#pragma omp parallel for schedule(static, 1)
    for (int64_t c = 0; c < chunks; ++c) {
        const auto [begin, end] = chunk_range(c);
        std::vector<int64_t> cursor(num_blocks);
        for (int64_t b = 0; b < num_blocks; ++b) cursor[b] = position[b * chunks + c];
        for (int64_t h = begin; h < end; ++h) {
            const int64_t a = faces[h], b = end_of(faces, h), lo = std::min(a, b);
            const int64_t at = cursor[lo >> shift]++;
            smaller[at] = static_cast<uint32_t>(lo);
            entries[at] = (static_cast<uint64_t>(std::max(a, b)) << 32) | static_cast<uint64_t>(h);
        }
    }
    std::unique_ptr<uint8_t, decltype(&std::free)> flags(static_cast<uint8_t*>(std::calloc(num_half_edges + 1, 1)),
                                                         &std::free);
    if (!flags) throw std::bad_alloc();
#pragma omp parallel if (chunks > 1)
    {
        std::vector<uint64_t> sorted;
        std::vector<int64_t> offset;
#pragma omp for schedule(dynamic, 1)
        for (int64_t block = 0; block < num_blocks; ++block) {
            const int64_t begin = position[block * chunks], end = position[(block + 1) * chunks];
            const int64_t base = block << shift;
            offset.assign((INT64_C(1) << shift) + 1, 0);
            for (int64_t i = begin; i < end; ++i) ++offset[smaller[i] - base + 1];
            for (size_t v = 1; v < offset.size(); ++v) offset[v] += offset[v - 1];
            sorted.resize(end - begin);
            for (int64_t i = begin; i < end; ++i) sorted[offset[smaller[i] - base]++] = entries[i];
            // offset[v] now ends vertex v's bucket.
            for (size_t v = 0, first = 0; v + 1 < offset.size(); first = offset[v++])
                flag_unique(sorted.data() + first, sorted.data() + offset[v], flags.get());
        }
    }
    std::vector<int64_t> boundary;
    for (int64_t h = 0; h < num_half_edges; ++h)
        if (flags.get()[h]) boundary.push_back(h);
    return boundary;
}

BoundaryLoops trace_loops(const int64_t* tails, const int64_t* heads, int64_t num_arcs) {
    // Arcs grouped by tail vertex, each group in input order (the walk takes a group's last unused arc first).
    std::vector<int64_t> order(num_arcs);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [tails](int64_t x, int64_t y) { return tails[x] < tails[y]; });
    std::vector<int64_t> origin, first, remaining;  // per distinct tail: vertex, first arc in order, arcs left
    for (int64_t i = 0; i < num_arcs; ++i) {
        if (origin.empty() || origin.back() != tails[order[i]]) {
            origin.push_back(tails[order[i]]);
            first.push_back(i);
            remaining.push_back(0);
        }
        ++remaining.back();
    }
    auto group_of = [&origin](int64_t vertex) -> int64_t {
        const auto it = std::lower_bound(origin.begin(), origin.end(), vertex);
        return it != origin.end() && *it == vertex ? it - origin.begin() : -1;
    };
    auto take = [&](int64_t group) { return heads[order[first[group] + --remaining[group]]]; };
    BoundaryLoops loops;
    std::vector<int64_t> loop;
    for (int64_t g = 0; g < static_cast<int64_t>(origin.size()); ++g) {
        while (remaining[g] > 0) {
            loop.assign(1, origin[g]);
            bool closed = true;
            int64_t current = take(g);
            while (current != origin[g]) {
                loop.push_back(current);
                const int64_t k = group_of(current);
                if (k < 0 || remaining[k] == 0) {
                    closed = false;  // an open chain: drop it
                    break;
                }
                current = take(k);
            }
            if (!closed) continue;
            loops.vertices.insert(loops.vertices.end(), loop.begin(), loop.end());
            loops.offsets.push_back(static_cast<int64_t>(loops.vertices.size()));
        }
    }
    return loops;
}

HolePatch close_loops(const int64_t* loop_vertices, const int64_t* offsets, int64_t num_loops, const double* positions,
                      int64_t first_new_vertex, double max_perimeter) {
    HolePatch patch;
    std::vector<double> lengths;
    int64_t next_vertex = first_new_vertex;
    for (int64_t k = 0; k < num_loops; ++k) {
        const int64_t* loop = loop_vertices + offsets[k];
        const double* ring = positions + 3 * offsets[k];
        const int64_t n = offsets[k + 1] - offsets[k];
        if (perimeter(ring, n, lengths) > max_perimeter) continue;
        if (n == 3) {
            patch.faces.insert(patch.faces.end(), {loop[0], loop[1], loop[2]});
        } else if (n == 4) {
            patch.faces.insert(patch.faces.end(), {loop[0], loop[1], loop[2], loop[0], loop[2], loop[3]});
        } else {
            double centroid[3] = {0.0, 0.0, 0.0};
            for (int64_t i = 0; i < n; ++i)
                for (int d = 0; d < 3; ++d) centroid[d] += ring[3 * i + d];
            for (int d = 0; d < 3; ++d) patch.vertices.push_back(centroid[d] / static_cast<double>(n));
            for (int64_t i = 0; i < n; ++i)
                patch.faces.insert(patch.faces.end(), {loop[i], loop[(i + 1) % n], next_vertex});
            ++next_vertex;
        }
    }
    return patch;
}

}  // namespace meshkit
