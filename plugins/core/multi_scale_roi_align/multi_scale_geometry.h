// MultiScaleRoIAlign geometry (SPEC 3.6): picks each RoI's level, then places it on
// that level like RoIAlign. Shared by the CPU and CUDA kernels.
#pragma once

#include <cmath>

#include "bin_sampler.h"

namespace roipool {

struct MultiScaleGeometry {
  int32_t num_levels;
  GridRule grid;
  bool aligned, mmdet, legacy_rescale;
  float spatial_scales[kMaxLevels];
  float canonical_scale, roi_scale_factor;
  int32_t canonical_level, k_min, k_max;  // torchvision: levels of the finest / coarsest map

  static MultiScaleGeometry from_attrs(const OpAttrs& a) {
    MultiScaleGeometry g{};
    g.num_levels = a.num_levels;
    g.grid = GridRule::from_attrs(a);
    g.aligned = a.aligned != 0;
    g.mmdet = a.level_mapping == LevelMapping::kMMDet;
    for (int32_t l = 0; l < a.num_levels; ++l) g.spatial_scales[l] = a.spatial_scales[l];
    g.canonical_scale = effective_canonical_scale(a);
    g.roi_scale_factor = a.roi_scale_factor;
    g.legacy_rescale = a.legacy_roi_rescale != 0;
    g.canonical_level = a.canonical_level;
    // torchvision truncates -log2(scale) to int.
    g.k_min = static_cast<int32_t>(-std::log2(a.spatial_scales[0]));
    g.k_max = static_cast<int32_t>(-std::log2(a.spatial_scales[a.num_levels - 1]));
    return g;
  }

  ROIPOOL_HD int32_t rois_columns() const { return 5; }

  // Level index in [0, num_levels); NaN or empty boxes land on the finest level.
  ROIPOOL_HD int32_t level(const float* roi) const {
    const float scale = sqrtf((roi[3] - roi[1]) * (roi[4] - roi[2]));
    float lo = 0.f, hi = static_cast<float>(num_levels - 1), shift = 0.f;
    float target;
    if (mmdet) {
      target = floorf(log2f(scale / canonical_scale + 1e-6f));
    } else {
      target = floorf(static_cast<float>(canonical_level) + log2f(scale / canonical_scale) + 1e-6f);
      lo = static_cast<float>(k_min);
      hi = static_cast<float>(k_max);
      shift = lo;
    }
    target = target >= lo ? target : lo;  // NaN -> lo
    target = target <= hi ? target : hi;
    const int32_t index = static_cast<int32_t>(target - shift);
    return index < 0 ? 0 : (index >= num_levels ? num_levels - 1 : index);
  }

  ROIPOOL_HD SamplingFrame operator()(const float* roi) const {
    const int32_t l = level(roi);
    float box[5] = {roi[0], roi[1], roi[2], roi[3], roi[4]};
    if (roi_scale_factor != 1.f) {  // mmdet roi_rescale, after the level is chosen
      const float cx = (roi[1] + roi[3]) * 0.5f, cy = (roi[2] + roi[4]) * 0.5f;
      // mmdeploy's legacy rule counts the box as w + 1 pixels: ((w + 1) * f - 1) / 2.
      const float plus = legacy_rescale ? 1.f : 0.f;
      const float half_w = (roi[3] - roi[1] + plus) * roi_scale_factor * 0.5f - 0.5f * plus;
      const float half_h = (roi[4] - roi[2] + plus) * roi_scale_factor * 0.5f - 0.5f * plus;
      box[1] = cx - half_w;
      box[2] = cy - half_h;
      box[3] = cx + half_w;
      box[4] = cy + half_h;
    }
    const BoxGeometry on_level{spatial_scales[l], grid, aligned, false};
    SamplingFrame frame = on_level(box);
    frame.level = l;
    return frame;
  }
};

}  // namespace roipool
