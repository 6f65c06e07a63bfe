// Native texturing helpers for meshkit: a UV-space triangle rasterizer (numpy buffers in and out).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

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

}  // namespace

PYBIND11_MODULE(_texturing, m) {
    m.doc() = "UV-space rasterization for meshkit texturing.";
    m.def("rasterize_uv", &rasterize_uv, py::arg("uvs"), py::arg("faces"), py::arg("width"), py::arg("height"),
          "Per texel: id of the triangle covering its centre (-1 if none) and the centre's barycentric weights.");
}
