// Backward of roi_pool (SPEC 3.1, 5) on CUDA.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_backward_cuda.cuh"

namespace roipool {

Status roi_pool_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                              void* stream) {
  return pixel_pool_backward_cuda(attrs, args, grads, stream, kRoIPoolRule, "RoIPool");
}

}  // namespace roipool
