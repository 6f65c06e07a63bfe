// Float32 kernels of the QEF pipeline, each evaluated in the same operation order as upstream's Eigen 3.4 build
// (x86-64, SSE2, no FMA). The QEFs of real meshes are often ill-conditioned (most of all with a small
// regularization weight): there a one-ulp change in an input or a different rounding order in the solve moves the
// dual vertex by up to a fifth of a voxel, so matching upstream's dual vertices needs matching float arithmetic.
#pragma once

#include <cfloat>
#include <cmath>
#include <utility>

#include "lanes.h"

namespace qef {

// Eigen reduces a fixed 3-vector as x0 + (x1 + x2) (its unroller splits the range in halves).
inline float dot3(const float a[3], const float b[3]) { return a[0] * b[0] + (a[1] * b[1] + a[2] * b[2]); }

// Reductions over 4 floats use one SSE packet: (x0 + x2) + (x1 + x3).
inline float sum4(const float v[4]) { return (v[0] + v[2]) + (v[1] + v[3]); }

// Unit normal as Eigen's normalized(): divide by the norm; a zero squared norm leaves the vector unchanged.
inline void normalize3(const float v[3], float out[3]) {
    const float sq = dot3(v, v);
    for (int k = 0; k < 3; ++k) out[k] = sq > 0.0f ? v[k] / std::sqrt(sq) : v[k];
}

// Plane of a triangle: unit normal n of (b - a) x (c - b) and offset -n.a; its quadric is the outer product of
// (n, offset) with itself (row-major), formed in Triangle::q.
inline void triangle_plane(const float a[3], const float b[3], const float c[3], float n[3], float& offset) {
    const float e0[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const float e1[3] = {c[0] - b[0], c[1] - b[1], c[2] - b[2]};
    const float cross[3] = {e0[1] * e1[2] - e0[2] * e1[1], e0[2] * e1[0] - e0[0] * e1[2],
                            e0[0] * e1[1] - e0[1] * e1[0]};
    normalize3(cross, n);
    offset = -dot3(n, a);
}

// Squared distance to the line through a and b as a quadric (row-major); false for a segment shorter than 1e-6.
// The direction is normalized in double (3-vector reductions in double run sequentially: one SSE2 packet of two,
// then the third), the projector I - d d^T is rounded to float entry by entry, the rest stays in float.
inline bool line_quadric(const float a[3], const float b[3], double dir[3], double& length, float q[4][4]) {
    for (int k = 0; k < 3; ++k) dir[k] = double(b[k] - a[k]);
    const double sq = dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2];
    length = std::sqrt(sq);
    if (length < 1.0e-6) return false;
    for (int k = 0; k < 3; ++k) dir[k] /= std::sqrt(sq);
    float A[3][3];
    for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k) A[r][k] = (r == k ? 1.0f : 0.0f) - float(dir[r] * dir[k]);
    float Aa[3];
    for (int r = 0; r < 3; ++r) Aa[r] = dot3(A[r], a);
    for (int r = 0; r < 3; ++r) {
        for (int k = 0; k < 3; ++k) q[r][k] = A[r][k];
        q[r][3] = q[3][r] = -Aa[r];
    }
    float aA[3];  // row vector a^T A (A symmetric), then (a^T A) a
    for (int k = 0; k < 3; ++k) aA[k] = a[0] * A[0][k] + (a[1] * A[1][k] + a[2] * A[2][k]);
    q[3][3] = dot3(aA, a);
    return true;
}

// [p;1]^T Q [p;1] as Eigen evaluates `p.transpose() * Q * p` for a 4-vector p and a full 4x4 Q.
inline float quadratic_form4(const float Q[4][4], const float p[3]) {
    const float h[4] = {p[0], p[1], p[2], 1.0f};
    float row[4], terms[4];
    for (int c = 0; c < 4; ++c) {
        for (int r = 0; r < 4; ++r) terms[r] = h[r] * Q[r][c];
        row[c] = sum4(terms);
    }
    for (int c = 0; c < 4; ++c) terms[c] = row[c] * h[c];
    return sum4(terms);
}

// Solve A x = b (A row-major N x N, N = 2 or 3) by Householder QR with column pivoting, as Eigen's
// ColPivHouseholderQR<MatrixNf>::solve: the same pivot order, norm downdates, rank cut-off and back-substitution;
// unknowns beyond the numerical rank are set to zero. T is float or lanes::F4 (four independent systems): every
// branch of Eigen's code is a lane-wise select here, so each lane rounds as the scalar solve does.
template <int N, typename T>
void colpiv_qr_solve(const T A[N][N], const T b[N], T x[N]) {
    static_assert(N == 2 || N == 3, "fixed small systems only");
    using Mask = typename lanes::Of<T>::Mask;
    using Index = typename lanes::Of<T>::Index;
    using lanes::select;
    const T zero = lanes::splat<T>(0.0f);
    T qr[N][N];
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c) qr[r][c] = A[r][c];
    auto column_norm = [&](int c, int from) {  // full columns reduce as fixed vectors, tails sequentially
        if (from == 0) {
            const T s = N == 3 ? qr[0][c] * qr[0][c] + (qr[1][c] * qr[1][c] + qr[N - 1][c] * qr[N - 1][c])
                               : qr[0][c] * qr[0][c] + qr[1][c] * qr[1][c];
            return lanes::sqrt(s);
        }
        T s = qr[from][c] * qr[from][c];
        for (int r = from + 1; r < N; ++r) s += qr[r][c] * qr[r][c];
        return lanes::sqrt(s);
    };
    T norm_updated[N], norm_direct[N], tau[N];
    Index transposition[N];
    for (int c = 0; c < N; ++c) norm_direct[c] = norm_updated[c] = column_norm(c, 0);
    T max_norm = norm_updated[0];
    for (int c = 1; c < N; ++c) max_norm = select(norm_updated[c] > max_norm, norm_updated[c], max_norm);
    const T threshold_helper = (max_norm * FLT_EPSILON) * (max_norm * FLT_EPSILON) / float(N);
    const float downdate_threshold = std::sqrt(FLT_EPSILON);
    Index rank = lanes::splat_index<T>(N);
    for (int k = 0; k < N; ++k) {
        Index best = lanes::splat_index<T>(k);
        T best_norm = norm_updated[k];
        for (int c = k + 1; c < N; ++c) {
            const Mask larger = norm_updated[c] > best_norm;
            best_norm = select(larger, norm_updated[c], best_norm);
            best = select(larger, lanes::splat_index<T>(c), best);
        }
        const Mask cut = (rank == N) & (best_norm * best_norm < threshold_helper * float(N - k));
        rank = select(cut, lanes::splat_index<T>(k), rank);
        transposition[k] = best;
        for (int c = k + 1; c < N; ++c) {  // swap columns k and best
            const Mask m = best == c;
            auto swap = [&](T& a, T& b) {
                const T old = a;
                a = select(m, b, a);
                b = select(m, old, b);
            };
            for (int r = 0; r < N; ++r) swap(qr[r][k], qr[r][c]);
            swap(norm_updated[k], norm_updated[c]);
            swap(norm_direct[k], norm_direct[c]);
        }
        // Householder reflector of column k below the diagonal (essential part stored in place).
        T tail_sq = zero;
        if (k + 1 < N) {
            tail_sq = qr[k + 1][k] * qr[k + 1][k];
            for (int r = k + 2; r < N; ++r) tail_sq += qr[r][k] * qr[r][k];
        }
        const T c0 = qr[k][k];
        const Mask flat = tail_sq <= FLT_MIN;
        T beta = lanes::sqrt(c0 * c0 + tail_sq);
        beta = select(c0 >= 0.0f, -beta, beta);
        for (int r = k + 1; r < N; ++r) qr[r][k] = select(flat, zero, qr[r][k] / (c0 - beta));
        tau[k] = select(flat, zero, (beta - c0) / beta);
        qr[k][k] = select(flat, c0, beta);
        if (k + 1 < N) {
            const Mask reflect = tau[k] != 0.0f;
            for (int c = k + 1; c < N; ++c) {
                T t = qr[k + 1][k] * qr[k + 1][c];
                for (int r = k + 2; r < N; ++r) t += qr[r][k] * qr[r][c];
                t += qr[k][c];
                qr[k][c] = select(reflect, qr[k][c] - tau[k] * t, qr[k][c]);
                for (int r = k + 1; r < N; ++r)
                    qr[r][c] = select(reflect, qr[r][c] - (tau[k] * qr[r][k]) * t, qr[r][c]);
            }
        }
        for (int c = k + 1; c < N; ++c) {
            const Mask kept = norm_updated[c] != 0.0f;
            T t = lanes::abs(qr[k][c]) / norm_updated[c];
            t = (1.0f + t) * (1.0f - t);
            t = select(t < 0.0f, zero, t);
            const T ratio = norm_updated[c] / norm_direct[c];
            const Mask recompute = kept & (t * (ratio * ratio) <= downdate_threshold);
            const T direct = k + 1 < N ? column_norm(c, k + 1) : zero;
            norm_direct[c] = select(recompute, direct, norm_direct[c]);
            const T downdated = select(kept, norm_updated[c] * lanes::sqrt(t), norm_updated[c]);
            norm_updated[c] = select(recompute, direct, downdated);
        }
    }
    Index perm[N];
    for (int i = 0; i < N; ++i) perm[i] = lanes::splat_index<T>(i);
    for (int k = 0; k < N; ++k)
        for (int j = k + 1; j < N; ++j) {
            const Mask m = transposition[k] == j;
            const Index old = perm[k];
            perm[k] = select(m, perm[j], perm[k]);
            perm[j] = select(m, old, perm[j]);
        }
    T c[N];
    for (int i = 0; i < N; ++i) c[i] = b[i];
    for (int k = 0; k < N; ++k) {  // c = Q^T b, reflectors in order, those below the rank only
        const Mask active = k < rank;
        if (k == N - 1) {
            c[k] = select(active, c[k] * (1.0f - tau[k]), c[k]);
            continue;
        }
        const Mask reflect = active & (tau[k] != 0.0f);
        T t = qr[k + 1][k] * c[k + 1];
        for (int r = k + 2; r < N; ++r) t += qr[r][k] * c[r];
        t += c[k];
        c[k] = select(reflect, c[k] - tau[k] * t, c[k]);
        for (int r = k + 1; r < N; ++r) c[r] = select(reflect, c[r] - (tau[k] * qr[r][k]) * t, c[r]);
    }
    for (int i = N - 1; i >= 0; --i) {  // column-oriented back-substitution on R, rows below the rank only
        const Mask step = (i < rank) & (c[i] != 0.0f);
        const T ci = c[i] / qr[i][i];
        c[i] = select(step, ci, c[i]);
        for (int r = 0; r < i; ++r) c[r] = select(step, c[r] - ci * qr[r][i], c[r]);
    }
    for (int j = 0; j < N; ++j) {
        x[j] = zero;
        for (int i = 0; i < N; ++i) x[j] = select((perm[i] == j) & (i < rank), c[i], x[j]);
    }
}

}  // namespace qef
