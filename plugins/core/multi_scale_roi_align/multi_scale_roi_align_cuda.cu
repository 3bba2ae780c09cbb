// MultiScaleRoIAlign on CUDA (SPEC 3.6: one pass, each RoI on its level):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cuda.cuh"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status multi_scale_roi_align_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const auto geometry = bilinear_geometry<OpKind::kMultiScaleRoIAlign>(attrs);
  const BinOptions options = bin_options(OpKind::kMultiScaleRoIAlign, attrs, args);
  return bilinear_pool_cuda(attrs, args, stream, geometry, options);
}

}  // namespace roipool
