// CUDA launch of the RoIPool / PSRoIPool backward work items
// (pixel_pool_backward_device.h): zero the float32 gradient, then one item per output
// element, grid-stride loop with 64-bit indices.
#pragma once

#include "bin_sampler_backward_cuda.cuh"
#include "roi_pool/pixel_pool_backward_device.h"

namespace roipool {
namespace detail {

template <typename T>
__global__ void __launch_bounds__(kBackwardThreads)
    pixel_backward_kernel(const PixelPoolLaunch p, const T* grad_output, float* grad_input) {
  const int64_t total = pixel_pool_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    pixel_backward_work_item<T>(p, grad_output, grad_input, index);
  }
}

}  // namespace detail

inline Status pixel_pool_backward_cuda(const OpAttrs& attrs, const OpArgs& args,
                                       const GradArgs& grads, void* stream,
                                       const PixelBinRule& rule, const char* name) {
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (detail::zero_feature_grads(args, grads, cuda_stream) != cudaSuccess) {
    return detail::launch_status(name);
  }
  const detail::PixelPoolLaunch p = detail::make_pixel_pool_launch(attrs, args, rule);
  const int64_t total = detail::pixel_pool_work_items(p);
  if (total == 0) return Status::Ok();
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    detail::pixel_backward_kernel<T><<<detail::backward_blocks(total), detail::kBackwardThreads,
                                       0, cuda_stream>>>(
        p, static_cast<const T*>(grads.grad_output), grads.grad_features[0]);
    return 0;
  });
  return detail::launch_status(name);
}

}  // namespace roipool
