// Bitmap chart packing for UV atlases (see uv_pack.h): each chart becomes one texel span per row, in four quarter
// turns; the atlas is a bit per texel; a chart goes where its spans, grown by the gutter, meet no set bit.
#include "uv_pack.h"

#include <pybind11/numpy.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>

namespace py = pybind11;

namespace meshkit {
namespace {

struct Spans {
    std::vector<int32_t> lo, hi;  // per row; lo > hi for an empty row
    int64_t width = 0;
    void reset(int64_t rows, int64_t w) {
        lo.assign(rows, INT32_MAX);
        hi.assign(rows, -1);
        width = w;
    }
    int64_t rows() const { return static_cast<int64_t>(lo.size()); }
};

// Widens [xmin, xmax] to the x-range of triangle p (3 x 2, x then y) within the strip y0 <= y <= y1: the ends of its
// edges clipped to the strip bound the convex piece of the triangle inside it.
void strip_range(const double* p, double y0, double y1, double& xmin, double& xmax) {
    for (int k = 0; k < 3; ++k) {
        const double xa = p[2 * k], ya = p[2 * k + 1], xb = p[2 * ((k + 1) % 3)], yb = p[2 * ((k + 1) % 3) + 1];
        if (std::max(ya, yb) < y0 || std::min(ya, yb) > y1) continue;
        double t0 = 0.0, t1 = 1.0;
        if (ya != yb) {
            const double s0 = (y0 - ya) / (yb - ya), s1 = (y1 - ya) / (yb - ya);
            t0 = std::max(0.0, std::min(s0, s1));
            t1 = std::min(1.0, std::max(s0, s1));
        }
        for (const double t : {t0, t1}) {
            const double x = xa + t * (xb - xa);
            xmin = std::min(xmin, x);
            xmax = std::max(xmax, x);
        }
    }
}

// Per row j of a box of `rows` x `width` texels, widens [lo[j], hi[j]] to the columns of the texel squares
// [i, i+1] x [j, j+1] that triangle p (3 x 2: x, y) touches.
void add_triangle(const double* p, int64_t rows, int64_t width, int32_t* lo, int32_t* hi) {
    const double ymin = std::min({p[1], p[3], p[5]}), ymax = std::max({p[1], p[3], p[5]});
    const int64_t first = std::max<int64_t>(0, static_cast<int64_t>(std::floor(ymin)));
    const int64_t last = std::min<int64_t>(rows - 1, static_cast<int64_t>(std::floor(ymax)));
    for (int64_t j = first; j <= last; ++j) {
        double xmin = INFINITY, xmax = -INFINITY;
        strip_range(p, static_cast<double>(j), static_cast<double>(j + 1), xmin, xmax);
        if (xmin > xmax) continue;
        const auto column = [width](double x) {
            return static_cast<int32_t>(std::clamp<int64_t>(static_cast<int64_t>(std::floor(x)), 0, width - 1));
        };
        lo[j] = std::min(lo[j], column(xmin));
        hi[j] = std::max(hi[j], column(xmax));
    }
}

// The spans of a chart turned counter-clockwise by `turn` quarter turns inside its box, from its row spans and its
// column spans (texel (i, j) of a w x h box goes to (h-1-j, i), (w-1-i, h-1-j), (j, w-1-i)).
Spans turned_spans(const Spans& rows, const Spans& columns, int turn) {
    const int64_t w = rows.width, h = rows.rows();
    Spans out;
    if (turn == 0) return rows;
    if (turn == 2) {
        out.reset(h, w);
        for (int64_t j = 0; j < h; ++j)
            if (rows.lo[j] <= rows.hi[j]) {
                out.lo[h - 1 - j] = static_cast<int32_t>(w - 1 - rows.hi[j]);
                out.hi[h - 1 - j] = static_cast<int32_t>(w - 1 - rows.lo[j]);
            }
        return out;
    }
    out.reset(w, h);
    for (int64_t i = 0; i < w; ++i) {
        if (columns.lo[i] > columns.hi[i]) continue;
        if (turn == 1) {
            out.lo[i] = static_cast<int32_t>(h - 1 - columns.hi[i]);
            out.hi[i] = static_cast<int32_t>(h - 1 - columns.lo[i]);
        } else {
            out.lo[w - 1 - i] = columns.lo[i];
            out.hi[w - 1 - i] = columns.hi[i];
        }
    }
    return out;
}

// Spans grown by `gutter` texels in both directions (a square neighbourhood): rows -gutter..rows+gutter-1.
Spans grown_spans(const Spans& spans, int64_t gutter) {
    Spans out;
    const int64_t h = spans.rows();
    out.reset(h + 2 * gutter, spans.width + 2 * gutter);
    for (int64_t j = 0; j < h; ++j) {
        if (spans.lo[j] > spans.hi[j]) continue;
        for (int64_t k = j; k <= j + 2 * gutter; ++k) {
            out.lo[k] = std::min(out.lo[k], static_cast<int32_t>(spans.lo[j] - gutter));
            out.hi[k] = std::max(out.hi[k], static_cast<int32_t>(spans.hi[j] + gutter));
        }
    }
    return out;
}

class Atlas {
public:
    Atlas(int64_t width) : width_(width), words_((width + 63) / 64) {}

    int64_t rows() const { return static_cast<int64_t>(free_run_.size()); }

    // Longest run of free texels in row y (the whole width above the rows used so far).
    int64_t free_run(int64_t y) const { return y < rows() ? free_run_[y] : width_; }

    // Highest set texel in [a, b] of row y, or -1.
    int64_t last_set(int64_t y, int64_t a, int64_t b) const {
        if (y >= rows()) return -1;
        const uint64_t* row = bits_.data() + y * words_;
        for (int64_t k = b >> 6; k >= (a >> 6); --k) {
            uint64_t word = row[k];
            if (k == (b >> 6) && (b & 63) != 63) word &= (uint64_t(2) << (b & 63)) - 1;
            if (k == (a >> 6)) word &= ~uint64_t(0) << (a & 63);
            if (word) return k * 64 + 63 - __builtin_clzll(word);
        }
        return -1;
    }

    // Sets the free texels a..b of row y, keeping the row's longest free run.
    void set(int64_t y, int64_t a, int64_t b) {
        if (y >= rows()) {
            bits_.resize((y + 1) * words_, 0);
            free_run_.resize(y + 1, width_);
        }
        // Only the run holding a..b shrinks: the longest run changes only if that one was (one of) the longest.
        const int64_t run = next_bit(y, b, true) - (a > 0 ? last_set(y, 0, a - 1) + 1 : 0);
        uint64_t* row = bits_.data() + y * words_;
        for (int64_t k = a >> 6; k <= (b >> 6); ++k) {
            uint64_t mask = ~uint64_t(0);
            if (k == (b >> 6) && (b & 63) != 63) mask &= (uint64_t(2) << (b & 63)) - 1;
            if (k == (a >> 6)) mask &= ~uint64_t(0) << (a & 63);
            row[k] |= mask;
        }
        if (run >= free_run_[y]) update_free_run(y);
    }

private:
    void update_free_run(int64_t y) {
        int64_t best = 0, x = 0;
        while (x < width_) {
            const int64_t next = next_bit(y, x, true);  // first set texel at or after x
            best = std::max(best, next - x);
            x = next_bit(y, next, false);
        }
        free_run_[y] = best;
    }

    // First texel at or after x whose bit is `value` (width_ if none).
    int64_t next_bit(int64_t y, int64_t x, bool value) const {
        const uint64_t* row = bits_.data() + y * words_;
        for (int64_t k = x >> 6; k < words_; ++k) {
            uint64_t word = value ? row[k] : ~row[k];
            if (k == (x >> 6)) word &= ~uint64_t(0) << (x & 63);
            if (word) return std::min(width_, k * 64 + __builtin_ctzll(word));
        }
        return width_;
    }

    int64_t width_, words_;
    std::vector<uint64_t> bits_;
    std::vector<int64_t> free_run_;
};

// Leftmost x in [x0, x1] where grown spans `g` with their row 0 at atlas row y0 meet no set texel, or -1.
int64_t first_fit_in_row(const Atlas& atlas, const Spans& g, int64_t y0, int64_t x0, int64_t x1) {
    const int64_t rows = g.rows();
    int64_t x = x0, row = 0, clear = 0;  // rows checked clear at x, counting from `row`
    while (x <= x1 && clear < rows) {
        if (g.lo[row] <= g.hi[row]) {
            const int64_t hit = atlas.last_set(y0 + row, x + g.lo[row], x + g.hi[row]);
            if (hit >= 0) {
                x = hit - g.lo[row] + 1;  // every x' <= hit - lo still covers `hit`
                clear = 0;
                continue;
            }
        }
        ++clear;
        row = (row + 1) % rows;
    }
    return x <= x1 ? x : -1;
}

}  // namespace

ChartPacking pack_chart_bitmaps(const double* corners, const int64_t* chart_start, const int64_t* sizes,
                                int64_t num_charts, double scale, int64_t gutter, int64_t texture_size) {
    ChartPacking result;
    result.offsets.assign(2 * num_charts, 0);
    result.turns.assign(num_charts, 0);
    std::vector<int64_t> order(num_charts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return sizes[2 * a] * sizes[2 * a + 1] > sizes[2 * b] * sizes[2 * b + 1];
    });
    const int64_t min_run = 2 * gutter + 1;  // no grown row is narrower: rows with shorter free runs are full
    // Row and column spans of every chart (independent of the layout, so in parallel): chart c's rows from
    // row_start[c], its columns from column_start[c].
    std::vector<int64_t> row_start(num_charts + 1, 0), column_start(num_charts + 1, 0);
    for (int64_t c = 0; c < num_charts; ++c) {
        row_start[c + 1] = row_start[c] + sizes[2 * c + 1];
        column_start[c + 1] = column_start[c] + sizes[2 * c];
    }
    std::vector<int32_t> row_lo(row_start[num_charts], INT32_MAX), row_hi(row_start[num_charts], -1);
    std::vector<int32_t> column_lo(column_start[num_charts], INT32_MAX), column_hi(column_start[num_charts], -1);
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t c = 0; c < num_charts; ++c) {
        double p[6];
        for (int64_t f = chart_start[c]; f < chart_start[c + 1]; ++f) {
            for (int k = 0; k < 6; ++k) p[k] = corners[6 * f + k] * scale + 0.5;
            add_triangle(p, sizes[2 * c + 1], sizes[2 * c], row_lo.data() + row_start[c],
                         row_hi.data() + row_start[c]);
            for (int k = 0; k < 3; ++k) std::swap(p[2 * k], p[2 * k + 1]);
            add_triangle(p, sizes[2 * c], sizes[2 * c + 1], column_lo.data() + column_start[c],
                         column_hi.data() + column_start[c]);
        }
    }
    Atlas atlas(texture_size);
    int64_t floor = 0, height = 0, cursor_y = 0, cursor_x = 0, size_class = -1;
    Spans rows, columns;
    for (const int64_t c : order) {
        const int64_t w = sizes[2 * c], h = sizes[2 * c + 1];
        // Charts come largest first; each size class (boxes with their gutter within a factor of two in area) sweeps
        // the atlas once in raster order from the lowest row with room, so smaller classes fill earlier holes.
        const int64_t area = (w + gutter) * (h + gutter);
        const int64_t chart_class = 63 - __builtin_clzll(static_cast<uint64_t>(area));
        if (chart_class != size_class) size_class = chart_class, cursor_y = 0, cursor_x = 0;
        rows.width = w;
        rows.lo.assign(row_lo.begin() + row_start[c], row_lo.begin() + row_start[c + 1]);
        rows.hi.assign(row_hi.begin() + row_start[c], row_hi.begin() + row_start[c + 1]);
        columns.width = h;
        columns.lo.assign(column_lo.begin() + column_start[c], column_lo.begin() + column_start[c + 1]);
        columns.hi.assign(column_hi.begin() + column_start[c], column_hi.begin() + column_start[c + 1]);
        int64_t best_y = INT64_MAX, best_x = 0, best_turn = -1;
        Spans best;
        for (int turn = 0; turn < 4; ++turn) {
            if ((turn % 2 ? h : w) > texture_size - 2 * gutter) continue;
            Spans spans = turned_spans(rows, columns, turn);
            const Spans grown = grown_spans(spans, gutter);
            const int64_t x1 = texture_size - gutter - spans.width;
            for (int64_t y = std::max({floor + gutter, gutter, cursor_y}); y <= best_y; ++y) {
                bool room = true;
                for (int64_t r = 0; r < grown.rows() && room; ++r)
                    room = grown.hi[r] - grown.lo[r] + 1 <= atlas.free_run(y - gutter + r);
                if (!room) continue;
                const int64_t x0 = y == cursor_y ? std::max(cursor_x, gutter) : gutter;
                const int64_t x = first_fit_in_row(atlas, grown, y - gutter, x0, x1);
                if (x < 0) continue;
                if (y < best_y || x < best_x) {
                    best_y = y, best_x = x, best_turn = turn;
                    best = std::move(spans);
                }
                break;
            }
        }
        if (best_turn < 0) return result;  // wider than the texture in every turn
        for (int64_t r = 0; r < best.rows(); ++r)
            if (best.lo[r] <= best.hi[r]) atlas.set(best_y + r, best_x + best.lo[r], best_x + best.hi[r]);
        while (floor < atlas.rows() && atlas.free_run(floor) < min_run) ++floor;
        height = std::max(height, best_y + best.rows() + gutter);
        cursor_y = best_y, cursor_x = best_x;
        result.offsets[2 * c] = best_x;
        result.offsets[2 * c + 1] = best_y;
        result.turns[c] = best_turn;
    }
    result.height = height;
    return result;
}

void bind_uv_pack(py::module_& m) {
    using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
    using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
    m.def(
        "pack_chart_bitmaps",
        [](Doubles corners, Ints chart_start, Ints sizes, double scale, int64_t gutter, int64_t texture_size) {
            const int64_t n = sizes.shape(0);
            ChartPacking r;
            {
                py::gil_scoped_release release;
                r = pack_chart_bitmaps(corners.data(), chart_start.data(), sizes.data(), n, scale, gutter,
                                       texture_size);
            }
            py::array_t<int64_t> offsets({n, static_cast<int64_t>(2)}), turns(n);
            std::copy(r.offsets.begin(), r.offsets.end(), offsets.mutable_data());
            std::copy(r.turns.begin(), r.turns.end(), turns.mutable_data());
            return py::make_tuple(offsets, turns, r.height);
        },
        py::arg("corners"), py::arg("chart_start"), py::arg("sizes"), py::arg("scale"), py::arg("gutter"),
        py::arg("texture_size"),
        "(offsets (C, 2), quarter turns (C,), rows used or -1): charts packed bottom-left on a texel bitmap.");
}

}  // namespace meshkit
