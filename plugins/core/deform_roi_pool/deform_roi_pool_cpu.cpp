// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status deform_roi_pool_forward_cpu(const OpAttrs&, const OpArgs&, int32_t) {
  return Status::Unsupported("deform_roi_pool: CPU kernel not implemented yet");
}

}  // namespace roipool
