// DeformRoIPool on the CPU (SPEC 3.5: aligned box, per-bin offset and mask):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cpu.h"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status deform_roi_pool_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kDeformRoIPool>(attrs);
  const BinOptions options = bin_options(OpKind::kDeformRoIPool, attrs, args);
  return bilinear_pool_cpu(attrs, args, num_threads, geometry, options);
}

}  // namespace roipool
