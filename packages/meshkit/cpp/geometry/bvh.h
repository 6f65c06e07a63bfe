// Bounding volume hierarchy over triangles: exact closest-point and ray-crossing queries on the CPU.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace meshkit {

using Vec3 = std::array<double, 3>;

struct ClosestHit {
    double distance_sq;
    int64_t face;
    Vec3 barycentric;  // weights of the face's three corners
    Vec3 point;
};

class TriangleBVH {
public:
    TriangleBVH(const double* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces);

    // Closest point of the surface to p (exact), with the face id and barycentric weights of the hit.
    ClosestHit closest(const Vec3& p) const;

    // Number of triangles a ray crosses for t > 0 (used for inside/outside parity tests).
    int count_crossings(const Vec3& origin, const Vec3& direction) const;

    int64_t num_faces() const { return static_cast<int64_t>(tri_.size() / 9); }

private:
    struct Node {
        double lo[3], hi[3];
        int32_t left;    // first child (inner) or first item (leaf)
        int32_t count;   // 0 for inner nodes, number of items for leaves
    };
    void build(int32_t node, int32_t begin, int32_t end, std::vector<double>& centroids);
    double box_distance_sq(const Node& n, const Vec3& p) const;

    std::vector<double> tri_;       // 9 coordinates per face, reordered by the tree
    std::vector<int64_t> face_id_;  // tree order -> input face index
    std::vector<Node> nodes_;
};

// Closest point of triangle (a, b, c) to p; writes barycentric weights and returns the squared distance.
double closest_on_triangle(const Vec3& p, const double* a, const double* b, const double* c, Vec3& bary, Vec3& q);

}  // namespace meshkit
