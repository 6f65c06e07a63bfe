// Texture sampling for attribute voxelization (see texture.h).
#include "texture.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace ovoxel_attr {
namespace {

// floor(x) as int64, with x86's conversion result (INT64_MIN) for NaN and out-of-range values, as numpy gives.
int64_t floor_index(double x) {
    if (!(x >= -9.223372036854775808e18 && x < 9.223372036854775808e18)) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(std::floor(x));
}

int64_t floor_mod(int64_t index, int64_t extent) {
    const int64_t folded = index % extent;
    return folded < 0 ? folded + extent : folded;
}

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// Next mip level: each texel byte is the truncated mean of the 2x2 bytes below it.
template <int Stride>
void box_reduce(const TextureLevel& fine, TextureLevel& coarse) {
    for (int64_t y = 0; y < coarse.height; ++y) {
        const uint8_t* a = fine.texels.data() + 2 * y * fine.width * Stride;
        const uint8_t* b = a + fine.width * Stride;
        uint8_t* out = coarse.texels.data() + y * coarse.width * Stride;
        for (int64_t x = 0; x < coarse.width; ++x, a += 2 * Stride, b += 2 * Stride, out += Stride)
            for (int c = 0; c < Stride; ++c)
                out[c] = uint8_t((unsigned(a[c]) + b[c] + a[Stride + c] + b[Stride + c]) / 4);
    }
}

}  // namespace

MipTexture::MipTexture(TextureLevel image, int channels, int filter, int wrap)
    : channels_(channels), stride_(texel_stride(channels)), filter_(filter), wrap_(wrap) {
    const int64_t height = image.height, width = image.width;
    if (height < 1 || width < 1) throw std::invalid_argument("texture must be non-empty");
    if (channels < 1 || channels > kMaxChannels) throw std::invalid_argument("texture must have 1 to 16 channels");
    if (filter != kFilterNearest && filter != kFilterLinear) throw std::invalid_argument("unknown texture filter");
    if (wrap != kWrapRepeat && wrap != kWrapClamp && wrap != kWrapMirror)
        throw std::invalid_argument("unknown texture wrap mode");
    if (filter == kFilterLinear && (height != width || !is_power_of_two(height)))
        throw std::invalid_argument("a linear-filtered texture must be square with a power-of-two side");
    if (image.texels.size() != size_t(height * width * stride_)) throw std::invalid_argument("texel count mismatch");
    levels_.push_back(std::move(image));
    if (filter != kFilterLinear) return;
    while (levels_.back().height > 1) {
        const TextureLevel& fine = levels_.back();
        TextureLevel coarse{TexelBuffer(size_t(fine.height / 2 * fine.width / 2 * stride_)), fine.height / 2,
                            fine.width / 2};
        switch (stride_) {  // a compile-time texel size lets the compiler vectorise the box filter
            case 4: box_reduce<4>(fine, coarse); break;
            case 8: box_reduce<8>(fine, coarse); break;
            case 12: box_reduce<12>(fine, coarse); break;
            default: box_reduce<16>(fine, coarse); break;
        }
        levels_.push_back(std::move(coarse));
    }
}

int64_t MipTexture::wrap_index(int64_t index, int64_t extent) const {
    if (wrap_ == kWrapClamp) return std::clamp<int64_t>(index, 0, extent - 1);
    if (wrap_ == kWrapMirror) {
        const int64_t folded = floor_mod(index, 2 * extent);
        return folded < extent ? folded : 2 * extent - folded - 1;
    }
    return is_power_of_two(extent) ? (index & (extent - 1)) : floor_mod(index, extent);
}

void MipTexture::sample_linear(const TextureLevel& level, double u, double v, float* out) const {
    const double x = u * double(level.width), y = (1.0 - v) * double(level.height);
    const int64_t x0 = floor_index(x - 0.5), y0 = floor_index(y - 0.5);
    const float wx = static_cast<float>(x - double(x0) - 0.5), wy = static_cast<float>(y - double(y0) - 0.5);
    const int64_t xa = wrap_index(x0, level.width), xb = wrap_index(x0 + 1, level.width);
    const int64_t ya = wrap_index(y0, level.height), yb = wrap_index(y0 + 1, level.height);
    const uint8_t* a0 = level.texels.data() + (ya * level.width + xa) * stride_;
    const uint8_t* a1 = level.texels.data() + (ya * level.width + xb) * stride_;
    const uint8_t* b0 = level.texels.data() + (yb * level.width + xa) * stride_;
    const uint8_t* b1 = level.texels.data() + (yb * level.width + xb) * stride_;
    for (int block = 0; block < stride_; block += 4) {
        for (int k = 0; k < 4; ++k) {
            const int c = block + k;
            const float top = (1.0f - wx) * float(a0[c]) + wx * float(a1[c]);
            const float bottom = (1.0f - wx) * float(b0[c]) + wx * float(b1[c]);
            out[c] = ((1.0f - wy) * top + wy * bottom) / 255.0f;
        }
    }
}

void MipTexture::sample(double u, double v, double mip_level, double* out) const {
    const TextureLevel& base = levels_[0];
    if (filter_ == kFilterNearest) {
        const int64_t x = wrap_index(floor_index(u * double(base.width)), base.width);
        const int64_t y = wrap_index(floor_index((1.0 - v) * double(base.height)), base.height);
        const uint8_t* texel = base.texels.data() + (y * base.width + x) * stride_;
        for (int c = 0; c < channels_; ++c) out[c] = texel[c] / 255.0;
        return;
    }
    const int64_t last = int64_t(levels_.size()) - 1;
    double level = std::isfinite(mip_level) ? mip_level : 0.0;
    level = last ? std::min(std::max(level, 0.0), double(last)) : 0.0;
    const int64_t lower = std::min(static_cast<int64_t>(std::floor(level)), last);
    const double blend = level - double(lower);
    float lower_values[kMaxChannels], upper_values[kMaxChannels];
    sample_linear(levels_[size_t(lower)], u, v, lower_values);
    // At a whole level the blend is the lower sample: 1 * l + 0 * u == l, as u is finite wherever l is (the coarser
    // level's coordinates are smaller), and l is never -0.
    if (lower == last || blend == 0.0) {
        for (int c = 0; c < channels_; ++c) out[c] = lower_values[c];
        return;
    }
    sample_linear(levels_[size_t(lower + 1)], u, v, upper_values);
    for (int c = 0; c < channels_; ++c) out[c] = (1 - blend) * double(lower_values[c]) + blend * double(upper_values[c]);
}

}  // namespace ovoxel_attr
