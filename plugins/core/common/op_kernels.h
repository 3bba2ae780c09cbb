// Per-op kernel entry points behind forward_cpu / forward_cuda. Callers have already
// validated attrs and args and handled K = 0. Each op implements both in
// plugins/core/<op>/<op>_cpu.cpp and <op>_cuda.cu; `stream` is a cudaStream_t.
#pragma once

#include "roipool/common.h"

namespace roipool {

#define ROIPOOL_DECLARE_OP_KERNELS(op)                                                  \
  Status op##_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads); \
  Status op##_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream);

ROIPOOL_DECLARE_OP_KERNELS(roi_pool)
ROIPOOL_DECLARE_OP_KERNELS(roi_align)
ROIPOOL_DECLARE_OP_KERNELS(roi_warp)
ROIPOOL_DECLARE_OP_KERNELS(ps_roi_pool)
ROIPOOL_DECLARE_OP_KERNELS(ps_roi_align)
ROIPOOL_DECLARE_OP_KERNELS(deform_roi_pool)
ROIPOOL_DECLARE_OP_KERNELS(multi_scale_roi_align)
ROIPOOL_DECLARE_OP_KERNELS(roi_align_rotated)
ROIPOOL_DECLARE_OP_KERNELS(prroi_pool)

#undef ROIPOOL_DECLARE_OP_KERNELS

}  // namespace roipool
