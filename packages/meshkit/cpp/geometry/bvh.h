// Bounding volume hierarchy over triangles: exact closest-point and ray-crossing queries on the CPU.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

namespace meshkit {

using Vec3 = std::array<double, 3>;

struct ClosestHit {
    double distance_sq;
    int64_t face;      // -1 when no triangle is closer than the query's limit
    Vec3 barycentric;  // weights of the face's three corners
    Vec3 point;
};

// Median-split binary tree whose nodes hold their two children's boxes (float, rounded outward), so one cache line
// decides which children to visit. Built in parallel; the layout does not depend on the thread count.
class TriangleBVH {
public:
    TriangleBVH(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces);

    // Closest surface point to p among triangles strictly closer than sqrt(limit_sq); ties (equal computed squared
    // distances) go to the lowest face id, so the answer does not depend on the traversal order.
    ClosestHit closest(const Vec3& p, double limit_sq = std::numeric_limits<double>::infinity()) const;

    // Whether some triangle lies strictly closer than sqrt(limit_sq) to p (stops at the first one found).
    bool any_within(const Vec3& p, double limit_sq) const;

    // Number of triangles a ray crosses for t > 0 (used for inside/outside parity tests).
    int count_crossings(const Vec3& origin, const Vec3& direction) const;

    int64_t num_faces() const { return static_cast<int64_t>(face_id_.size()); }

    // Flat copies of the tree for traversal elsewhere (meshkit's GPU kernels): per node its two child slots' boxes
    // (12 floats: lo of slot 0 and 1, then hi of slot 0 and 1) and links (child0, child1, count0, count1); the
    // triangles (9 doubles each) and their input face ids are in tree order, which leaf ranges index.
    int64_t num_nodes() const { return static_cast<int64_t>(nodes_.size()); }
    void copy_nodes(float* boxes, int32_t* links) const;
    const std::vector<double>& tree_triangles() const { return tri_; }
    const std::vector<int64_t>& tree_faces() const { return face_id_; }

private:
    // A child slot: an inner node index (count 0) or a leaf range [first, first + count) of tree-ordered triangles.
    struct alignas(64) Node {
        float lo[2][3], hi[2][3];
        int32_t child[2];
        uint8_t count[2];
    };
    struct Item {
        float centroid[3];
        int32_t face;
    };
    struct Subtree {
        float lo[3], hi[3];
        int32_t index;
        uint8_t count;
    };
    Subtree build(int32_t node, int32_t begin, int32_t end, std::vector<Item>& items);
    int32_t inner_nodes(int32_t items) const;
    template <typename Visit>
    void walk(const Vec3& p, double& bound, Visit visit_leaf) const;

    std::vector<double> tri_;       // 9 coordinates per face, in tree order
    std::vector<int64_t> face_id_;  // tree order -> input face index
    std::vector<Node> nodes_;       // nodes_[0] is the root; a mesh of few faces has one root with one leaf child
    std::map<int32_t, int32_t> inner_count_;  // inner nodes of a subtree, by its number of triangles (> leaf size)
};

// Order of n points (3 doubles each) along a Morton curve over their bounding box: queries run in this order share
// most of their tree paths, which keeps the nodes they touch in cache.
std::vector<int64_t> spatial_order(const double* points, int64_t n);

// Closest point of triangle (a, b, c) to p; writes barycentric weights and returns the squared distance.
double closest_on_triangle(const Vec3& p, const double* a, const double* b, const double* c, Vec3& bary, Vec3& q);

}  // namespace meshkit
