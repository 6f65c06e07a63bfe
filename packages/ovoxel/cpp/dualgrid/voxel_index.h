// Packed voxel keys and an open-addressing map from key to voxel index.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

using Key = uint64_t;

constexpr uint32_t kMissing = std::numeric_limits<uint32_t>::max();
constexpr int kKeyShift[3] = {42, 21, 0};  // 21 bits per axis (grids are below 2^20 cells)

inline Key pack(int x, int y, int z) {
    return (Key(uint32_t(x)) << kKeyShift[0]) | (Key(uint32_t(y)) << kKeyShift[1]) | Key(uint32_t(z));
}

inline int unpack(Key key, int axis) { return int((key >> kKeyShift[axis]) & ((Key(1) << 21) - 1)); }

// Linear-probing hash map, grown by doubling at half load.
class VoxelIndex {
  public:
    void reserve(size_t n) { rehash(std::max<size_t>(64, next_pow2(n * 2))); }

    // Index of `key`, inserting `fresh_value` when absent; second is true when inserted.
    std::pair<uint32_t, bool> insert(Key key, uint32_t fresh_value) {
        if ((size_ + 1) * 2 > keys_.size()) rehash(std::max<size_t>(64, keys_.size() * 2));
        size_t slot = probe(key);
        if (keys_[slot] == key) return {values_[slot], false};
        keys_[slot] = key;
        values_[slot] = fresh_value;
        ++size_;
        return {fresh_value, true};
    }

    uint32_t find(Key key) const {
        if (keys_.empty()) return kMissing;
        const size_t slot = probe(key);
        return keys_[slot] == key ? values_[slot] : kMissing;
    }

  private:
    static constexpr Key kEmpty = ~Key(0);

    static size_t next_pow2(size_t n) {
        size_t p = 1;
        while (p < n) p <<= 1;
        return p;
    }

    size_t probe(Key key) const {
        const size_t mask = keys_.size() - 1;
        size_t slot = size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
        while (keys_[slot] != key && keys_[slot] != kEmpty) slot = (slot + 1) & mask;
        return slot;
    }

    void rehash(size_t capacity) {
        std::vector<Key> old_keys(capacity, kEmpty);
        std::vector<uint32_t> old_values(capacity);
        old_keys.swap(keys_);
        old_values.swap(values_);
        for (size_t i = 0; i < old_keys.size(); ++i)
            if (old_keys[i] != kEmpty) {
                const size_t slot = probe(old_keys[i]);
                keys_[slot] = old_keys[i];
                values_[slot] = old_values[i];
            }
    }

    std::vector<Key> keys_;
    std::vector<uint32_t> values_;
    size_t size_ = 0;
};
