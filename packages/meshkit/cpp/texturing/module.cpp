// Native texturing helpers for meshkit: a UV-space triangle rasterizer (numpy buffers in and out).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "push_pull.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Writes, for every texel whose centre lies in (or within a tiny tolerance of) a triangle, that triangle's id and
// the centre's barycentric coordinates. Rows are split into bands, one per thread, so each texel has one writer;
// when triangles overlap the highest face id wins, whatever the thread count.
void rasterize_band(const double* uv, const int64_t* faces, int64_t num_faces, int width, int height, int row_begin,
                    int row_end, int32_t* face_id, float* bary) {
    for (int64_t f = 0; f < num_faces; ++f) {
        const double* a = uv + 2 * faces[3 * f];
        const double* b = uv + 2 * faces[3 * f + 1];
        const double* c = uv + 2 * faces[3 * f + 2];
        // Texel (i, j) has its centre at u = (j + 0.5) / width, v = (i + 0.5) / height: work in texel units.
        const double ax = a[0] * width - 0.5, ay = a[1] * height - 0.5;
        const double bx = b[0] * width - 0.5, by = b[1] * height - 0.5;
        const double cx = c[0] * width - 0.5, cy = c[1] * height - 0.5;
        const double area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
        if (!(std::fabs(area) > 1e-18)) continue;
        const int i0 = std::max(row_begin, static_cast<int>(std::ceil(std::min({ay, by, cy}) - 1e-9)));
        const int i1 = std::min(row_end - 1, static_cast<int>(std::floor(std::max({ay, by, cy}) + 1e-9)));
        const int j0 = std::max(0, static_cast<int>(std::ceil(std::min({ax, bx, cx}) - 1e-9)));
        const int j1 = std::min(width - 1, static_cast<int>(std::floor(std::max({ax, bx, cx}) + 1e-9)));
        for (int i = i0; i <= i1; ++i) {
            for (int j = j0; j <= j1; ++j) {
                double wa = ((bx - j) * (cy - i) - (by - i) * (cx - j)) / area;
                double wb = ((cx - j) * (ay - i) - (cy - i) * (ax - j)) / area;
                double wc = 1.0 - wa - wb;
                // A small negative slack keeps centres lying exactly on a shared edge inside both triangles.
                if (wa < -1e-9 || wb < -1e-9 || wc < -1e-9) continue;
                wa = std::max(wa, 0.0);
                wb = std::max(wb, 0.0);
                wc = std::max(wc, 0.0);
                const double sum = wa + wb + wc;
                const int64_t texel = static_cast<int64_t>(i) * width + j;
                face_id[texel] = static_cast<int32_t>(f);
                bary[3 * texel] = static_cast<float>(wa / sum);
                bary[3 * texel + 1] = static_cast<float>(wb / sum);
                bary[3 * texel + 2] = static_cast<float>(wc / sum);
            }
        }
    }
}

py::tuple rasterize_uv(FloatArray uvs, IndexArray faces, int width, int height) {
    if (uvs.ndim() != 2 || uvs.shape(1) != 2) throw std::invalid_argument("uvs must have shape (V, 2)");
    if (faces.ndim() != 2 || faces.shape(1) != 3) throw std::invalid_argument("faces must have shape (F, 3)");
    if (width <= 0 || height <= 0) throw std::invalid_argument("width and height must be positive");
    py::array_t<int32_t> face_id({height, width});
    py::array_t<float> bary({height, width, 3});
    int32_t* ids = face_id.mutable_data();
    float* weights = bary.mutable_data();
    std::fill(ids, ids + static_cast<int64_t>(width) * height, -1);
    std::fill(weights, weights + static_cast<int64_t>(width) * height * 3, 0.0f);
    const double* uv = uvs.data();
    const int64_t* f = faces.data();
    const int64_t num_faces = faces.shape(0);
    {
        py::gil_scoped_release release;
        int bands = 1;
#ifdef _OPENMP
        bands = std::max(1, std::min(omp_get_max_threads(), height));
#endif
#pragma omp parallel for schedule(static, 1)
        for (int band = 0; band < bands; ++band) {
            const int row_begin = static_cast<int>(static_cast<int64_t>(height) * band / bands);
            const int row_end = static_cast<int>(static_cast<int64_t>(height) * (band + 1) / bands);
            rasterize_band(uv, f, num_faces, width, height, row_begin, row_end, ids, weights);
        }
    }
    return py::make_tuple(face_id, bary);
}

// Screen-space rasterization with a depth buffer: vertices are (x, y) in pixels and z = camera depth (> 0).
// Each thread owns a band of rows; the nearest triangle wins (ties: lowest face id). Barycentrics are
// perspective-correct (interpolated in 1/z).
void rasterize_screen_band(const double* p, const int64_t* faces, int64_t num_faces, int width, int row_begin,
                           int row_end, int32_t* face_id, float* bary, float* depth) {
    for (int64_t f = 0; f < num_faces; ++f) {
        const double* a = p + 3 * faces[3 * f];
        const double* b = p + 3 * faces[3 * f + 1];
        const double* c = p + 3 * faces[3 * f + 2];
        if (a[2] <= 0 || b[2] <= 0 || c[2] <= 0) continue;  // behind or on the camera plane: not drawn
        const double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if (!(std::fabs(area) > 1e-18)) continue;
        const int i0 = std::max(row_begin, static_cast<int>(std::ceil(std::min({a[1], b[1], c[1]}) - 0.5)));
        const int i1 = std::min(row_end - 1, static_cast<int>(std::floor(std::max({a[1], b[1], c[1]}) - 0.5)));
        const int j0 = std::max(0, static_cast<int>(std::ceil(std::min({a[0], b[0], c[0]}) - 0.5)));
        const int j1 = std::min(width - 1, static_cast<int>(std::floor(std::max({a[0], b[0], c[0]}) - 0.5)));
        for (int i = i0; i <= i1; ++i) {
            const double y = i + 0.5;
            for (int j = j0; j <= j1; ++j) {
                const double x = j + 0.5;
                const double la = ((b[0] - x) * (c[1] - y) - (b[1] - y) * (c[0] - x)) / area;
                const double lb = ((c[0] - x) * (a[1] - y) - (c[1] - y) * (a[0] - x)) / area;
                const double lc = 1.0 - la - lb;
                if (la < -1e-9 || lb < -1e-9 || lc < -1e-9) continue;
                const double wa = la / a[2], wb = lb / b[2], wc = lc / c[2];
                const double inverse_depth = wa + wb + wc;
                const double z = 1.0 / inverse_depth;
                const int64_t pixel = static_cast<int64_t>(i) * width + j;
                if (!(z < depth[pixel])) continue;
                depth[pixel] = static_cast<float>(z);
                face_id[pixel] = static_cast<int32_t>(f);
                bary[3 * pixel] = static_cast<float>(wa * z);
                bary[3 * pixel + 1] = static_cast<float>(wb * z);
                bary[3 * pixel + 2] = static_cast<float>(wc * z);
            }
        }
    }
}

py::tuple rasterize_screen(FloatArray points, IndexArray faces, int width, int height) {
    if (points.ndim() != 2 || points.shape(1) != 3) throw std::invalid_argument("points must have shape (V, 3)");
    if (faces.ndim() != 2 || faces.shape(1) != 3) throw std::invalid_argument("faces must have shape (F, 3)");
    if (width <= 0 || height <= 0) throw std::invalid_argument("width and height must be positive");
    py::array_t<int32_t> face_id({height, width});
    py::array_t<float> bary({height, width, 3});
    py::array_t<float> depth({height, width});
    const int64_t pixels = static_cast<int64_t>(width) * height;
    int32_t* ids = face_id.mutable_data();
    float* weights = bary.mutable_data();
    float* z = depth.mutable_data();
    std::fill(ids, ids + pixels, -1);
    std::fill(weights, weights + pixels * 3, 0.0f);
    std::fill(z, z + pixels, std::numeric_limits<float>::infinity());
    const double* p = points.data();
    const int64_t* f = faces.data();
    const int64_t num_faces = faces.shape(0);
    {
        py::gil_scoped_release release;
        int bands = 1;
#ifdef _OPENMP
        bands = std::max(1, std::min(omp_get_max_threads(), height));
#endif
#pragma omp parallel for schedule(static, 1)
        for (int band = 0; band < bands; ++band) {
            const int row_begin = static_cast<int>(static_cast<int64_t>(height) * band / bands);
            const int row_end = static_cast<int>(static_cast<int64_t>(height) * (band + 1) / bands);
            rasterize_screen_band(p, f, num_faces, width, row_begin, row_end, ids, weights, z);
        }
    }
    return py::make_tuple(face_id, bary, depth);
}

}  // namespace

PYBIND11_MODULE(_texturing, m) {
    m.doc() = "UV-space rasterization and push-pull texture fill for meshkit texturing.";
    m.def("rasterize_uv", &rasterize_uv, py::arg("uvs"), py::arg("faces"), py::arg("width"), py::arg("height"),
          "Per texel: id of the triangle covering its centre (-1 if none) and the centre's barycentric weights.");
    m.def("rasterize_screen", &rasterize_screen, py::arg("points"), py::arg("faces"), py::arg("width"),
          py::arg("height"), "Per pixel: nearest triangle id (-1 if none), perspective-correct barycentrics, depth.");
    meshkit::bind_push_pull(m);
}
