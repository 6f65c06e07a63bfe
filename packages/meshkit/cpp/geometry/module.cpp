// Python bindings of meshkit._geometry: BVH queries, topology helpers, hole filling, simplification, remeshing,
// UV chart packing.
#include <cmath>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bvh.h"
#include "holes.h"
#include "remesh.h"
#include "simplify.h"
#include "topology.h"
#include "uv_pack.h"

namespace py = pybind11;
using meshkit::TriangleBVH;
using meshkit::Vec3;

using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

namespace {

template <typename T>
py::array_t<T> to_array(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
    auto* owned = new std::vector<T>(std::move(values));
    py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(shape, owned->data(), free_when_done);
}

class PyBVH {
public:
    PyBVH(Doubles vertices, Ints faces)
        : bvh_(vertices.data(), vertices.shape(0), faces.data(), faces.shape(0)) {}

    py::tuple closest_point(Doubles points) const {
        const int64_t n = points.shape(0);
        const double* p = points.data();
        std::vector<double> distance(n), bary(3 * n), closest(3 * n);
        std::vector<int64_t> face(n);
        {
            py::gil_scoped_release release;
            const std::vector<int64_t> order = meshkit::spatial_order(p, n);
#pragma omp parallel for schedule(dynamic, 256)
            for (int64_t j = 0; j < n; ++j) {
                const int64_t i = order[j];
                const auto hit = bvh_.closest({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
                distance[i] = std::sqrt(hit.distance_sq);
                face[i] = hit.face;
                for (int k = 0; k < 3; ++k) {
                    bary[3 * i + k] = hit.barycentric[k];
                    closest[3 * i + k] = hit.point[k];
                }
            }
        }
        return py::make_tuple(to_array(std::move(distance), {n}), to_array(std::move(face), {n}),
                              to_array(std::move(bary), {n, 3}), to_array(std::move(closest), {n, 3}));
    }

    py::array_t<int32_t> count_crossings(Doubles origins, Doubles directions) const {
        const int64_t n = origins.shape(0);
        const double* o = origins.data();
        const double* d = directions.data();
        std::vector<int32_t> hits(n);
        {
            py::gil_scoped_release release;
#pragma omp parallel for schedule(dynamic, 256)
            for (int64_t i = 0; i < n; ++i)
                hits[i] = bvh_.count_crossings({o[3 * i], o[3 * i + 1], o[3 * i + 2]},
                                               {d[3 * i], d[3 * i + 1], d[3 * i + 2]});
        }
        return to_array(std::move(hits), {n});
    }

    // (boxes (N, 12) float32, links (N, 4) int32, triangles (F, 9) float64, faces (F,) int64): see TriangleBVH.
    py::tuple arrays() const {
        const int64_t n = bvh_.num_nodes(), f = bvh_.num_faces();
        std::vector<float> boxes(12 * n);
        std::vector<int32_t> links(4 * n);
        bvh_.copy_nodes(boxes.data(), links.data());
        return py::make_tuple(to_array(std::move(boxes), {n, 12}), to_array(std::move(links), {n, 4}),
                              to_array(std::vector<double>(bvh_.tree_triangles()), {f, 9}),
                              to_array(std::vector<int64_t>(bvh_.tree_faces()), {f}));
    }

    const TriangleBVH& tree() const { return bvh_; }

private:
    TriangleBVH bvh_;
};

py::array_t<int64_t> connected_components(int64_t n, Ints pairs) {
    return to_array(meshkit::connected_components(n, pairs.data(), pairs.shape(0)), {n});
}

py::array_t<int64_t> face_components(Ints faces, int64_t num_vertices) {
    std::vector<int64_t> labels;
    {
        py::gil_scoped_release release;
        labels = meshkit::face_components(faces.data(), faces.shape(0), num_vertices);
    }
    const auto n = static_cast<py::ssize_t>(labels.size());
    return to_array(std::move(labels), {n});
}

py::tuple manifold_half_edge_pairs(Ints faces, int64_t num_vertices) {
    std::vector<int64_t> pairs;
    int64_t max_per_edge = 0;
    {
        py::gil_scoped_release release;
        pairs = meshkit::manifold_half_edge_pairs(faces.data(), faces.shape(0), num_vertices, max_per_edge);
    }
    const auto n = static_cast<py::ssize_t>(pairs.size() / 2);
    return py::make_tuple(to_array(std::move(pairs), {n, 2}), max_per_edge);
}

py::array_t<uint8_t> propagate_orientation(int64_t num_faces, Ints pairs,
                                           py::array_t<uint8_t, py::array::c_style | py::array::forcecast> same) {
    return to_array(meshkit::propagate_orientation(num_faces, pairs.data(), same.data(), pairs.shape(0)),
                    {num_faces});
}

py::array_t<int64_t> boundary_half_edges(Ints faces, int64_t num_vertices) {
    std::vector<int64_t> boundary;
    {
        py::gil_scoped_release release;
        boundary = meshkit::boundary_half_edges(faces.data(), faces.shape(0), num_vertices);
    }
    const auto n = static_cast<py::ssize_t>(boundary.size());
    return to_array(std::move(boundary), {n});
}

py::tuple trace_loops(Ints tails, Ints heads) {
    meshkit::BoundaryLoops loops = meshkit::trace_loops(tails.data(), heads.data(), tails.shape(0));
    const auto n = static_cast<py::ssize_t>(loops.vertices.size());
    const auto k = static_cast<py::ssize_t>(loops.offsets.size());
    return py::make_tuple(to_array(std::move(loops.vertices), {n}), to_array(std::move(loops.offsets), {k}));
}

py::tuple close_loops(Ints loop_vertices, Ints offsets, Doubles positions, int64_t first_new_vertex,
                      double max_perimeter) {
    meshkit::HolePatch patch = meshkit::close_loops(loop_vertices.data(), offsets.data(), offsets.shape(0) - 1,
                                                    positions.data(), first_new_vertex, max_perimeter);
    const auto nv = static_cast<py::ssize_t>(patch.vertices.size() / 3);
    const auto nf = static_cast<py::ssize_t>(patch.faces.size() / 3);
    return py::make_tuple(to_array(std::move(patch.vertices), {nv, 3}), to_array(std::move(patch.faces), {nf, 3}));
}

}  // namespace

PYBIND11_MODULE(_geometry, m) {
    m.doc() = "meshkit native geometry: BVH closest points, topology helpers, hole filling, QEM simplification, remeshing.";
    py::class_<PyBVH>(m, "TriangleBVH")
        .def(py::init<Doubles, Ints>(), py::arg("vertices"), py::arg("faces"))
        .def("closest_point", &PyBVH::closest_point, py::arg("points"),
             "(distance, face, barycentric, closest point) for each query point.")
        .def("count_crossings", &PyBVH::count_crossings, py::arg("origins"), py::arg("directions"),
             "Number of triangles each ray crosses in front of its origin.")
        .def("arrays", &PyBVH::arrays, "(boxes, links, triangles, faces): the tree as flat arrays, triangles in tree order.");
    m.def("connected_components", &connected_components, py::arg("n"), py::arg("pairs"));
    m.def("face_components", &face_components, py::arg("faces"), py::arg("num_vertices"),
          "Component label per face (numbered by first face); faces sharing an edge are connected.");
    m.def("manifold_half_edge_pairs", &manifold_half_edge_pairs, py::arg("faces"), py::arg("num_vertices"),
          "(pairs (P, 2) of half-edges on edges with exactly two, ordered by edge; most half-edges on one edge).");
    m.def("propagate_orientation", &propagate_orientation, py::arg("num_faces"), py::arg("pairs"), py::arg("same"));
    m.def("boundary_half_edges", &boundary_half_edges, py::arg("faces"), py::arg("num_vertices"),
          "Increasing half-edges 3 * face + corner whose edge no other half-edge uses.");
    m.def("trace_loops", &trace_loops, py::arg("tails"), py::arg("heads"),
          "(vertices, offsets): the arcs tail -> head chained into closed loops, loop k = vertices[offsets[k]:offsets[k + 1]].");
    m.def("close_loops", &close_loops, py::arg("loop_vertices"), py::arg("offsets"), py::arg("positions"),
          py::arg("first_new_vertex"), py::arg("max_perimeter"),
          "(new vertices, new faces) closing every loop whose perimeter is at most max_perimeter.");
    meshkit::bind_simplify(m);
    meshkit::bind_remesh(m);
    meshkit::bind_uv_pack(m);
}
