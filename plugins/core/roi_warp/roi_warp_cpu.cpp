// RoIWarp on the CPU (SPEC 3.3: quantised box, then RoIAlign aligned=0, scale 1):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cpu.h"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status roi_warp_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads) {
  const auto geometry = bilinear_geometry<OpKind::kRoIWarp>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIWarp, attrs, args);
  return bilinear_pool_cpu(attrs, args, num_threads, geometry, options);
}

}  // namespace roipool
