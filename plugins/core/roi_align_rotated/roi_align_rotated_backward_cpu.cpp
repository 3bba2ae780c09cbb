// Backward of roi_align_rotated (SPEC 3.7, 5) on the CPU: the shared bin sampler's backward with
// this op's geometry.
#include "bilinear_geometry.h"
#include "bin_sampler_backward_cpu.h"
#include "op_kernels.h"

namespace roipool {

Status roi_align_rotated_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                                      int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kRoIAlignRotated>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIAlignRotated, attrs, args);
  return bilinear_backward_cpu(attrs, args, grads, num_threads, geometry, options);
}

}  // namespace roipool
