// RoIPool (SPEC 3.1) on the CPU.
#include "op_kernels.h"
#include "roi_pool/pixel_pool_cpu.h"

namespace roipool {

Status roi_pool_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads) {
  return pixel_pool_cpu(attrs, args, num_threads, kRoIPoolRule);
}

}  // namespace roipool
