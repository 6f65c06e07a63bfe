// Build facts of the meshkit native extension: proves the CPU build path and reports threading support.
#include <pybind11/pybind11.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

PYBIND11_MODULE(_core, m) {
    m.doc() = "Build facts of the meshkit native extension.";
    m.def("max_threads", &max_threads, "Number of CPU threads the native code may use (1 without OpenMP).");
}
