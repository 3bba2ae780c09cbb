// RoIAlign on the CPU (SPEC 3.2):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cpu.h"
#include "op_kernels.h"

namespace roipool {

Status roi_align_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads) {
  const auto geometry = BoxGeometry::from_attrs(attrs, attrs.aligned != 0, false);
  const BinOptions options = bin_options(OpKind::kRoIAlign, attrs, args);
  return bilinear_pool_cpu(attrs, args, num_threads, geometry, options);
}

}  // namespace roipool
