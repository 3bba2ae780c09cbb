// PLACEHOLDER(kernel-core): replaced by the real kernel; must not ship.
#include "op_kernels.h"

namespace roipool {

Status ps_roi_align_forward_cuda(const OpAttrs&, const OpArgs&, void*) {
  return Status::Unsupported("ps_roi_align: CUDA kernel not implemented yet");
}

}  // namespace roipool
