// Union-find components and breadth-first orientation propagation over face adjacency.
#include "topology.h"

#include <algorithm>
#include <numeric>
#include <queue>

namespace meshkit {

namespace {
int64_t find_root(std::vector<int64_t>& parent, int64_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}
}  // namespace

std::vector<int64_t> connected_components(int64_t n, const int64_t* pairs, int64_t num_pairs) {
    std::vector<int64_t> parent(n);
    std::iota(parent.begin(), parent.end(), 0);
    for (int64_t i = 0; i < num_pairs; ++i) {
        const int64_t a = find_root(parent, pairs[2 * i]), b = find_root(parent, pairs[2 * i + 1]);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
    std::vector<int64_t> label(n, -1), root_label(n, -1);
    int64_t next = 0;
    for (int64_t x = 0; x < n; ++x) {
        const int64_t r = find_root(parent, x);
        if (root_label[r] < 0) root_label[r] = next++;
        label[x] = root_label[r];
    }
    return label;
}

std::vector<int64_t> face_components(const int64_t* faces, int64_t num_faces, int64_t num_vertices) {
    // Faces around each vertex (increasing), then, per face edge, a union with every later face around its first
    // end that also has the edge.
    std::vector<int64_t> offset(num_vertices + 1, 0);
    for (int64_t i = 0; i < 3 * num_faces; ++i) ++offset[faces[i] + 1];
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    std::vector<int64_t> cursor(offset.begin(), offset.end() - 1), around(3 * num_faces);  // sorted per vertex
    for (int64_t f = 0; f < num_faces; ++f)
        for (int j = 0; j < 3; ++j) around[cursor[faces[3 * f + j]]++] = f;
    std::vector<int64_t> parent(num_faces);
    std::iota(parent.begin(), parent.end(), 0);
    auto count = [&](int64_t g, int64_t x) {
        return (faces[3 * g] == x) + (faces[3 * g + 1] == x) + (faces[3 * g + 2] == x);
    };
    for (int64_t f = 0; f < num_faces; ++f) {
        for (int j = 0; j < 3; ++j) {
            const int64_t a = faces[3 * f + j], b = faces[3 * f + (j + 1) % 3];
            for (int64_t k = offset[a]; k < offset[a + 1]; ++k) {
                const int64_t g = around[k];
                if (g <= f || (k > offset[a] && around[k - 1] == g)) continue;
                if (a == b ? count(g, a) < 2 : count(g, b) == 0) continue;
                const int64_t ra = find_root(parent, f), rb = find_root(parent, g);
                if (ra != rb) parent[std::max(ra, rb)] = std::min(ra, rb);
            }
        }
    }
    std::vector<int64_t> label(num_faces, -1), root_label(num_faces, -1);
    int64_t next = 0;
    for (int64_t f = 0; f < num_faces; ++f) {
        const int64_t r = find_root(parent, f);
        if (root_label[r] < 0) root_label[r] = next++;
        label[f] = root_label[r];
    }
    return label;
}

std::vector<int64_t> manifold_half_edge_pairs(const int64_t* faces, int64_t num_faces, int64_t num_vertices,
                                              int64_t& max_per_edge) {
    // Half-edges bucketed by their smaller end (increasing h within a bucket), then each bucket stably sorted by
    // the larger end: runs are edges in (smaller, larger) order, their half-edges in increasing order.
    const int64_t n = 3 * num_faces;
    auto ends = [&](int64_t h) {
        const int64_t a = faces[h], b = faces[3 * (h / 3) + (h % 3 + 1) % 3];
        return std::make_pair(std::min(a, b), std::max(a, b));
    };
    std::vector<int64_t> offset(num_vertices + 1, 0);
    for (int64_t h = 0; h < n; ++h) ++offset[ends(h).first + 1];
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    std::vector<int64_t> cursor(offset.begin(), offset.end() - 1), bucket(n);
    for (int64_t h = 0; h < n; ++h) bucket[cursor[ends(h).first]++] = h;
    std::vector<int64_t> pairs;
    max_per_edge = 0;
    std::vector<std::pair<int64_t, int64_t>> run;
    for (int64_t v = 0; v < num_vertices; ++v) {
        run.clear();
        for (int64_t k = offset[v]; k < offset[v + 1]; ++k) run.push_back({ends(bucket[k]).second, bucket[k]});
        std::sort(run.begin(), run.end());  // by larger end, then half-edge id (= the stable order)
        for (size_t i = 0; i < run.size();) {
            size_t j = i;
            while (j < run.size() && run[j].first == run[i].first) ++j;
            max_per_edge = std::max<int64_t>(max_per_edge, static_cast<int64_t>(j - i));
            if (j - i == 2) {
                pairs.push_back(run[i].second);
                pairs.push_back(run[i + 1].second);
            }
            i = j;
        }
    }
    return pairs;
}

std::vector<uint8_t> propagate_orientation(int64_t num_faces, const int64_t* pairs, const uint8_t* same,
                                           int64_t num_pairs) {
    std::vector<int64_t> offset(num_faces + 1, 0);
    for (int64_t i = 0; i < num_pairs; ++i) {
        ++offset[pairs[2 * i] + 1];
        ++offset[pairs[2 * i + 1] + 1];
    }
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    std::vector<int64_t> cursor(offset.begin(), offset.end() - 1), neighbour(2 * num_pairs);
    std::vector<uint8_t> neighbour_same(2 * num_pairs);
    for (int64_t i = 0; i < num_pairs; ++i) {
        const int64_t a = pairs[2 * i], b = pairs[2 * i + 1];
        neighbour[cursor[a]] = b;
        neighbour_same[cursor[a]++] = same[i];
        neighbour[cursor[b]] = a;
        neighbour_same[cursor[b]++] = same[i];
    }
    std::vector<uint8_t> flip(num_faces, 0), seen(num_faces, 0);
    std::queue<int64_t> queue;
    for (int64_t seed = 0; seed < num_faces; ++seed) {
        if (seen[seed]) continue;
        seen[seed] = 1;
        queue.push(seed);
        while (!queue.empty()) {
            const int64_t f = queue.front();
            queue.pop();
            for (int64_t k = offset[f]; k < offset[f + 1]; ++k) {
                const int64_t g = neighbour[k];
                if (seen[g]) continue;
                seen[g] = 1;
                // Sharing an edge in the same direction means exactly one of the two must be flipped.
                flip[g] = static_cast<uint8_t>(flip[f] ^ neighbour_same[k]);
                queue.push(g);
            }
        }
    }
    return flip;
}

}  // namespace meshkit
