// A channels-last (NHWC) copy of an NCHW feature map, made once per call so that the
// CPU bin sampler reads each tap's channels contiguously instead of gathering from
// C separate planes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "parallel.h"
#include "roipool/common.h"

namespace roipool {

// Allocator of the copy: elements are left uninitialised (the buffer is overwritten
// whole, so vector's zero fill would add a pass over memory), and large blocks are
// 2 MiB aligned and offered transparent huge pages: a fresh map-sized block otherwise
// costs one page fault per 4 KiB, more than the copy itself.
template <typename T>
struct ScratchAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{1} << 21;

  ScratchAllocator() = default;
  template <typename U>
  ScratchAllocator(const ScratchAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    const bool huge = bytes >= kHugePage;
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = huge ? std::aligned_alloc(kHugePage, rounded) : std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: may keep small pages
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }

  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U>
  bool operator==(const ScratchAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const ScratchAllocator<U>&) const { return false; }
};

template <typename T>
class ChannelsLastBuffer {
 public:
  // Fills the buffer from `map` (NCHW) with up to `num_threads` threads and returns
  // the same map in NHWC, pointing at the buffer (valid while the buffer lives).
  FeatureMap assign(const FeatureMap& map, int32_t num_threads) {
    const int64_t channels = map.channels, plane = map.height * map.width;
    data_.clear();  // a larger map reallocates without moving the old contents
    data_.resize(static_cast<size_t>(map.batch * channels * plane));
    const T* src = static_cast<const T*>(map.data);
    const int64_t tiles = (plane + kTile - 1) / kTile;  // per image
    // Each task moves kTile pixels x all channels, one kTile x kTile tile at a time:
    // the tile's source rows and destination rows stay in L1 while it is moved.
    parallel_for(map.batch * tiles, num_threads, kMinTasks, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t image = task / tiles * channels * plane;
        const int64_t p0 = task % tiles * kTile, p1 = std::min(plane, p0 + kTile);
        for (int64_t c0 = 0; c0 < channels; c0 += kTile) {
          const int64_t c1 = std::min(channels, c0 + kTile);
          for (int64_t p = p0; p < p1; ++p) {
            T* dst = data_.data() + image + p * channels;
            for (int64_t c = c0; c < c1; ++c) dst[c] = src[image + c * plane + p];
          }
        }
      }
    });
    FeatureMap copy = map;
    copy.data = data_.data();
    copy.layout = Layout::kNHWC;
    return copy;
  }

 private:
  static constexpr int64_t kTile = 32;      // 32 x 32 fp32 = 4 KB per side
  static constexpr int64_t kMinTasks = 64;  // tiles per thread worth starting it for
  std::vector<T, ScratchAllocator<T>> data_;
};

}  // namespace roipool
