// Quadric-error edge collapse in rounds of independent collapses (disjoint face neighbourhoods).
#include "simplify.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <array>
#include <cmath>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace meshkit {

namespace {

using Quadric = std::array<double, 10>;  // symmetric 4x4: xx xy xz xw yy yz yw zz zw ww

Quadric plane_quadric(const double n[3], double d, double weight) {
    return {weight * n[0] * n[0], weight * n[0] * n[1], weight * n[0] * n[2], weight * n[0] * d,
            weight * n[1] * n[1], weight * n[1] * n[2], weight * n[1] * d,    weight * n[2] * n[2],
            weight * n[2] * d,    weight * d * d};
}

void add_to(Quadric& a, const Quadric& b) {
    for (int i = 0; i < 10; ++i) a[i] += b[i];
}

double evaluate(const Quadric& q, const double x[3]) {
    return q[0] * x[0] * x[0] + 2 * q[1] * x[0] * x[1] + 2 * q[2] * x[0] * x[2] + 2 * q[3] * x[0] +
           q[4] * x[1] * x[1] + 2 * q[5] * x[1] * x[2] + 2 * q[6] * x[1] + q[7] * x[2] * x[2] + 2 * q[8] * x[2] +
           q[9];
}

// Minimiser of the quadric by Cramer's rule; false when the system is too ill-conditioned to trust.
bool minimiser(const Quadric& q, double x[3]) {
    const double a = q[0], b = q[1], c = q[2], d = q[4], e = q[5], f = q[7];
    const double det = a * (d * f - e * e) - b * (b * f - c * e) + c * (b * e - c * d);
    const double scale = std::abs(a) + std::abs(d) + std::abs(f);
    if (!(std::abs(det) > 1e-12 * scale * scale * scale)) return false;
    const double r0 = -q[3], r1 = -q[6], r2 = -q[8];
    x[0] = (r0 * (d * f - e * e) - b * (r1 * f - e * r2) + c * (r1 * e - d * r2)) / det;
    x[1] = (a * (r1 * f - e * r2) - r0 * (b * f - c * e) + c * (b * r2 - r1 * c)) / det;
    x[2] = (a * (d * r2 - r1 * e) - b * (b * r2 - r1 * c) + r0 * (b * e - c * d)) / det;
    return std::isfinite(x[0]) && std::isfinite(x[1]) && std::isfinite(x[2]);
}

void triangle_normal(const double* a, const double* b, const double* c, double n[3]) {
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    n[0] = u[1] * v[2] - u[2] * v[1];
    n[1] = u[2] * v[0] - u[0] * v[2];
    n[2] = u[0] * v[1] - u[1] * v[0];
}

// One planned collapse: v merges into u at x, removing the listed faces.
struct Plan {
    int32_t u, v;
    int32_t shared_faces[2];
    int shared;
    double x[3];
};

struct Edge {
    double cost;
    int32_t u, v;
    bool operator<(const Edge& o) const {
        if (cost != o.cost) return cost < o.cost;
        if (u != o.u) return u < o.u;
        return v < o.v;
    }
};

struct FaceRange {
    const int32_t *first, *last;
    const int32_t* begin() const { return first; }
    const int32_t* end() const { return last; }
};

// All edges ordered by their smaller end u; the edges of u are edges[start[u]] to edges[start[u + 1]].
struct EdgeList {
    std::vector<Edge> edges;
    std::vector<int64_t> start;
};

inline void prefetch(const void* address) {
#if defined(__GNUC__)
    __builtin_prefetch(address);
#endif
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Batched greedy collapse: every round lists all edges with their costs (recomputed only around the vertices that
// moved in the last round) and picks, in cost order, legal collapses whose incident faces do not overlap, then
// applies them at once. Such collapses are independent: they run in parallel here and map directly onto a GPU port.
// Each round works from a fresh index of the faces around every vertex, which stays valid until the collapses.
class Collapser {
public:
    Collapser(const double* vertices, int64_t nv, const int64_t* faces, int64_t nf, const double* attributes,
              int64_t k, const uint8_t* locked, const SimplifyOptions& options)
        : opt_(options), k_(k), pos_(vertices, vertices + 3 * nv), quadric_(nv, Quadric{}),
          locked_(nv, 0), boundary_(nv, 0), removed_(nv, 0) {
        if (k > 0) attr_.assign(attributes, attributes + nv * k);
        for (int64_t i = 0; i < nv; ++i) locked_[i] = locked ? locked[i] : 0;
        faces_.reserve(3 * nf);
        for (int64_t f = 0; f < nf; ++f) {
            const int64_t a = faces[3 * f], b = faces[3 * f + 1], c = faces[3 * f + 2];
            if (a == b || b == c || a == c) continue;  // degenerate by index: dropped
            faces_.insert(faces_.end(), {static_cast<int32_t>(a), static_cast<int32_t>(b), static_cast<int32_t>(c)});
        }
        alive_.assign(faces_.size() / 3, 1);
        live_faces_ = static_cast<int64_t>(alive_.size());
        claimed_.assign(nv, 0);
        dirty_.assign(nv, 1);
        accumulate_quadrics();
    }

    void run() {
        double widen = 1;  // grows when a whole candidate batch turned out illegal
        while (live_faces_ > opt_.target_faces) {
            index_faces();
            collect_edges();
            std::fill(dirty_.begin(), dirty_.end(), 0);
            const int64_t total = static_cast<int64_t>(cached_.edges.size());
            const double want = widen * std::max<double>(2.0 * (live_faces_ - opt_.target_faces), 256.0);
            const int64_t count = std::min<int64_t>(
                total, static_cast<int64_t>(std::min(want, std::max(256.0, widen * opt_.round_fraction * total))));
            if (count == 0) break;
            select_candidates(count);
            if (collapse_round(candidates_) == 0) {
                if (count == total) break;
                widen *= 4;
            }
        }
    }

    SimplifyResult result() const {
        SimplifyResult r;
        const int64_t nv = static_cast<int64_t>(removed_.size());
        std::vector<int64_t> remap(nv, -1);
        for (size_t f = 0; f < alive_.size(); ++f) {
            if (!alive_[f]) continue;
            for (int j = 0; j < 3; ++j) {
                const int32_t x = faces_[3 * f + j];
                if (remap[x] < 0) {
                    remap[x] = static_cast<int64_t>(r.vertex_source.size());
                    r.vertex_source.push_back(x);
                }
                r.faces.push_back(remap[x]);
            }
        }
        for (int64_t x : r.vertex_source) {
            r.vertices.insert(r.vertices.end(), &pos_[3 * x], &pos_[3 * x] + 3);
            if (k_ > 0) r.attributes.insert(r.attributes.end(), &attr_[k_ * x], &attr_[k_ * x] + k_);
        }
        if (live_faces_ > opt_.target_faces) {
            r.stop_reason = "stopped at " + std::to_string(live_faces_) + " faces: every remaining edge collapse " +
                            "would flip or fold a face, break manifoldness (link condition), pinch a boundary or " +
                            "move a locked vertex";
        }
        return r;
    }

private:
    void accumulate_quadrics() {
        // Face planes weighted by area, plus heavy planes through open boundary edges (perpendicular to the face).
        for (size_t f = 0; f < alive_.size(); ++f) {
            const int32_t* t = &faces_[3 * f];
            double n[3];
            triangle_normal(&pos_[3 * t[0]], &pos_[3 * t[1]], &pos_[3 * t[2]], n);
            const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
            if (len > 0) {
                for (double& c : n) c /= len;
                const double d = -(n[0] * pos_[3 * t[0]] + n[1] * pos_[3 * t[0] + 1] + n[2] * pos_[3 * t[0] + 2]);
                const Quadric q = plane_quadric(n, d, 0.5 * len);
                for (int j = 0; j < 3; ++j) add_to(quadric_[t[j]], q);
            }
        }
        // Half-edges bucketed by their smaller vertex (a counting sort), entries larger vertex << 32 | half-edge:
        // sorting a bucket groups each edge's half-edges, and buckets are visited in vertex order.
        const size_t nv = removed_.size(), nh = faces_.size();
        std::vector<uint32_t> first(nv + 1, 0);
        auto smaller = [&](size_t h) { return std::min(faces_[h], faces_[h - h % 3 + (h % 3 + 1) % 3]); };
        auto larger = [&](size_t h) { return std::max(faces_[h], faces_[h - h % 3 + (h % 3 + 1) % 3]); };
        for (size_t h = 0; h < nh; ++h) ++first[smaller(h) + 1];
        for (size_t a = 0; a < nv; ++a) first[a + 1] += first[a];
        std::vector<uint64_t> bucketed(nh);
        std::vector<uint32_t> fill(first.begin(), first.end() - 1);
        for (size_t h = 0; h < nh; ++h)
            bucketed[fill[smaller(h)]++] = static_cast<uint64_t>(larger(h)) << 32 | static_cast<uint32_t>(h);
        for (size_t a = 0; a < nv; ++a) {
            const auto begin = bucketed.begin() + first[a], end = bucketed.begin() + first[a + 1];
            std::sort(begin, end);
            for (auto i = begin; i != end;) {
                auto j = i;
                while (j != end && *j >> 32 == *i >> 32) ++j;
                const int32_t b = static_cast<int32_t>(*i >> 32);
                if (j - i == 1) {
                    boundary_[a] = boundary_[b] = 1;
                    add_boundary_plane(static_cast<int32_t>(*i & 0xffffffffu));
                } else if (j - i > 2) {
                    locked_[a] = locked_[b] = 1;  // non-manifold edges are left exactly as they are
                }
                i = j;
            }
        }
    }

    void add_boundary_plane(int32_t half_edge) {
        const int32_t f = half_edge / 3, j = half_edge % 3;
        const int32_t* t = &faces_[3 * f];
        const double* a = &pos_[3 * t[j]];
        const double* b = &pos_[3 * t[(j + 1) % 3]];
        double fn[3];
        triangle_normal(&pos_[3 * t[0]], &pos_[3 * t[1]], &pos_[3 * t[2]], fn);
        const double e[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double n[3] = {e[1] * fn[2] - e[2] * fn[1], e[2] * fn[0] - e[0] * fn[2], e[0] * fn[1] - e[1] * fn[0]};
        const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (!(len > 0)) return;
        for (double& c : n) c /= len;
        const double d = -(n[0] * a[0] + n[1] * a[1] + n[2] * a[2]);
        const double edge_sq = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
        const Quadric q = plane_quadric(n, d, opt_.boundary_weight * edge_sq);
        add_to(quadric_[t[j]], q);
        add_to(quadric_[t[(j + 1) % 3]], q);
    }

    // Position the merged vertex takes and the quadric error there.
    double placement(int32_t u, int32_t v, double x[3]) const {
        Quadric q = quadric_[u];
        add_to(q, quadric_[v]);
        const double* pu = &pos_[3 * u];
        const double* pv = &pos_[3 * v];
        if (locked_[u] || locked_[v]) {
            const double* p = locked_[u] ? pu : pv;
            std::copy_n(p, 3, x);
            return evaluate(q, x);
        }
        const double mid[3] = {(pu[0] + pv[0]) / 2, (pu[1] + pv[1]) / 2, (pu[2] + pv[2]) / 2};
        const double len_sq = (pu[0] - pv[0]) * (pu[0] - pv[0]) + (pu[1] - pv[1]) * (pu[1] - pv[1]) +
                              (pu[2] - pv[2]) * (pu[2] - pv[2]);
        if (minimiser(q, x)) {
            const double dx = x[0] - mid[0], dy = x[1] - mid[1], dz = x[2] - mid[2];
            if (dx * dx + dy * dy + dz * dz <= 4 * len_sq) return evaluate(q, x);
        }
        // Ill-conditioned or far away: take the best of the two ends and the midpoint.
        double best = evaluate(q, mid);
        std::copy_n(mid, 3, x);
        for (const double* p : {pu, pv}) {
            const double c = evaluate(q, p);
            if (c < best) {
                best = c;
                std::copy_n(p, 3, x);
            }
        }
        return best;
    }


    // Each live edge once (u < v) with the quadric cost of collapsing it, listed by u; skips edges whose ends are
    // both locked. Costs of edges whose ends both kept still since the last listing are copied from it, the rest are
    // computed. Fills cached_ (its old contents move to spare_, whose buffers the next listing reuses).
    void collect_edges() {
        const int64_t nv = static_cast<int64_t>(removed_.size());
        EdgeList& out = spare_;
        out.start.resize(nv + 1);
        parts_.resize(max_threads());
        int threads = 1;
#pragma omp parallel
        {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#pragma omp single
            threads = omp_get_num_threads();
#endif
            const int64_t begin = nv * thread / threads, end = nv * (thread + 1) / threads;
            std::vector<Edge>& local = parts_[thread];
            local.clear();
            std::vector<int32_t> seen;
            for (int64_t u = begin; u < end; ++u) {
                out.start[u] = static_cast<int64_t>(local.size());
                if (removed_[u]) continue;
                seen.clear();
                for (int32_t f : around(static_cast<int32_t>(u))) {
                    for (int j = 0; j < 3; ++j) {
                        const int32_t w = faces_[3 * f + j];
                        if (w <= u || std::find(seen.begin(), seen.end(), w) != seen.end()) continue;
                        seen.push_back(w);
                        if (locked_[u] && locked_[w]) continue;
                        local.push_back({cost(static_cast<int32_t>(u), w), static_cast<int32_t>(u), w});
                    }
                }
            }
#pragma omp barrier
#pragma omp single
            {
                size_t total = 0;
                for (int t = 0; t < threads; ++t) total += parts_[t].size();
                out.edges.resize(total);
            }
            // The blocks are consecutive vertex ranges in thread order, so joining them keeps the list ordered by u.
            int64_t base = 0;
            for (int t = 0; t < thread; ++t) base += static_cast<int64_t>(parts_[t].size());
            std::copy(local.begin(), local.end(), out.edges.begin() + base);
            for (int64_t u = begin; u < end; ++u) out.start[u] += base;
        }
        out.start[nv] = static_cast<int64_t>(out.edges.size());
        std::swap(cached_, spare_);
    }

    // Puts the `count` cheapest listed edges, in cost order, in candidates_. A cost bound taken from every 16th edge
    // (with a margin) first filters the listing, so the exact selection sorts through few more than `count` edges;
    // when the bound lets too few through, every edge goes.
    void select_candidates(int64_t count) {
        const std::vector<Edge>& edges = cached_.edges;
        const int64_t total = static_cast<int64_t>(edges.size());
        constexpr int64_t kStride = 16;
        candidates_.clear();
        if (count < total) {
            sample_.clear();
            for (int64_t i = 0; i < total; i += kStride) sample_.push_back(edges[i].cost);
            const int64_t rank = std::min<int64_t>(static_cast<int64_t>(sample_.size()) - 1, 5 * count / (4 * kStride));
            std::nth_element(sample_.begin(), sample_.begin() + rank, sample_.end());
            const double bound = sample_[rank];
            for (const Edge& e : edges)
                if (e.cost <= bound) candidates_.push_back(e);
        }
        if (static_cast<int64_t>(candidates_.size()) < count) candidates_.assign(edges.begin(), edges.end());
        std::nth_element(candidates_.begin(), candidates_.begin() + (count - 1), candidates_.end());
        candidates_.resize(count);
        std::sort(candidates_.begin(), candidates_.end());
    }

    // Collapse cost of edge (u, w), u < w: the last listing's value when neither end has moved since, else computed.
    double cost(int32_t u, int32_t w) const {
        if (!dirty_[u] && !dirty_[w]) {
            for (int64_t i = cached_.start[u]; i < cached_.start[u + 1]; ++i)
                if (cached_.edges[i].v == w) return cached_.edges[i].cost;
        }
        double x[3];
        return std::max(placement(u, w, x), 0.0);
    }

    // Checks the candidates (cheapest first), keeps those with untouched neighbourhoods, applies them together.
    int64_t collapse_round(const std::vector<Edge>& candidates) {
        const int64_t n = static_cast<int64_t>(candidates.size());
        std::vector<Plan>& plans = plans_;
        std::vector<uint8_t>& legal = legal_;
        plans.resize(n);
        legal.resize(n);
        constexpr int64_t kChunk = 4096;  // small: few plans wasted on candidates that an earlier one in the chunk blocks
        // A winner claims every corner of the faces around its edge; a later candidate shares a face with it exactly
        // when one of its two ends is claimed.
        auto region_is_free = [&](int32_t u, int32_t v) { return !claimed_[u] && !claimed_[v]; };
        // Greedy in cost order: a legal candidate wins when no earlier winner uses any face around its edge.
        // Collapses with disjoint face sets never read or write the same data, so they are independent. Chunks
        // are checked in parallel, skipping candidates already blocked by the winners of earlier chunks.
        std::vector<int64_t> winners;
        int64_t removable = 0;
        for (int64_t start = 0; start < n && live_faces_ - removable > opt_.target_faces; start += kChunk) {
            const int64_t stop = std::min(n, start + kChunk);
#pragma omp parallel for schedule(dynamic, 256)
            for (int64_t i = start; i < stop; ++i) {
                if (i + 8 < stop) prefetch_ends(candidates[i + 8]);
                if (i + 4 < stop) prefetch_faces(candidates[i + 4]);
                legal[i] = region_is_free(candidates[i].u, candidates[i].v) &&
                           plan(candidates[i].u, candidates[i].v, plans[i]);
            }
            for (int64_t i = start; i < stop && live_faces_ - removable > opt_.target_faces; ++i) {
                if (!legal[i] || !region_is_free(plans[i].u, plans[i].v)) continue;
                for (int32_t end : {plans[i].u, plans[i].v})
                    for (int32_t f : around(end))
                        for (int j = 0; j < 3; ++j) claimed_[faces_[3 * f + j]] = 1;
                winners.push_back(i);
                removable += plans[i].shared;
            }
        }
        std::fill(claimed_.begin(), claimed_.end(), 0);
        const int64_t count = static_cast<int64_t>(winners.size());
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < count; ++i) apply(plans[winners[i]]);
        live_faces_ -= removable;
        return count;
    }

    // Candidates come in cost order, scattered over the mesh, so checking one mostly waits for memory: the loop asks
    // for the data of the next few ahead, first their ends' flags, offsets, positions and quadrics, then (once those
    // offsets have arrived) the first faces around the ends that are still free.
    void prefetch_ends(const Edge& e) const {
        for (int32_t x : {e.u, e.v}) {
            prefetch(&claimed_[x]);
            prefetch(&first_[x]);
            prefetch(&pos_[3 * x]);
            prefetch(&quadric_[x]);
        }
    }

    void prefetch_faces(const Edge& e) const {
        if (claimed_[e.u] || claimed_[e.v]) return;
        for (int32_t x : {e.u, e.v}) {
            prefetch(&around_[first_[x]]);
            prefetch(&faces_[3 * around_[first_[x]]]);
        }
    }

    // Whether collapsing edge (a, b) is legal; fills the plan (kept vertex, removed faces, new position) if so.
    bool plan(int32_t a, int32_t b, Plan& p) const {
        int32_t u = a, v = b;
        if (!locked_[u] && locked_[v]) std::swap(u, v);  // the kept vertex (u) is the locked one, if any
        if (locked_[v]) return false;
        // Faces on the edge, and the link condition: shared neighbours are exactly the edge's opposite corners.
        p.u = u;
        p.v = v;
        p.shared = 0;
        std::array<int32_t, 64> around_u;
        int nu = 0;
        for (int32_t f : around(u)) {
            const int32_t* t = &faces_[3 * f];
            if (t[0] == v || t[1] == v || t[2] == v) {
                if (p.shared == 2) return false;  // non-manifold edge
                p.shared_faces[p.shared++] = f;
            }
            for (int j = 0; j < 3; ++j) {
                if (t[j] == u || t[j] == v || std::find(around_u.begin(), around_u.begin() + nu, t[j]) !=
                                                  around_u.begin() + nu)
                    continue;
                if (nu == static_cast<int>(around_u.size())) return false;  // unusually high valence: leave it
                around_u[nu++] = t[j];
            }
        }
        if (p.shared == 0) return false;
        if (p.shared == 1 && !(boundary_[u] && boundary_[v])) return false;
        if (p.shared == 2 && boundary_[u] && boundary_[v]) return false;  // would pinch two boundary stretches
        std::array<int32_t, 64> common;
        int nc = 0;
        for (int32_t f : around(v)) {
            for (int j = 0; j < 3; ++j) {
                const int32_t w = faces_[3 * f + j];
                if (std::find(around_u.begin(), around_u.begin() + nu, w) == around_u.begin() + nu ||
                    std::find(common.begin(), common.begin() + nc, w) != common.begin() + nc)
                    continue;
                if (nc == static_cast<int>(common.size())) return false;
                common[nc++] = w;
            }
        }
        if (nc != p.shared) return false;
        placement(u, v, p.x);
        return keeps_faces_sound(u, v, p.x) && keeps_faces_sound(v, u, p.x) && !creates_duplicate(u, v);
    }

    // Faces of `moving` that do not contain `other`: after moving to x their normal must stay close and non-zero.
    bool keeps_faces_sound(int32_t moving, int32_t other, const double x[3]) const {
        for (int32_t f : around(moving)) {
            const int32_t* t = &faces_[3 * f];
            if (t[0] == other || t[1] == other || t[2] == other) continue;
            const double* p[3] = {&pos_[3 * t[0]], &pos_[3 * t[1]], &pos_[3 * t[2]]};
            double before[3], after[3];
            triangle_normal(p[0], p[1], p[2], before);
            for (int j = 0; j < 3; ++j)
                if (t[j] == moving) p[j] = x;
            triangle_normal(p[0], p[1], p[2], after);
            const double nb = std::sqrt(before[0] * before[0] + before[1] * before[1] + before[2] * before[2]);
            const double na = std::sqrt(after[0] * after[0] + after[1] * after[1] + after[2] * after[2]);
            if (!(na > 1e-12 * nb)) return false;
            const double dot = before[0] * after[0] + before[1] * after[1] + before[2] * after[2];
            if (dot <= opt_.min_normal_cos * na * nb) return false;
        }
        return true;
    }

    // True when renaming v to u would make two surviving faces use the same three vertices.
    bool creates_duplicate(int32_t u, int32_t v) const {
        std::array<std::array<int32_t, 3>, 128> triples;
        int n = 0;
        for (int32_t x : {u, v}) {
            for (int32_t f : around(x)) {
                std::array<int32_t, 3> t = {faces_[3 * f], faces_[3 * f + 1], faces_[3 * f + 2]};
                const bool has_u = t[0] == u || t[1] == u || t[2] == u;
                const bool has_v = t[0] == v || t[1] == v || t[2] == v;
                if (has_u && has_v) continue;  // removed by the collapse
                for (int32_t& c : t)
                    if (c == v) c = u;
                std::sort(t.begin(), t.end());
                if (n == static_cast<int>(triples.size())) return true;  // too crowded to check: refuse
                triples[n++] = t;
            }
        }
        std::sort(triples.begin(), triples.begin() + n);
        return std::adjacent_find(triples.begin(), triples.begin() + n) != triples.begin() + n;
    }

    // The live faces around vertex x, as indexed at the start of the round.
    FaceRange around(int32_t x) const { return {around_.data() + first_[x], around_.data() + first_[x + 1]}; }

    // Lists the live faces around every vertex (a counting sort of the corners, faces in id order). Collapses only
    // take place after all checks of a round, so the lists hold for the whole of it.
    void index_faces() {
        const size_t nv = removed_.size();
        first_.assign(nv + 1, 0);
        for (size_t f = 0; f < alive_.size(); ++f)
            if (alive_[f])
                for (int j = 0; j < 3; ++j) ++first_[faces_[3 * f + j] + 1];
        for (size_t x = 0; x < nv; ++x) first_[x + 1] += first_[x];
        around_.resize(first_[nv]);
        for (size_t f = 0; f < alive_.size(); ++f)
            if (alive_[f])
                for (int j = 0; j < 3; ++j) around_[first_[faces_[3 * f + j]]++] = static_cast<int32_t>(f);
        std::copy_backward(first_.begin(), first_.end() - 1, first_.end());  // each entry had moved to the next
        first_[0] = 0;
    }

    // Merges v into u. Touches only the faces around the edge, so disjoint plans can be applied concurrently.
    void apply(const Plan& p) {
        const int32_t u = p.u, v = p.v;
        if (k_ > 0) {
            // Attribute interpolation parameter: where x projects on the segment u -> v.
            const double* pu = &pos_[3 * u];
            const double* pv = &pos_[3 * v];
            const double e[3] = {pv[0] - pu[0], pv[1] - pu[1], pv[2] - pu[2]};
            const double len_sq = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
            double t = len_sq > 0
                           ? ((p.x[0] - pu[0]) * e[0] + (p.x[1] - pu[1]) * e[1] + (p.x[2] - pu[2]) * e[2]) / len_sq
                           : 0.5;
            t = std::clamp(t, 0.0, 1.0);
            for (int64_t c = 0; c < k_; ++c) attr_[k_ * u + c] = (1 - t) * attr_[k_ * u + c] + t * attr_[k_ * v + c];
        }
        for (int s = 0; s < p.shared; ++s) alive_[p.shared_faces[s]] = 0;
        for (int32_t f : around(v)) {
            if (!alive_[f]) continue;
            for (int j = 0; j < 3; ++j)
                if (faces_[3 * f + j] == v) faces_[3 * f + j] = u;
        }
        std::copy_n(p.x, 3, &pos_[3 * u]);
        add_to(quadric_[u], quadric_[v]);
        removed_[v] = 1;
        dirty_[u] = 1;
        boundary_[u] |= boundary_[v];
    }

    SimplifyOptions opt_;
    int64_t k_;
    std::vector<double> pos_, attr_;
    std::vector<Quadric> quadric_;
    std::vector<uint8_t> locked_, boundary_, removed_;
    std::vector<uint8_t> dirty_;      // per vertex: moved since the last edge listing
    std::vector<uint8_t> claimed_;  // per vertex: a corner of a face around this round's winners
    std::vector<uint8_t> alive_;    // per face
    EdgeList cached_, spare_;      // the last edge listing (costs that have not changed are taken from it)
    // Per-round buffers, kept so that later rounds reuse their memory.
    std::vector<std::vector<Edge>> parts_;  // each thread's share of the edge listing
    std::vector<Edge> candidates_;
    std::vector<double> sample_;  // every 16th listed cost, for the candidate filter
    std::vector<Plan> plans_;
    std::vector<uint8_t> legal_;
    std::vector<int32_t> faces_;
    std::vector<int64_t> first_;    // per vertex: where its faces start in around_
    std::vector<int32_t> around_;   // live faces by vertex, for the current round
    int64_t live_faces_ = 0;
};

}  // namespace

SimplifyResult simplify_mesh(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                             const double* attributes, int64_t num_attributes, const uint8_t* locked,
                             const SimplifyOptions& options) {
    Collapser collapser(vertices, num_vertices, faces, num_faces, attributes, num_attributes, locked, options);
    collapser.run();
    return collapser.result();
}

void bind_simplify(py::module_& m) {
    using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
    using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
    using Bytes = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
    m.def(
        "simplify",
        [](Doubles vertices, Ints faces, int64_t target_faces, Doubles attributes, Bytes locked,
           double min_normal_cos, double boundary_weight, double round_fraction) {
            SimplifyOptions options{target_faces, min_normal_cos, boundary_weight, round_fraction};
            const int64_t nv = vertices.shape(0);
            const int64_t k = attributes.ndim() == 2 ? attributes.shape(1) : 0;
            SimplifyResult r;
            {
                py::gil_scoped_release release;
                r = simplify_mesh(vertices.data(), nv, faces.data(), faces.shape(0), attributes.data(), k,
                                  locked.data(), options);
            }
            const py::ssize_t out_v = static_cast<py::ssize_t>(r.vertex_source.size());
            auto as_array = [](auto& values, std::vector<py::ssize_t> shape) {
                using T = typename std::decay_t<decltype(values)>::value_type;
                py::array_t<T> out(shape);
                std::copy(values.begin(), values.end(), out.mutable_data());
                return out;
            };
            return py::make_tuple(as_array(r.vertices, {out_v, 3}), as_array(r.faces, {(py::ssize_t)r.faces.size() / 3, 3}),
                                  as_array(r.attributes, {out_v, (py::ssize_t)k}), as_array(r.vertex_source, {out_v}),
                                  r.stop_reason);
        },
        py::arg("vertices"), py::arg("faces"), py::arg("target_faces"), py::arg("attributes"), py::arg("locked"),
        py::arg("min_normal_cos"), py::arg("boundary_weight"), py::arg("round_fraction"));
}

}  // namespace meshkit
