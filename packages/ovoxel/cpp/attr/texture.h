// A uint8 texture with glTF wrap modes, nearest or bilinear filtering and a truncating 2x2 box mip chain.
// Arithmetic follows numpy's float32 bilinear blend and float64 mip blend step by step, so results are bit-exact
// with the previous vectorised implementation.
#pragma once

#include <cstdint>
#include <vector>

#include "uninitialized.h"

namespace ovoxel_attr {

enum Wrap { kWrapRepeat = 0, kWrapClamp = 1, kWrapMirror = 2 };
enum Filter { kFilterNearest = 0, kFilterLinear = 1 };
constexpr int kMaxChannels = 16;  // several same-size textures may be interleaved into one

// Bytes per texel: channels padded to a multiple of 4, so taps are blended in 4-wide blocks (vectorised).
constexpr int texel_stride(int channels) { return (channels + 3) / 4 * 4; }

using TexelBuffer = std::vector<uint8_t, UninitializedAllocator<uint8_t>>;

// A uint8 image of `channels` adjacent bytes a pixel, pixels and rows `pixel_stride` and `row_stride` bytes apart
// (a view of some channels of a wider image needs no copy).
struct ImageView {
    const uint8_t* data;
    int channels;
    int64_t pixel_stride, row_stride;
};

struct TextureLevel {
    TexelBuffer texels;  // (height, width, texel_stride(channels)) row-major, padding bytes zero
    int64_t height, width;
};

class MipTexture {
public:
    // Same-size images interleaved channel-wise in list order (1 to 16 channels in all). Linear textures must be
    // square with a power-of-two side; they get mips down to 1x1. Nearest ones keep one level.
    MipTexture(const std::vector<ImageView>& images, int64_t height, int64_t width, int filter, int wrap);

    int channels() const { return channels_; }
    const std::vector<TextureLevel>& levels() const { return levels_; }

    // All channels in [0, 1] at (u, v) (origin bottom-left) and a fractional mip level (non-finite means 0).
    void sample(double u, double v, double mip_level, double* out) const;

private:
    int64_t wrap_index(int64_t index, int64_t extent) const;
    template <int Stride>  // the texel size as a constant: the blend runs in whole 4-channel vectors
    void sample_linear(const TextureLevel& level, double u, double v, float* out) const;

    int channels_, stride_, filter_, wrap_;
    std::vector<TextureLevel> levels_;
};

}  // namespace ovoxel_attr
