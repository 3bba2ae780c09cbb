// One work item of the PrRoIPool (SPEC 3.8) CUDA kernel, as a host/device function so
// it also runs (and is tested) on the host: item `index` owns output element `index`
// (output order, so a warp's writes are coalesced). Windows are clipped to the map,
// so any box is bounded work. An item evaluates its bin's weights itself (a few
// double ops per pixel), which is cheaper than a second pass through memory.
#pragma once

#include <cstdint>

#include "prroi_pool/prroi_axis.h"

namespace roipool {
namespace detail {

// Everything a work item reads (a kernel parameter, by value).
struct PrLaunch {
  FeatureMap map;
  const void* rois;
  DType rois_dtype;
  int64_t num_rois;
  int32_t pooled_h, pooled_w;
  float spatial_scale;
};

inline PrLaunch make_pr_launch(const OpAttrs& attrs, const OpArgs& args) {
  return {args.features[0], args.rois,     args.rois_dtype,    args.num_rois,
          attrs.pooled_h,   attrs.pooled_w, attrs.spatial_scale};
}

// Number of work items of a launch (= output elements).
ROIPOOL_HD int64_t pr_work_items(const PrLaunch& p) {
  return p.num_rois * p.map.channels * p.pooled_h * p.pooled_w;
}

template <typename T>
ROIPOOL_HD void pr_work_item(const PrLaunch& p, T* out, int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const T* input = static_cast<const T*>(p.map.data);
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  const int64_t bin = index % bins;
  const int64_t c = (index / bins) % p.map.channels;
  const int64_t k = index / (bins * p.map.channels);
  const auto roi = [&](int32_t column) {
    return load_as_float(p.rois, p.rois_dtype, k * 5 + column);
  };
  const int64_t batch = roi_batch_index(roi(0), p.map.batch);
  const PrAxis y = PrAxis::make(roi(2), roi(4), p.spatial_scale, p.pooled_h, height);
  const PrAxis x = PrAxis::make(roi(1), roi(3), p.spatial_scale, p.pooled_w, width);
  if (batch < 0 || !pr_roi_has_area(y, x)) {
    out[index] = from_float<T>(0.f);
    return;
  }
  const auto i = static_cast<int32_t>(bin / p.pooled_w);
  const auto j = static_cast<int32_t>(bin % p.pooled_w);
  const PixelRange rows = y.window(i), cols = x.window(j);
  const ChannelView view = channel_view(p.map, batch, c);
  float sum = 0.f;
  for (int32_t h = rows.begin; h < rows.end; ++h) {
    const T* row = channel_row(input, view, width, h);
    float row_sum = 0.f;
    for (int32_t w = cols.begin; w < cols.end; ++w) {
      row_sum += x.weight(j, w) * to_float(row[w * view.pixel_step]);
    }
    sum += y.weight(i, h) * row_sum;
  }
  out[index] = from_float<T>(sum);
}

}  // namespace detail
}  // namespace roipool
