// Integer-pixel bins shared by RoIPool (SPEC 3.1) and PSRoIPool (SPEC 3.4), host and
// device: both quantise the box, split it into floor/ceil bins and reduce the pixels
// of each bin (max for RoIPool, mean for PSRoIPool). They differ only in the rule
// fields below. All arithmetic stays in float until the final clip so that huge or
// non-finite boxes give bounded (possibly empty) bins instead of integer overflow.
#pragma once

#include <cmath>
#include <cstdint>

#include "dtype.h"
#include "macros.h"
#include "roipool/common.h"
#include "sampling.h"

namespace roipool {

struct PixelBinRule {
  float extent_pad;             // RoIPool: roi_w = end - start + 1; PSRoIPool: + 0
  int32_t limit_pad;            // bins clip to [0, H - limit_pad] (PSRoIPool: 1)
  bool position_sensitive;      // output (c, i, j) reads channel (c*ph + i)*pw + j
  bool max;                     // max (RoIPool) or mean (PSRoIPool)
};

constexpr PixelBinRule kRoIPoolRule{1.f, 0, false, true};
constexpr PixelBinRule kPSRoIPoolRule{0.f, 1, true, false};

// [begin, end) pixel range of one bin along one axis.
struct PixelRange {
  int32_t begin, end;
};

// v clipped to [0, limit] and truncated; NaN gives 0.
ROIPOOL_HD int32_t clip_to_map(float v, int32_t limit) {
  if (!(v > 0.f)) return 0;
  return v < static_cast<float>(limit) ? static_cast<int32_t>(v) : limit;
}

// One quantised axis of a RoI: start = round(lo * s) (half away from zero, as C's
// roundf), extent = max(round(hi * s) - start + pad, 1), bin size = extent / pooled.
struct QuantisedAxis {
  float start, bin_size;
  int32_t limit;

  static ROIPOOL_HD QuantisedAxis make(float lo, float hi, float scale, int32_t pooled,
                                       int32_t size, const PixelBinRule& rule) {
    const float start = roundf(lo * scale);
    const float extent = roundf(hi * scale) - start + rule.extent_pad;
    // A NaN extent stays NaN, so every bin of the RoI is empty (SPEC section 2).
    return {start, max_keep_nan(extent, 1.f) / static_cast<float>(pooled), size - rule.limit_pad};
  }

  // Bin `index`: floor(index * bin) + start to ceil((index + 1) * bin) + start, clipped.
  ROIPOOL_HD PixelRange bin(int32_t index) const {
    const float lo = floorf(static_cast<float>(index) * bin_size) + start;
    const float hi = ceilf(static_cast<float>(index + 1) * bin_size) + start;
    return {clip_to_map(lo, limit), clip_to_map(hi, limit)};
  }
};

// Input channel of output channel `c` at bin `bin` (of `bins`).
ROIPOOL_HD int64_t pixel_bin_channel(const PixelBinRule& rule, int64_t c, int64_t bin,
                                     int64_t bins) {
  return rule.position_sensitive ? c * bins + bin : c;
}

// Where one channel of one image of a map lives: element (h, w) of it is
// data[base + (h * width + w) * pixel_step], for NCHW and NHWC alike.
struct ChannelView {
  int64_t base, pixel_step;
};

ROIPOOL_HD ChannelView channel_view(const FeatureMap& map, int64_t batch, int64_t channel) {
  const int64_t plane = map.height * map.width;
  if (map.layout == Layout::kNHWC) return {(batch * plane) * map.channels + channel, map.channels};
  return {(batch * map.channels + channel) * plane, 1};
}

// Row h of a ChannelView, then element w is row[w * pixel_step].
template <typename T>
ROIPOOL_HD const T* channel_row(const T* data, const ChannelView& view, int64_t width, int32_t h) {
  return data + view.base + static_cast<int64_t>(h) * width * view.pixel_step;
}

// Reduction of one bin's pixels: max or mean, 0 for an empty bin. The max skips NaN
// values (as torchvision's `>` comparison does).
struct PixelReducer {
  bool max;
  float acc;

  static ROIPOOL_HD PixelReducer start(bool max) { return {max, max ? -INFINITY : 0.f}; }

  // Adds one value, or the max / sum of a group of values.
  ROIPOOL_HD void add(float v) {
    if (max) {
      acc = v > acc ? v : acc;
    } else {
      acc += v;
    }
  }

  ROIPOOL_HD float result(const PixelRange& rows, const PixelRange& cols) const {
    const int64_t area = static_cast<int64_t>(rows.end - rows.begin) * (cols.end - cols.begin);
    if (area <= 0) return 0.f;
    return max ? acc : acc / static_cast<float>(area);
  }
};

}  // namespace roipool
