// Backward of roi_warp (SPEC 3.3, 5) on the CPU: the shared bin sampler's backward with
// this op's geometry.
#include "bilinear_geometry.h"
#include "bin_sampler_backward_cpu.h"
#include "op_kernels.h"

namespace roipool {

Status roi_warp_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                             int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kRoIWarp>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIWarp, attrs, args);
  return bilinear_backward_cpu(attrs, args, grads, num_threads, geometry, options);
}

}  // namespace roipool
