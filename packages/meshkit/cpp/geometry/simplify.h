// Quadric-error edge-collapse simplification (CPU).
#pragma once
#include <pybind11/pybind11.h>

namespace meshkit {
void bind_simplify(pybind11::module_& m);
}
