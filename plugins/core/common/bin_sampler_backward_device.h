// Work items of the CUDA backward of the bilinear ops, as host/device functions (so the
// host test runs them too). They walk the samples exactly as the forward work item
// (bin_sampler_device.h) does and scatter with float32 atomics (add_gradient):
//  - scatter item: one (RoI, bin, chunk of kChannelsPerThread channels), the forward's
//    indexing; `max` sends the whole gradient to the first maximal sample;
//  - deform item: one (RoI, bin), all channels, writes its offset / mask gradients.
#pragma once

#include <cstdint>

#include "bilinear_grad.h"
#include "bin_sampler_backward.h"
#include "bin_sampler_device.h"

namespace roipool {
namespace detail {

struct BackwardLaunch {
  PoolLaunch pool;  // the forward's description (pool.output unused)
  const void* grad_output;
  float* grad_features[kMaxLevels];
  float* grad_offset;
  float* grad_mask;
};

inline BackwardLaunch make_backward_launch(const OpAttrs& attrs, const OpArgs& args,
                                           const GradArgs& grads, const BinOptions& options) {
  BackwardLaunch b{};
  b.pool = make_pool_launch(attrs, args, options);
  b.grad_output = grads.grad_output;
  for (int32_t l = 0; l < args.num_features; ++l) b.grad_features[l] = grads.grad_features[l];
  b.grad_offset = grads.grad_offset;
  b.grad_mask = grads.grad_mask;
  return b;
}

// Number of deform items (one per RoI and bin).
ROIPOOL_HD int64_t deform_work_items(const BackwardLaunch& b) {
  return b.pool.num_rois * b.pool.pooled_h * b.pool.pooled_w;
}

template <typename T, bool kMax, typename Geometry>
ROIPOOL_HD void scatter_work_item(const BackwardLaunch& b, const Geometry& geometry,
                                  int64_t index) {
  const PoolLaunch& p = b.pool;
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t chunks = (p.out_channels + kChannelsPerThread - 1) / kChannelsPerThread;
  const int64_t bin = index % bins;
  const int64_t k = index / (bins * chunks);
  const int64_t c0 = ((index / bins) % chunks) * kChannelsPerThread;
  const int32_t valid = static_cast<int32_t>(
      p.out_channels - c0 < kChannelsPerThread ? p.out_channels - c0 : kChannelsPerThread);
  float roi[6];
  load_roi(p.rois, p.rois_dtype, k, geometry.rois_columns(), roi);
  const int64_t batch = roi_batch_index(roi[0], p.batch);
  if (batch < 0) return;
  const SamplingFrame frame = geometry(roi);
  const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
  if (count == 0) return;
  const DeviceFeature map = p.features[frame.level];
  const int64_t plane = static_cast<int64_t>(map.height) * map.width;
  const auto i = static_cast<int32_t>(bin / p.pooled_w);
  const auto j = static_cast<int32_t>(bin % p.pooled_w);
  const int64_t first = p.options.position_sensitive ? c0 * bins + bin : c0;
  const int64_t step = p.options.position_sensitive ? bins : 1;
  float* grad = b.grad_features[frame.level] + (batch * p.channels + first) * plane;
  const T* grad_out = static_cast<const T*>(b.grad_output) + (k * p.out_channels + c0) * bins + bin;
  const BinOrigin origin = bin_origin(frame, p.options, k, i, j, p.pooled_h, p.pooled_w);
  float g[kChannelsPerThread];
ROIPOOL_UNROLL
  for (int32_t c = 0; c < kChannelsPerThread; ++c) {
    g[c] = c < valid ? to_float(grad_out[c * bins]) * origin.scale : 0.f;
  }
  if (!kMax) {
    const float inv = 1.f / static_cast<float>(count);
    for (int32_t iy = 0; iy < frame.grid_h; ++iy) {
      for (int32_t ix = 0; ix < frame.grid_w; ++ix) {
        const BilinearTaps t = sample_taps(frame, origin, iy, ix, map.height, map.width);
        for (int32_t c = 0; c < valid; ++c) bilinear_scatter(grad + c * step * plane, t, g[c] * inv);
      }
    }
    return;
  }
  // Max: the forward's scan (`>`: the first maximum wins, NaN never), then one scatter.
  const int64_t channel_stride = map.nhwc ? 1 : plane;
  const int64_t pixel_stride = map.nhwc ? p.channels : 1;
  const T* image = static_cast<const T*>(map.data) + batch * p.channels * plane + first * channel_stride;
  float top[kChannelsPerThread];
  int32_t at[kChannelsPerThread];
ROIPOOL_UNROLL
  for (int32_t c = 0; c < kChannelsPerThread; ++c) {
    top[c] = -INFINITY;
    at[c] = -1;
  }
  for (int32_t iy = 0; iy < frame.grid_h; ++iy) {
    for (int32_t ix = 0; ix < frame.grid_w; ++ix) {
      const BilinearTaps t = sample_taps(frame, origin, iy, ix, map.height, map.width);
ROIPOOL_UNROLL
      for (int32_t c = 0; c < kChannelsPerThread; ++c) {
        if (c < valid) {
          const float v = bilinear_interpolate(image + c * step * channel_stride, t, pixel_stride);
          if (v > top[c]) {
            top[c] = v;
            at[c] = iy * frame.grid_w + ix;
          }
        }
      }
    }
  }
  for (int32_t c = 0; c < valid; ++c) {
    if (at[c] < 0) continue;
    const BilinearTaps t = sample_taps(frame, origin, at[c] / frame.grid_w, at[c] % frame.grid_w,
                                       map.height, map.width);
    bilinear_scatter(grad + c * step * plane, t, g[c]);
  }
}

template <typename T, typename Geometry>
ROIPOOL_HD void deform_work_item(const BackwardLaunch& b, const Geometry& geometry,
                                 int64_t index) {
  const PoolLaunch& p = b.pool;
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t bin = index % bins;
  const int64_t k = index / bins;
  float roi[6];
  load_roi(p.rois, p.rois_dtype, k, geometry.rois_columns(), roi);
  const int64_t batch = roi_batch_index(roi[0], p.batch);
  const SamplingFrame frame = geometry(roi);
  const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
  const auto i = static_cast<int32_t>(bin / p.pooled_w);
  const auto j = static_cast<int32_t>(bin % p.pooled_w);
  const BinOrigin origin = bin_origin(frame, p.options, k, i, j, p.pooled_h, p.pooled_w);
  DeformSums sums{0.f, 0.f, 0.f};
  if (batch >= 0) {
    const DeviceFeature map = p.features[frame.level];
    const int64_t plane = static_cast<int64_t>(map.height) * map.width;
    const int64_t channel_stride = map.nhwc ? 1 : plane;
    const int64_t pixel_stride = map.nhwc ? p.channels : 1;
    const T* image = static_cast<const T*>(map.data) + batch * p.channels * plane;
    const T* grad_out = static_cast<const T*>(b.grad_output) + k * p.out_channels * bins + bin;
    for (int32_t iy = 0; iy < frame.grid_h; ++iy) {
      for (int32_t ix = 0; ix < frame.grid_w; ++ix) {
        const SamplePoint s = sample_point(frame, origin, iy, ix);
        const BilinearTaps t = bilinear_taps(s.y, s.x, map.height, map.width);
        const BilinearSlope slope = bilinear_slope(s.y, s.x, map.height, map.width);
        for (int64_t c = 0; c < p.out_channels; ++c) {
          const float g = to_float(grad_out[c * bins]);
          const T* values = image + c * channel_stride;
          const BilinearGradient d = bilinear_gradient(values, t, pixel_stride, slope);
          sums.value += g * bilinear_interpolate(values, t, pixel_stride);
          sums.dy += g * d.dy;
          sums.dx += g * d.dx;
        }
      }
    }
  }
  write_deform_gradients(sums, frame, origin, p.options.gamma, count, k, bin, bins,
                         b.grad_offset, b.grad_mask);
}

}  // namespace detail
}  // namespace roipool
