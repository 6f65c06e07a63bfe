// Chart packing for UV atlases: charts rasterised as row spans and placed bottom-left on an occupancy bitmap.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

namespace meshkit {

struct ChartPacking {
    std::vector<int64_t> offsets;  // (C, 2) texel offset of each chart's turned box
    std::vector<int64_t> turns;    // (C,) counter-clockwise quarter turns, 0..3
    int64_t height = -1;           // rows used, border gutter included; -1 when some chart is wider than the texture
};

// Packs charts given as triangles (corners (F, 3, 2) relative to their chart's lower corner, grouped by chart:
// chart c owns faces chart_start[c]..chart_start[c + 1] - 1), at texel coordinates corner * scale + 0.5 inside a box
// of sizes[c] texels: largest box (grown by the gutter) first, each at the first spot in raster order (lowest row,
// then leftmost) of a texture_size-wide atlas of unbounded height, searched from the last chart's spot within a size
// class (grown box areas within a factor of two) and from the bottom when the class changes, in the quarter turn that
// comes first; at least `gutter` texels lie between the texels any two charts touch and around the border.
ChartPacking pack_chart_bitmaps(const double* corners, const int64_t* chart_start, const int64_t* sizes,
                                int64_t num_charts, double scale, int64_t gutter, int64_t texture_size);

void bind_uv_pack(pybind11::module_& m);

}  // namespace meshkit
