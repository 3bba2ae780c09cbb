// PrRoIPool (SPEC 3.8) on CUDA: one thread per work item (prroi_pool_device.h),
// grid-stride loop with 64-bit indices.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "op_kernels.h"
#include "prroi_pool/prroi_pool_device.h"

namespace roipool {
namespace {

constexpr int32_t kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    prroi_pool_kernel(const detail::PrLaunch p, T* __restrict__ out) {
  const int64_t total = detail::pr_work_items(p);
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    detail::pr_work_item<T>(p, out, index);
  }
}

}  // namespace

Status prroi_pool_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const detail::PrLaunch p = detail::make_pr_launch(attrs, args);
  const int64_t total = detail::pr_work_items(p);
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
