// Float32 kernels of the QEF pipeline, each evaluated in the same operation order as upstream's Eigen 3.4 build
// (x86-64, SSE2, no FMA). The QEFs of real meshes are often ill-conditioned (most of all with a small
// regularization weight): there a one-ulp change in an input or a different rounding order in the solve moves the
// dual vertex by up to a fifth of a voxel, so matching upstream's dual vertices needs matching float arithmetic.
#pragma once

#include <cfloat>
#include <cmath>
#include <utility>

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
// unknowns beyond the numerical rank are set to zero.
template <int N>
void colpiv_qr_solve(const float A[N][N], const float b[N], float x[N]) {
    static_assert(N == 2 || N == 3, "fixed small systems only");
    float qr[N][N];
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c) qr[r][c] = A[r][c];
    auto column_norm = [&](int c, int from) {  // full columns reduce as fixed vectors, tails sequentially
        if (from == 0) {
            const float s = N == 3 ? qr[0][c] * qr[0][c] + (qr[1][c] * qr[1][c] + qr[2][c] * qr[2][c])
                                   : qr[0][c] * qr[0][c] + qr[1][c] * qr[1][c];
            return std::sqrt(s);
        }
        float s = qr[from][c] * qr[from][c];
        for (int r = from + 1; r < N; ++r) s += qr[r][c] * qr[r][c];
        return std::sqrt(s);
    };
    float norm_updated[N], norm_direct[N], tau[N];
    int transposition[N];
    for (int c = 0; c < N; ++c) norm_direct[c] = norm_updated[c] = column_norm(c, 0);
    float max_norm = norm_updated[0];
    for (int c = 1; c < N; ++c)
        if (norm_updated[c] > max_norm) max_norm = norm_updated[c];
    const float threshold_helper = (max_norm * FLT_EPSILON) * (max_norm * FLT_EPSILON) / float(N);
    const float downdate_threshold = std::sqrt(FLT_EPSILON);
    int rank = N;
    for (int k = 0; k < N; ++k) {
        int best = k;
        for (int c = k + 1; c < N; ++c)
            if (norm_updated[c] > norm_updated[best]) best = c;
        if (rank == N && norm_updated[best] * norm_updated[best] < threshold_helper * float(N - k)) rank = k;
        transposition[k] = best;
        if (best != k) {
            for (int r = 0; r < N; ++r) std::swap(qr[r][k], qr[r][best]);
            std::swap(norm_updated[k], norm_updated[best]);
            std::swap(norm_direct[k], norm_direct[best]);
        }
        // Householder reflector of column k below the diagonal (essential part stored in place).
        float tail_sq = 0.0f;
        if (k + 1 < N) {
            tail_sq = qr[k + 1][k] * qr[k + 1][k];
            for (int r = k + 2; r < N; ++r) tail_sq += qr[r][k] * qr[r][k];
        }
        const float c0 = qr[k][k];
        float beta;
        if (tail_sq <= FLT_MIN) {
            tau[k] = 0.0f;
            beta = c0;
            for (int r = k + 1; r < N; ++r) qr[r][k] = 0.0f;
        } else {
            beta = std::sqrt(c0 * c0 + tail_sq);
            if (c0 >= 0.0f) beta = -beta;
            for (int r = k + 1; r < N; ++r) qr[r][k] = qr[r][k] / (c0 - beta);
            tau[k] = (beta - c0) / beta;
        }
        qr[k][k] = beta;
        if (k + 1 < N && tau[k] != 0.0f) {
            for (int c = k + 1; c < N; ++c) {
                float t = qr[k + 1][k] * qr[k + 1][c];
                for (int r = k + 2; r < N; ++r) t += qr[r][k] * qr[r][c];
                t += qr[k][c];
                qr[k][c] -= tau[k] * t;
                for (int r = k + 1; r < N; ++r) qr[r][c] -= (tau[k] * qr[r][k]) * t;
            }
        }
        for (int c = k + 1; c < N; ++c) {
            if (norm_updated[c] == 0.0f) continue;
            float t = std::fabs(qr[k][c]) / norm_updated[c];
            t = (1.0f + t) * (1.0f - t);
            if (t < 0.0f) t = 0.0f;
            const float ratio = norm_updated[c] / norm_direct[c];
            if (t * (ratio * ratio) <= downdate_threshold) {
                norm_direct[c] = k + 1 < N ? column_norm(c, k + 1) : 0.0f;
                norm_updated[c] = norm_direct[c];
            } else {
                norm_updated[c] *= std::sqrt(t);
            }
        }
    }
    int perm[N];
    for (int i = 0; i < N; ++i) perm[i] = i;
    for (int k = 0; k < N; ++k) std::swap(perm[k], perm[transposition[k]]);
    if (rank == 0) {
        for (int i = 0; i < N; ++i) x[i] = 0.0f;
        return;
    }
    float c[N];
    for (int i = 0; i < N; ++i) c[i] = b[i];
    for (int k = 0; k < rank; ++k) {  // c = Q^T b, reflectors in order
        if (k == N - 1) {
            c[k] *= 1.0f - tau[k];
        } else if (tau[k] != 0.0f) {
            float t = qr[k + 1][k] * c[k + 1];
            for (int r = k + 2; r < N; ++r) t += qr[r][k] * c[r];
            t += c[k];
            c[k] -= tau[k] * t;
            for (int r = k + 1; r < N; ++r) c[r] -= (tau[k] * qr[r][k]) * t;
        }
    }
    for (int i = rank - 1; i >= 0; --i) {  // column-oriented back-substitution on R
        if (c[i] == 0.0f) continue;
        c[i] /= qr[i][i];
        for (int r = 0; r < i; ++r) c[r] -= c[i] * qr[r][i];
    }
    for (int i = 0; i < N; ++i) x[perm[i]] = i < rank ? c[i] : 0.0f;
}

}  // namespace qef
