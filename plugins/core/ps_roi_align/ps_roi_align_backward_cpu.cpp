// Backward of ps_roi_align (SPEC 3.4, 5) on the CPU: the shared bin sampler's backward with
// this op's geometry.
#include "bilinear_geometry.h"
#include "bin_sampler_backward_cpu.h"
#include "op_kernels.h"

namespace roipool {

Status ps_roi_align_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                                 int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kPSRoIAlign>(attrs);
  const BinOptions options = bin_options(OpKind::kPSRoIAlign, attrs, args);
  return bilinear_backward_cpu(attrs, args, grads, num_threads, geometry, options);
}

}  // namespace roipool
