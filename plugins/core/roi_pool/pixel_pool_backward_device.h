// Work item of the CUDA backward of RoIPool / PSRoIPool, host/device: item `index` owns
// output element `index` (the forward's indexing, pixel_pool_device.h) and adds its
// gradient with float32 atomics: RoIPool to the first maximal pixel of the bin in
// row-major order, PSRoIPool evenly over the bin's pixels.
#pragma once

#include <cstdint>

#include "bilinear_grad.h"
#include "roi_pool/pixel_pool_device.h"

namespace roipool {
namespace detail {

template <typename T>
ROIPOOL_HD void pixel_backward_work_item(const PixelPoolLaunch& p, const T* grad_output,
                                         float* grad_input, int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  const int64_t bin = index % bins;
  const int64_t c = (index / bins) % p.out_channels;
  const int64_t k = index / (bins * p.out_channels);
  const auto roi = [&](int32_t column) {
    return load_as_float(p.rois, p.rois_dtype, k * 5 + column);
  };
  const int64_t batch = roi_batch_index(roi(0), p.map.batch);
  if (batch < 0) return;
  const PixelRange rows =
      QuantisedAxis::make(roi(2), roi(4), p.spatial_scale, p.pooled_h, height, p.rule)
          .bin(static_cast<int32_t>(bin / p.pooled_w));
  const PixelRange cols =
      QuantisedAxis::make(roi(1), roi(3), p.spatial_scale, p.pooled_w, width, p.rule)
          .bin(static_cast<int32_t>(bin % p.pooled_w));
  const int64_t area = static_cast<int64_t>(rows.end - rows.begin) * (cols.end - cols.begin);
  if (area <= 0) return;
  const int64_t channel = pixel_bin_channel(p.rule, c, bin, bins);
  float* grad = grad_input + (batch * p.map.channels + channel) * p.map.height * p.map.width;
  const float g = to_float(grad_output[index]);
  if (!p.rule.max) {
    const float share = g / static_cast<float>(area);
    for (int32_t h = rows.begin; h < rows.end; ++h) {
      for (int32_t w = cols.begin; w < cols.end; ++w) add_gradient(grad + h * width + w, share);
    }
    return;
  }
  const ChannelView view = channel_view(p.map, batch, channel);
  const T* input = static_cast<const T*>(p.map.data);
  float top = -INFINITY;
  int64_t at = -1;
  for (int32_t h = rows.begin; h < rows.end; ++h) {
    const T* row = channel_row(input, view, width, h);
    for (int32_t w = cols.begin; w < cols.end; ++w) {
      const float v = to_float(row[w * view.pixel_step]);
      if (v > top) {
        top = v;
        at = static_cast<int64_t>(h) * width + w;
      }
    }
  }
  if (at >= 0) add_gradient(grad + at, g);
}

}  // namespace detail
}  // namespace roipool
