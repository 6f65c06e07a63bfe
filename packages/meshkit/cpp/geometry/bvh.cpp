// Median-split BVH construction and the exact point/ray queries that walk it.
#include "bvh.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace meshkit {

namespace {
constexpr int kLeafSize = 4;

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
    face_id_.resize(num_faces);
    std::iota(face_id_.begin(), face_id_.end(), 0);
    std::vector<double> centroids(3 * num_faces);
    for (int64_t f = 0; f < num_faces; ++f)
        for (int k = 0; k < 3; ++k)
            centroids[3 * f + k] = (vertices[3 * faces[3 * f] + k] + vertices[3 * faces[3 * f + 1] + k] +
                                    vertices[3 * faces[3 * f + 2] + k]) / 3.0;
    nodes_.reserve(2 * (num_faces / kLeafSize + 1));
    nodes_.push_back(Node{});
    // Store triangle corners in input order first so build() can compute bounds, then reorder.
    tri_.resize(9 * num_faces);
    for (int64_t f = 0; f < num_faces; ++f)
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < 3; ++k) tri_[9 * f + 3 * c + k] = vertices[3 * faces[3 * f + c] + k];
    if (num_faces > 0) build(0, 0, static_cast<int32_t>(num_faces), centroids);
    std::vector<double> ordered(9 * num_faces);
    for (int64_t i = 0; i < num_faces; ++i)
        std::copy_n(&tri_[9 * face_id_[i]], 9, &ordered[9 * i]);
    tri_.swap(ordered);
}

void TriangleBVH::build(int32_t node, int32_t begin, int32_t end, std::vector<double>& centroids) {
    Node n;
    double clo[3], chi[3];
    for (int k = 0; k < 3; ++k) {
        n.lo[k] = clo[k] = std::numeric_limits<double>::infinity();
        n.hi[k] = chi[k] = -std::numeric_limits<double>::infinity();
    }
    for (int32_t i = begin; i < end; ++i) {
        const int64_t f = face_id_[i];
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < 3; ++k) {
                n.lo[k] = std::min(n.lo[k], tri_[9 * f + 3 * c + k]);
                n.hi[k] = std::max(n.hi[k], tri_[9 * f + 3 * c + k]);
            }
        for (int k = 0; k < 3; ++k) {
            clo[k] = std::min(clo[k], centroids[3 * f + k]);
            chi[k] = std::max(chi[k], centroids[3 * f + k]);
        }
    }
    if (end - begin <= kLeafSize) {
        n.left = begin;
        n.count = end - begin;
        nodes_[node] = n;
        return;
    }
    int axis = 0;
    for (int k = 1; k < 3; ++k)
        if (chi[k] - clo[k] > chi[axis] - clo[axis]) axis = k;
    const int32_t mid = begin + (end - begin) / 2;
    std::nth_element(face_id_.begin() + begin, face_id_.begin() + mid, face_id_.begin() + end,
                     [&](int64_t a, int64_t b) { return centroids[3 * a + axis] < centroids[3 * b + axis]; });
    const int32_t left = static_cast<int32_t>(nodes_.size());
    nodes_.push_back(Node{});
    nodes_.push_back(Node{});
    n.left = left;
    n.count = 0;
    nodes_[node] = n;
    build(left, begin, mid, centroids);
    build(left + 1, mid, end, centroids);
}

double TriangleBVH::box_distance_sq(const Node& n, const Vec3& p) const {
    double d = 0;
    for (int k = 0; k < 3; ++k) {
        const double e = std::max({n.lo[k] - p[k], 0.0, p[k] - n.hi[k]});
        d += e * e;
    }
    return d;
}

ClosestHit TriangleBVH::closest(const Vec3& p) const {
    ClosestHit best{std::numeric_limits<double>::infinity(), -1, {0, 0, 0}, {0, 0, 0}};
    if (nodes_.empty() || tri_.empty()) return best;
    int32_t stack[128];
    int top = 0;
    stack[top++] = 0;
    Vec3 bary, q;
    while (top > 0) {
        const Node& n = nodes_[stack[--top]];
        if (box_distance_sq(n, p) >= best.distance_sq) continue;
        if (n.count > 0) {
            for (int32_t i = n.left; i < n.left + n.count; ++i) {
                const double* t = &tri_[9 * i];
                const double d = closest_on_triangle(p, t, t + 3, t + 6, bary, q);
                if (d < best.distance_sq || (d == best.distance_sq && face_id_[i] < best.face)) {
                    best = {d, face_id_[i], bary, q};
                }
            }
            continue;
        }
        // Visit the nearer child first: push it last.
        const double dl = box_distance_sq(nodes_[n.left], p);
        const double dr = box_distance_sq(nodes_[n.left + 1], p);
        if (dl < dr) {
            stack[top++] = n.left + 1;
            stack[top++] = n.left;
        } else {
            stack[top++] = n.left;
            stack[top++] = n.left + 1;
        }
    }
    return best;
}

int TriangleBVH::count_crossings(const Vec3& o, const Vec3& d) const {
    if (nodes_.empty() || tri_.empty()) return 0;
    int hits = 0;
    int32_t stack[128];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
        const Node& n = nodes_[stack[--top]];
        // Slab test against the node box.
        double tmin = 0, tmax = std::numeric_limits<double>::infinity();
        bool miss = false;
        for (int k = 0; k < 3 && !miss; ++k) {
            if (std::abs(d[k]) < 1e-300) {
                if (o[k] < n.lo[k] || o[k] > n.hi[k]) miss = true;
                continue;
            }
            double t0 = (n.lo[k] - o[k]) / d[k], t1 = (n.hi[k] - o[k]) / d[k];
            if (t0 > t1) std::swap(t0, t1);
            tmin = std::max(tmin, t0);
            tmax = std::min(tmax, t1);
            if (tmin > tmax) miss = true;
        }
        if (miss) continue;
        if (n.count > 0) {
            for (int32_t i = n.left; i < n.left + n.count; ++i) {
                // Moller-Trumbore intersection, counting hits strictly in front of the origin.
                const double* a = &tri_[9 * i];
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
            continue;
        }
        stack[top++] = n.left;
        stack[top++] = n.left + 1;
    }
    return hits;
}

}  // namespace meshkit
