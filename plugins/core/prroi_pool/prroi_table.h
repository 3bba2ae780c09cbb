// Per-RoI tables of PrRoIPool's bin windows and weights (prroi_axis.h), shared by
// the CPU forward and backward.
#pragma once

#include <cstdint>
#include <vector>

#include "prroi_pool/prroi_axis.h"

namespace roipool {

// The window and normalised weights of every bin along one axis, flattened.
struct AxisTable {
  std::vector<PixelRange> windows;
  std::vector<int64_t> offsets;  // first weight of each bin in `weights`
  std::vector<float> weights;

  void build(const PrAxis& axis, int32_t pooled) {
    windows.clear();
    offsets.clear();
    weights.clear();
    for (int32_t i = 0; i < pooled; ++i) {
      const PixelRange window = axis.window(i);
      windows.push_back(window);
      offsets.push_back(static_cast<int64_t>(weights.size()));
      for (int32_t p = window.begin; p < window.end; ++p) weights.push_back(axis.weight(i, p));
    }
  }

  const float* weights_of(int32_t bin) const { return weights.data() + offsets[bin]; }
};

}  // namespace roipool
