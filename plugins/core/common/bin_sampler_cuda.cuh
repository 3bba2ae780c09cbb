// CUDA engine of the bilinear ops: one thread per work item (bin_sampler_device.h),
// grid-stride loop with 64-bit indices, so any K (K = 0 is never launched) and any
// channel count fit a bounded grid.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "bin_sampler_device.h"

namespace roipool {
namespace detail {

constexpr int32_t kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

template <typename T, bool kMax, typename Geometry>
__global__ void __launch_bounds__(kThreadsPerBlock)
    bilinear_pool_kernel(const PoolLaunch p, const Geometry geometry) {
  const int64_t total = pool_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    pool_work_item<T, kMax>(p, geometry, index);
  }
}

template <typename T, bool kMax, typename Geometry>
Status launch(const PoolLaunch& p, const Geometry& geometry, cudaStream_t stream) {
  const int64_t total = pool_work_items(p);
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
  const detail::PoolLaunch p = detail::make_pool_launch(attrs, args, options);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  return dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    return options.mode == PoolMode::kMax ? detail::launch<T, true>(p, geometry, cuda_stream)
                                          : detail::launch<T, false>(p, geometry, cuda_stream);
  });
}

}  // namespace roipool
