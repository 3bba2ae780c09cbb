// CUDA engine of the integer-pixel bin ops (RoIPool, PSRoIPool): one thread per work
// item (pixel_pool_device.h), grid-stride loop with 64-bit indices.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "roi_pool/pixel_pool_device.h"

namespace roipool {
namespace detail {

constexpr int32_t kPixelPoolThreads = 256;
constexpr int64_t kPixelPoolMaxBlocks = int64_t{1} << 20;

template <typename T>
__global__ void __launch_bounds__(kPixelPoolThreads)
    pixel_pool_kernel(const PixelPoolLaunch p, T* __restrict__ out) {
  const int64_t total = pixel_pool_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    pixel_pool_work_item<T>(p, out, index);
  }
}

}  // namespace detail

// Enqueues RoIPool / PSRoIPool (per `rule`) on `stream`.
inline Status pixel_pool_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream,
                              const PixelBinRule& rule, const char* name) {
  const detail::PixelPoolLaunch p = detail::make_pixel_pool_launch(attrs, args, rule);
  const int64_t total = detail::pixel_pool_work_items(p);
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
