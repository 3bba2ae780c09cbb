// RoIPool (SPEC 3.1) on CUDA.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_cuda.cuh"

namespace roipool {

Status roi_pool_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  return pixel_pool_cuda(attrs, args, stream, kRoIPoolRule, "RoIPool");
}

}  // namespace roipool
