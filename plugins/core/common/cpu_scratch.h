// Per-thread scratch of the CPU engines (tap tables, bin origins, accumulators, the
// output tile of one RoI), kept across RoIs and calls so that a steady stream of calls
// allocates nothing. Bounded: whatever grew past kKeepBytes (a huge pooled size or
// channel count) is released when the engine that used it finishes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bilinear.h"
#include "bin_sampler.h"

namespace roipool {

struct CpuScratch {
  static constexpr size_t kKeepBytes = size_t{1} << 20;

  std::vector<BilinearTaps> taps;
  std::vector<BinOrigin> origins;
  std::vector<float> acc;
  std::vector<float> tile;

  // `floats` accumulators of one RoI's [bins, C] tile (contents unspecified).
  float* tile_of(int64_t floats) {
    if (tile.size() < static_cast<size_t>(floats)) tile.resize(static_cast<size_t>(floats));
    return tile.data();
  }

  void trim() {
    release_if_big(taps);
    release_if_big(origins);
    release_if_big(acc);
    release_if_big(tile);
  }

 private:
  template <typename V>
  static void release_if_big(V& v) {
    if (v.capacity() * sizeof(typename V::value_type) > kKeepBytes) V().swap(v);
  }
};

// This thread's scratch. One engine at a time uses it: no kernel nests another.
inline CpuScratch& cpu_scratch() {
  static thread_local CpuScratch scratch;
  return scratch;
}

}  // namespace roipool
