// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status roi_warp_forward_cpu(const OpAttrs&, const OpArgs&, int32_t) {
  return Status::Unsupported("roi_warp: CPU kernel not implemented yet");
}

}  // namespace roipool
