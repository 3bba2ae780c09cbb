// Per-RoI helpers shared by every op: batch-index check and sampling-grid size.
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.h"
#include "roipool/common.h"

namespace roipool {

// max(v, lo) that keeps NaN as NaN (SPEC section 2: clamping a NaN extent to >= 1 must
// not turn it into a real box; the NaN then empties the RoI's bins and its gradient).
ROIPOOL_HD float max_keep_nan(float v, float lo) { return v < lo ? lo : v; }

// The batch index of a RoI row, or -1 when it is not an integer in [0, batch)
// (NaN included): such a RoI's output is all zeros (SPEC section 2).
ROIPOOL_HD int64_t roi_batch_index(float value, int64_t batch) {
  if (!(value >= 0.f && value < static_cast<float>(batch))) return -1;
  const int64_t index = static_cast<int64_t>(value);
  return static_cast<float>(index) == value ? index : -1;
}

// The bound on adaptive sampling work (docs/architecture.md, "Rules chosen where SPEC
// is silent"): along each axis one RoI takes at most `limit` adaptive samples, all its
// bins together, i.e. a bin axis's adaptive grid is at most max(1, limit / pooled). The
// process's limit is ROIPOOL_ADAPTIVE_SAMPLE_LIMIT when set, else the default; an
// invalid setting is an error of every call (validate_attrs).
constexpr int32_t kDefaultAdaptiveSampleLimit = 1024;
constexpr int32_t kMaxAdaptiveSampleLimit = 1 << 20;
constexpr const char* kAdaptiveSampleLimitVariable = "ROIPOOL_ADAPTIVE_SAMPLE_LIMIT";

// The limit in force, or -1 when the variable is set to something other than an integer
// in [1, kMaxAdaptiveSampleLimit]. Read once per process (validation.cpp).
int32_t adaptive_sample_limit();

// The batch index of RoI row `roi` (`columns` values), or -1 when the RoI pools to zeros
// without sampling: a bad batch index or a NaN coordinate (SPEC section 2). Checked up
// front so that a NaN box stays 0 even under a DeformRoIPool mask of inf or NaN.
ROIPOOL_HD int64_t pooled_roi_batch(const float* roi, int32_t columns, int64_t batch) {
  for (int32_t c = 1; c < columns; ++c) {
    if (roi[c] != roi[c]) return -1;
  }
  return roi_batch_index(roi[0], batch);
}

// How many samples a bin axis takes (SPEC section 2): an explicit `sampling_ratio` > 0,
// else the adaptive ceil(extent / pooled) clamped to [0, cap]; NaN / empty extents give 0.
struct GridRule {
  int32_t sampling_ratio, pooled_h, pooled_w;
  int32_t cap_h, cap_w;  // adaptive grid caps from adaptive_sample_limit()

  static GridRule from_attrs(const OpAttrs& a) {
    const auto cap = [](int32_t pooled) {
      const int32_t limit = adaptive_sample_limit();
      const int32_t c = limit > pooled ? limit / pooled : 1;
      return c < kMaxSamplingGrid ? c : kMaxSamplingGrid;
    };
    return {a.sampling_ratio, a.pooled_h, a.pooled_w, cap(a.pooled_h), cap(a.pooled_w)};
  }

  ROIPOOL_HD int32_t grid(float roi_extent, int32_t pooled, int32_t cap) const {
    if (sampling_ratio > 0) {
      return sampling_ratio < kMaxSamplingGrid ? sampling_ratio : kMaxSamplingGrid;
    }
    const float g = ceilf(roi_extent / static_cast<float>(pooled));
    if (!(g > 0.f)) return 0;
    return g < static_cast<float>(cap) ? static_cast<int32_t>(g) : cap;
  }
  ROIPOOL_HD int32_t grid_h(float roi_h) const { return grid(roi_h, pooled_h, cap_h); }
  ROIPOOL_HD int32_t grid_w(float roi_w) const { return grid(roi_w, pooled_w, cap_w); }
};

}  // namespace roipool
