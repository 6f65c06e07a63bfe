// Texture sampling for attribute voxelization (see texture.h).
#include "texture.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

// Four channels as one vector (GCC/Clang vector extensions: element-wise IEEE float operations, the same results as
// the scalar expressions, whatever the texel size).
using Float4 = float __attribute__((vector_size(16)));

Float4 channels4(const uint8_t* texel) {
#ifdef __SSE2__  // zero-extend the four bytes in registers (compilers convert them one by one otherwise)
    int32_t word;
    std::memcpy(&word, texel, sizeof(word));
    const __m128i zero = _mm_setzero_si128();
    return Float4(_mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(word), zero), zero)));
#else
    return Float4{float(texel[0]), float(texel[1]), float(texel[2]), float(texel[3])};
#endif
}

// Row y of the images, channels interleaved in image order, as Stride-byte texels (padding zeroed); texel by texel,
// so the output is streamed through once (fixed-size copies for the usual 1 to 4 channels).
template <int Stride>
void interleave_row(const std::vector<ImageView>& images, int64_t y, int64_t width, uint8_t* out) {
    static constexpr uint8_t kZeros[Stride] = {};
    for (int64_t x = 0; x < width; ++x, out += Stride) {
        std::memcpy(out, kZeros, Stride);  // the padding; the channels overwrite the rest
        uint8_t* dst = out;
        for (const ImageView& image : images) {
            const uint8_t* src = image.data + y * image.row_stride + x * image.pixel_stride;
            switch (image.channels) {
                case 1: dst[0] = src[0]; break;
                case 2: std::memcpy(dst, src, 2); break;
                case 3: std::memcpy(dst, src, 3); break;
                case 4: std::memcpy(dst, src, 4); break;
                default: std::memcpy(dst, src, size_t(image.channels));
            }
            dst += image.channels;
        }
    }
}

// A row of the next mip level from two rows of `fine_width` texels: each byte is the truncated mean of the 2x2 bytes
// below it.
template <int Stride>
void box_reduce_row(const uint8_t* a, int64_t fine_width, uint8_t* out) {
    const uint8_t* b = a + fine_width * Stride;
    for (int64_t x = 0; x < fine_width / 2; ++x, a += 2 * Stride, b += 2 * Stride, out += Stride)
        for (int c = 0; c < Stride; ++c) out[c] = uint8_t((unsigned(a[c]) + b[c] + a[Stride + c] + b[Stride + c]) / 4);
}

// levels[0] (allocated) filled from the images; with `mipmapped`, the chain down to 1x1 appended. The first mip's
// rows are reduced as soon as the two base rows under them are written, while those are still cached.
template <int Stride>
void build_levels(const std::vector<ImageView>& images, bool mipmapped, std::vector<TextureLevel>& levels) {
    const int64_t height = levels[0].height, width = levels[0].width;
    for (int64_t side = height; mipmapped && side > 1; side /= 2)
        levels.push_back({TexelBuffer(size_t(side / 2 * side / 2 * Stride)), side / 2, side / 2});
    const size_t row_bytes = size_t(width * Stride);
    for (int64_t y = 0; y < height; ++y) {
        uint8_t* row = levels[0].texels.data() + size_t(y) * row_bytes;
        interleave_row<Stride>(images, y, width, row);
        if (levels.size() > 1 && y % 2 == 1)
            box_reduce_row<Stride>(row - row_bytes, width, levels[1].texels.data() + size_t(y / 2) * row_bytes / 2);
    }
    for (size_t l = 2; l < levels.size(); ++l)
        for (int64_t y = 0; y < levels[l].height; ++y)
            box_reduce_row<Stride>(levels[l - 1].texels.data() + size_t(2 * y * levels[l - 1].width * Stride),
                                   levels[l - 1].width, levels[l].texels.data() + size_t(y * levels[l].width * Stride));
}

}  // namespace

MipTexture::MipTexture(const std::vector<ImageView>& images, int64_t height, int64_t width, int filter, int wrap)
    : channels_(0), filter_(filter), wrap_(wrap) {
    if (images.empty()) throw std::invalid_argument("texture needs at least one image");
    for (const ImageView& image : images) channels_ += image.channels;
    stride_ = texel_stride(channels_);
    if (height < 1 || width < 1) throw std::invalid_argument("texture must be non-empty");
    if (channels_ < 1 || channels_ > kMaxChannels) throw std::invalid_argument("texture must have 1 to 16 channels");
    if (filter != kFilterNearest && filter != kFilterLinear) throw std::invalid_argument("unknown texture filter");
    if (wrap != kWrapRepeat && wrap != kWrapClamp && wrap != kWrapMirror)
        throw std::invalid_argument("unknown texture wrap mode");
    if (filter == kFilterLinear && (height != width || !is_power_of_two(height)))
        throw std::invalid_argument("a linear-filtered texture must be square with a power-of-two side");
    levels_.push_back({TexelBuffer(size_t(height * width * stride_)), height, width});
    const bool mipmapped = filter == kFilterLinear;
    switch (stride_) {  // a compile-time texel size lets the compiler vectorise the copies and the box filter
        case 4: build_levels<4>(images, mipmapped, levels_); break;
        case 8: build_levels<8>(images, mipmapped, levels_); break;
        case 12: build_levels<12>(images, mipmapped, levels_); break;
        default: build_levels<16>(images, mipmapped, levels_); break;
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

template <int Stride>
void MipTexture::sample_linear(const TextureLevel& level, double u, double v, float* out) const {
    const double x = u * double(level.width), y = (1.0 - v) * double(level.height);
    const int64_t x0 = floor_index(x - 0.5), y0 = floor_index(y - 0.5);
    const float wx = static_cast<float>(x - double(x0) - 0.5), wy = static_cast<float>(y - double(y0) - 0.5);
    const int64_t xa = wrap_index(x0, level.width), xb = wrap_index(x0 + 1, level.width);
    const int64_t ya = wrap_index(y0, level.height), yb = wrap_index(y0 + 1, level.height);
    const uint8_t* a0 = level.texels.data() + (ya * level.width + xa) * Stride;
    const uint8_t* a1 = level.texels.data() + (ya * level.width + xb) * Stride;
    const uint8_t* b0 = level.texels.data() + (yb * level.width + xa) * Stride;
    const uint8_t* b1 = level.texels.data() + (yb * level.width + xb) * Stride;
    for (int c = 0; c < Stride; c += 4) {
        const Float4 top = (1.0f - wx) * channels4(a0 + c) + wx * channels4(a1 + c);
        const Float4 bottom = (1.0f - wx) * channels4(b0 + c) + wx * channels4(b1 + c);
        const Float4 blended = ((1.0f - wy) * top + wy * bottom) / 255.0f;
        std::memcpy(out + c, &blended, sizeof(blended));
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
    auto sample_level = [&](int64_t index, float* values) {
        switch (stride_) {
            case 4: return sample_linear<4>(levels_[size_t(index)], u, v, values);
            case 8: return sample_linear<8>(levels_[size_t(index)], u, v, values);
            case 12: return sample_linear<12>(levels_[size_t(index)], u, v, values);
            default: return sample_linear<16>(levels_[size_t(index)], u, v, values);
        }
    };
    float lower_values[kMaxChannels], upper_values[kMaxChannels];
    sample_level(lower, lower_values);
    // At a whole level the blend is the lower sample: 1 * l + 0 * u == l, as u is finite wherever l is (the coarser
    // level's coordinates are smaller), and l is never -0.
    if (lower == last || blend == 0.0) {
        for (int c = 0; c < channels_; ++c) out[c] = lower_values[c];
        return;
    }
    sample_level(lower + 1, upper_values);
    for (int c = 0; c < channels_; ++c) out[c] = (1 - blend) * double(lower_values[c]) + blend * double(upper_values[c]);
}

}  // namespace ovoxel_attr
