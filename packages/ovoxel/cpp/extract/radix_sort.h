// Stable parallel LSD radix sort of 64-bit words on a bit range; the result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

// Sort `words` by their bits [lo_bit, hi_bit), keeping input order among equal keys. Contiguous blocks count their
// digits, and each block's share of a bucket is placed after the shares of the blocks before it, so every pass is
// the stable order whatever the number of blocks.
inline void radix_sort(std::vector<uint64_t>& words, int lo_bit, int hi_bit, int threads) {
    const size_t n = words.size();
    const int bits = hi_bit - lo_bit;
    if (n < 2 || bits <= 0) return;
    const int passes = (bits + 10) / 11;
    const int width = (bits + passes - 1) / passes;
    const size_t buckets = size_t(1) << width;
    const uint64_t mask = buckets - 1;
    const int blocks = int(std::max<size_t>(1, std::min<size_t>(size_t(threads), n / 65536)));
    auto begin = [&](int b) { return n * size_t(b) / size_t(blocks); };
    std::vector<uint64_t> spare(n);
    std::vector<size_t> next(size_t(blocks) * buckets);
    for (int pass = 0; pass < passes; ++pass) {
        const int shift = lo_bit + pass * width;
#pragma omp parallel for schedule(static, 1) num_threads(blocks)
        for (int b = 0; b < blocks; ++b) {
            size_t* count = &next[size_t(b) * buckets];
            std::fill(count, count + buckets, size_t(0));
            for (size_t i = begin(b); i < begin(b + 1); ++i) ++count[(words[i] >> shift) & mask];
        }
        size_t placed = 0;
        for (size_t d = 0; d < buckets; ++d)
            for (int b = 0; b < blocks; ++b) {
                const size_t count = next[size_t(b) * buckets + d];
                next[size_t(b) * buckets + d] = placed;
                placed += count;
            }
#pragma omp parallel for schedule(static, 1) num_threads(blocks)
        for (int b = 0; b < blocks; ++b) {
            size_t* slot = &next[size_t(b) * buckets];
            for (size_t i = begin(b); i < begin(b + 1); ++i) spare[slot[(words[i] >> shift) & mask]++] = words[i];
        }
        words.swap(spare);
    }
}
