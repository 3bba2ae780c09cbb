// One work item of the CUDA engine of the integer-pixel bin ops (RoIPool, PSRoIPool),
// as a host/device function so it also runs (and is tested) on the host: item `index`
// owns output element `index` (output order, so a warp's writes are coalesced). A
// bin's bounds are a handful of float ops, cheaper to recompute per item than to
// stage; the pixel loops are clipped to the map, so any box is bounded work.
#pragma once

#include <cstdint>

#include "roi_pool/pixel_bins.h"

namespace roipool {
namespace detail {

// Everything a work item reads (a kernel parameter, by value).
struct PixelPoolLaunch {
  FeatureMap map;
  const void* rois;
  DType rois_dtype;
  int64_t num_rois, out_channels;
  int32_t pooled_h, pooled_w;
  float spatial_scale;
  PixelBinRule rule;
};

inline PixelPoolLaunch make_pixel_pool_launch(const OpAttrs& attrs, const OpArgs& args,
                                              const PixelBinRule& rule) {
  const FeatureMap& map = args.features[0];
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  return {map,
          args.rois,
          args.rois_dtype,
          args.num_rois,
          rule.position_sensitive ? map.channels / bins : map.channels,
          attrs.pooled_h,
          attrs.pooled_w,
          attrs.spatial_scale,
          rule};
}

// Number of work items of a launch (= output elements).
ROIPOOL_HD int64_t pixel_pool_work_items(const PixelPoolLaunch& p) {
  return p.num_rois * p.out_channels * p.pooled_h * p.pooled_w;
}

template <typename T>
ROIPOOL_HD void pixel_pool_work_item(const PixelPoolLaunch& p, T* out, int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const T* input = static_cast<const T*>(p.map.data);
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  const int64_t bin = index % bins;
  const int64_t c = (index / bins) % p.out_channels;
  const int64_t k = index / (bins * p.out_channels);
  const auto roi = [&](int32_t column) {
    return load_as_float(p.rois, p.rois_dtype, k * 5 + column);
  };
  const int64_t batch = roi_batch_index(roi(0), p.map.batch);
  if (batch < 0) {
    out[index] = from_float<T>(0.f);
    return;
  }
  const PixelRange rows =
      QuantisedAxis::make(roi(2), roi(4), p.spatial_scale, p.pooled_h, height, p.rule)
          .bin(static_cast<int32_t>(bin / p.pooled_w));
  const PixelRange cols =
      QuantisedAxis::make(roi(1), roi(3), p.spatial_scale, p.pooled_w, width, p.rule)
          .bin(static_cast<int32_t>(bin % p.pooled_w));
  const ChannelView view = channel_view(p.map, batch, pixel_bin_channel(p.rule, c, bin, bins));
  PixelReducer reducer = PixelReducer::start(p.rule.max);
  for (int32_t h = rows.begin; h < rows.end; ++h) {
    const T* row = channel_row(input, view, width, h);
    for (int32_t w = cols.begin; w < cols.end; ++w) {
      reducer.add(to_float(row[w * view.pixel_step]));
    }
  }
  out[index] = from_float<T>(reducer.result(rows, cols));
}

}  // namespace detail
}  // namespace roipool
