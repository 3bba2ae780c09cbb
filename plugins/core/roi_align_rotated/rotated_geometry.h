// RoIAlignRotated geometry (SPEC 3.7, mmcv rules): a (batch, cx, cy, w, h, theta) row
// becomes a frame centred on the box and rotated by theta (radians).
#pragma once

#include <cmath>

#include "bin_sampler.h"

namespace roipool {

struct RotatedGeometry {
  float spatial_scale;
  int32_t sampling_ratio, pooled_h, pooled_w;
  bool aligned, clockwise;

  static RotatedGeometry from_attrs(const OpAttrs& a) {
    return {a.spatial_scale, a.sampling_ratio, a.pooled_h, a.pooled_w, a.aligned != 0,
            a.clockwise != 0};
  }

  ROIPOOL_HD int32_t rois_columns() const { return 6; }

  ROIPOOL_HD SamplingFrame operator()(const float* roi) const {
    const float offset = aligned ? 0.5f : 0.f;
    float width = roi[3] * spatial_scale, height = roi[4] * spatial_scale;
    if (!aligned) {
      width = width > 1.f ? width : 1.f;
      height = height > 1.f ? height : 1.f;
    }
    SamplingFrame f = box_frame(-height * 0.5f, -width * 0.5f, height * 0.5f, width * 0.5f, false,
                                sampling_ratio, pooled_h, pooled_w);
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
