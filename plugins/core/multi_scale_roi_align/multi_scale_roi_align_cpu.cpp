// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status multi_scale_roi_align_forward_cpu(const OpAttrs&, const OpArgs&, int32_t) {
  return Status::Unsupported("multi_scale_roi_align: CPU kernel not implemented yet");
}

}  // namespace roipool
