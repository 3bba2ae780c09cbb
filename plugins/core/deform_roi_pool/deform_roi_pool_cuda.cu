// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status deform_roi_pool_forward_cuda(const OpAttrs&, const OpArgs&, void*) {
  return Status::Unsupported("deform_roi_pool: CUDA kernel not implemented yet");
}

}  // namespace roipool
