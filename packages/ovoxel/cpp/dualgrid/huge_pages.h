// Vectors for the builder's large arrays: blocks of 2 MiB or more are 2 MiB-aligned and advised as transparent huge
// pages, so first touch of hundreds of MiB costs a fault per 2 MiB instead of per 4 KiB (where the kernel's THP
// mode is "madvise"; elsewhere the advice is harmless). Linux only: other systems get plain aligned blocks.
#pragma once

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>
#include <vector>

template <typename T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr size_t kHuge = size_t(2) << 20;

    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U>&) {}

    T* allocate(size_t n) {
        if (n > (std::numeric_limits<size_t>::max() >> 2) / sizeof(T)) throw std::bad_alloc();
        const size_t bytes = n * sizeof(T);
        const size_t align = bytes >= kHuge ? kHuge : std::max<size_t>(alignof(T), alignof(std::max_align_t));
        const size_t rounded = (bytes + align - 1) / align * align;
        void* p = std::aligned_alloc(align, std::max(rounded, align));
        if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (bytes >= kHuge) madvise(p, rounded, MADV_HUGEPAGE);
#endif
        return static_cast<T*>(p);
    }
    void deallocate(T* p, size_t) { std::free(p); }

    template <typename U>
    bool operator==(const HugePageAllocator<U>&) const {
        return true;
    }
    template <typename U>
    bool operator!=(const HugePageAllocator<U>&) const {
        return false;
    }
};

template <typename T>
using BigVector = std::vector<T, HugePageAllocator<T>>;
