// Narrow-band dual contouring of an unsigned distance field (CPU).
#pragma once
#include <pybind11/pybind11.h>

namespace meshkit {
void bind_remesh(pybind11::module_& m);
}
