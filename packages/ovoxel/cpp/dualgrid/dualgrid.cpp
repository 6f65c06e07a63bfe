// Mesh -> flexible dual grid: edge crossings, quadric error functions per voxel and a box-constrained solve.
// The input (triangles, boundary edges) is cut into contiguous chunks scanned in parallel; each chunk files its
// events by destination shard, a hash-partition of the voxels. Each shard then applies its events chunk after chunk,
// i.e. in input order, so every voxel sums its terms in the order of a serial pass (upstream's), whatever the
// number of threads. Output voxels are in first-touch order, as upstream's. On one thread the events are applied
// as the scans find them (same order, none of the per-shard lists, touch positions or row merge).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "qef_math.h"
#include "triangle_raster.h"
#include "voxel_index.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

constexpr uint32_t kMaxChunkCrossings = 1u << 30;  // crossing index and voxel slot share a uint32 event
constexpr size_t kPrefetchAhead = 16;  // events between a hash-slot prefetch and its use

struct Vec3f {
    float v[3];
};

// Shard owning a voxel: multiply-shift on a hash independent of VoxelIndex's slot hash.
uint32_t shard_of(uint64_t key, uint32_t shards) {
    return uint32_t((((key * 0xC2B2AE3D27D4EB4Full) >> 32) * shards) >> 32);
}

// A crossed grid edge: key of the voxel at its minimal side, the crossing point, triangle * 3 + edge axis.
template <typename Key>
struct Crossing {
    Key key;
    float point[3];
    uint32_t tri_axis;
};

// Key of voxel s (s = 2 dx + dy) among the four around a grid edge along `axis`, in upstream's order.
template <typename Key>
Key around(Key base, int axis, int s) {
    constexpr const int* shift = KeyBits<Key>::kShift;
    return base + (Key(s >> 1) << shift[(axis + 1) % 3]) + (Key(s & 1) << shift[(axis + 2) % 3]);
}

// A face or boundary term for a voxel of a known shard: the voxel's slot there and the term's source index.
struct Term {
    uint32_t local;
    uint32_t source;
};

// Events of one input chunk, one list per destination shard, each in input order.
template <typename Key, typename Event>
struct Chunk {
    std::vector<std::vector<Event>> to_shard;
    std::vector<Crossing<Key>> crossings;  // crossing chunks only
};

// Accumulated state of one voxel, one cache line: QEF, sum and count of crossing points, crossed-edge flags.
struct alignas(64) VoxelSums {
    Quadric q{};
    float sum[3]{};
    float count = 0.0f;
    uint8_t flags[3]{};

    // One crossing of the grid edge along `axis` at `point` by a triangle of quadric q, seen from the voxel s
    // (s = 0: the voxel that owns the edge's flag).
    void add_crossing(const float point[3], int axis, int s, const Quadric& tri_q) {
        for (int k = 0; k < 3; ++k) sum[k] += point[k];
        count += 1.0f;
        if (s == 0) flags[axis] = 1;
        add_scaled(q, tri_q, 1.0f);
    }
};

// Voxels of one shard, in the order the shard first touched them.
template <typename Key>
struct Shard {
    VoxelIndex<Key> index;
    std::vector<Key> keys;
    std::vector<uint64_t> first_touch;  // global event position (4 * crossing + s) of the first touch (threads > 1)
    std::vector<VoxelSums> sums;
    std::vector<uint32_t> row;  // output row (threads > 1; on one thread the row is the local index)

    // Room for about n voxels without regrowing (the per-voxel arrays are large: growth would copy them).
    void reserve(size_t n, bool ordered) {
        index.reserve(n);
        keys.reserve(n);
        if (ordered) first_touch.reserve(n);
        sums.reserve(n);
    }

    // Local index of voxel `key`, created on first touch; `position` is recorded when `ordered`.
    uint32_t touch(Key key, uint64_t position, bool ordered) {
        const auto [local, fresh] = index.insert(key, uint32_t(keys.size()));
        if (fresh) {
            keys.push_back(key);
            if (ordered) first_touch.push_back(position);
            sums.emplace_back();
        }
        return local;
    }
};

// Items held kPrefetchAhead steps between their discovery (when the caller prefetches what they will read) and
// their use; items are used in discovery order.
template <typename Item>
class PrefetchRing {
  public:
    template <typename Use>
    void push(const Item& item, Use&& use) {
        if (found_ - used_ == kPrefetchAhead) use(ring_[used_++ % kPrefetchAhead]);
        ring_[found_++ % kPrefetchAhead] = item;
    }
    template <typename Use>
    void drain(Use&& use) {
        while (used_ < found_) use(ring_[used_++ % kPrefetchAhead]);
    }

  private:
    std::array<Item, kPrefetchAhead> ring_{};
    size_t used_ = 0, found_ = 0;
};

// Expected number of grid-edge crossings: each triangle's area projected along each axis over that axis's cell face.
size_t expected_crossings(const TriangleList& tris, const float voxel[3]) {
    double total = 0.0;
    for (size_t i = 0; i < tris.size(); ++i) {
        const Triangle t = tris[i];
        double e0[3], e1[3];
        for (int k = 0; k < 3; ++k) {
            e0[k] = double(t.p[1][k]) - t.p[0][k];
            e1[k] = double(t.p[2][k]) - t.p[0][k];
        }
        for (int k = 0; k < 3; ++k) {
            const int u = (k + 1) % 3, v = (k + 2) % 3;
            total += 0.5 * std::abs(e0[u] * e1[v] - e0[v] * e1[u]) / (double(voxel[u]) * voxel[v]);
        }
    }
    return size_t(total);
}

template <typename Key>
class DualGridBuilder {
    using ShardT = Shard<Key>;

  public:
    DualGridBuilder(const Grid& g, int threads) : g_(g), threads_(threads), shards_(threads) {}

    void add_crossings(const TriangleList& tris) {
        if (threads_ == 1) return add_crossings_serial(tris);
        std::vector<Chunk<Key, uint32_t>> chunks(threads_);
        bool overflow = false;
#pragma omp parallel for schedule(static, 1) num_threads(threads_) reduction(|| : overflow)
        for (int c = 0; c < threads_; ++c) {
            Chunk<Key, uint32_t>& chunk = chunks[c];
            chunk.to_shard.resize(threads_);
            const auto [lo, hi] = span(c, tris.size());
            for (size_t i = lo; i < hi && !overflow; ++i) {
                const Triangle t = tris[i];
                for (int ax = 0; ax < 3; ++ax)
                    scan_axis(t, ax, g_, [&](const int coord[3], const float point[3]) {
                        const uint32_t index = uint32_t(chunk.crossings.size());
                        if (index >= kMaxChunkCrossings) {
                            overflow = true;
                            return;
                        }
                        const Key key = pack<Key>(coord[0], coord[1], coord[2]);
                        chunk.crossings.push_back({key, {point[0], point[1], point[2]}, uint32_t(3 * i + ax)});
                        for (int s = 0; s < 4; ++s)
                            chunk.to_shard[shard_of(around(key, ax, s), threads_)].push_back(index << 2 | s);
                    });
            }
        }
        if (overflow) throw std::length_error("too many grid-edge crossings for one thread's share of the mesh");
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
        for (int t = 0; t < threads_; ++t) {
            ShardT& sh = shards_[t];
            size_t events = 0;
            for (const auto& chunk : chunks) events += chunk.to_shard[t].size();
            sh.reserve(events / 4 + 16, true);  // a voxel of a closed surface gets about 4 crossing events
            uint64_t base = 0;
            for (const auto& chunk : chunks) {
                const std::vector<uint32_t>& events_here = chunk.to_shard[t];
                for (size_t n = 0; n < events_here.size(); ++n) {
                    if (n + kPrefetchAhead < events_here.size()) {  // the voxel slot of a later event
                        const uint32_t ahead = events_here[n + kPrefetchAhead];
                        const Crossing<Key>& y = chunk.crossings[ahead >> 2];
                        sh.index.prefetch(around(y.key, int(y.tri_axis % 3), int(ahead & 3)));
                    }
                    const uint32_t e = events_here[n];
                    const uint32_t index = e >> 2;
                    const int s = int(e & 3);
                    const Crossing<Key>& x = chunk.crossings[index];
                    const int axis = int(x.tri_axis % 3);
                    sh.sums[sh.touch(around(x.key, axis, s), (base + index) * 4 + s, true)]
                        .add_crossing(x.point, axis, s, tris.plane(x.tri_axis / 3).q());
                }
                base += chunk.crossings.size();
            }
        }
        assign_rows();
    }

    void add_faces(const TriangleList& tris) {
        std::vector<Chunk<Key, Term>> chunks(threads_);
#pragma omp parallel for schedule(static, 1) num_threads(threads_)
        for (int c = 0; c < threads_; ++c) {
            chunks[c].to_shard.resize(threads_);
            // One thread adds each face term as found (same order as filing it and applying the list), the voxel's
            // sums prefetched in a second ring; more threads file it.
            PrefetchRing<Term> found_voxels;
            auto add_term = [&](const Term& term) {
                add_scaled(shards_[0].sums[term.local].q, tris.plane(term.source).q(), 1.0f);
            };
            auto use = [&](const std::pair<Key, uint32_t>& term) {
                if (threads_ > 1) return file_term(term.first, term.second, chunks[c]);
                const uint32_t local = shards_[0].index.find(term.first);
                if (local == kMissing) return;
                __builtin_prefetch(&shards_[0].sums[local]);
                found_voxels.push({local, term.second}, add_term);
            };
            PrefetchRing<std::pair<Key, uint32_t>> ring;
            const auto [first, last] = span(c, tris.size());
            for (size_t i = first; i < last; ++i) {
                const Triangle t = tris[i];
                const OverlapTest test = make_overlap_test(t, g_.voxel);
                int lo[3], hi[3];
                for (int k = 0; k < 3; ++k) {
                    const float mn = std::min({t.p[0][k], t.p[1][k], t.p[2][k]}) / g_.voxel[k];
                    const float mx = std::max({t.p[0][k], t.p[1][k], t.p[2][k]}) / g_.voxel[k];
                    lo[k] = std::max(int(mn), g_.lo[k]);
                    hi[k] = std::min(int(mx + 1), g_.hi[k]);
                }
                for (int z = lo[2]; z < hi[2]; ++z)
                    for (int y = lo[1]; y < hi[1]; ++y)
                        for (int x = lo[0]; x < hi[0]; ++x) {
                            const float p[3] = {g_.voxel[0] * x, g_.voxel[1] * y, g_.voxel[2] * z};
                            if (!test(p)) continue;
                            const Key key = pack<Key>(x, y, z);
                            shards_[shard_of(key, uint32_t(threads_))].index.prefetch(key);
                            ring.push({key, uint32_t(i)}, use);
                        }
            }
            ring.drain(use);
            found_voxels.drain(add_term);
        }
        apply_terms(chunks, [&](uint32_t i) { return tris.plane(i).q(); }, 1.0f);
    }

    void add_boundary(const std::vector<std::array<Vec3f, 2>>& edges, float weight) {
        std::vector<Quadric> lines(edges.size());
        std::vector<Chunk<Key, Term>> chunks(threads_);
#pragma omp parallel for schedule(static, 1) num_threads(threads_)
        for (int c = 0; c < threads_; ++c) {
            chunks[c].to_shard.resize(threads_);
            const auto [first, last] = span(c, edges.size());
            for (size_t e = first; e < last; ++e)
                walk_edge(edges[e][0].v, edges[e][1].v, uint32_t(e), lines[e], chunks[c]);
        }
        apply_terms(chunks, [&](uint32_t e) -> const Quadric& { return lines[e]; }, weight);
    }

    py::tuple solve(float regularization) const {
        size_t n = 0;
        for (const ShardT& sh : shards_) n += sh.keys.size();
        py::array_t<int32_t> coords({py::ssize_t(n), py::ssize_t(3)});
        py::array_t<float> duals({py::ssize_t(n), py::ssize_t(3)});
        py::array_t<bool> flags({py::ssize_t(n), py::ssize_t(3)});
        int32_t* c = coords.mutable_data();
        float* d = duals.mutable_data();
        bool* f = flags.mutable_data();
        {
            py::gil_scoped_release release;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
            for (int t = 0; t < threads_; ++t) {
                const ShardT& sh = shards_[t];
                for (size_t first = 0; first < sh.keys.size(); first += 4) {
                    const size_t count = std::min<size_t>(4, sh.keys.size() - first);
                    float x[4][3];
                    solve_group(sh, first, count, regularization, x);
                    for (size_t j = 0; j < count; ++j) {
                        const size_t l = first + j, r = threads_ == 1 ? l : sh.row[l];
                        for (int k = 0; k < 3; ++k) {
                            c[3 * r + k] = unpack<Key>(sh.keys[l], k);
                            d[3 * r + k] = x[j][k];
                            f[3 * r + k] = sh.sums[l].flags[k] != 0;
                        }
                    }
                }
            }
        }
        return py::make_tuple(coords, duals, flags);
    }

  private:
    // Half-open range of items of chunk c when `count` items are cut into threads_ contiguous chunks.
    std::pair<size_t, size_t> span(int c, size_t count) const {
        return {count * size_t(c) / size_t(threads_), count * size_t(c + 1) / size_t(threads_)};
    }

    // Output row of every voxel: its rank in global first-touch order (merging the shards' sorted lists).
    void assign_rows() {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
        for (int t = 0; t < threads_; ++t) {
            ShardT& sh = shards_[t];
            sh.row.resize(sh.keys.size());
            std::vector<size_t> before(threads_, 0);
            for (size_t l = 0; l < sh.keys.size(); ++l) {
                size_t row = l;
                for (int o = 0; o < threads_; ++o) {
                    if (o == t) continue;
                    const std::vector<uint64_t>& other = shards_[o].first_touch;
                    while (before[o] < other.size() && other[before[o]] < sh.first_touch[l]) ++before[o];
                    row += before[o];
                }
                sh.row[l] = uint32_t(row);
            }
        }
    }

    // File a term for the voxel `key` if that voxel exists.
    void file_term(Key key, uint32_t source, Chunk<Key, Term>& chunk) const {
        const uint32_t t = shard_of(key, threads_);
        const uint32_t local = shards_[t].index.find(key);
        if (local != kMissing) chunk.to_shard[t].push_back({local, source});
    }

    // One thread: every crossing event goes straight to its voxel, in the order the parallel path applies them,
    // through two rings: the hash slot is prefetched while an event waits for its voxel's index, then the voxel's sums
    // while it waits to be added.
    void add_crossings_serial(const TriangleList& tris) {
        ShardT& sh = shards_[0];
        const size_t expected = expected_crossings(tris, g_.voxel);  // about one voxel per crossing
        sh.reserve(expected + expected / 16 + 64, false);
        struct Event {
            Key voxel;  // the voxel's key, then its local index
            float point[3];
            uint32_t tri;
            int axis, s;
        };
        PrefetchRing<Event> found_voxels;
        auto add = [&](const Event& e) {
            sh.sums[e.voxel].add_crossing(e.point, e.axis, e.s, tris.plane(e.tri).q());
        };
        auto use = [&](Event e) {
            e.voxel = sh.touch(e.voxel, 0, false);
            __builtin_prefetch(&sh.sums[e.voxel]);
            found_voxels.push(e, add);
        };
        PrefetchRing<Event> ring;
        for (size_t i = 0; i < tris.size(); ++i) {
            const Triangle t = tris[i];
            for (int ax = 0; ax < 3; ++ax)
                scan_axis(t, ax, g_, [&](const int coord[3], const float point[3]) {
                    const Key key = pack<Key>(coord[0], coord[1], coord[2]);
                    for (int s = 0; s < 4; ++s) {
                        const Key voxel = around(key, ax, s);
                        sh.index.prefetch(voxel);
                        ring.push({voxel, {point[0], point[1], point[2]}, uint32_t(i), ax, s}, use);
                    }
                });
        }
        ring.drain(use);
        found_voxels.drain(add);
    }

    // Each shard adds weight * quadric(source) of its terms, chunk after chunk (input order).
    template <typename QuadricOf>
    void apply_terms(const std::vector<Chunk<Key, Term>>& chunks, QuadricOf&& quadric_of, float weight) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
        for (int t = 0; t < threads_; ++t)
            for (const auto& chunk : chunks)
                for (const Term& term : chunk.to_shard[t])
                    add_scaled(shards_[t].sums[term.local].q, quadric_of(term.source), weight);
    }

    // 3D DDA along a boundary edge; each existing voxel it passes gets the edge's line quadric.
    void walk_edge(const float* a, const float* b, uint32_t id, Quadric& line, Chunk<Key, Term>& chunk) const {
        double dir[3], len;
        float full[4][4];
        if (!qef::line_quadric(a, b, dir, len, full)) return;
        line = pack_quadric(full);
        int cur[3], step[3];
        double tmax[3], tdelta[3];
        for (int k = 0; k < 3; ++k) {
            cur[k] = int(std::floor(a[k] / g_.voxel[k]));
            step[k] = dir[k] > 0 ? 1 : -1;
            if (dir[k] == 0.0) {
                tmax[k] = tdelta[k] = std::numeric_limits<double>::infinity();
            } else {
                const float border = g_.voxel[k] * float(cur[k] + (step[k] > 0 ? 1 : 0));
                tmax[k] = (border - a[k]) / dir[k];
                tdelta[k] = g_.voxel[k] / std::abs(dir[k]);
            }
        }
        while (true) {
            if (inside_grid(cur)) file_term(pack<Key>(cur[0], cur[1], cur[2]), id, chunk);
            int ax = tmax[0] < tmax[1] ? (tmax[0] < tmax[2] ? 0 : 2) : (tmax[1] < tmax[2] ? 1 : 2);
            if (tmax[ax] > len) break;
            cur[ax] += step[ax];
            tmax[ax] += tdelta[ax];
        }
    }

    bool inside_grid(const int cur[3]) const {
        for (int k = 0; k < 3; ++k)
            if (cur[k] < g_.lo[k] || cur[k] >= g_.hi[k]) return false;
        return true;
    }

    void solve_group(const ShardT& sh, size_t first, size_t count, float regularization, float x[4][3]) const;

    Grid g_;
    int threads_;
    std::vector<ShardT> shards_;
};

// The QEF of a voxel with the pull towards the mean of its crossing points, as upstream adds it.
Quadric regularized_quadric(const VoxelSums& acc, float regularization) {
    Quadric qf = acc.q;
    if (regularization > 0.0f) {
        float p[3];
        for (int k = 0; k < 3; ++k) p[k] = acc.sum[k] / acc.count;
        Quadric reg{};
        reg[0] = reg[4] = reg[7] = 1.0f;
        reg[3] = -p[0];
        reg[6] = -p[1];
        reg[8] = -p[2];
        reg[9] = qef::dot3(p, p);
        add_scaled(qf, reg, regularization * acc.count);
    }
    return qf;
}

// Minimizer of the QEF Q over the closed box [lo, hi] when the free minimizer lies outside it: the best of the
// constrained minimizers on the box faces, edges and corners (upstream's candidate order; ties keep the first).
void box_minimizer(const float Q[4][4], const float lo[3], const float hi[3], float x[3]) {
    auto inside = [&](float v, int k) { return v >= lo[k] && v <= hi[k]; };
    float best = std::numeric_limits<float>::infinity();
    auto consider = [&](const float p[3]) {
        const float e = qef::quadratic_form4(Q, p);
        if (e < best) {
            best = e;
            std::copy(p, p + 3, x);
        }
    };
    for (int fixed = 0; fixed < 3; ++fixed) {  // box faces
        const int u = (fixed + 1) % 3, v = (fixed + 2) % 3;
        const float A2[2][2] = {{Q[u][u], Q[u][v]}, {Q[v][u], Q[v][v]}};
        for (float w : {lo[fixed], hi[fixed]}) {
            const float b2[2] = {-(Q[u][fixed] * w + Q[u][3]), -(Q[v][fixed] * w + Q[v][3])};
            float s[2];
            qef::colpiv_qr_solve<2>(A2, b2, s);
            if (!(inside(s[0], u) && inside(s[1], v))) continue;
            float p[3];
            p[fixed] = w;
            p[u] = s[0];
            p[v] = s[1];
            consider(p);
        }
    }
    for (int free_ax = 0; free_ax < 3; ++free_ax) {  // box edges
        const int u = (free_ax + 1) % 3, v = (free_ax + 2) % 3;
        const float row[3] = {Q[free_ax][u], Q[free_ax][v], Q[free_ax][3]};
        for (float pu : {lo[u], hi[u]})
            for (float pv : {lo[v], hi[v]}) {
                const float fixed_part[3] = {pu, pv, 1.0f};
                const float t = -qef::dot3(row, fixed_part) / Q[free_ax][free_ax];
                if (!inside(t, free_ax)) continue;
                float p[3];
                p[free_ax] = t;
                p[u] = pu;
                p[v] = pv;
                consider(p);
            }
    }
    for (int corner = 0; corner < 8; ++corner) {  // box corners, max side first as upstream
        const float p[3] = {corner & 4 ? lo[0] : hi[0], corner & 2 ? lo[1] : hi[1], corner & 1 ? lo[2] : hi[2]};
        consider(p);
    }
}

// Dual vertices of voxels first .. first + count - 1 (count <= 4) of a shard: the regularized QEF minimizers,
// solved four at a time in SIMD lanes, and box_minimizer for those outside their closed voxel box. All arithmetic is
// float32 in upstream's operation order (see qef_math.h).
template <typename Key>
void DualGridBuilder<Key>::solve_group(const ShardT& sh, size_t first, size_t count, float regularization,
                                       float x[4][3]) const {
    float Q[4][4][4], A[3][3][4], b[3][4];  // Q[lane]; A and b lane-minor (a short group repeats its last voxel)
    for (size_t j = 0; j < 4; ++j) {
        const Quadric qf = regularized_quadric(sh.sums[first + std::min(j, count - 1)], regularization);
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) Q[j][r][c] = qf[kSym[r][c]];
        for (int r = 0; r < 3; ++r) {
            for (int c = 0; c < 3; ++c) A[r][c][j] = Q[j][r][c];
            b[r][j] = -Q[j][r][3];
        }
    }
    lanes::F4 Av[3][3], bv[3], xv[3];
    std::memcpy(Av, A, sizeof A);
    std::memcpy(bv, b, sizeof b);
    qef::colpiv_qr_solve<3>(Av, bv, xv);
    for (size_t j = 0; j < count; ++j) {
        float lo[3], hi[3];
        bool inside = true;
        for (int k = 0; k < 3; ++k) {
            const int coord = unpack<Key>(sh.keys[first + j], k);
            lo[k] = coord * g_.voxel[k];
            hi[k] = (coord + 1) * g_.voxel[k];
            x[j][k] = xv[k][j];
            inside &= x[j][k] >= lo[k] && x[j][k] <= hi[k];
        }
        if (!inside) box_minimizer(Q[j], lo, hi, x[j]);
    }
}

// Edges used by exactly one face, ordered by (smaller, larger) vertex index as upstream's std::map walk. Edges are
// bucketed by their smaller vertex (counting sort: the bucket ends, then a backward scatter that leaves each bucket
// in face order and its start in place), then each vertex's short list is sorted, in parallel chunks.
std::vector<std::array<Vec3f, 2>> boundary_edges(const float* verts, const int32_t* faces, size_t nf, size_t nv,
                                                 int threads) {
    std::vector<uint32_t> start(nv + 1, 0);  // 3 nf < 2^32 (checked by the caller)
    for (size_t t = 0; t < nf; ++t)
        for (int k = 0; k < 3; ++k) ++start[size_t(std::min(faces[3 * t + k], faces[3 * t + (k + 1) % 3]))];
    for (size_t a = 0; a + 1 < nv; ++a) start[a + 1] += start[a];
    start[nv] = uint32_t(3 * nf);
    std::vector<int32_t> other(3 * nf);
    for (size_t t = nf; t-- > 0;)
        for (int k = 3; k-- > 0;) {
            const int32_t a = faces[3 * t + k], b = faces[3 * t + (k + 1) % 3];
            other[--start[size_t(std::min(a, b))]] = std::max(a, b);
        }
    std::vector<std::vector<std::array<Vec3f, 2>>> parts(threads);
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int c = 0; c < threads; ++c) {
        for (size_t a = nv * size_t(c) / size_t(threads); a < nv * size_t(c + 1) / size_t(threads); ++a) {
            const auto first = other.begin() + std::ptrdiff_t(start[a]);
            const auto last = other.begin() + std::ptrdiff_t(start[a + 1]);
            std::sort(first, last);
            for (auto it = first; it != last;) {
                const auto run_end = std::find_if(it, last, [&](int32_t b) { return b != *it; });
                if (run_end - it == 1) {
                    const float* pa = verts + 3 * a;
                    const float* pb = verts + 3 * size_t(*it);
                    parts[c].push_back({Vec3f{{pa[0], pa[1], pa[2]}}, Vec3f{{pb[0], pb[1], pb[2]}}});
                }
                it = run_end;
            }
        }
    }
    std::vector<std::array<Vec3f, 2>> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

// The three passes and the solve with voxel keys of type Key.
template <typename Key>
py::tuple build_dual_grid(const Grid& g, int threads, const float* v, const int32_t* f, size_t nf, size_t nv,
                          float face_weight, float boundary_weight, float regularization_weight) {
    DualGridBuilder<Key> builder(g, threads);
    {
        py::gil_scoped_release release;
        const TriangleList tris(v, f, nf, threads);
        builder.add_crossings(tris);
        if (face_weight > 0.0f) builder.add_faces(tris);
        if (boundary_weight > 0.0f) builder.add_boundary(boundary_edges(v, f, nf, nv, threads), boundary_weight);
    }
    return builder.solve(regularization_weight);
}

py::tuple mesh_to_dual_grid(py::array_t<float, py::array::c_style | py::array::forcecast> vertices,
                            py::array_t<int32_t, py::array::c_style | py::array::forcecast> faces,
                            std::array<float, 3> box_min, std::array<float, 3> box_max,
                            std::array<float, 3> voxel_size, std::array<int, 3> grid_size, float face_weight,
                            float boundary_weight, float regularization_weight, int num_threads) {
    if (vertices.ndim() != 2 || vertices.shape(1) != 3) throw std::invalid_argument("vertices must be [V, 3]");
    if (faces.ndim() != 2 || faces.shape(1) != 3) throw std::invalid_argument("faces must be [F, 3]");
    for (int k = 0; k < 3; ++k)
        if (grid_size[k] < 1 || grid_size[k] >= KeyBits<uint64_t>::kMaxCells)
            throw std::invalid_argument("grid size must lie in [1, 2^21)");
    const int32_t* f = faces.data();
    const size_t nf = faces.shape(0);
    const py::ssize_t nv = vertices.shape(0);
    if (3 * nf >= (size_t(1) << 32)) throw std::invalid_argument("meshes of 2^32 / 3 faces or more are not supported");
    // Vertices relative to the box's minimum (float32 differences) and whether any lies outside the box.
    std::vector<float> shifted(3 * size_t(nv));
    bool outside = false;
    for (size_t i = 0; i < size_t(nv); ++i)
        for (int k = 0; k < 3; ++k) {
            const float x = vertices.data()[3 * i + k];
            outside |= x < box_min[k] || x > box_max[k];
            shifted[3 * i + k] = x - box_min[k];
        }
    const float* v = shifted.data();
    for (size_t i = 0; i < 3 * nf; ++i)
        if (f[i] < 0 || f[i] >= nv) throw std::invalid_argument("face index out of range");
#ifdef _OPENMP
    const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#else
    const int threads = 1;
#endif
    const Grid g{{voxel_size[0], voxel_size[1], voxel_size[2]}, {0, 0, 0}, {grid_size[0], grid_size[1], grid_size[2]}};
    const bool small = *std::max_element(grid_size.begin(), grid_size.end()) <= KeyBits<uint32_t>::kMaxCells;
    auto build = small ? build_dual_grid<uint32_t> : build_dual_grid<uint64_t>;
    const py::tuple grid = build(g, threads, v, f, nf, size_t(nv), face_weight, boundary_weight, regularization_weight);
    return py::make_tuple(grid[0], grid[1], grid[2], outside);
}

}  // namespace

PYBIND11_MODULE(_dualgrid, m) {
    m.doc() = "Mesh to flexible dual grid conversion (QEF dual vertices, edge-crossing flags).";
    m.def("mesh_to_dual_grid", &mesh_to_dual_grid, py::arg("vertices"), py::arg("faces"), py::arg("box_min"),
          py::arg("box_max"), py::arg("voxel_size"), py::arg("grid_size"), py::arg("face_weight"),
          py::arg("boundary_weight"), py::arg("regularization_weight"), py::arg("num_threads") = 0,
          "Returns (coords int32, dual vertices float32 relative to box_min, intersected bool, whether any vertex lies "
          "outside the box).");
}
