// Backward of ps_roi_pool (SPEC 3.4, 5) on CUDA.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_backward_cuda.cuh"

namespace roipool {

Status ps_roi_pool_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                                 void* stream) {
  return pixel_pool_backward_cuda(attrs, args, grads, stream, kPSRoIPoolRule, "PSRoIPool");
}

}  // namespace roipool
