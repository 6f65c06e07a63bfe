// Median-split BVH construction (parallel, thread-count independent) and the exact point/ray queries that walk it.
#include "bvh.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace meshkit {

namespace {
constexpr int kLeafSize = 4;
constexpr int32_t kTaskGrain = 1 << 14;  // ranges at least this large build their two halves as parallel tasks

// Float bounds rounded outward, so a float box always contains the double-precision one.
float round_down(double x) {
    float f = static_cast<float>(x);
    return static_cast<double>(f) > x ? std::nextafter(f, -std::numeric_limits<float>::infinity()) : f;
}
float round_up(double x) {
    float f = static_cast<float>(x);
    return static_cast<double>(f) < x ? std::nextafter(f, std::numeric_limits<float>::infinity()) : f;
}

inline double dot(const double* a, const double* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline void sub(const double* a, const double* b, double* out) {
    out[0] = a[0] - b[0];
    out[1] = a[1] - b[1];
    out[2] = a[2] - b[2];
}
inline void cross(const double* a, const double* b, double* out) {
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}
}  // namespace

double closest_on_triangle(const Vec3& p, const double* a, const double* b, const double* c, Vec3& bary, Vec3& q) {
    // Voronoi-region walk: test the vertex regions, then the edge regions, else the point projects inside.
    double ab[3], ac[3], ap[3];
    sub(b, a, ab);
    sub(c, a, ac);
    sub(p.data(), a, ap);
    const double d1 = dot(ab, ap), d2 = dot(ac, ap);
    double u, v, w;  // weights of a, b, c
    if (d1 <= 0 && d2 <= 0) {
        u = 1; v = 0; w = 0;
    } else {
        double bp[3];
        sub(p.data(), b, bp);
        const double d3 = dot(ab, bp), d4 = dot(ac, bp);
        double cp[3];
        sub(p.data(), c, cp);
        const double d5 = dot(ab, cp), d6 = dot(ac, cp);
        const double vc = d1 * d4 - d3 * d2;
        const double vb = d5 * d2 - d1 * d6;
        const double va = d3 * d6 - d5 * d4;
        if (d3 >= 0 && d4 <= d3) {
            u = 0; v = 1; w = 0;
        } else if (d6 >= 0 && d5 <= d6) {
            u = 0; v = 0; w = 1;
        } else if (vc <= 0 && d1 >= 0 && d3 <= 0) {
            const double t = d1 / (d1 - d3);
            u = 1 - t; v = t; w = 0;
        } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
            const double t = d2 / (d2 - d6);
            u = 1 - t; v = 0; w = t;
        } else if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
            const double t = (d4 - d3) / ((d4 - d3) + (d5 - d6));
            u = 0; v = 1 - t; w = t;
        } else {
            const double denom = va + vb + vc;
            if (!(std::abs(denom) > 0)) {  // degenerate triangle: fall back to its vertices
                u = 1; v = 0; w = 0;
            } else {
                v = vb / denom;
                w = vc / denom;
                u = 1 - v - w;
            }
        }
    }
    bary = {u, v, w};
    double dsq = 0;
    for (int k = 0; k < 3; ++k) {
        q[k] = u * a[k] + v * b[k] + w * c[k];
        const double d = p[k] - q[k];
        dsq += d * d;
    }
    return dsq;
}

TriangleBVH::TriangleBVH(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces) {
    (void)num_vertices;
    if (num_faces <= 0) return;
    const int32_t n = static_cast<int32_t>(num_faces);
    std::vector<double> corners(9 * static_cast<size_t>(n));  // input order, read when leaves take their bounds
    std::vector<Item> items(n);
#pragma omp parallel for schedule(static)
    for (int32_t f = 0; f < n; ++f) {
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < 3; ++k) corners[9 * f + 3 * c + k] = vertices[3 * faces[3 * f + c] + k];
        for (int k = 0; k < 3; ++k)
            items[f].centroid[k] =
                static_cast<float>((corners[9 * f + k] + corners[9 * f + 3 + k] + corners[9 * f + 6 + k]) / 3.0);
        items[f].face = f;
    }
    tri_.swap(corners);
    // Inner node counts per range size: median splits give at most two distinct sizes per depth.
    std::vector<int32_t> sizes = {n};
    while (!sizes.empty()) {
        const int32_t size = sizes.back();
        sizes.pop_back();
        if (size <= kLeafSize || inner_count_.count(size)) continue;
        const int32_t a = size / 2, b = size - size / 2;
        const auto ia = inner_count_.find(a), ib = inner_count_.find(b);
        const bool ready_a = a <= kLeafSize || ia != inner_count_.end();
        const bool ready_b = b <= kLeafSize || ib != inner_count_.end();
        if (ready_a && ready_b) {
            inner_count_[size] = 1 + inner_nodes(a) + inner_nodes(b);
        } else {
            sizes.push_back(size);
            if (!ready_a) sizes.push_back(a);
            if (!ready_b) sizes.push_back(b);
        }
    }
    nodes_.resize(std::max<int32_t>(1, inner_nodes(n)));
    Subtree root;
#pragma omp parallel
#pragma omp single
    root = build(0, 0, n, items);
    if (root.count > 0) {  // few faces: the root holds one leaf and an empty slot
        Node& r = nodes_[0];
        for (int k = 0; k < 3; ++k) {
            r.lo[0][k] = root.lo[k];
            r.hi[0][k] = root.hi[k];
            r.lo[1][k] = std::numeric_limits<float>::infinity();
            r.hi[1][k] = -std::numeric_limits<float>::infinity();
        }
        r.child[0] = root.index;
        r.count[0] = root.count;
        r.child[1] = -1;
        r.count[1] = 0;
    }
    face_id_.resize(n);
    std::vector<double> ordered(9 * static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < n; ++i) {
        face_id_[i] = items[i].face;
        std::copy_n(&tri_[9 * static_cast<size_t>(items[i].face)], 9, &ordered[9 * static_cast<size_t>(i)]);
    }
    tri_.swap(ordered);
}

void TriangleBVH::copy_nodes(float* boxes, int32_t* links) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        std::copy_n(&n.lo[0][0], 6, boxes + 12 * i);
        std::copy_n(&n.hi[0][0], 6, boxes + 12 * i + 6);
        for (int h = 0; h < 2; ++h) {
            links[4 * i + h] = n.child[h];
            links[4 * i + 2 + h] = n.count[h];
        }
    }
}

int32_t TriangleBVH::inner_nodes(int32_t items) const {
    return items <= kLeafSize ? 0 : inner_count_.at(items);
}

TriangleBVH::Subtree TriangleBVH::build(int32_t node, int32_t begin, int32_t end, std::vector<Item>& items) {
    Subtree s;
    if (end - begin <= kLeafSize) {
        // Leaf: bounds of its triangles (still in input order in tri_).
        double lo[3], hi[3];
        for (int k = 0; k < 3; ++k) {
            lo[k] = std::numeric_limits<double>::infinity();
            hi[k] = -std::numeric_limits<double>::infinity();
        }
        for (int32_t i = begin; i < end; ++i)
            for (int c = 0; c < 3; ++c)
                for (int k = 0; k < 3; ++k) {
                    const double x = tri_[9 * static_cast<size_t>(items[i].face) + 3 * c + k];
                    lo[k] = std::min(lo[k], x);
                    hi[k] = std::max(hi[k], x);
                }
        for (int k = 0; k < 3; ++k) {
            s.lo[k] = round_down(lo[k]);
            s.hi[k] = round_up(hi[k]);
        }
        s.index = begin;
        s.count = static_cast<uint8_t>(end - begin);
        return s;
    }
    // Split at the median centroid along the axis where the centroids spread most.
    float clo[3], chi[3];
    for (int k = 0; k < 3; ++k) {
        clo[k] = std::numeric_limits<float>::infinity();
        chi[k] = -std::numeric_limits<float>::infinity();
    }
    for (int32_t i = begin; i < end; ++i)
        for (int k = 0; k < 3; ++k) {
            clo[k] = std::min(clo[k], items[i].centroid[k]);
            chi[k] = std::max(chi[k], items[i].centroid[k]);
        }
    int axis = 0;
    for (int k = 1; k < 3; ++k)
        if (chi[k] - clo[k] > chi[axis] - clo[axis]) axis = k;
    const int32_t mid = begin + (end - begin) / 2;
    std::nth_element(items.begin() + begin, items.begin() + mid, items.begin() + end,
                     [axis](const Item& a, const Item& b) {
                         return a.centroid[axis] < b.centroid[axis] ||
                                (a.centroid[axis] == b.centroid[axis] && a.face < b.face);
                     });
    // Pre-order layout: the left subtree's inner nodes follow this one, then the right subtree's.
    const int32_t left_node = node + 1, right_node = node + 1 + inner_nodes(mid - begin);
    Subtree left, right;
    if (end - begin >= kTaskGrain) {
#pragma omp task shared(left, items)
        left = build(left_node, begin, mid, items);
        right = build(right_node, mid, end, items);
#pragma omp taskwait
    } else {
        left = build(left_node, begin, mid, items);
        right = build(right_node, mid, end, items);
    }
    Node& out = nodes_[node];
    const Subtree* halves[2] = {&left, &right};
    for (int h = 0; h < 2; ++h) {
        std::copy_n(halves[h]->lo, 3, out.lo[h]);
        std::copy_n(halves[h]->hi, 3, out.hi[h]);
        out.child[h] = halves[h]->index;
        out.count[h] = halves[h]->count;
    }
    for (int k = 0; k < 3; ++k) {
        s.lo[k] = std::min(left.lo[k], right.lo[k]);
        s.hi[k] = std::max(left.hi[k], right.hi[k]);
    }
    s.index = node;
    s.count = 0;
    return s;
}

namespace {
// Squared distance from p to child slot k's box (a lower bound for every triangle inside; infinite when empty).
template <typename Node>
inline double box_distance_sq(const Node& n, int k, const Vec3& p) {
    const double dx = std::max(std::max(static_cast<double>(n.lo[k][0]) - p[0], p[0] - static_cast<double>(n.hi[k][0])), 0.0);
    const double dy = std::max(std::max(static_cast<double>(n.lo[k][1]) - p[1], p[1] - static_cast<double>(n.hi[k][1])), 0.0);
    const double dz = std::max(std::max(static_cast<double>(n.lo[k][2]) - p[2], p[2] - static_cast<double>(n.hi[k][2])), 0.0);
    return dx * dx + dy * dy + dz * dz;
}
}  // namespace

// Depth-first walk, nearer child first, over the slots whose box distance does not exceed `bound` (which the
// leaf visitor may lower); visit_leaf(first, count) returns true to stop the walk.
template <typename Visit>
void TriangleBVH::walk(const Vec3& p, double& bound, Visit visit_leaf) const {
    if (nodes_.empty()) return;
    struct Slot {
        double distance_sq;
        int32_t child;
        int32_t count;  // 0: inner node `child`; else the leaf of `count` triangles starting at `child`
    };
    Slot stack[2 * 64];
    int top = 0;
    Slot slot{0.0, 0, 0};
    for (;;) {
        if (slot.count > 0) {
            if (visit_leaf(slot.child, slot.count)) return;
        } else {
            const Node& n = nodes_[slot.child];
            const double d0 = box_distance_sq(n, 0, p), d1 = box_distance_sq(n, 1, p);
            const int near = d1 < d0 ? 1 : 0;
            const double dn = near ? d1 : d0, df = near ? d0 : d1;
            const bool far_ok = df <= bound && (n.count[1 - near] > 0 || n.child[1 - near] >= 0);
            if (far_ok) stack[top++] = {df, n.child[1 - near], n.count[1 - near]};
            if (dn <= bound && (n.count[near] > 0 || n.child[near] >= 0)) {
                slot = {dn, n.child[near], n.count[near]};
                continue;
            }
        }
        do {
            if (top == 0) return;
            slot = stack[--top];
        } while (slot.distance_sq > bound);
    }
}

ClosestHit TriangleBVH::closest(const Vec3& p, double limit_sq) const {
    ClosestHit best{limit_sq, -1, {0, 0, 0}, {0, 0, 0}};
    Vec3 bary, q;
    walk(p, best.distance_sq, [&](int32_t first, int count) {
        for (int32_t i = first; i < first + count; ++i) {
            const double* t = &tri_[9 * static_cast<size_t>(i)];
            const double d = closest_on_triangle(p, t, t + 3, t + 6, bary, q);
            if (d < best.distance_sq || (d == best.distance_sq && best.face >= 0 && face_id_[i] < best.face))
                best = {d, face_id_[i], bary, q};
        }
        return false;
    });
    if (best.face < 0) best.distance_sq = std::numeric_limits<double>::infinity();
    return best;
}

bool TriangleBVH::any_within(const Vec3& p, double limit_sq) const {
    bool found = false;
    double bound = limit_sq;
    Vec3 bary, q;
    walk(p, bound, [&](int32_t first, int count) {
        for (int32_t i = first; i < first + count && !found; ++i) {
            const double* t = &tri_[9 * static_cast<size_t>(i)];
            found = closest_on_triangle(p, t, t + 3, t + 6, bary, q) < limit_sq;
        }
        return found;
    });
    return found;
}

namespace {
// Spreads the low 10 bits of x so that they occupy every third bit.
uint32_t spread_bits(uint32_t x) {
    x &= 0x3ff;
    x = (x | x << 16) & 0x030000ff;
    x = (x | x << 8) & 0x0300f00f;
    x = (x | x << 4) & 0x030c30c3;
    x = (x | x << 2) & 0x09249249;
    return x;
}
}  // namespace

std::vector<int64_t> spatial_order(const double* points, int64_t n) {
    double lo[3], hi[3];
    for (int k = 0; k < 3; ++k) {
        lo[k] = std::numeric_limits<double>::infinity();
        hi[k] = -std::numeric_limits<double>::infinity();
    }
    for (int64_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
            lo[k] = std::min(lo[k], points[3 * i + k]);
            hi[k] = std::max(hi[k], points[3 * i + k]);
        }
    // 30-bit Morton keys (1024 cells per axis), then a stable LSD radix sort of (key, index), 8 bits per pass.
    std::vector<uint32_t> keys(n), keys_tmp(n);
    std::vector<int64_t> order(n), order_tmp(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        uint32_t key = 0;
        for (int k = 0; k < 3; ++k) {
            const double extent = hi[k] - lo[k];
            const double t = extent > 0 ? (points[3 * i + k] - lo[k]) / extent : 0.0;
            key |= spread_bits(static_cast<uint32_t>(std::clamp(t, 0.0, 1.0) * 1023.0)) << k;
        }
        keys[i] = key;
        order[i] = i;
    }
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t start[257] = {0};
        for (int64_t i = 0; i < n; ++i) ++start[((keys[i] >> shift) & 0xff) + 1];
        for (int b = 0; b < 256; ++b) start[b + 1] += start[b];
        for (int64_t i = 0; i < n; ++i) {
            const int64_t to = start[(keys[i] >> shift) & 0xff]++;
            keys_tmp[to] = keys[i];
            order_tmp[to] = order[i];
        }
        keys.swap(keys_tmp);
        order.swap(order_tmp);
    }
    return order;
}

int TriangleBVH::count_crossings(const Vec3& o, const Vec3& d) const {
    if (nodes_.empty()) return 0;
    // Slab test of child slot k's box against the ray (t >= 0).
    auto hits_box = [&](const Node& n, int k) {
        double tmin = 0, tmax = std::numeric_limits<double>::infinity();
        for (int a = 0; a < 3; ++a) {
            const double lo = n.lo[k][a], hi = n.hi[k][a];
            if (std::abs(d[a]) < 1e-300) {
                if (o[a] < lo || o[a] > hi) return false;
                continue;
            }
            double t0 = (lo - o[a]) / d[a], t1 = (hi - o[a]) / d[a];
            if (t0 > t1) std::swap(t0, t1);
            tmin = std::max(tmin, t0);
            tmax = std::min(tmax, t1);
            if (tmin > tmax) return false;
        }
        return true;
    };
    int hits = 0;
    int32_t stack[2 * 64];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
        const Node& n = nodes_[stack[--top]];
        for (int k = 0; k < 2; ++k) {
            if ((n.count[k] == 0 && n.child[k] < 0) || !hits_box(n, k)) continue;
            if (n.count[k] == 0) {
                stack[top++] = n.child[k];
                continue;
            }
            for (int32_t i = n.child[k]; i < n.child[k] + n.count[k]; ++i) {
                // Moller-Trumbore intersection, counting hits strictly in front of the origin.
                const double* a = &tri_[9 * static_cast<size_t>(i)];
                double e1[3], e2[3], pv[3], tv[3], qv[3];
                sub(a + 3, a, e1);
                sub(a + 6, a, e2);
                cross(d.data(), e2, pv);
                const double det = dot(e1, pv);
                if (std::abs(det) < 1e-300) continue;
                const double inv = 1.0 / det;
                sub(o.data(), a, tv);
                const double u = dot(tv, pv) * inv;
                if (u < 0 || u > 1) continue;
                cross(tv, e1, qv);
                const double v = dot(d.data(), qv) * inv;
                if (v < 0 || u + v > 1) continue;
                if (dot(e2, qv) * inv > 0) ++hits;
            }
        }
    }
    return hits;
}

}  // namespace meshkit
