// Branch-free float arithmetic written once for a plain float and for four float lanes (one SSE2 / NEON register).
// Every lane rounds exactly as the scalar code (IEEE add, multiply, divide and square root; no contraction), so a
// kernel written with these helpers gives bit-identical results on either type.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace lanes {

typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

// Mask (comparison result) and lane-index types of a float type: bool / int for a float, all-ones lanes for F4.
template <typename T>
struct Of;
template <>
struct Of<float> {
    using Mask = bool;
    using Index = int;
};
template <>
struct Of<F4> {
    using Mask = I4;
    using Index = I4;
};

template <typename T>
T splat(float x) {
    if constexpr (sizeof(T) == sizeof(float)) {
        return x;
    } else {
        return T{x, x, x, x};
    }
}

template <typename T>
typename Of<T>::Index splat_index(int i) {
    if constexpr (sizeof(T) == sizeof(float)) {
        return i;
    } else {
        return I4{i, i, i, i};
    }
}

// m ? a : b lane by lane.
inline float select(bool m, float a, float b) { return m ? a : b; }
inline int select(bool m, int a, int b) { return m ? a : b; }
inline F4 select(I4 m, F4 a, F4 b) { return (F4)((m & (I4)a) | (~m & (I4)b)); }
inline I4 select(I4 m, I4 a, I4 b) { return (m & a) | (~m & b); }

inline float sqrt(float x) { return std::sqrt(x); }
inline F4 sqrt(F4 x) {
#if defined(__SSE2__)
    return (F4)_mm_sqrt_ps((__m128)x);
#elif defined(__ARM_NEON) && defined(__aarch64__)
    return (F4)vsqrtq_f32((float32x4_t)x);
#else
    return F4{std::sqrt(x[0]), std::sqrt(x[1]), std::sqrt(x[2]), std::sqrt(x[3])};
#endif
}

inline float abs(float x) { return std::fabs(x); }
inline F4 abs(F4 x) { return (F4)((I4)x & I4{0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}); }

}  // namespace lanes
