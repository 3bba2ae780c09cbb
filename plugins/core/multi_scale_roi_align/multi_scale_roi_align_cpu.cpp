// MultiScaleRoIAlign on the CPU (SPEC 3.6: one pass, each RoI on its level):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cpu.h"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status multi_scale_roi_align_forward_cpu(const OpAttrs& attrs, const OpArgs& args,
                                         int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kMultiScaleRoIAlign>(attrs);
  const BinOptions options = bin_options(OpKind::kMultiScaleRoIAlign, attrs, args);
  return bilinear_pool_cpu(attrs, args, num_threads, geometry, options);
}

}  // namespace roipool
