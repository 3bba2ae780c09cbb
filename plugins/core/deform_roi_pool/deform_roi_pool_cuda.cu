// DeformRoIPool on CUDA (SPEC 3.5: aligned box, per-bin offset and mask):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cuda.cuh"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status deform_roi_pool_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const auto geometry = bilinear_geometry<OpKind::kDeformRoIPool>(attrs);
  const BinOptions options = bin_options(OpKind::kDeformRoIPool, attrs, args);
  return bilinear_pool_cuda(attrs, args, stream, geometry, options);
}

}  // namespace roipool
