// PSRoIPool (SPEC 3.4) on CUDA.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_cuda.cuh"

namespace roipool {

Status ps_roi_pool_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  return pixel_pool_cuda(attrs, args, stream, kPSRoIPoolRule, "PSRoIPool");
}

}  // namespace roipool
