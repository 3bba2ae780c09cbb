// RoIWarp on CUDA (SPEC 3.3: quantised box, then RoIAlign aligned=0, scale 1):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cuda.cuh"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status roi_warp_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const auto geometry = bilinear_geometry<OpKind::kRoIWarp>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIWarp, attrs, args);
  return bilinear_pool_cuda(attrs, args, stream, geometry, options);
}

}  // namespace roipool
