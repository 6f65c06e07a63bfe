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

// A chart's spans: one [lo, hi] texel range per row (lo > hi for an empty row) of a box `width` texels wide.
struct SpanView {
    const int32_t* lo;
    const int32_t* hi;
    int64_t rows, width;
};

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

// floor(x) as an integer, without a call into libm.
inline int64_t floor_int(double x) {
    const int64_t t = static_cast<int64_t>(x);
    return t - (x < static_cast<double>(t));
}

// Per row j of a box of `rows` x `width` texels, widens [lo[j], hi[j]] to the columns of the texel squares
// [i, i+1] x [j, j+1] that triangle p (3 x 2: x, y) touches. In each strip j <= y <= j + 1 the ends of the edges
// clipped to it bound the triangle's piece: each edge meeting the strip adds its x at the strip's two boundaries,
// xa + t * dx with t = (y - ya) / dy clamped to [0, 1] (a level edge: its two ends), each boundary's x serving the
// strips on both sides. Below its lowest corner an edge's x is its lower end, above the highest its upper end, which
// gives triangles within one or two strips (most, at texel scale) without the general loop.
inline void add_triangle(const double* p, int64_t rows, int64_t width, int32_t* lo, int32_t* hi) {
    const double ymin = std::min({p[1], p[3], p[5]}), ymax = std::max({p[1], p[3], p[5]});
    const int64_t bottom = floor_int(ymin), top = floor_int(ymax);
    const int64_t first = std::max<int64_t>(0, bottom), last = std::min<int64_t>(rows - 1, top);
    const auto widen = [&](int64_t j, double xmin, double xmax) {
        lo[j] = std::min(lo[j], static_cast<int32_t>(std::clamp<int64_t>(floor_int(xmin), 0, width - 1)));
        hi[j] = std::max(hi[j], static_cast<int32_t>(std::clamp<int64_t>(floor_int(xmax), 0, width - 1)));
    };
    double xa[3], ya[3], dx[3], dy[3], low[3], high[3], below[3], above[3], ends[2][3];
    bool level = false;
    for (int k = 0; k < 3; ++k) {
        const int l = (k + 1) % 3;
        xa[k] = p[2 * k], ya[k] = p[2 * k + 1], dx[k] = p[2 * l] - xa[k], dy[k] = p[2 * l + 1] - ya[k];
        low[k] = std::min(ya[k], p[2 * l + 1]), high[k] = std::max(ya[k], p[2 * l + 1]);
        ends[0][k] = dy[k] > 0 ? xa[k] : xa[k] + dx[k];  // t at y <= low: 0 going up, 1 going down
        ends[1][k] = dy[k] > 0 ? xa[k] + dx[k] : xa[k];
        level |= dy[k] == 0;
    }
    const auto x_at = [&](double y, int k) {
        return xa[k] + std::min(1.0, std::max(0.0, (y - ya[k]) / dy[k])) * dx[k];
    };
    if (bottom == top && first == last) {  // one strip: every edge's two ends
        widen(first, std::min({ends[0][0], ends[0][1], ends[0][2], ends[1][0], ends[1][1], ends[1][2]}),
              std::max({ends[0][0], ends[0][1], ends[0][2], ends[1][0], ends[1][1], ends[1][2]}));
        return;
    }
    if (top == bottom + 1 && first == bottom && last == top && !level) {  // two strips, split at y = top
        const double y = static_cast<double>(top);
        double xmin[2] = {INFINITY, INFINITY}, xmax[2] = {-INFINITY, -INFINITY};
        for (int k = 0; k < 3; ++k) {
            const double cut = x_at(y, k);
            for (int side = 0; side < 2; ++side)
                if (side ? high[k] >= y : low[k] <= y) {
                    xmin[side] = std::min({xmin[side], ends[side][k], cut});
                    xmax[side] = std::max({xmax[side], ends[side][k], cut});
                }
        }
        widen(bottom, xmin[0], xmax[0]);
        widen(top, xmin[1], xmax[1]);
        return;
    }
    for (int k = 0; k < 3; ++k) below[k] = first == bottom ? ends[0][k] : x_at(static_cast<double>(first), k);
    for (int64_t j = first; j <= last; ++j) {
        const double y0 = static_cast<double>(j), y1 = static_cast<double>(j + 1);
        double xmin = INFINITY, xmax = -INFINITY;
        for (int k = 0; k < 3; ++k) {
            above[k] = j == top ? ends[1][k] : x_at(y1, k);  // garbage for a level edge
            if (high[k] >= y0 && low[k] <= y1) {
                const double a = dy[k] == 0 ? xa[k] : below[k], b = dy[k] == 0 ? xa[k] + dx[k] : above[k];
                xmin = std::min({xmin, a, b});
                xmax = std::max({xmax, a, b});
            }
            below[k] = above[k];
        }
        if (xmin <= xmax) widen(j, xmin, xmax);
    }
}

// The spans of a chart turned counter-clockwise by `turn` quarter turns inside its box, from its row spans and its
// column spans (texel (i, j) of a w x h box goes to (h-1-j, i), (w-1-i, h-1-j), (j, w-1-i)), into `out`.
void turned_spans(const SpanView& rows, const SpanView& columns, int turn, Spans& out) {
    const int64_t w = rows.width, h = rows.rows;
    if (turn % 2 == 0) {
        out.reset(h, w);
        for (int64_t j = 0; j < h; ++j)
            if (rows.lo[j] <= rows.hi[j]) {
                const int64_t k = turn == 0 ? j : h - 1 - j;
                out.lo[k] = static_cast<int32_t>(turn == 0 ? rows.lo[j] : w - 1 - rows.hi[j]);
                out.hi[k] = static_cast<int32_t>(turn == 0 ? rows.hi[j] : w - 1 - rows.lo[j]);
            }
        return;
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
}

// Spans grown by `gutter` texels in both directions (a square neighbourhood), into `out`: rows
// -gutter..rows+gutter-1.
void grown_spans(const Spans& spans, int64_t gutter, Spans& out) {
    const int64_t h = spans.rows();
    out.reset(h + 2 * gutter, spans.width + 2 * gutter);
    for (int64_t j = 0; j < h; ++j) {
        if (spans.lo[j] > spans.hi[j]) continue;
        for (int64_t k = j; k <= j + 2 * gutter; ++k) {
            out.lo[k] = std::min(out.lo[k], static_cast<int32_t>(spans.lo[j] - gutter));
            out.hi[k] = std::max(out.hi[k], static_cast<int32_t>(spans.hi[j] + gutter));
        }
    }
}

class Atlas {
public:
    // Each row holds its texels' bits and kPad zero words after them, so that 128-bit windows read past the width.
    explicit Atlas(int64_t width) : width_(width), words_((width + 63) / 64 + kPad) {}

    int64_t rows() const { return static_cast<int64_t>(free_run_.size()); }

    // Longest run of free texels in row y (the whole width above the rows used so far).
    int64_t free_run(int64_t y) const { return y < rows() ? free_run_[y] : width_; }

    // Bit i (0..63) set where texels x + i .. x + i + length - 1 of row y hold a set one (x >= 0, x + length <=
    // width + 64). Ranges of up to 64 texels: a 128-texel window ORed with itself shifted by 1, 2, 4, ...; longer
    // ones all hold texels x + 63 .. x + length - 1, and beyond those only a set texel in x + i .. x + 62 or in
    // x + length .. x + length + i - 1 covers range i.
    uint64_t covered(int64_t y, int64_t x, int64_t length) const {
        if (y >= rows()) return 0;
        if (length > 64) {
            if (any_set(y, x + 63, x + length - 1)) return ~uint64_t(0);
            const uint64_t head = bits(y, x) & (~uint64_t(0) >> 1), tail = bits(y, x + length);
            return (head ? (uint64_t(2) << (63 - __builtin_clzll(head))) - 1 : 0) |
                   (tail ? (~uint64_t(0) << __builtin_ctzll(tail)) << 1 : 0);
        }
        __uint128_t window = static_cast<__uint128_t>(bits(y, x + 64)) << 64 | bits(y, x);
        if (!window) return 0;
        int64_t reach = 1;  // bit i of the window now stands for texels x + i .. x + i + reach - 1
        for (; 2 * reach <= length; reach *= 2) window |= window >> reach;
        if (reach < length) window |= window >> (length - reach);
        return static_cast<uint64_t>(window);
    }

    // Sets the free texels a..b of row y, keeping the row's longest free run.
    void set(int64_t y, int64_t a, int64_t b) {
        if (y >= rows()) {
            bits_.resize((y + 1) * words_, 0);
            free_run_.resize(y + 1, width_);
        }
        // Only the run holding a..b shrinks: the longest run changes only if that one was (one of) the longest.
        const int64_t run = next_bit(y, b, true) - (a > 0 ? last_set(y, a - 1) + 1 : 0);
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
    static constexpr int64_t kPad = 4;

    // Longest run of free texels in row y, a word at a time: runs across words and the gaps inside each word.
    void update_free_run(int64_t y) {
        const uint64_t* row = bits_.data() + y * words_;
        int64_t best = 0, run = 0;  // run: free texels just before word k
        for (int64_t k = 0; 64 * k < width_; ++k) {
            uint64_t word = row[k];
            if (width_ - 64 * k < 64) word |= ~uint64_t(0) << (width_ - 64 * k);  // past the width: taken
            if (!word) {
                run += 64;
                continue;
            }
            best = std::max<int64_t>(best, run + __builtin_ctzll(word));
            run = __builtin_clzll(word);
            const uint64_t inner = word >> __builtin_ctzll(word);  // bit 0 set: gaps lie below its highest bit
            uint64_t gaps = ~inner & ((uint64_t(1) << (63 - __builtin_clzll(inner))) - 1);
            if (__builtin_popcountll(gaps) <= best) continue;
            int64_t longest = 0;
            for (; gaps; ++longest) gaps &= gaps >> 1;
            best = std::max(best, longest);
        }
        free_run_[y] = std::max(best, run);
    }

    // Texels x .. x + 63 of row y (y < rows()) as a word, texel x in bit 0.
    uint64_t bits(int64_t y, int64_t x) const {
        const uint64_t* word = bits_.data() + y * words_ + (x >> 6);
        const int64_t shift = x & 63;
        return shift ? word[0] >> shift | word[1] << (64 - shift) : word[0];
    }

    // Whether row y (y < rows()) holds a set texel in a..b.
    bool any_set(int64_t y, int64_t a, int64_t b) const {
        for (; a <= b; a += 64) {
            const uint64_t word = bits(y, a);
            if (b - a < 63 ? word << (63 - (b - a)) : word) return true;
        }
        return false;
    }

    // Highest set texel at or before x in row y, or -1.
    int64_t last_set(int64_t y, int64_t x) const {
        const uint64_t* row = bits_.data() + y * words_;
        for (int64_t k = x >> 6; k >= 0; --k) {
            uint64_t word = row[k];
            if (k == (x >> 6) && (x & 63) != 63) word &= (uint64_t(2) << (x & 63)) - 1;
            if (word) return k * 64 + 63 - __builtin_clzll(word);
        }
        return -1;
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

// Leftmost x in [x0, x1] where grown spans `g` with their row 0 at atlas row y0 meet no set texel, or -1: 64
// columns at a time, each row ruling out the columns where it would cover a set texel.
int64_t first_fit_in_row(const Atlas& atlas, const Spans& g, int64_t y0, int64_t x0, int64_t x1) {
    for (int64_t x = x0; x <= x1; x += 64) {
        uint64_t blocked = x1 - x < 63 ? ~uint64_t(0) << (x1 - x + 1) : 0;
        for (int64_t r = 0; r < g.rows() && ~blocked; ++r)
            if (g.lo[r] <= g.hi[r]) blocked |= atlas.covered(y0 + r, x + g.lo[r], g.hi[r] - g.lo[r] + 1);
        if (~blocked) return x + __builtin_ctzll(~blocked);
    }
    return -1;
}

}  // namespace

ChartPacking pack_chart_bitmaps(const double* corners, const int64_t* chart_start, const int64_t* sizes,
                                int64_t num_charts, double scale, int64_t gutter, int64_t texture_size) {
    ChartPacking result;
    result.offsets.assign(2 * num_charts, 0);
    result.turns.assign(num_charts, 0);
    std::vector<int64_t> order(num_charts);
    std::iota(order.begin(), order.end(), 0);
    // Largest box with its gutter first: the size classes below then come in order, one sweep each.
    const auto grown_area = [&](int64_t c) { return (sizes[2 * c] + gutter) * (sizes[2 * c + 1] + gutter); };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return grown_area(a) > grown_area(b); });
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
    Spans spans, grown, best;
    for (const int64_t c : order) {
        const int64_t w = sizes[2 * c], h = sizes[2 * c + 1];
        // Charts come largest first; each size class (boxes with their gutter within a factor of two in area) sweeps
        // the atlas once in raster order from the lowest row with room, so smaller classes fill earlier holes.
        const int64_t chart_class = 63 - __builtin_clzll(static_cast<uint64_t>(grown_area(c)));
        if (chart_class != size_class) size_class = chart_class, cursor_y = 0, cursor_x = 0;
        const SpanView rows{row_lo.data() + row_start[c], row_hi.data() + row_start[c], h, w};
        const SpanView columns{column_lo.data() + column_start[c], column_hi.data() + column_start[c], w, h};
        int64_t best_y = INT64_MAX, best_x = 0, best_turn = -1;
        for (int turn = 0; turn < 4; ++turn) {
            if ((turn % 2 ? h : w) > texture_size - 2 * gutter) continue;
            turned_spans(rows, columns, turn, spans);
            grown_spans(spans, gutter, grown);
            const int64_t x1 = texture_size - gutter - spans.width;
            for (int64_t y = std::max({floor + gutter, gutter, cursor_y}); y <= best_y; ++y) {
                bool room = true;
                for (int64_t r = 0; r < grown.rows() && room; ++r)
                    room = grown.hi[r] - grown.lo[r] + 1 <= atlas.free_run(y - gutter + r);
                if (!room) continue;
                const int64_t x0 = y == cursor_y ? std::max(cursor_x, gutter) : gutter;
                // In the best turn's row only a spot left of it counts.
                const int64_t x =
                    first_fit_in_row(atlas, grown, y - gutter, x0, y < best_y ? x1 : std::min(x1, best_x - 1));
                if (x < 0) continue;
                best_y = y, best_x = x, best_turn = turn;
                std::swap(best, spans);
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
