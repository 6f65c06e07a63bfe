#include "simplify.h"
namespace meshkit { void bind_simplify(pybind11::module_&) {} }
