// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status roi_align_forward_cpu(const OpAttrs&, const OpArgs&, int32_t) {
  return Status::Unsupported("roi_align: CPU kernel not implemented yet");
}

}  // namespace roipool
