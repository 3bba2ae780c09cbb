// Backward of prroi_pool (SPEC 3.8, 5) on CUDA: zero the float32 gradients, then the
// input items and, for a box gradient, the box items (prroi_pool_backward_device.h).
#include "bin_sampler_backward_cuda.cuh"
#include "op_kernels.h"
#include "prroi_pool/prroi_pool_backward_device.h"

namespace roipool {
namespace {

template <typename T>
__global__ void __launch_bounds__(detail::kBackwardThreads)
    prroi_input_kernel(const detail::PrLaunch p, const T* grad_output, float* grad_input) {
  const int64_t total = detail::pr_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    detail::pr_input_work_item<T>(p, grad_output, grad_input, index);
  }
}

template <typename T>
__global__ void __launch_bounds__(detail::kBackwardThreads)
    prroi_box_kernel(const detail::PrLaunch p, const T* grad_output, float* grad_rois) {
  const int64_t total = detail::pr_box_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    detail::pr_box_work_item<T>(p, grad_output, grad_rois, index);
  }
}

}  // namespace

Status prroi_pool_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                                void* stream) {
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  const auto rois_bytes = static_cast<size_t>(args.num_rois) * 5 * sizeof(float);
  if (detail::zero_feature_grads(args, grads, cuda_stream) != cudaSuccess ||
      detail::zero_async(grads.grad_rois, rois_bytes, cuda_stream) != cudaSuccess) {
    return detail::launch_status("PrRoIPool");
  }
  const detail::PrLaunch p = detail::make_pr_launch(attrs, args);
  const int64_t inputs = detail::pr_work_items(p), boxes = detail::pr_box_work_items(p);
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* grad_output = static_cast<const T*>(grads.grad_output);
    if (inputs > 0) {
      prroi_input_kernel<T><<<detail::backward_blocks(inputs), detail::kBackwardThreads, 0,
                              cuda_stream>>>(p, grad_output, grads.grad_features[0]);
    }
    if (grads.grad_rois != nullptr && boxes > 0) {
      prroi_box_kernel<T><<<detail::backward_blocks(boxes), detail::kBackwardThreads, 0,
                            cuda_stream>>>(p, grad_output, grads.grad_rois);
    }
    return 0;
  });
  return detail::launch_status("PrRoIPool");
}

}  // namespace roipool
