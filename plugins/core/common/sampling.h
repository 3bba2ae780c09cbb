// Per-RoI helpers shared by every op: batch-index check and sampling-grid size.
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.h"
#include "roipool/common.h"

namespace roipool {

// The batch index of a RoI row, or -1 when it is not an integer in [0, batch)
// (NaN included): such a RoI's output is all zeros (SPEC section 2).
ROIPOOL_HD int64_t roi_batch_index(float value, int64_t batch) {
  if (!(value >= 0.f && value < static_cast<float>(batch))) return -1;
  const int64_t index = static_cast<int64_t>(value);
  return static_cast<float>(index) == value ? index : -1;
}

// Samples along one bin axis: `sampling_ratio` when > 0, else ceil(extent / pooled)
// (SPEC section 2), clamped to [0, kMaxSamplingGrid]; NaN/inf extents give 0 or the cap.
ROIPOOL_HD int32_t sampling_grid(int32_t sampling_ratio, float roi_extent, int32_t pooled) {
  if (sampling_ratio > 0) {
    return sampling_ratio < kMaxSamplingGrid ? sampling_ratio : kMaxSamplingGrid;
  }
  const float grid = ceilf(roi_extent / static_cast<float>(pooled));
  if (!(grid > 0.f)) return 0;
  return grid < static_cast<float>(kMaxSamplingGrid) ? static_cast<int32_t>(grid)
                                                     : kMaxSamplingGrid;
}

}  // namespace roipool
