// Mesh -> flexible dual grid: edge crossings, quadric error functions per voxel and a box-constrained solve.
// Triangles are scanned in parallel into per-thread event lists; events are then applied in triangle order,
// so sums (and therefore results) do not depend on the number of threads.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "qef_math.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

using Key = uint64_t;
using Quadric = std::array<float, 10>;  // symmetric 4x4: 00 01 02 03 11 12 13 22 23 33

constexpr uint32_t kMissing = std::numeric_limits<uint32_t>::max();
constexpr int kSym[4][4] = {{0, 1, 2, 3}, {1, 4, 5, 6}, {2, 5, 7, 8}, {3, 6, 8, 9}};

Key pack(int x, int y, int z) {
    return (Key(uint32_t(x)) << 42) | (Key(uint32_t(y)) << 21) | Key(uint32_t(z));
}

struct Grid {
    float voxel[3];
    int lo[3];
    int hi[3];
};

struct Vec3f {
    float v[3];
};

Quadric pack_quadric(const float full[4][4]) {
    Quadric q{};
    for (int r = 0; r < 4; ++r)
        for (int c = r; c < 4; ++c) q[kSym[r][c]] = full[r][c];
    return q;
}

void add_scaled(Quadric& acc, const Quadric& q, float w) {
    for (int k = 0; k < 10; ++k) acc[k] += w * q[k];
}

struct Triangle {
    float p[3][3];
    float n[3];
    Quadric q;
};

Triangle make_triangle(const float* a, const float* b, const float* c) {
    Triangle t;
    for (int k = 0; k < 3; ++k) {
        t.p[0][k] = a[k];
        t.p[1][k] = b[k];
        t.p[2][k] = c[k];
    }
    float full[4][4];
    qef::plane_quadric(a, b, c, t.n, full);
    t.q = pack_quadric(full);
    return t;
}

// One grid-edge crossing seen by a triangle: the voxel touched, the crossing point and the crossed axis (or -1).
struct Crossing {
    Key key;
    int coord[3];
    float point[3];
    int axis;
    uint32_t tri;
};

int clampi(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

double interp(double a, double b, double t, double va, double vb) {
    if (a == b) return va;
    const double s = (t - a) / (b - a);
    return (1 - s) * va + s * vb;
}

// Scan-line the triangle projected along `ax2`; every crossed grid edge parallel to ax2 touches four voxels.
void scan_axis(const Triangle& tri, uint32_t id, int ax2, const Grid& g, std::vector<Crossing>& out) {
    const int ax0 = (ax2 + 1) % 3, ax1 = (ax2 + 2) % 3;
    std::array<std::array<double, 3>, 3> t;
    for (int i = 0; i < 3; ++i) t[i] = {tri.p[i][ax0], tri.p[i][ax1], tri.p[i][ax2]};
    std::stable_sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a[1] < b[1]; });
    const double s0 = g.voxel[ax0], s1 = g.voxel[ax1], s2 = g.voxel[ax2];
    auto row = [&](double y) { return clampi(int(y / s1), g.lo[ax1], g.hi[ax1] - 1); };
    auto half = [&](int r0, int r1, const std::array<double, 3>& a, const std::array<double, 3>& b,
                    const std::array<double, 3>& c) {
        for (int yi = r0; yi < r1; ++yi) {
            const double y = (yi + 1) * s1;
            double lx = interp(a[1], b[1], y, a[0], b[0]), lz = interp(a[1], b[1], y, a[2], b[2]);
            double rx = interp(a[1], c[1], y, a[0], c[0]), rz = interp(a[1], c[1], y, a[2], c[2]);
            if (lx > rx) {
                std::swap(lx, rx);
                std::swap(lz, rz);
            }
            const int x0 = clampi(int(lx / s0), g.lo[ax0], g.hi[ax0] - 1);
            const int x1 = clampi(int(rx / s0), g.lo[ax0], g.hi[ax0] - 1);
            for (int xi = x0; xi < x1; ++xi) {
                const double x = (xi + 1) * s0;
                const double z = interp(lx, rx, x, lz, rz);
                const int zi = int(z / s2);
                if (zi < g.lo[ax2] || zi >= g.hi[ax2]) continue;
                for (int dx = 0; dx < 2; ++dx)
                    for (int dy = 0; dy < 2; ++dy) {
                        Crossing c;
                        c.coord[ax0] = xi + dx;
                        c.coord[ax1] = yi + dy;
                        c.coord[ax2] = zi;
                        c.point[ax0] = float(x);
                        c.point[ax1] = float(y);
                        c.point[ax2] = float(z);
                        c.key = pack(c.coord[0], c.coord[1], c.coord[2]);
                        c.axis = (dx == 0 && dy == 0) ? ax2 : -1;
                        c.tri = id;
                        out.push_back(c);
                    }
            }
        }
    };
    const int start = row(t[0][1]), mid = row(t[1][1]), end = row(t[2][1]);
    half(start, mid, t[0], t[1], t[2]);
    half(mid, end, t[2], t[1], t[0]);
}

// Plane/box and three projected edge tests of a triangle against the voxel with minimal corner p.
struct OverlapTest {
    float n[3], d1, d2;
    float en[3][3][2], ed[3][3];  // [projection][edge] normal and offset
    bool operator()(const float p[3]) const {
        const float np = qef::dot3(n, p);
        if ((np + d1) * (np + d2) > 0.0f) return false;
        for (int pr = 0; pr < 3; ++pr) {
            const int u = pr == 0 ? 0 : (pr == 1 ? 1 : 2), v = pr == 0 ? 1 : (pr == 1 ? 2 : 0);
            for (int e = 0; e < 3; ++e)
                if (en[pr][e][0] * p[u] + en[pr][e][1] * p[v] + ed[pr][e] < 0) return false;
        }
        return true;
    }
};

OverlapTest make_overlap_test(const Triangle& t, const float vs[3]) {
    OverlapTest o;
    float c[3];
    for (int k = 0; k < 3; ++k) {
        o.n[k] = t.n[k];
        c[k] = t.n[k] > 0.0f ? vs[k] : 0.0f;
    }
    float near[3], far[3];
    for (int k = 0; k < 3; ++k) {
        near[k] = c[k] - t.p[0][k];
        far[k] = vs[k] - c[k] - t.p[0][k];
    }
    o.d1 = qef::dot3(t.n, near);
    o.d2 = qef::dot3(t.n, far);
    // projections xy (normal axis z), yz (axis x), zx (axis y)
    const int pu[3] = {0, 1, 2}, pv[3] = {1, 2, 0}, pn[3] = {2, 0, 1};
    for (int pr = 0; pr < 3; ++pr) {
        const int u = pu[pr], v = pv[pr];
        const float sign = t.n[pn[pr]] < 0.0f ? -1.0f : 1.0f;
        for (int e = 0; e < 3; ++e) {
            const float* a = t.p[e];
            const float* b = t.p[(e + 1) % 3];
            const float nu = -sign * (b[v] - a[v]), nv = sign * (b[u] - a[u]);
            o.en[pr][e][0] = nu;
            o.en[pr][e][1] = nv;
            // Same float evaluation order as upstream: touching cases (value exactly ~0) must round alike.
            const float reach = std::max(nu, 0.0f) * vs[u] + std::max(nv, 0.0f) * vs[v];
            o.ed[pr][e] = -(nu * a[u] + nv * a[v]) + reach;
        }
    }
    return o;
}

// Open-addressing (linear probing) map from packed voxel key to voxel index; grows by doubling.
class VoxelIndex {
  public:
    void reserve(size_t n) { rehash(std::max<size_t>(64, next_pow2(n * 2))); }

    // Index of `key`, inserting `fresh_value` when absent; second is true when inserted.
    std::pair<uint32_t, bool> insert(Key key, uint32_t fresh_value) {
        if ((size_ + 1) * 2 > keys_.size()) rehash(std::max<size_t>(64, keys_.size() * 2));
        size_t slot = probe(key);
        if (keys_[slot] == key) return {values_[slot], false};
        keys_[slot] = key;
        values_[slot] = fresh_value;
        ++size_;
        return {fresh_value, true};
    }

    uint32_t find(Key key) const {
        if (keys_.empty()) return kMissing;
        const size_t slot = probe(key);
        return keys_[slot] == key ? values_[slot] : kMissing;
    }

  private:
    static constexpr Key kEmpty = ~Key(0);

    static size_t next_pow2(size_t n) {
        size_t p = 1;
        while (p < n) p <<= 1;
        return p;
    }

    size_t probe(Key key) const {
        const size_t mask = keys_.size() - 1;
        size_t slot = size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
        while (keys_[slot] != key && keys_[slot] != kEmpty) slot = (slot + 1) & mask;
        return slot;
    }

    void rehash(size_t capacity) {
        std::vector<Key> old_keys(capacity, kEmpty);
        std::vector<uint32_t> old_values(capacity);
        old_keys.swap(keys_);
        old_values.swap(values_);
        for (size_t i = 0; i < old_keys.size(); ++i)
            if (old_keys[i] != kEmpty) {
                const size_t slot = probe(old_keys[i]);
                keys_[slot] = old_keys[i];
                values_[slot] = old_values[i];
            }
    }

    std::vector<Key> keys_;
    std::vector<uint32_t> values_;
    size_t size_ = 0;
};

class DualGridBuilder {
  public:
    DualGridBuilder(const Grid& g, int threads) : g_(g), threads_(threads) {}

    void add_crossings(const std::vector<Triangle>& tris) {
        auto events = gather<Crossing>(tris.size(), [&](size_t i, std::vector<Crossing>& out) {
            for (int ax = 0; ax < 3; ++ax) scan_axis(tris[i], uint32_t(i), ax, g_, out);
        });
        index_.reserve(events.size() / 2 + 16);
        for (const Crossing& c : events) {
            const auto [v, fresh] = index_.insert(c.key, uint32_t(coords_.size()));
            if (fresh) {
                coords_.push_back({c.coord[0], c.coord[1], c.coord[2]});
                sums_.push_back({0.0f, 0.0f, 0.0f});
                counts_.push_back(0.0f);
                flags_.push_back({0, 0, 0});
                quadrics_.push_back(Quadric{});
            }
            for (int k = 0; k < 3; ++k) sums_[v][k] += c.point[k];
            counts_[v] += 1.0f;
            if (c.axis >= 0) flags_[v][c.axis] = 1;
            add_scaled(quadrics_[v], tris[c.tri].q, 1.0f);
        }
    }

    void add_faces(const std::vector<Triangle>& tris) {
        auto hits = gather<std::pair<uint32_t, uint32_t>>(tris.size(), [&](size_t i, std::vector<std::pair<uint32_t, uint32_t>>& out) {
            const Triangle& t = tris[i];
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
                        const uint32_t v = lookup(x, y, z);
                        if (v != kMissing) out.emplace_back(v, uint32_t(i));
                    }
        });
        for (const auto& [v, i] : hits) add_scaled(quadrics_[v], tris[i].q, 1.0f);
    }

    void add_boundary(const std::vector<std::array<Vec3f, 2>>& edges, float weight) {
        for (const auto& e : edges) walk_edge(e[0].v, e[1].v, weight);
    }

    py::tuple solve(float regularization) const {
        const size_t n = coords_.size();
        py::array_t<int32_t> coords({py::ssize_t(n), py::ssize_t(3)});
        py::array_t<float> duals({py::ssize_t(n), py::ssize_t(3)});
        py::array_t<bool> flags({py::ssize_t(n), py::ssize_t(3)});
        int32_t* c = coords.mutable_data();
        float* d = duals.mutable_data();
        bool* f = flags.mutable_data();
        {
            py::gil_scoped_release release;
#pragma omp parallel for schedule(static) num_threads(threads_)
            for (long long i = 0; i < (long long)n; ++i) {
                solve_voxel(size_t(i), regularization, d + 3 * i);
                for (int k = 0; k < 3; ++k) {
                    c[3 * i + k] = coords_[i][k];
                    f[3 * i + k] = flags_[i][k] != 0;
                }
            }
        }
        return py::make_tuple(coords, duals, flags);
    }

  private:
    template <typename Event, typename Fn>
    std::vector<Event> gather(size_t count, Fn&& fn) const {
        std::vector<std::vector<Event>> parts(threads_);
#pragma omp parallel num_threads(threads_)
        {
#ifdef _OPENMP
            const int tid = omp_get_thread_num();
#else
            const int tid = 0;
#endif
#pragma omp for schedule(static)
            for (long long i = 0; i < (long long)count; ++i) fn(size_t(i), parts[tid]);
        }
        std::vector<Event> all;
        size_t total = 0;
        for (const auto& p : parts) total += p.size();
        all.reserve(total);
        for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
        return all;
    }

    uint32_t lookup(int x, int y, int z) const {
        return index_.find(pack(x, y, z));
    }

    // 3D DDA along a boundary edge; each existing voxel it passes gets the edge's line quadric.
    void walk_edge(const float* a, const float* b, float weight) {
        double dir[3], len;
        float full[4][4];
        if (!qef::line_quadric(a, b, dir, len, full)) return;
        const Quadric q = pack_quadric(full);
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
            visit(cur, q, weight);
            int ax = tmax[0] < tmax[1] ? (tmax[0] < tmax[2] ? 0 : 2) : (tmax[1] < tmax[2] ? 1 : 2);
            if (tmax[ax] > len) break;
            cur[ax] += step[ax];
            tmax[ax] += tdelta[ax];
        }
    }

    void visit(const int cur[3], const Quadric& q, float weight) {
        for (int k = 0; k < 3; ++k)
            if (cur[k] < g_.lo[k] || cur[k] >= g_.hi[k]) return;
        const uint32_t v = lookup(cur[0], cur[1], cur[2]);
        if (v != kMissing) add_scaled(quadrics_[v], q, weight);
    }

    void solve_voxel(size_t i, float regularization, float* out) const;

    Grid g_;
    int threads_;
    VoxelIndex index_;
    std::vector<std::array<int, 3>> coords_;
    std::vector<std::array<float, 3>> sums_;
    std::vector<float> counts_;
    std::vector<std::array<uint8_t, 3>> flags_;
    std::vector<Quadric> quadrics_;
};

// Dual vertex of voxel i: the regularized QEF minimizer if it lies in the closed voxel box, else the best of the
// constrained minimizers on the box faces, edges and corners (upstream's candidate order; ties keep the first).
// All arithmetic is float32 in upstream's operation order (see qef_math.h).
void DualGridBuilder::solve_voxel(size_t i, float regularization, float* out) const {
    Quadric qf = quadrics_[i];
    if (regularization > 0.0f) {
        float p[3];
        for (int k = 0; k < 3; ++k) p[k] = sums_[i][k] / counts_[i];
        Quadric reg{};
        reg[0] = reg[4] = reg[7] = 1.0f;
        reg[3] = -p[0];
        reg[6] = -p[1];
        reg[8] = -p[2];
        reg[9] = qef::dot3(p, p);
        add_scaled(qf, reg, regularization * counts_[i]);
    }
    float Q[4][4];
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) Q[r][c] = qf[kSym[r][c]];
    float lo[3], hi[3];
    for (int k = 0; k < 3; ++k) {
        lo[k] = coords_[i][k] * g_.voxel[k];
        hi[k] = (coords_[i][k] + 1) * g_.voxel[k];
    }
    auto inside = [&](float v, int k) { return v >= lo[k] && v <= hi[k]; };
    const float A[3][3] = {{Q[0][0], Q[0][1], Q[0][2]}, {Q[1][0], Q[1][1], Q[1][2]}, {Q[2][0], Q[2][1], Q[2][2]}};
    const float b[3] = {-Q[0][3], -Q[1][3], -Q[2][3]};
    float x[3];
    qef::colpiv_qr_solve<3>(A, b, x);
    if (!(inside(x[0], 0) && inside(x[1], 1) && inside(x[2], 2))) {
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
    for (int k = 0; k < 3; ++k) out[k] = x[k];
}

std::vector<std::array<Vec3f, 2>> boundary_edges(const float* verts, const int32_t* faces, size_t nf) {
    std::vector<std::pair<int32_t, int32_t>> edges;
    edges.reserve(nf * 3);
    for (size_t f = 0; f < nf; ++f)
        for (int k = 0; k < 3; ++k) {
            int32_t a = faces[3 * f + k], b = faces[3 * f + (k + 1) % 3];
            edges.emplace_back(std::min(a, b), std::max(a, b));
        }
    std::sort(edges.begin(), edges.end());
    std::vector<std::array<Vec3f, 2>> out;
    for (size_t i = 0; i < edges.size();) {
        size_t j = i;
        while (j < edges.size() && edges[j] == edges[i]) ++j;
        if (j - i == 1) {
            const float* a = verts + 3 * edges[i].first;
            const float* b = verts + 3 * edges[i].second;
            out.push_back({Vec3f{{a[0], a[1], a[2]}}, Vec3f{{b[0], b[1], b[2]}}});
        }
        i = j;
    }
    return out;
}

py::tuple mesh_to_dual_grid(py::array_t<float, py::array::c_style | py::array::forcecast> vertices,
                            py::array_t<int32_t, py::array::c_style | py::array::forcecast> faces,
                            std::array<float, 3> voxel_size, std::array<int, 3> grid_size, float face_weight,
                            float boundary_weight, float regularization_weight, int num_threads) {
    if (vertices.ndim() != 2 || vertices.shape(1) != 3) throw std::invalid_argument("vertices must be [V, 3]");
    if (faces.ndim() != 2 || faces.shape(1) != 3) throw std::invalid_argument("faces must be [F, 3]");
    const float* v = vertices.data();
    const int32_t* f = faces.data();
    const size_t nf = faces.shape(0);
    const py::ssize_t nv = vertices.shape(0);
    for (size_t i = 0; i < 3 * nf; ++i)
        if (f[i] < 0 || f[i] >= nv) throw std::invalid_argument("face index out of range");
#ifdef _OPENMP
    const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#else
    const int threads = 1;
#endif
    Grid g{{voxel_size[0], voxel_size[1], voxel_size[2]}, {0, 0, 0}, {grid_size[0], grid_size[1], grid_size[2]}};
    DualGridBuilder builder(g, threads);
    {
        py::gil_scoped_release release;
        std::vector<Triangle> tris(nf);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long long i = 0; i < (long long)nf; ++i)
            tris[i] = make_triangle(v + 3 * f[3 * i], v + 3 * f[3 * i + 1], v + 3 * f[3 * i + 2]);
        builder.add_crossings(tris);
        if (face_weight > 0.0f) builder.add_faces(tris);
        if (boundary_weight > 0.0f) builder.add_boundary(boundary_edges(v, f, nf), boundary_weight);
    }
    return builder.solve(regularization_weight);
}

}  // namespace

PYBIND11_MODULE(_dualgrid, m) {
    m.doc() = "Mesh to flexible dual grid conversion (QEF dual vertices, edge-crossing flags).";
    m.def("mesh_to_dual_grid", &mesh_to_dual_grid, py::arg("vertices"), py::arg("faces"), py::arg("voxel_size"),
          py::arg("grid_size"), py::arg("face_weight"), py::arg("boundary_weight"), py::arg("regularization_weight"),
          py::arg("num_threads") = 0,
          "Vertices already shifted by aabb.min; returns (coords int32, dual vertices float32, intersected bool).");
}
