// One work item of the CUDA engine of the bilinear ops, as a host/device function
// (so it can also be exercised on the host): item `index` owns one (RoI, bin) and
// a chunk of kChannelsPerThread output channels. It computes each sample's taps once
// and accumulates all its channels in registers. Consecutive items take consecutive
// bins of the same channels, so a warp's output writes are coalesced.
#pragma once

#include <cstdint>

#include "bin_sampler.h"

// Unrolls the channel loops on the device; host compilers do not know the pragma.
#if defined(__CUDA_ARCH__)
#define ROIPOOL_UNROLL _Pragma("unroll")
#else
#define ROIPOOL_UNROLL
#endif

namespace roipool {
namespace detail {

constexpr int32_t kChannelsPerThread = 8;

struct DeviceFeature {
  const void* data;
  int32_t height, width;
  bool nhwc;
};

// Everything a work item reads besides the geometry (a kernel parameter, by value).
struct PoolLaunch {
  DeviceFeature features[kMaxLevels];
  int64_t batch, channels, out_channels, num_rois;
  int32_t pooled_h, pooled_w;
  const void* rois;
  DType rois_dtype;
  BinOptions options;
  void* output;
};

inline PoolLaunch make_pool_launch(const OpAttrs& attrs, const OpArgs& args,
                                   const BinOptions& options) {
  PoolLaunch p{};
  for (int32_t l = 0; l < args.num_features; ++l) {
    const FeatureMap& f = args.features[l];
    p.features[l] = {f.data, static_cast<int32_t>(f.height), static_cast<int32_t>(f.width),
                     f.layout == Layout::kNHWC};
  }
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  p.batch = args.features[0].batch;
  p.channels = args.features[0].channels;
  p.out_channels = options.position_sensitive ? p.channels / bins : p.channels;
  p.num_rois = args.num_rois;
  p.pooled_h = attrs.pooled_h;
  p.pooled_w = attrs.pooled_w;
  p.rois = args.rois;
  p.rois_dtype = args.rois_dtype;
  p.options = options;
  p.output = args.output;
  return p;
}

// Number of work items of a launch.
ROIPOOL_HD int64_t pool_work_items(const PoolLaunch& p) {
  const int64_t chunks = (p.out_channels + kChannelsPerThread - 1) / kChannelsPerThread;
  return p.num_rois * chunks * p.pooled_h * p.pooled_w;
}

template <typename T, bool kMax, typename Geometry>
ROIPOOL_HD void pool_work_item(const PoolLaunch& p, const Geometry& geometry, int64_t index) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t chunks = (p.out_channels + kChannelsPerThread - 1) / kChannelsPerThread;
  T* output = static_cast<T*>(p.output);
  const int64_t bin = index % bins;
  const int64_t chunk = (index / bins) % chunks;
  const int64_t k = index / (bins * chunks);
  const int64_t c0 = chunk * kChannelsPerThread;
  const int32_t valid = static_cast<int32_t>(
      p.out_channels - c0 < kChannelsPerThread ? p.out_channels - c0 : kChannelsPerThread);
  T* out = output + (k * p.out_channels + c0) * bins + bin;

  float roi[6];
  load_roi(p.rois, p.rois_dtype, k, geometry.rois_columns(), roi);
  const int64_t batch = pooled_roi_batch(roi, geometry.rois_columns(), p.batch);
  if (batch < 0) {
    for (int32_t c = 0; c < valid; ++c) out[c * bins] = from_float<T>(0.f);
    return;
  }
  const SamplingFrame frame = geometry(roi);
  const DeviceFeature map = p.features[frame.level];
  const int64_t plane = static_cast<int64_t>(map.height) * map.width;
  const int32_t i = static_cast<int32_t>(bin / p.pooled_w);
  const int32_t j = static_cast<int32_t>(bin % p.pooled_w);
  // Input channel of output channel c: first + c * step (position-sensitive or not).
  const int64_t first = p.options.position_sensitive ? c0 * bins + bin : c0;
  const int64_t step = p.options.position_sensitive ? bins : 1;
  const int64_t channel_stride = map.nhwc ? 1 : plane;
  const int64_t pixel_stride = map.nhwc ? p.channels : 1;
  const T* image = static_cast<const T*>(map.data) + batch * p.channels * plane +
                   first * channel_stride;

  const BinOrigin origin = bin_origin(frame, p.options, k, i, j, p.pooled_h, p.pooled_w);
  float acc[kChannelsPerThread];
ROIPOOL_UNROLL
  for (int32_t c = 0; c < kChannelsPerThread; ++c) acc[c] = reduce_init<kMax>();
  for (int32_t iy = 0; iy < frame.grid_h; ++iy) {
    for (int32_t ix = 0; ix < frame.grid_w; ++ix) {
      const BilinearTaps t = sample_taps(frame, origin, iy, ix, map.height, map.width);
ROIPOOL_UNROLL
      for (int32_t c = 0; c < kChannelsPerThread; ++c) {
        if (c < valid) {
          const T* channel_plane = image + c * step * channel_stride;
          const float value = bilinear_interpolate(channel_plane, t, pixel_stride);
          acc[c] = reduce_step<kMax>(acc[c], value);
        }
      }
    }
  }
  const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
ROIPOOL_UNROLL
  for (int32_t c = 0; c < kChannelsPerThread; ++c) {
    if (c < valid) out[c * bins] = from_float<T>(reduce_final<kMax>(acc[c], count, origin.scale));
  }
}

}  // namespace detail
}  // namespace roipool
