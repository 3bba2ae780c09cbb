// CUDA engine of the integer-pixel bin ops (RoIPool, PSRoIPool): one thread per output
// element in output order (coalesced writes), grid-stride loop with 64-bit indices.
// A bin's bounds are a handful of float ops, cheaper to recompute per thread than to
// stage; the pixel loops are clipped to the map, so any box is bounded work.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "roi_pool/pixel_bins.h"

namespace roipool {
namespace detail {

constexpr int32_t kPixelPoolThreads = 256;
constexpr int64_t kPixelPoolMaxBlocks = int64_t{1} << 20;

struct PixelPoolLaunch {
  FeatureMap map;
  const void* rois;
  DType rois_dtype;
  int64_t num_rois, out_channels;
  int32_t pooled_h, pooled_w;
  float spatial_scale;
  PixelBinRule rule;
};

template <typename T>
__global__ void __launch_bounds__(kPixelPoolThreads)
    pixel_pool_kernel(const PixelPoolLaunch p, T* __restrict__ out) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t total = p.num_rois * p.out_channels * bins;
  const T* __restrict__ input = static_cast<const T*>(p.map.data);
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t bin = index % bins;
    const int64_t c = (index / bins) % p.out_channels;
    const int64_t k = index / (bins * p.out_channels);
    const auto roi = [&](int32_t column) {
      return load_as_float(p.rois, p.rois_dtype, k * 5 + column);
    };
    const int64_t batch = roi_batch_index(roi(0), p.map.batch);
    if (batch < 0) {
      out[index] = from_float<T>(0.f);
      continue;
    }
    const PixelRange rows =
        QuantisedAxis::make(roi(2), roi(4), p.spatial_scale, p.pooled_h, height, p.rule)
            .bin(static_cast<int32_t>(bin / p.pooled_w));
    const PixelRange cols =
        QuantisedAxis::make(roi(1), roi(3), p.spatial_scale, p.pooled_w, width, p.rule)
            .bin(static_cast<int32_t>(bin % p.pooled_w));
    const ChannelView view =
        channel_view(p.map, batch, pixel_bin_channel(p.rule, c, bin, bins));
    PixelReducer reducer = PixelReducer::start(p.rule.max);
    for (int32_t h = rows.begin; h < rows.end; ++h) {
      const T* row = channel_row(input, view, width, h);
      for (int32_t w = cols.begin; w < cols.end; ++w) {
        reducer.add(to_float(row[w * view.pixel_step]));
      }
    }
    out[index] = from_float<T>(reducer.result(rows, cols));
  }
}

}  // namespace detail

// Enqueues RoIPool / PSRoIPool (per `rule`) on `stream`.
inline Status pixel_pool_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream,
                              const PixelBinRule& rule, const char* name) {
  const FeatureMap& map = args.features[0];
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  const detail::PixelPoolLaunch p{map, args.rois, args.rois_dtype, args.num_rois,
                                  rule.position_sensitive ? map.channels / bins : map.channels,
                                  attrs.pooled_h, attrs.pooled_w, attrs.spatial_scale, rule};
  const int64_t total = p.num_rois * p.out_channels * bins;
  if (total == 0) return Status::Ok();
  const int64_t threads = detail::kPixelPoolThreads;
  const int64_t blocks = std::min(detail::kPixelPoolMaxBlocks, (total + threads - 1) / threads);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    detail::pixel_pool_kernel<T><<<static_cast<unsigned>(blocks), detail::kPixelPoolThreads, 0,
                                   cuda_stream>>>(p, static_cast<T*>(args.output));
    return 0;
  });
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    return Status::CudaError(std::string(name) + " kernel launch failed: " +
                             cudaGetErrorString(error));
  }
  return Status::Ok();
}

}  // namespace roipool
