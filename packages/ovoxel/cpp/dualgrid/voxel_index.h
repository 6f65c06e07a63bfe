// Packed voxel keys and an open-addressing map from key to voxel index.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

constexpr uint32_t kMissing = std::numeric_limits<uint32_t>::max();

// Voxel keys are (x, y, z) bit fields: 10 bits per axis in a uint32_t (grids up to 1024 cells a side; half the hash
// memory of 64-bit keys), 21 bits per axis in a uint64_t otherwise. All-ones is never a key (the empty slot).
template <typename Key>
struct KeyBits {
    static constexpr int kAxis = sizeof(Key) == 4 ? 10 : 21;
    static constexpr int kMaxCells = 1 << kAxis;
    static constexpr int kShift[3] = {2 * kAxis, kAxis, 0};
};

template <typename Key>
Key pack(int x, int y, int z) {
    using B = KeyBits<Key>;
    return (Key(uint32_t(x)) << B::kShift[0]) | (Key(uint32_t(y)) << B::kShift[1]) | Key(uint32_t(z));
}

template <typename Key>
int unpack(Key key, int axis) {
    using B = KeyBits<Key>;
    return int((key >> B::kShift[axis]) & ((Key(1) << B::kAxis) - 1));
}

// Linear-probing hash map, grown by doubling at half load; key and value share a slot (one cache miss per probe).
// Any table size: a slot is picked by scaling a 32-bit hash to the size, so a reservation costs no power-of-two
// round-up (every slot is written when the table is made: on a fresh allocation, a page fault per 4 KiB).
template <typename Key>
class VoxelIndex {
  public:
    void reserve(size_t n) { rehash(std::max<size_t>(64, n * 2)); }

    // Index of `key`, inserting `fresh_value` when absent; second is true when inserted.
    std::pair<uint32_t, bool> insert(Key key, uint32_t fresh_value) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(std::max<size_t>(64, slots_.size() * 2));
        Slot& slot = slots_[probe(key)];
        if (slot.key == key) return {slot.value, false};
        slot = {key, fresh_value};
        ++size_;
        return {fresh_value, true};
    }

    // Hint the cache to load the first slot `key` probes (no effect on results).
    void prefetch(Key key) const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[home(key)]);
    }

    uint32_t find(Key key) const {
        if (slots_.empty()) return kMissing;
        const Slot& slot = slots_[probe(key)];
        return slot.key == key ? slot.value : kMissing;
    }

  private:
    static constexpr Key kEmpty = ~Key(0);

    struct Slot {
        Key key;
        uint32_t value;
    };

    size_t home(Key key) const {
        const uint64_t hash = (uint64_t(key) * 0x9E3779B97F4A7C15ull) >> 32;
        return size_t((hash * slots_.size()) >> 32);
    }

    size_t probe(Key key) const {
        size_t slot = home(key);
        while (slots_[slot].key != key && slots_[slot].key != kEmpty)
            if (++slot == slots_.size()) slot = 0;
        return slot;
    }

    void rehash(size_t capacity) {
        std::vector<Slot> old(capacity, Slot{kEmpty, 0});
        old.swap(slots_);
        for (const Slot& s : old)
            if (s.key != kEmpty) slots_[probe(s.key)] = s;
    }

    std::vector<Slot> slots_;
    size_t size_ = 0;
};
