// CUDA launch of the bilinear backward work items (bin_sampler_backward_device.h):
// zero the float32 gradients on the stream, then the scatter kernel (and the deform
// kernel for offset / mask gradients). Grid-stride loops with 64-bit indices.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "bin_sampler_backward_device.h"

namespace roipool {
namespace detail {

constexpr int32_t kBackwardThreads = 256;
constexpr int64_t kBackwardMaxBlocks = int64_t{1} << 20;

template <typename T, bool kMax, typename Geometry>
__global__ void __launch_bounds__(kBackwardThreads)
    bilinear_scatter_kernel(const BackwardLaunch b, const Geometry geometry) {
  const int64_t total = pool_work_items(b.pool);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    scatter_work_item<T, kMax>(b, geometry, index);
  }
}

template <typename T, typename Geometry>
__global__ void __launch_bounds__(kBackwardThreads)
    bilinear_deform_kernel(const BackwardLaunch b, const Geometry geometry) {
  const int64_t total = deform_work_items(b);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    deform_work_item<T>(b, geometry, index);
  }
}

inline unsigned backward_blocks(int64_t total) {
  return static_cast<unsigned>(
      std::min(kBackwardMaxBlocks, (total + kBackwardThreads - 1) / kBackwardThreads));
}

// Zeroes `bytes` at `p` on the stream (nothing for an empty buffer).
inline cudaError_t zero_async(void* p, size_t bytes, cudaStream_t stream) {
  return p != nullptr && bytes > 0 ? cudaMemsetAsync(p, 0, bytes, stream) : cudaSuccess;
}

inline Status launch_status(const char* what) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    return Status::CudaError(std::string(what) + " backward kernel launch failed: " +
                             cudaGetErrorString(error));
  }
  return Status::Ok();
}

// Zeroes every feature gradient of a call.
inline cudaError_t zero_feature_grads(const OpArgs& args, const GradArgs& grads,
                                      cudaStream_t stream) {
  for (int32_t l = 0; l < args.num_features; ++l) {
    const FeatureMap& f = args.features[l];
    const auto bytes = static_cast<size_t>(f.batch * f.channels * f.height * f.width) * sizeof(float);
    const cudaError_t error = zero_async(grads.grad_features[l], bytes, stream);
    if (error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

}  // namespace detail

// Enqueues the backward of a bilinear op on `stream`; same contract as
// bilinear_backward_cpu, except that the float32 atomics make the summation order (and
// the last bits) vary between runs.
template <typename Geometry>
Status bilinear_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                              void* stream, const Geometry& geometry, const BinOptions& options) {
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (detail::zero_feature_grads(args, grads, cuda_stream) != cudaSuccess) {
    return detail::launch_status("bilinear");
  }
  const detail::BackwardLaunch b = detail::make_backward_launch(attrs, args, grads, options);
  const int64_t scatter_items = detail::pool_work_items(b.pool);
  const int64_t deform_items = detail::deform_work_items(b);
  const bool deform = grads.grad_offset != nullptr || grads.grad_mask != nullptr;
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (scatter_items > 0) {
      const unsigned blocks = detail::backward_blocks(scatter_items);
      if (options.mode == PoolMode::kMax) {
        detail::bilinear_scatter_kernel<T, true>
            <<<blocks, detail::kBackwardThreads, 0, cuda_stream>>>(b, geometry);
      } else {
        detail::bilinear_scatter_kernel<T, false>
            <<<blocks, detail::kBackwardThreads, 0, cuda_stream>>>(b, geometry);
      }
    }
    if (deform && deform_items > 0) {
      detail::bilinear_deform_kernel<T><<<detail::backward_blocks(deform_items),
                                          detail::kBackwardThreads, 0, cuda_stream>>>(b, geometry);
    }
    return 0;
  });
  return detail::launch_status("bilinear");
}

}  // namespace roipool
