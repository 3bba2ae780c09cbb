// CUDA engine of the bilinear ops. One thread owns one (RoI, bin) and a chunk of
// kChannelsPerThread output channels: it computes each sample's taps once and
// accumulates all its channels in registers. Consecutive threads take consecutive
// bins of the same channels, so output writes are coalesced. Grid-stride loop with
// 64-bit indices: any K (including K = 0, never launched) and any channel count.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "bin_sampler.h"

namespace roipool {
namespace detail {

constexpr int32_t kChannelsPerThread = 8;
constexpr int32_t kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

struct DeviceFeature {
  const void* data;
  int32_t height, width;
  bool nhwc;
};

// Everything the kernel reads besides the geometry, passed by value.
struct PoolLaunch {
  DeviceFeature features[kMaxLevels];
  int64_t batch, channels, out_channels, num_rois;
  int32_t pooled_h, pooled_w;
  const void* rois;
  DType rois_dtype;
  BinOptions options;
  void* output;
};

template <typename T, bool kMax, typename Geometry>
__global__ void __launch_bounds__(kThreadsPerBlock)
    bilinear_pool_kernel(const PoolLaunch p, const Geometry geometry) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t chunks = (p.out_channels + kChannelsPerThread - 1) / kChannelsPerThread;
  const int64_t total = p.num_rois * chunks * bins;
  T* output = static_cast<T*>(p.output);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t bin = index % bins;
    const int64_t chunk = (index / bins) % chunks;
    const int64_t k = index / (bins * chunks);
    const int64_t c0 = chunk * kChannelsPerThread;
    const int32_t valid = static_cast<int32_t>(
        p.out_channels - c0 < kChannelsPerThread ? p.out_channels - c0 : kChannelsPerThread);
    T* out = output + (k * p.out_channels + c0) * bins + bin;

    float roi[6];
    load_roi(p.rois, p.rois_dtype, k, geometry.rois_columns(), roi);
    const int64_t batch = roi_batch_index(roi[0], p.batch);
    if (batch < 0) {
      for (int32_t c = 0; c < valid; ++c) out[c * bins] = from_float<T>(0.f);
      continue;
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
#pragma unroll
    for (int32_t c = 0; c < kChannelsPerThread; ++c) acc[c] = reduce_init<kMax>();
    for (int32_t iy = 0; iy < frame.grid_h; ++iy) {
      for (int32_t ix = 0; ix < frame.grid_w; ++ix) {
        const BilinearTaps t = sample_taps(frame, origin, iy, ix, map.height, map.width);
#pragma unroll
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
#pragma unroll
    for (int32_t c = 0; c < kChannelsPerThread; ++c) {
      if (c < valid) out[c * bins] = from_float<T>(reduce_final<kMax>(acc[c], count, origin.scale));
    }
  }
}

template <typename T, bool kMax, typename Geometry>
Status launch(const PoolLaunch& p, const Geometry& geometry, cudaStream_t stream) {
  const int64_t chunks = (p.out_channels + kChannelsPerThread - 1) / kChannelsPerThread;
  const int64_t total = p.num_rois * chunks * p.pooled_h * p.pooled_w;
  if (total == 0) return Status::Ok();
  const int64_t blocks = std::min(kMaxBlocks, (total + kThreadsPerBlock - 1) / kThreadsPerBlock);
  bilinear_pool_kernel<T, kMax, Geometry>
      <<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0, stream>>>(p, geometry);
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    return Status::CudaError(std::string("bilinear pooling kernel launch failed: ") +
                             cudaGetErrorString(error));
  }
  return Status::Ok();
}

}  // namespace detail

// Enqueues a bilinear op on `stream`; same contract as bilinear_pool_cpu.
template <typename Geometry>
Status bilinear_pool_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream,
                          const Geometry& geometry, const BinOptions& options) {
  detail::PoolLaunch p{};
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
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  return dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    return options.mode == PoolMode::kMax ? detail::launch<T, true>(p, geometry, cuda_stream)
                                          : detail::launch<T, false>(p, geometry, cuda_stream);
  });
}

}  // namespace roipool
