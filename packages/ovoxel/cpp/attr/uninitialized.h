// A std::vector allocator that leaves new elements uninitialised.
#pragma once

#include <memory>
#include <new>
#include <utility>

namespace ovoxel_attr {

// Allocator leaving new elements uninitialised: for buffers written whole right after allocation (texels, sort
// scratch), where a zero fill would only add a pass over tens of megabytes.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = UninitializedAllocator<U>;
    };
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        if constexpr (sizeof...(Args) == 0) ::new (static_cast<void*>(p)) U;
        else ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

}  // namespace ovoxel_attr
