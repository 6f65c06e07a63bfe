// Sparse coarse-to-fine band detection, sign-configuration repair and dual contouring on the voxel grid.
//
// Only the distances that can change the output are computed: whether each band point is inside (closer than the
// iso level), exact values at inside points and at their six grid neighbours (the ends of crossed edges), and, on
// demand, at the corners the repair step compares. Sorted key lists are built by merging shifted copies (keys are
// linear in the grid coordinates), and lookups go through an open-addressing table.
#include "remesh.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <array>
#include <cmath>

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

// Open-addressing (linear probing) map from grid keys to dense indices. Inserts are single-threaded; lookups may run
// from many threads once inserting is done.
class KeyIndex {
public:
    KeyIndex() { rehash(1 << 10); }

    int32_t find(uint64_t key) const {
        for (size_t slot = home(key);; slot = (slot + 1) & mask_) {
            if (keys_[slot] == key) return values_[slot];
            if (keys_[slot] == kEmpty) return -1;
        }
    }

    void insert(uint64_t key, int32_t value) {
        if (2 * (size_ + 1) > keys_.size()) rehash(2 * keys_.size());
        size_t slot = home(key);
        while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
        if (keys_[slot] == kEmpty) ++size_;
        keys_[slot] = key;
        values_[slot] = value;
    }

    void reserve(size_t count) {
        size_t capacity = keys_.size();
        while (capacity < 2 * count) capacity *= 2;
        if (capacity > keys_.size()) rehash(capacity);
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    size_t home(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_); }
    void rehash(size_t capacity) {
        std::vector<uint64_t> old_keys(capacity, kEmpty);
        std::vector<int32_t> old_values(capacity, -1);
        old_keys.swap(keys_);
        old_values.swap(values_);
        mask_ = capacity - 1;
        shift_ = 64;
        for (size_t c = capacity; c > 1; c >>= 1) --shift_;
        size_ = 0;
        for (size_t i = 0; i < old_keys.size(); ++i)
            if (old_keys[i] != kEmpty) insert(old_keys[i], old_values[i]);
    }

    std::vector<uint64_t> keys_;
    std::vector<int32_t> values_;
    size_t mask_ = 0, size_ = 0;
    int shift_ = 64;
};

// Sorted union of {k + offset : k in keys} over the offsets; `keys` must be sorted, and adding an offset keeps order.
std::vector<uint64_t> shifted_union(const std::vector<uint64_t>& keys, const std::vector<int64_t>& offsets) {
    std::vector<std::vector<uint64_t>> lists;
    for (int64_t offset : offsets) {
        std::vector<uint64_t> shifted(keys.size());
        for (size_t i = 0; i < keys.size(); ++i) shifted[i] = static_cast<uint64_t>(static_cast<int64_t>(keys[i]) + offset);
        lists.push_back(std::move(shifted));
    }
    while (lists.size() > 1) {
        std::vector<std::vector<uint64_t>> merged((lists.size() + 1) / 2);
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t m = 0; m < static_cast<int64_t>(merged.size()); ++m) {
            if (2 * m + 1 == static_cast<int64_t>(lists.size())) {
                merged[m] = std::move(lists[2 * m]);
                continue;
            }
            const auto& a = lists[2 * m];
            const auto& b = lists[2 * m + 1];
            std::vector<uint64_t> out(a.size() + b.size());
            out.resize(std::set_union(a.begin(), a.end(), b.begin(), b.end(), out.begin()) - out.begin());
            merged[m] = std::move(out);
        }
        lists.swap(merged);
    }
    if (lists.empty()) return {};
    std::vector<uint64_t> out = std::move(lists[0]);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

class BandGrid {
public:
    BandGrid(const TriangleBVH& bvh, const double center[3], double scale, int64_t resolution, double band)
        : bvh_(bvh), res_(resolution), voxel_(scale / resolution), iso_(band * scale / resolution),
          stride_(resolution + 3), near_sq_((iso_ + 1.01 * voxel_) * (iso_ + 1.01 * voxel_)) {
        for (int k = 0; k < 3; ++k) origin_[k] = center[k] - scale / 2;
    }

    uint64_t key(int64_t i, int64_t j, int64_t k) const {
        return static_cast<uint64_t>(((i + 1) * stride_ + (j + 1)) * stride_ + (k + 1));
    }
    // Key difference of a move by (di, dj, dk).
    int64_t key_offset(int64_t di, int64_t dj, int64_t dk) const { return (di * stride_ + dj) * stride_ + dk; }
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

    // Finds the grid points closer than the iso level, coarse to fine: a block of 2^L points per axis is split
    // only while its centre lies within iso + its half diagonal of the input; single points are then classified.
    void find_inside_points() {
        int level = 0;
        while (((res_ + 1 + (int64_t{1} << level) - 1) >> level) > 32) ++level;
        const int64_t n = (res_ + 1 + (int64_t{1} << level) - 1) >> level;
        std::vector<std::array<int64_t, 3>> cells;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                for (int64_t k = 0; k < n; ++k) cells.push_back({i, j, k});
        for (; level > 0; --level) {
            const int64_t size = int64_t{1} << level;
            const double half = 0.5 * static_cast<double>(size - 1);
            const double reach = iso_ + 0.8661 * static_cast<double>(size - 1) * voxel_;
            std::vector<uint8_t> keep(cells.size());
            const int64_t count = static_cast<int64_t>(cells.size());
#pragma omp parallel for schedule(dynamic, 64)
            for (int64_t c = 0; c < count; ++c) {
                const auto& cell = cells[c];
                const Vec3 p = position(cell[0] * size + half, cell[1] * size + half, cell[2] * size + half);
                keep[c] = bvh_.any_within(p, reach * reach);
            }
            std::vector<std::array<int64_t, 3>> next;
            const int64_t child_size = size / 2;
            for (int64_t c = 0; c < count; ++c) {
                if (!keep[c]) continue;
                for (const auto& o : kCornerOffset) {
                    const std::array<int64_t, 3> child = {2 * cells[c][0] + o[0], 2 * cells[c][1] + o[1],
                                                          2 * cells[c][2] + o[2]};
                    if (child[0] * child_size <= res_ && child[1] * child_size <= res_ && child[2] * child_size <= res_)
                        next.push_back(child);
                }
            }
            cells.swap(next);
        }
        std::vector<uint64_t> candidates(cells.size());
        for (size_t c = 0; c < cells.size(); ++c) candidates[c] = key(cells[c][0], cells[c][1], cells[c][2]);
        std::sort(candidates.begin(), candidates.end());
        classify(candidates);
    }

    // Shifted distance (distance to the input minus the iso level) at a grid point; points outside the domain get
    // +1 voxel so the surface always closes inside the grid.
    double exact_value(uint64_t k) const {
        const auto g = unkey(k);
        if (!in_domain(g[0], g[1], g[2])) return voxel_;
        const Vec3 p = position(g[0], g[1], g[2]);
        // Most evaluated points neighbour an inside point, so lie within iso + 1 voxel of the input: a query bounded
        // just above that prunes early and finds the same closest point; only points further out need a second one.
        double distance_sq = bvh_.closest(p, near_sq_).distance_sq;
        if (!std::isfinite(distance_sq)) distance_sq = bvh_.closest(p).distance_sq;
        return std::sqrt(distance_sq) - iso_;
    }

    // Classifies the sorted candidate keys (all in the domain): those closer than the iso level become inside points (with exact
    // values); the others stay unstored, which reads as outside. A search bounded just above the iso level decides.
    void classify(const std::vector<uint64_t>& candidates) {
        const int64_t n = static_cast<int64_t>(candidates.size());
        const double limit = iso_ * (1 + 1e-9);
        std::vector<double> values(n, 1.0);
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; ++i) {
            const auto g = unkey(candidates[i]);
            const ClosestHit hit = bvh_.closest(position(g[0], g[1], g[2]), limit * limit);
            if (hit.face >= 0) values[i] = std::sqrt(hit.distance_sq) - iso_;
        }
        for (int64_t i = 0; i < n; ++i)
            if (values[i] < 0) store(candidates[i], values[i]);
    }

    // Stores exact values at the listed (sorted, unstored) keys, evaluated in parallel.
    void evaluate(const std::vector<uint64_t>& keys) {
        const int64_t n = static_cast<int64_t>(keys.size());
        std::vector<double> values(n);
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; ++i) values[i] = exact_value(keys[i]);
        index_.reserve(value_.size() + n);
        for (int64_t i = 0; i < n; ++i) store(keys[i], values[i]);
    }

    int32_t find(uint64_t k) const { return index_.find(k); }
    bool inside(uint64_t k) const {
        const int32_t p = index_.find(k);
        return p >= 0 && inside_[p];
    }
    bool inside(int64_t i, int64_t j, int64_t k) const { return inside(key(i, j, k)); }
    // Stored value at a point (read-only, safe from many threads); evaluated on the spot if it is not stored.
    double stored_value(uint64_t k) const {
        const int32_t p = index_.find(k);
        return p >= 0 ? value_[p] : exact_value(k);
    }
    // Value at a point, evaluating and storing it first when it is not stored yet.
    double value(uint64_t k) {
        const int32_t p = index_.find(k);
        return p >= 0 ? value_[p] : value_[store(k, exact_value(k))];
    }
    void force_inside(uint64_t k) {
        // A stored outside value is >= 0 (in the domain), so the forced value is always this small negative one.
        const int32_t p = index_.find(k);
        const double forced = -1e-3 * voxel_;
        if (p < 0) {
            store(k, forced);
            return;
        }
        value_[p] = std::min(value_[p], forced);
        inside_[p] = 1;
        inside_keys_.push_back(k);
        inside_sorted_ = false;
    }

    // Keys of all inside points, sorted.
    const std::vector<uint64_t>& inside_keys() {
        if (!inside_sorted_) {
            std::sort(inside_keys_.begin(), inside_keys_.end());
            inside_keys_.erase(std::unique(inside_keys_.begin(), inside_keys_.end()), inside_keys_.end());
            inside_sorted_ = true;
        }
        return inside_keys_;
    }

private:
    int32_t store(uint64_t k, double value) {
        const int32_t p = static_cast<int32_t>(value_.size());
        index_.insert(k, p);
        value_.push_back(value);
        inside_.push_back(value < 0);
        if (value < 0) {
            if (!inside_keys_.empty() && inside_keys_.back() > k) inside_sorted_ = false;
            inside_keys_.push_back(k);
        }
        return p;
    }

    const TriangleBVH& bvh_;
    int64_t res_;
    double voxel_, iso_;
    int64_t stride_;
    double near_sq_;  // squared distance bounding the first closest-point search of exact_value
    double origin_[3];
    KeyIndex index_;
    std::vector<double> value_;
    std::vector<uint8_t> inside_;
    std::vector<uint64_t> inside_keys_;
    bool inside_sorted_ = true;
};

}  // namespace

RemeshResult remesh_narrow_band(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                                const double center[3], double scale, int64_t resolution, double band,
                                double project_back) {
    static const std::array<bool, 256> sound = build_sound_configurations();
    const TriangleBVH bvh(vertices, num_vertices, faces, num_faces);
    BandGrid grid(bvh, center, scale, resolution, band);
    std::vector<int64_t> corner_offsets, below_offsets, axis_offsets;
    for (const auto& o : kCornerOffset) {
        corner_offsets.push_back(grid.key_offset(o[0], o[1], o[2]));
        below_offsets.push_back(-grid.key_offset(o[0], o[1], o[2]));
    }
    for (int axis = 0; axis < 3; ++axis)
        for (int dir : {1, -1})
            axis_offsets.push_back(grid.key_offset(axis == 0 ? dir : 0, axis == 1 ? dir : 0, axis == 2 ? dir : 0));

    grid.find_inside_points();

    auto voxel_mask = [&](uint64_t v) {
        int mask = 0;
        for (int c = 0; c < 8; ++c)
            if (grid.inside(v + corner_offsets[c])) mask |= 1 << c;
        return mask;
    };
    // Voxels touching an inside point, in key order; repair unsound sign patterns by moving outside corners inside
    // (grows only, so it terminates) until every such voxel contours to a single disc. A pass that finds no
    // unsound voxel ends the repair without walking the voxels one by one.
    std::vector<uint64_t> voxels;
    for (;;) {
        voxels = shifted_union(grid.inside_keys(), below_offsets);
        const int64_t count = static_cast<int64_t>(voxels.size());
        int64_t unsound = 0;
#pragma omp parallel for schedule(static) reduction(+ : unsound)
        for (int64_t i = 0; i < count; ++i) unsound += sound[voxel_mask(voxels[i])] ? 0 : 1;
        if (unsound == 0) break;
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
                const double value = grid.value(v + corner_offsets[c]);
                if (best < 0 || value < best_value) {
                    best = c;
                    best_value = value;
                }
            }
            for (int c = 0; c < 8; ++c) {
                if (!flippable(c) || (best >= 0 && c != best)) continue;
                grid.force_inside(v + corner_offsets[c]);
                changed = true;
            }
        }
        if (!changed) break;
    }
    // Crossed edges join an inside point to an outside neighbour: give those neighbours their exact values.
    {
        const std::vector<uint64_t>& inside = grid.inside_keys();
        std::vector<uint64_t> missing;
        for (uint64_t k : shifted_union(inside, axis_offsets))
            if (grid.find(k) < 0) missing.push_back(k);
        grid.evaluate(missing);
    }

    // One vertex per crossed voxel: the mean of the interpolated crossings on its edges.
    const int64_t num_voxels = static_cast<int64_t>(voxels.size());
    std::vector<double> positions(3 * num_voxels);
    std::vector<uint8_t> crossed(num_voxels);
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t i = 0; i < num_voxels; ++i) {
        const uint64_t v = voxels[i];
        const int mask = voxel_mask(v);
        if (mask == 0 || mask == 255) continue;
        crossed[i] = 1;
        const auto g = grid.unkey(v);
        double sum[3] = {0, 0, 0};
        int count = 0;
        for (int a = 0; a < 8; ++a) {
            for (int axis = 0; axis < 3; ++axis) {
                const int b = a | (1 << axis);
                if (b == a || ((mask >> a) & 1) == ((mask >> b) & 1)) continue;
                const double va = grid.stored_value(v + corner_offsets[a]);
                const double vb = grid.stored_value(v + corner_offsets[b]);
                const double t = std::clamp(va / (va - vb), 0.0, 1.0);
                for (int k = 0; k < 3; ++k)
                    sum[k] += kCornerOffset[a][k] + t * (kCornerOffset[b][k] - kCornerOffset[a][k]);
                ++count;
            }
        }
        const Vec3 p = grid.position(g[0] + sum[0] / count, g[1] + sum[1] / count, g[2] + sum[2] / count);
        std::copy(p.begin(), p.end(), &positions[3 * i]);
    }
    RemeshResult result;
    KeyIndex vertex_of;
    vertex_of.reserve(num_voxels);
    for (int64_t i = 0; i < num_voxels; ++i) {
        if (!crossed[i]) continue;
        vertex_of.insert(voxels[i], static_cast<int32_t>(result.vertices.size() / 3));
        result.vertices.insert(result.vertices.end(), &positions[3 * i], &positions[3 * i] + 3);
    }
    positions = {};

    // One quad per crossed grid edge, wound so its normal points from the inside (band) to the outside. Chunks of
    // inside points emit their faces separately and are joined in order, so the output follows the key order.
    const std::vector<uint64_t>& inside = grid.inside_keys();
    const int64_t num_inside = static_cast<int64_t>(inside.size());
    constexpr int64_t kChunk = 4096;
    const int64_t num_chunks = (num_inside + kChunk - 1) / kChunk;
    std::vector<std::vector<int64_t>> chunk_faces(num_chunks);
    const std::vector<double>& vertices_out = result.vertices;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < num_chunks; ++chunk) {
        std::vector<int64_t>& out = chunk_faces[chunk];
        for (int64_t i = chunk * kChunk; i < std::min(num_inside, (chunk + 1) * kChunk); ++i) {
            const auto g = grid.unkey(inside[i]);
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
                        quad[r] = vertex_of.find(grid.key(cell[0], cell[1], cell[2]));
                    }
                    if (dir < 0) std::swap(quad[1], quad[3]);
                    // Split along the diagonal whose two triangles are closer to coplanar.
                    auto normal = [&](int64_t x, int64_t y, int64_t z, double n[3]) {
                        const double* px = &vertices_out[3 * x];
                        const double* py = &vertices_out[3 * y];
                        const double* pz = &vertices_out[3 * z];
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
                    out.insert(out.end(), {a0, a1, a2, a0, a2, a3});
                }
            }
        }
    }
    for (const auto& part : chunk_faces) result.faces.insert(result.faces.end(), part.begin(), part.end());

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
