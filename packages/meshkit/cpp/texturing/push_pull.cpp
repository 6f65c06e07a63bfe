// Push-pull fill of empty texels. Sums run in float64 in the same order as the original numpy version (2x2 blocks
// as (2i, 2j) + (2i+1, 2j) + (2i, 2j+1) + (2i+1, 2j+1), odd sizes zero-padded), so results agree with it exactly.
#include "push_pull.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace meshkit {

namespace {

// One pyramid level: mask-weighted value sums (h, w, c) and weight sums (h, w).
struct Level {
    int64_t height = 0, width = 0;
    std::vector<double> values, weights;
};

// Level of half the size (rounded up) whose texels sum 2x2 blocks of `value_at` / `weight_at`.
template <typename Value, typename Weight>
Level downsample(int64_t height, int64_t width, int64_t channels, Value value_at, Weight weight_at) {
    Level coarse;
    coarse.height = (height + 1) / 2;
    coarse.width = (width + 1) / 2;
    coarse.values.resize(coarse.height * coarse.width * channels);
    coarse.weights.resize(coarse.height * coarse.width);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < coarse.height; ++i) {
        for (int64_t j = 0; j < coarse.width; ++j) {
            const int64_t rows[4] = {2 * i, 2 * i + 1, 2 * i, 2 * i + 1};
            const int64_t cols[4] = {2 * j, 2 * j, 2 * j + 1, 2 * j + 1};
            const int64_t out = i * coarse.width + j;
            double* value = &coarse.values[out * channels];
            double weight = 0;
            for (int q = 0; q < 4; ++q) {
                const bool inside = rows[q] < height && cols[q] < width;
                const int64_t in = rows[q] * width + cols[q];
                weight = q == 0 ? (inside ? weight_at(in) : 0.0) : weight + (inside ? weight_at(in) : 0.0);
                for (int64_t c = 0; c < channels; ++c) {
                    const double v = inside ? value_at(in, c) : 0.0;
                    value[c] = q == 0 ? v : value[c] + v;
                }
            }
            coarse.weights[out] = weight;
        }
    }
    return coarse;
}

template <typename T>
void push_pull_into(const T* texture, const uint8_t* mask, int64_t height, int64_t width, int64_t channels, T* out) {
    // Level 0 is the texture times its 0/1 mask: read it on the fly rather than storing it.
    std::vector<Level> levels;
    if (std::max(height, width) > 1)
        levels.push_back(downsample(
            height, width, channels,
            [&](int64_t t, int64_t c) { return static_cast<double>(texture[t * channels + c]) * (mask[t] ? 1.0 : 0.0); },
            [&](int64_t t) { return mask[t] ? 1.0 : 0.0; }));
    while (!levels.empty() && std::max(levels.back().height, levels.back().width) > 1) {
        const Level& fine = levels.back();
        levels.push_back(downsample(
            fine.height, fine.width, channels, [&](int64_t t, int64_t c) { return fine.values[t * channels + c]; },
            [&](int64_t t) { return fine.weights[t]; }));
    }
    // Pull: the coarsest level holds the weighted mean of everything; each finer level keeps its own mean where it
    // has weight and takes the coarser level's filled value elsewhere.
    std::vector<double> filled(channels, 0.0);
    if (!levels.empty()) {
        const Level& top = levels.back();
        for (int64_t c = 0; c < channels; ++c) filled[c] = top.values[c] / std::max(top.weights[0], 1e-300);
    }
    for (int64_t l = static_cast<int64_t>(levels.size()) - 2; l >= 0; --l) {
        const Level& level = levels[l];
        const int64_t coarse_width = levels[l + 1].width;
        std::vector<double> next(level.height * level.width * channels);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < level.height; ++i) {
            for (int64_t j = 0; j < level.width; ++j) {
                const int64_t t = i * level.width + j;
                const double weight = level.weights[t];
                const double* coarse = &filled[((i / 2) * coarse_width + j / 2) * channels];
                for (int64_t c = 0; c < channels; ++c)
                    next[t * channels + c] = weight > 0 ? level.values[t * channels + c] / weight : coarse[c];
            }
        }
        filled.swap(next);
    }
    // Level 0: covered texels keep their value, the others take level 1's filled value.
    const int64_t coarse_width = levels.empty() ? 1 : levels[0].width;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < height; ++i) {
        for (int64_t j = 0; j < width; ++j) {
            const int64_t t = i * width + j;
            const double* coarse = &filled[((i / 2) * coarse_width + j / 2) * channels];
            for (int64_t c = 0; c < channels; ++c)
                out[t * channels + c] = mask[t] ? texture[t * channels + c] : static_cast<T>(coarse[c]);
        }
    }
}

template <typename T>
py::array_t<T> push_pull_array(py::array_t<T, py::array::c_style | py::array::forcecast> texture,
                               py::array_t<uint8_t, py::array::c_style | py::array::forcecast> mask) {
    if (texture.ndim() != 3 || mask.ndim() != 2 || texture.shape(0) != mask.shape(0) ||
        texture.shape(1) != mask.shape(1))
        throw std::invalid_argument("push_pull needs texture (H, W, C) and mask (H, W) of the same H and W");
    const int64_t h = texture.shape(0), w = texture.shape(1), c = texture.shape(2);
    py::array_t<T> out({h, w, c});
    T* data = out.mutable_data();
    {
        py::gil_scoped_release release;
        push_pull_into(texture.data(), mask.data(), h, w, c, data);
    }
    return out;
}

}  // namespace

void bind_push_pull(py::module_& m) {
    // float32 first so that float32 textures are not converted; anything else goes through float64.
    m.def("push_pull", &push_pull_array<float>, py::arg("texture"), py::arg("mask"));
    m.def("push_pull", &push_pull_array<double>, py::arg("texture"), py::arg("mask"),
          "Texture (H, W, C) with unmasked texels filled from mask-weighted averages of coarser levels.");
}

}  // namespace meshkit
