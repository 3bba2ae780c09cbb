// PrRoIPool (SPEC 3.8) on CUDA: one thread per output element in output order
// (coalesced writes), grid-stride loop with 64-bit indices. Windows are clipped to
// the map, so any box is bounded work. A thread evaluates its bin's weights itself
// (a few double ops per pixel), which is cheaper than a second pass through memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "op_kernels.h"
#include "prroi_pool/prroi_axis.h"

namespace roipool {
namespace {

constexpr int32_t kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

struct PrLaunch {
  FeatureMap map;
  const void* rois;
  DType rois_dtype;
  int64_t num_rois;
  int32_t pooled_h, pooled_w;
  float spatial_scale;
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
    prroi_pool_kernel(const PrLaunch p, T* __restrict__ out) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w;
  const int64_t total = p.num_rois * p.map.channels * bins;
  const T* __restrict__ input = static_cast<const T*>(p.map.data);
  const auto height = static_cast<int32_t>(p.map.height);
  const auto width = static_cast<int32_t>(p.map.width);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
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
      continue;
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
}

}  // namespace

Status prroi_pool_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const PrLaunch p{args.features[0], args.rois, args.rois_dtype, args.num_rois,
                   attrs.pooled_h, attrs.pooled_w, attrs.spatial_scale};
  const int64_t total = p.num_rois * p.map.channels * attrs.pooled_h * attrs.pooled_w;
  if (total == 0) return Status::Ok();
  const int64_t blocks = std::min(kMaxBlocks, (total + kThreads - 1) / kThreads);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    prroi_pool_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, cuda_stream>>>(
        p, static_cast<T*>(args.output));
    return 0;
  });
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    return Status::CudaError(std::string("PrRoIPool kernel launch failed: ") +
                             cudaGetErrorString(error));
  }
  return Status::Ok();
}

}  // namespace roipool
