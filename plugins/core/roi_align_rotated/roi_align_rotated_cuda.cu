// RoIAlignRotated on CUDA (SPEC 3.7, mmcv rules):
// the shared bin sampler with this op's geometry.
#include "bin_sampler_cuda.cuh"
#include "bilinear_geometry.h"
#include "op_kernels.h"

namespace roipool {

Status roi_align_rotated_forward_cuda(const OpAttrs& attrs, const OpArgs& args, void* stream) {
  const auto geometry = bilinear_geometry<OpKind::kRoIAlignRotated>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIAlignRotated, attrs, args);
  return bilinear_pool_cuda(attrs, args, stream, geometry, options);
}

}  // namespace roipool
