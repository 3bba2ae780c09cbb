// The order in which the CPU engines pool RoIs: by image, then along a Z-order curve of
// the box centres, so that RoIs pooled one after the other (by either thread) read
// overlapping pixels from the cache rather than from memory. Outputs do not depend on
// the order: each RoI writes only its own block. On the FPN bench (random proposals over
// a 62 MB map, bigger than the last-level cache) this saves a fifth of RoIAlign's time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace roipool {

// Interleaves the low 16 bits of x and y (a Morton code).
inline uint32_t z_order(uint32_t x, uint32_t y) {
  auto spread = [](uint32_t v) {
    v &= 0xffffu;
    v = (v | (v << 8)) & 0x00ff00ffu;
    v = (v | (v << 4)) & 0x0f0f0f0fu;
    v = (v | (v << 2)) & 0x33333333u;
    return (v | (v << 1)) & 0x55555555u;
  };
  return spread(x) | (spread(y) << 1);
}

// Key of a RoI whose centre is (cy, cx) in map pixels: image first (`batch` < 0, a RoI
// that pools to zeros, last), then the Z-order of 8 x 8 pixel cells (clamped; NaN: 0).
inline uint64_t locality_key(int64_t batch, float cy, float cx) {
  auto cell = [](float v) {
    const float c = v / 8.f;
    return c > 0.f ? static_cast<uint32_t>(std::min(c, 65535.f)) : 0u;
  };
  const uint64_t image = batch < 0 ? 0xffffffffu : static_cast<uint64_t>(batch);
  return image << 32 | z_order(cell(cx), cell(cy));
}

// Sorts the RoI indices in [first, last) by key[index] (ties keep index order).
inline void sort_by_locality(std::vector<int64_t>::iterator first,
                             std::vector<int64_t>::iterator last,
                             const std::vector<uint64_t>& key) {
  std::stable_sort(first, last, [&](int64_t a, int64_t b) {
    return key[static_cast<size_t>(a)] < key[static_cast<size_t>(b)];
  });
}

}  // namespace roipool
