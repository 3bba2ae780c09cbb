// Backward of roi_pool (SPEC 3.1, 5) on the CPU.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_backward_cpu.h"

namespace roipool {

Status roi_pool_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                             int32_t num_threads) {
  return pixel_pool_backward_cpu(attrs, args, grads, num_threads, kRoIPoolRule);
}

}  // namespace roipool
