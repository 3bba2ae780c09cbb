// RoIAlignRotated geometry (SPEC 3.7, mmcv rules): a (batch, cx, cy, w, h, theta) row
// becomes a frame centred on the box and rotated by theta (radians).
#pragma once

#include <cmath>

#include "bin_sampler.h"

namespace roipool {

struct RotatedGeometry {
  float spatial_scale;
  GridRule grid;
  bool aligned, clockwise;

  static RotatedGeometry from_attrs(const OpAttrs& a) {
    return {a.spatial_scale, GridRule::from_attrs(a), a.aligned != 0, a.clockwise != 0};
  }

  ROIPOOL_HD int32_t rois_columns() const { return 6; }

  ROIPOOL_HD SamplingFrame operator()(const float* roi) const {
    const float offset = aligned ? 0.5f : 0.f;
    float width = roi[3] * spatial_scale, height = roi[4] * spatial_scale;
    if (!aligned) {
      width = max_keep_nan(width, 1.f);
      height = max_keep_nan(height, 1.f);
    }
    // The extent is the box size itself, not h/2 - (-h/2), which underflows to 0 for
    // subnormal sizes where mmcv still samples the centre line.
    SamplingFrame f = extent_frame(-height * 0.5f, -width * 0.5f, height, width, false, grid);
    const float theta = clockwise ? -roi[5] : roi[5];
    f.rotated = true;
    f.center_x = roi[1] * spatial_scale - offset;
    f.center_y = roi[2] * spatial_scale - offset;
    f.cos_t = cosf(theta);
    f.sin_t = sinf(theta);
    return f;
  }
};

}  // namespace roipool
