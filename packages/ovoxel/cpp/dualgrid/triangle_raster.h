// Triangles against the voxel grid: plane quadric per triangle, scan-line crossings of grid edges, and the
// conservative triangle/voxel overlap test (both with upstream's rounding, see qef_math.h).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "qef_math.h"

using Quadric = std::array<float, 10>;  // symmetric 4x4: 00 01 02 03 11 12 13 22 23 33

constexpr int kSym[4][4] = {{0, 1, 2, 3}, {1, 4, 5, 6}, {2, 5, 7, 8}, {3, 6, 8, 9}};

inline Quadric pack_quadric(const float full[4][4]) {
    Quadric q{};
    for (int r = 0; r < 4; ++r)
        for (int c = r; c < 4; ++c) q[kSym[r][c]] = full[r][c];
    return q;
}

inline void add_scaled(Quadric& acc, const Quadric& q, float w) {
    for (int k = 0; k < 10; ++k) acc[k] += w * q[k];
}

struct Grid {
    float voxel[3];
    int lo[3];
    int hi[3];
};

// A triangle's plane n.x + offset = 0 (unit normal). Its quadric is formed when needed rather than stored: that
// would more than triple the plane list, which the passes read at every crossing and face term.
struct Plane {
    float n[3];
    float offset;

    Quadric q() const {
        const float h[4] = {n[0], n[1], n[2], offset};
        Quadric out;
        for (int r = 0; r < 4; ++r)
            for (int c = r; c < 4; ++c) out[kSym[r][c]] = h[r] * h[c];
        return out;
    }
};

// A triangle's corners and plane.
struct Triangle {
    float p[3][3];
    float n[3];
    float offset;
};

// The triangles of an indexed mesh: corners read from the vertex array when a triangle is asked for, planes computed
// once (16 bytes a triangle rather than 52 for stored triangles: every pass streams less memory, and fewer fresh
// pages are faulted in).
class TriangleList {
  public:
    TriangleList(const float* vertices, const int32_t* faces, size_t count, int threads)
        : v_(vertices), f_(faces), planes_(count) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long long i = 0; i < (long long)count; ++i)
            qef::triangle_plane(corner(i, 0), corner(i, 1), corner(i, 2), planes_[i].n, planes_[i].offset);
    }

    size_t size() const { return planes_.size(); }

    const Plane& plane(size_t i) const { return planes_[i]; }

    Triangle operator[](size_t i) const {
        Triangle t;
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < 3; ++k) t.p[c][k] = corner(i, c)[k];
        for (int k = 0; k < 3; ++k) t.n[k] = planes_[i].n[k];
        t.offset = planes_[i].offset;
        return t;
    }

  private:
    const float* corner(size_t i, int c) const { return v_ + 3 * size_t(f_[3 * i + c]); }

    const float* v_;
    const int32_t* f_;
    std::vector<Plane> planes_;
};

inline int clampi(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

inline double interp(double a, double b, double t, double va, double vb) {
    if (a == b) return va;
    const double s = (t - a) / (b - a);
    return (1 - s) * va + s * vb;
}

// Scan-line the triangle projected along `ax2`. For every crossed grid edge parallel to ax2, calls
// emit(coord, point): coord is the voxel whose maximal ax0/ax1 corner holds the edge (the other three voxels
// around it follow by +1 along ax0 and/or ax1), point the crossing.
template <typename Emit>
void scan_axis(const Triangle& tri, int ax2, const Grid& g, Emit&& emit) {
    const int ax0 = (ax2 + 1) % 3, ax1 = (ax2 + 2) % 3;
    std::array<std::array<double, 3>, 3> t;
    for (int i = 0; i < 3; ++i) t[i] = {tri.p[i][ax0], tri.p[i][ax1], tri.p[i][ax2]};
    // Stable sort by ax1 (insertion sort with a strict comparison keeps ties in input order).
    if (t[1][1] < t[0][1]) std::swap(t[0], t[1]);
    if (t[2][1] < t[1][1]) {
        std::swap(t[1], t[2]);
        if (t[1][1] < t[0][1]) std::swap(t[0], t[1]);
    }
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
                int coord[3];
                float point[3];
                coord[ax0] = xi;
                coord[ax1] = yi;
                coord[ax2] = zi;
                point[ax0] = float(x);
                point[ax1] = float(y);
                point[ax2] = float(z);
                emit(coord, point);
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
            const int u = pr, v = (pr + 1) % 3;
            for (int e = 0; e < 3; ++e)
                if (en[pr][e][0] * p[u] + en[pr][e][1] * p[v] + ed[pr][e] < 0) return false;
        }
        return true;
    }
};

inline OverlapTest make_overlap_test(const Triangle& t, const float vs[3]) {
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
    for (int pr = 0; pr < 3; ++pr) {
        const int u = pr, v = (pr + 1) % 3, normal_axis = (pr + 2) % 3;
        const float sign = t.n[normal_axis] < 0.0f ? -1.0f : 1.0f;
        for (int e = 0; e < 3; ++e) {
            const float* a = t.p[e];
            const float* b = t.p[(e + 1) % 3];
            const float nu = -sign * (b[v] - a[v]), nv = sign * (b[u] - a[u]);
            o.en[pr][e][0] = nu;
            o.en[pr][e][1] = nv;
            const float reach = std::max(nu, 0.0f) * vs[u] + std::max(nv, 0.0f) * vs[v];
            o.ed[pr][e] = -(nu * a[u] + nv * a[v]) + reach;
        }
    }
    return o;
}
