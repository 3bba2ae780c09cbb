// PrRoIPool (SPEC 3.8) geometry, host and device. The bilinear surface is a sum of
// separable hats v[h, w] * hat(y - h) * hat(x - w) (zero padding: pixels outside the
// map simply do not exist), so the exact integral over a bin is
//   sum_h sum_w v[h, w] * (integral of hat(y - h) over the bin's rows)
//                       * (integral of hat(x - w) over the bin's columns),
// the same closed form mmcv/PreciseRoIPooling evaluates cell by cell. Weights are
// computed in double: a bin can be far narrower than one float ulp of its position.
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.h"
#include "roi_pool/pixel_bins.h"

namespace roipool {

// Integral of max(0, 1 - |u|) for u from -inf to t.
ROIPOOL_HD double hat_cdf(double t) {
  if (t <= -1.0) return 0.0;
  if (t < 0.0) return 0.5 * (t + 1.0) * (t + 1.0);
  if (t < 1.0) return 1.0 - 0.5 * (1.0 - t) * (1.0 - t);
  return 1.0;
}

// One axis of a RoI: box lo*s .. hi*s (no offset), extent max(hi*s - lo*s, 0).
struct PrAxis {
  double start, bin;
  int32_t size;

  static ROIPOOL_HD PrAxis make(float lo, float hi, float scale, int32_t pooled, int32_t size) {
    const double start = static_cast<double>(lo) * scale;
    const double extent = static_cast<double>(hi) * scale - start;
    return {start, (extent > 0.0 ? extent : 0.0) / pooled, size};  // NaN -> 0
  }

  // Pixels whose hat reaches into bin `index`: floor(a) .. ceil(b), clipped to the map.
  ROIPOOL_HD PixelRange window(int32_t index) const {
    const double a = start + index * bin;
    const double b = a + bin;
    return {clip(floor(a)), clip(ceil(b)) + 1};
  }

  // v clipped to the pixel indices [0, size - 1]; NaN gives 0.
  ROIPOOL_HD int32_t clip(double v) const {
    if (!(v > 0.0)) return 0;
    return v < size - 1 ? static_cast<int32_t>(v) : size - 1;
  }

  // (Integral of hat(u - pixel) over bin `index`) / bin size.
  ROIPOOL_HD float weight(int32_t index, int32_t pixel) const {
    const double a = start + index * bin - pixel;
    return static_cast<float>((hat_cdf(a + bin) - hat_cdf(a)) / bin);
  }
};

// Bins of a RoI have area > 0 and finite, else the whole RoI is 0 (SPEC 3.8).
ROIPOOL_HD bool pr_roi_has_area(const PrAxis& y, const PrAxis& x) {
  const double area = y.bin * x.bin;
  return area > 0.0 && area < INFINITY;
}

}  // namespace roipool
