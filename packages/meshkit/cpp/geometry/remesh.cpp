// Sparse coarse-to-fine band detection, sign-configuration repair and dual contouring on the voxel grid.
#include "remesh.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "bvh.h"

namespace py = pybind11;

namespace meshkit {

namespace {

// Corner c of a voxel sits at offset (c & 1, (c >> 1) & 1, (c >> 2) & 1).
constexpr int kCornerOffset[8][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0},
                                     {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}};

// Whether a voxel with this inside-corner mask yields a single disc: inside and outside corners each connected
// along cube edges, and no face with a checkerboard pattern (which would make the shared dual edge non-manifold).
std::array<bool, 256> build_sound_configurations() {
    std::array<bool, 256> sound{};
    auto connected = [](int mask) {
        if (mask == 0) return true;
        int seen = mask & -mask, frontier = seen;
        while (frontier) {
            int next = 0;
            for (int c = 0; c < 8; ++c)
                if (frontier & (1 << c))
                    for (int axis = 0; axis < 3; ++axis) next |= (1 << (c ^ (1 << axis)));
            next &= mask & ~seen;
            seen |= next;
            frontier = next;
        }
        return seen == mask;
    };
    for (int mask = 0; mask < 256; ++mask) {
        bool ok = connected(mask) && connected(~mask & 0xff);
        for (int axis = 0; axis < 3 && ok; ++axis) {
            const int b = 1 << ((axis + 1) % 3), c = 1 << ((axis + 2) % 3);
            for (int side = 0; side < 2 && ok; ++side) {
                const int base = side << axis;
                const bool p0 = mask & (1 << base), p1 = mask & (1 << (base | b));
                const bool p2 = mask & (1 << (base | b | c)), p3 = mask & (1 << (base | c));
                if (p0 == p2 && p1 == p3 && p0 != p1) ok = false;
            }
        }
        sound[mask] = ok;
    }
    return sound;
}

class BandGrid {
public:
    BandGrid(const TriangleBVH& bvh, const double center[3], double scale, int64_t resolution, double band)
        : bvh_(bvh), res_(resolution), voxel_(scale / resolution), iso_(band * scale / resolution),
          stride_(resolution + 3) {
        for (int k = 0; k < 3; ++k) origin_[k] = center[k] - scale / 2;
    }

    uint64_t key(int64_t i, int64_t j, int64_t k) const {
        return static_cast<uint64_t>(((i + 1) * stride_ + (j + 1)) * stride_ + (k + 1));
    }
    std::array<int64_t, 3> unkey(uint64_t key) const {
        const int64_t s = stride_;
        return {static_cast<int64_t>(key / (s * s)) - 1, static_cast<int64_t>((key / s) % s) - 1,
                static_cast<int64_t>(key % s) - 1};
    }
    Vec3 position(double i, double j, double k) const {
        return {origin_[0] + i * voxel_, origin_[1] + j * voxel_, origin_[2] + k * voxel_};
    }
    bool in_domain(int64_t i, int64_t j, int64_t k) const {
        return i >= 0 && j >= 0 && k >= 0 && i <= res_ && j <= res_ && k <= res_;
    }

    // Voxels (by min corner) whose neighbourhood may hold points closer than the iso level: coarse to fine.
    std::vector<std::array<int64_t, 3>> band_voxels() const {
        int level = 0;
        while (((res_ + (int64_t{1} << level) - 1) >> level) > 32) ++level;
        const int64_t n = (res_ + (int64_t{1} << level) - 1) >> level;
        std::vector<std::array<int64_t, 3>> cells;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                for (int64_t k = 0; k < n; ++k) cells.push_back({i, j, k});
        for (;; --level) {
            const double size = static_cast<double>(int64_t{1} << level);
            std::vector<uint8_t> keep(cells.size());
            const int64_t count = static_cast<int64_t>(cells.size());
#pragma omp parallel for schedule(dynamic, 64)
            for (int64_t c = 0; c < count; ++c) {
                const auto& cell = cells[c];
                const Vec3 p = position((cell[0] + 0.5) * size, (cell[1] + 0.5) * size, (cell[2] + 0.5) * size);
                const double reach = iso_ + 0.8661 * size * voxel_;
                keep[c] = bvh_.closest(p).distance_sq < reach * reach;
            }
            std::vector<std::array<int64_t, 3>> next;
            for (int64_t c = 0; c < count; ++c) {
                if (!keep[c]) continue;
                if (level == 0) {
                    next.push_back(cells[c]);
                    continue;
                }
                for (const auto& o : kCornerOffset) {
                    const std::array<int64_t, 3> child = {2 * cells[c][0] + o[0], 2 * cells[c][1] + o[1],
                                                          2 * cells[c][2] + o[2]};
                    const int64_t child_size = int64_t{1} << (level - 1);
                    if (child[0] * child_size < res_ && child[1] * child_size < res_ && child[2] * child_size < res_)
                        next.push_back(child);
                }
            }
            cells.swap(next);
            if (level == 0) return cells;
        }
    }

    // Adds the given grid points (keys), evaluating the shifted distance at those not yet known.
    void add_points(std::vector<uint64_t> keys) {
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        keys.erase(std::remove_if(keys.begin(), keys.end(), [&](uint64_t k) { return index_.count(k) > 0; }),
                   keys.end());
        const int64_t n = static_cast<int64_t>(keys.size());
        std::vector<double> values(n);
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; ++i) {
            const auto g = unkey(keys[i]);
            const Vec3 p = position(g[0], g[1], g[2]);
            // Points outside the domain stay outside so the surface always closes inside the grid.
            values[i] = in_domain(g[0], g[1], g[2]) ? std::sqrt(bvh_.closest(p).distance_sq) - iso_ : voxel_;
        }
        for (int64_t i = 0; i < n; ++i) {
            index_.emplace(keys[i], static_cast<int32_t>(value_.size()));
            value_.push_back(values[i]);
            inside_.push_back(values[i] < 0);
        }
    }

    int32_t find(uint64_t k) const {
        const auto it = index_.find(k);
        return it == index_.end() ? -1 : it->second;
    }
    bool inside(int64_t i, int64_t j, int64_t k) const {
        const int32_t p = find(key(i, j, k));
        return p >= 0 && inside_[p];
    }
    double value(int32_t p) const { return value_[p]; }
    bool inside_at(int32_t p) const { return inside_[p]; }
    void force_inside(int32_t p) {
        inside_[p] = 1;
        value_[p] = std::min(value_[p], -1e-3 * voxel_);
    }

    // Keys of all inside points, in a deterministic (sorted) order.
    std::vector<uint64_t> inside_keys() const {
        std::vector<uint64_t> keys;
        for (const auto& [k, p] : index_)
            if (inside_[p]) keys.push_back(k);
        std::sort(keys.begin(), keys.end());
        return keys;
    }

private:
    const TriangleBVH& bvh_;
    int64_t res_;
    double voxel_, iso_;
    int64_t stride_;
    double origin_[3];
    std::unordered_map<uint64_t, int32_t> index_;
    std::vector<double> value_;
    std::vector<uint8_t> inside_;
};

}  // namespace

RemeshResult remesh_narrow_band(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                                const double center[3], double scale, int64_t resolution, double band,
                                double project_back) {
    static const std::array<bool, 256> sound = build_sound_configurations();
    const TriangleBVH bvh(vertices, num_vertices, faces, num_faces);
    BandGrid grid(bvh, center, scale, resolution, band);

    std::vector<uint64_t> corner_keys;
    for (const auto& cell : grid.band_voxels())
        for (const auto& o : kCornerOffset) corner_keys.push_back(grid.key(cell[0] + o[0], cell[1] + o[1], cell[2] + o[2]));
    grid.add_points(std::move(corner_keys));

    // Voxels touching an inside point; repair unsound sign patterns by moving outside corners inside (grows only,
    // so it terminates) until every such voxel contours to a single disc.
    std::vector<uint64_t> voxels;
    auto voxel_mask = [&](uint64_t v) {
        const auto g = grid.unkey(v);
        int mask = 0;
        for (int c = 0; c < 8; ++c)
            if (grid.inside(g[0] + kCornerOffset[c][0], g[1] + kCornerOffset[c][1], g[2] + kCornerOffset[c][2]))
                mask |= 1 << c;
        return mask;
    };
    for (;;) {
        voxels.clear();
        for (uint64_t k : grid.inside_keys()) {
            const auto g = grid.unkey(k);
            for (const auto& o : kCornerOffset) voxels.push_back(grid.key(g[0] - o[0], g[1] - o[1], g[2] - o[2]));
        }
        std::sort(voxels.begin(), voxels.end());
        voxels.erase(std::unique(voxels.begin(), voxels.end()), voxels.end());
        std::vector<uint64_t> needed;
        for (uint64_t v : voxels) {
            const auto g = grid.unkey(v);
            for (const auto& o : kCornerOffset) needed.push_back(grid.key(g[0] + o[0], g[1] + o[1], g[2] + o[2]));
        }
        grid.add_points(std::move(needed));
        bool changed = false;
        for (uint64_t v : voxels) {
            const int mask = voxel_mask(v);
            if (sound[mask]) continue;
            const auto g = grid.unkey(v);
            // Prefer flipping the single outside corner nearest the iso level that makes the voxel sound.
            int best = -1;
            double best_value = 0;
            auto flippable = [&](int c) {
                const auto& o = kCornerOffset[c];
                return !(mask & (1 << c)) && grid.in_domain(g[0] + o[0], g[1] + o[1], g[2] + o[2]);
            };
            for (int c = 0; c < 8; ++c) {
                if (!flippable(c) || !sound[mask | (1 << c)]) continue;
                const double value = grid.value(grid.find(grid.key(g[0] + kCornerOffset[c][0],
                                                                   g[1] + kCornerOffset[c][1],
                                                                   g[2] + kCornerOffset[c][2])));
                if (best < 0 || value < best_value) {
                    best = c;
                    best_value = value;
                }
            }
            for (int c = 0; c < 8; ++c) {
                if (!flippable(c) || (best >= 0 && c != best)) continue;
                const auto& o = kCornerOffset[c];
                grid.force_inside(grid.find(grid.key(g[0] + o[0], g[1] + o[1], g[2] + o[2])));
                changed = true;
            }
        }
        if (!changed) break;
    }

    // One vertex per crossed voxel: the mean of the interpolated crossings on its edges.
    RemeshResult result;
    std::unordered_map<uint64_t, int64_t> vertex_of;
    vertex_of.reserve(voxels.size());
    for (uint64_t v : voxels) {
        const int mask = voxel_mask(v);
        if (mask == 0 || mask == 255) continue;
        const auto g = grid.unkey(v);
        double sum[3] = {0, 0, 0};
        int count = 0;
        for (int a = 0; a < 8; ++a) {
            for (int axis = 0; axis < 3; ++axis) {
                const int b = a | (1 << axis);
                if (b == a || ((mask >> a) & 1) == ((mask >> b) & 1)) continue;
                const double va = grid.value(grid.find(grid.key(g[0] + kCornerOffset[a][0], g[1] + kCornerOffset[a][1],
                                                                g[2] + kCornerOffset[a][2])));
                const double vb = grid.value(grid.find(grid.key(g[0] + kCornerOffset[b][0], g[1] + kCornerOffset[b][1],
                                                                g[2] + kCornerOffset[b][2])));
                const double t = std::clamp(va / (va - vb), 0.0, 1.0);
                for (int k = 0; k < 3; ++k)
                    sum[k] += kCornerOffset[a][k] + t * (kCornerOffset[b][k] - kCornerOffset[a][k]);
                ++count;
            }
        }
        const Vec3 p = grid.position(g[0] + sum[0] / count, g[1] + sum[1] / count, g[2] + sum[2] / count);
        vertex_of[v] = static_cast<int64_t>(result.vertices.size() / 3);
        result.vertices.insert(result.vertices.end(), p.begin(), p.end());
    }

    // One quad per crossed grid edge, wound so its normal points from the inside (band) to the outside.
    for (uint64_t k : grid.inside_keys()) {
        const auto g = grid.unkey(k);
        for (int axis = 0; axis < 3; ++axis) {
            for (int dir : {1, -1}) {
                std::array<int64_t, 3> q = g;
                q[axis] += dir;
                if (grid.inside(q[0], q[1], q[2])) continue;
                const std::array<int64_t, 3> lo = dir > 0 ? g : q;
                const int b = (axis + 1) % 3, c = (axis + 2) % 3;
                const int64_t ring[4][2] = {{-1, -1}, {0, -1}, {0, 0}, {-1, 0}};  // counter-clockwise about +axis
                int64_t quad[4];
                for (int r = 0; r < 4; ++r) {
                    std::array<int64_t, 3> cell = lo;
                    cell[b] += ring[r][0];
                    cell[c] += ring[r][1];
                    quad[r] = vertex_of.at(grid.key(cell[0], cell[1], cell[2]));
                }
                if (dir < 0) std::swap(quad[1], quad[3]);
                // Split along the diagonal whose two triangles are closer to coplanar.
                auto normal = [&](int64_t x, int64_t y, int64_t z, double n[3]) {
                    const double* px = &result.vertices[3 * x];
                    const double* py = &result.vertices[3 * y];
                    const double* pz = &result.vertices[3 * z];
                    const double u[3] = {py[0] - px[0], py[1] - px[1], py[2] - px[2]};
                    const double w[3] = {pz[0] - px[0], pz[1] - px[1], pz[2] - px[2]};
                    n[0] = u[1] * w[2] - u[2] * w[1];
                    n[1] = u[2] * w[0] - u[0] * w[2];
                    n[2] = u[0] * w[1] - u[1] * w[0];
                };
                auto alignment = [&](int64_t a, int64_t bb, int64_t cc, int64_t d) {
                    double n1[3], n2[3];
                    normal(a, bb, cc, n1);
                    normal(a, cc, d, n2);
                    const double l1 = std::sqrt(n1[0] * n1[0] + n1[1] * n1[1] + n1[2] * n1[2]);
                    const double l2 = std::sqrt(n2[0] * n2[0] + n2[1] * n2[1] + n2[2] * n2[2]);
                    return (n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2]) / std::max(l1 * l2, 1e-300);
                };
                const bool first = alignment(quad[0], quad[1], quad[2], quad[3]) >=
                                   alignment(quad[1], quad[2], quad[3], quad[0]);
                const int s = first ? 0 : 1;
                const int64_t a0 = quad[s], a1 = quad[(s + 1) % 4], a2 = quad[(s + 2) % 4], a3 = quad[(s + 3) % 4];
                result.faces.insert(result.faces.end(), {a0, a1, a2, a0, a2, a3});
            }
        }
    }

    if (project_back > 0) {
        const int64_t n = static_cast<int64_t>(result.vertices.size() / 3);
        double* p = result.vertices.data();
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; ++i) {
            const auto hit = bvh.closest({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
            for (int k = 0; k < 3; ++k) p[3 * i + k] += project_back * (hit.point[k] - p[3 * i + k]);
        }
    }
    return result;
}

void bind_remesh(py::module_& m) {
    using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
    using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
    m.def(
        "remesh_narrow_band_dc",
        [](Doubles vertices, Ints faces, Doubles center, double scale, int64_t resolution, double band,
           double project_back) {
            RemeshResult r;
            {
                py::gil_scoped_release release;
                r = remesh_narrow_band(vertices.data(), vertices.shape(0), faces.data(), faces.shape(0),
                                       center.data(), scale, resolution, band, project_back);
            }
            const auto nv = static_cast<py::ssize_t>(r.vertices.size() / 3);
            const auto nf = static_cast<py::ssize_t>(r.faces.size() / 3);
            py::array_t<double> out_v({nv, py::ssize_t{3}});
            py::array_t<int64_t> out_f({nf, py::ssize_t{3}});
            std::copy(r.vertices.begin(), r.vertices.end(), out_v.mutable_data());
            std::copy(r.faces.begin(), r.faces.end(), out_f.mutable_data());
            return py::make_tuple(out_v, out_f);
        },
        py::arg("vertices"), py::arg("faces"), py::arg("center"), py::arg("scale"), py::arg("resolution"),
        py::arg("band"), py::arg("project_back"));
}

}  // namespace meshkit
