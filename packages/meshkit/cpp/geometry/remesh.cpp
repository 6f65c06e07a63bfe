#include "remesh.h"
namespace meshkit { void bind_remesh(pybind11::module_&) {} }
