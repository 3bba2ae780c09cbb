// Backward of roi_align (SPEC 3.2, 5) on CUDA: the shared bin sampler's backward with
// this op's geometry.
#include "bilinear_geometry.h"
#include "bin_sampler_backward_cuda.cuh"
#include "op_kernels.h"

namespace roipool {

Status roi_align_backward_cuda(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                               void* stream) {
  const auto geometry = bilinear_geometry<OpKind::kRoIAlign>(attrs);
  const BinOptions options = bin_options(OpKind::kRoIAlign, attrs, args);
  return bilinear_backward_cuda(attrs, args, grads, stream, geometry, options);
}

}  // namespace roipool
