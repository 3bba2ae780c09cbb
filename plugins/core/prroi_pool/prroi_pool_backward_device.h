// Work items of the CUDA backward of PrRoIPool, host/device, with float32 atomics:
//  - input item: output element `index` (the forward's indexing, prroi_pool_device.h)
//    adds grad * wy * wx to each pixel of its bin's window;
//  - box item: one (RoI, bin), all channels, adds the bin's share of the box gradient
//    (prroi_backward.h) to the RoI's row.
#pragma once

#include <cstdint>

#include "bilinear_grad.h"
#include "prroi_pool/prroi_backward.h"
#include "prroi_pool/prroi_pool_device.h"

namespace roipool {
namespace detail {

// Number of box items (one per RoI and bin).
ROIPOOL_HD int64_t pr_box_work_items(const PrLaunch& p) {
  return p.num_rois * p.pooled_h * p.pooled_w;
}

template <typename T>
ROIPOOL_HD void pr_input_work_item(const PrLaunch& p, const T* grad_output, float* grad_input,
                                   int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
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
  if (batch < 0 || !pr_roi_has_area(y, x)) return;
  const auto i = static_cast<int32_t>(bin / p.pooled_w);
  const auto j = static_cast<int32_t>(bin % p.pooled_w);
  const PixelRange rows = y.window(i), cols = x.window(j);
  float* grad = grad_input + (batch * p.map.channels + c) * p.map.height * p.map.width;
  const float g = to_float(grad_output[index]);
  for (int32_t h = rows.begin; h < rows.end; ++h) {
    const float gy = g * y.weight(i, h);
    for (int32_t w = cols.begin; w < cols.end; ++w) {
      add_gradient(grad + static_cast<int64_t>(h) * width + w, gy * x.weight(j, w));
    }
  }
}

template <typename T>
ROIPOOL_HD void pr_box_work_item(const PrLaunch& p, const T* grad_output, float* grad_rois,
                                 int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  const int64_t bin = index % bins;
  const int64_t k = index / bins;
  const auto roi = [&](int32_t column) {
    return load_as_float(p.rois, p.rois_dtype, k * 5 + column);
  };
  const int64_t batch = roi_batch_index(roi(0), p.map.batch);
  const PrAxis y = PrAxis::make(roi(2), roi(4), p.spatial_scale, p.pooled_h, height);
  const PrAxis x = PrAxis::make(roi(1), roi(3), p.spatial_scale, p.pooled_w, width);
  if (batch < 0 || !pr_roi_has_area(y, x)) return;
  const auto i = static_cast<int32_t>(bin / p.pooled_w);
  const auto j = static_cast<int32_t>(bin % p.pooled_w);
  const PixelRange rows = y.window(i), cols = x.window(j);
  const auto weight_y = [&](int32_t h) { return static_cast<double>(y.weight(i, h)); };
  const auto weight_x = [&](int32_t w) { return static_cast<double>(x.weight(j, w)); };
  PrBinSums sums{0., 0., 0., 0., 0.};
  for (int64_t c = 0; c < p.map.channels; ++c) {
    const double g = to_float(grad_output[(k * p.map.channels + c) * bins + bin]);
    const ChannelView view = channel_view(p.map, batch, c);
    const T* input = static_cast<const T*>(p.map.data);
    const auto value = [&](int32_t h, int32_t w) {
      return static_cast<double>(to_float(channel_row(input, view, width, h)[w * view.pixel_step]));
    };
    sums.add(pr_bin_sums(y, x, i, j, rows, cols, weight_y, weight_x, value), g);
  }
  double d[5] = {0., 0., 0., 0., 0.};
  pr_box_gradient(sums, y, x, i, j, p.pooled_h, p.pooled_w, p.spatial_scale, d);
  for (int32_t col = 1; col < 5; ++col) add_gradient(grad_rois + k * 5 + col, static_cast<float>(d[col]));
}

}  // namespace detail
}  // namespace roipool
