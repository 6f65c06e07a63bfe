// Push-pull fill of the empty texels of a baked texture (CPU, OpenMP over rows, thread-count independent).
#pragma once
#include <pybind11/pybind11.h>

namespace meshkit {

// Binds _texturing.push_pull(texture (H, W, C) float32 or float64, mask (H, W) uint8) -> filled texture.
void bind_push_pull(pybind11::module_& m);

}  // namespace meshkit
