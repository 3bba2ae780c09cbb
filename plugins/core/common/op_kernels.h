// Per-op kernel entry points behind forward_cpu / forward_cuda and backward_cpu /
// backward_cuda. Callers have already validated attrs and args; forward callers have
// handled K = 0 (backward runs for K = 0 too: it writes the zero gradients). Each op
// implements them in plugins/core/<op>/<op>_cpu.cpp, <op>_cuda.cu, <op>_backward_cpu.cpp
// and <op>_backward_cuda.cu; `stream` is a cudaStream_t.
#pragma once

#include "roipool/common.h"

namespace roipool {

#define ROIPOOL_DECLARE_OP_KERNELS(op)                                                  \
  Status op##_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads); \
  Status op##_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream);       \
  Status op##_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads, \
                           int32_t num_threads);                                           \
  Status op##_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads, \
                            void* stream);

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
