// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status prroi_pool_forward_cpu(const OpAttrs&, const OpArgs&, int32_t) {
  return Status::Unsupported("prroi_pool: CPU kernel not implemented yet");
}

}  // namespace roipool
