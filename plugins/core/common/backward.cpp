// backward_cpu / backward_cuda: validate once, then route to the op's backward kernel.
#include <string>
#include <vector>

#include "op_kernels.h"
#include "parallel.h"
#include "roipool/common.h"

namespace roipool {
namespace {

Status invalid(OpKind op, const std::string& why) {
  return Status::InvalidArgument(std::string(op_name(op)) + " backward: " + why);
}

// The forward checks (shapes, dtypes, attributes) plus the gradient buffers'.
Status validate_backward(OpKind op, const OpAttrs& attrs, const OpArgs& args,
                         const GradArgs& grads) {
  if (static_cast<int32_t>(op) < 0 || static_cast<int32_t>(op) >= kNumOps) {
    return Status::InvalidArgument("unknown op kind " + std::to_string(static_cast<int32_t>(op)));
  }
  Status status = validate_attrs(op, attrs);
  if (!status.ok()) return status;
  if (args.features == nullptr || args.num_features < 1 || args.num_features > kMaxLevels ||
      grads.grad_features == nullptr) {
    return invalid(op, "feature maps and their gradient buffers must not be null");
  }
  const bool reads_input = backward_reads_input(op, attrs, args, grads);
  // validate_args wants data pointers; where backward does not read the values they
  // may be null, so stand the gradient buffer in for them in the check only.
  std::vector<FeatureMap> maps(args.features, args.features + args.num_features);
  for (int32_t l = 0; l < args.num_features; ++l) {
    const bool empty = maps[l].batch * maps[l].channels * maps[l].height * maps[l].width == 0;
    if (grads.grad_features[l] == nullptr && !empty) {
      return invalid(op, "gradient buffer of feature map " + std::to_string(l) + " is null");
    }
    if (maps[l].data == nullptr && reads_input && !empty) {
      return invalid(op, "this backward reads the input values, but input data is null");
    }
    if (maps[l].data == nullptr) maps[l].data = grads.grad_features[l];
  }
  OpArgs checked = args;
  checked.features = maps.data();
  checked.output = const_cast<void*>(grads.grad_output);
  status = validate_args(op, attrs, checked);
  if (!status.ok()) return status;
  if (args.num_rois > 0 && grads.grad_output == nullptr) return invalid(op, "grad_output is null");
  if ((grads.grad_offset != nullptr && args.offset == nullptr) ||
      (grads.grad_mask != nullptr && args.mask == nullptr)) {
    return invalid(op, "offset / mask gradients need the offset / mask input");
  }
  if (grads.grad_rois != nullptr && op != OpKind::kPrRoIPool) {
    return invalid(op, "only PrRoIPool has a gradient w.r.t. the boxes");
  }
  return Status::Ok();
}

}  // namespace

bool backward_reads_input(OpKind op, const OpAttrs& attrs, const OpArgs&, const GradArgs& grads) {
  if (op == OpKind::kRoIPool) return true;
  if ((op == OpKind::kRoIAlign || op == OpKind::kRoIWarp) && attrs.mode == PoolMode::kMax) {
    return true;
  }
  return grads.grad_offset != nullptr || grads.grad_mask != nullptr || grads.grad_rois != nullptr;
}

#define ROIPOOL_BACKWARD_CASES(suffix, ...)                                                  \
  switch (op) {                                                                              \
    case OpKind::kRoIPool: return roi_pool_backward_##suffix(__VA_ARGS__);                   \
    case OpKind::kRoIAlign: return roi_align_backward_##suffix(__VA_ARGS__);                 \
    case OpKind::kRoIWarp: return roi_warp_backward_##suffix(__VA_ARGS__);                   \
    case OpKind::kPSRoIPool: return ps_roi_pool_backward_##suffix(__VA_ARGS__);              \
    case OpKind::kPSRoIAlign: return ps_roi_align_backward_##suffix(__VA_ARGS__);            \
    case OpKind::kDeformRoIPool: return deform_roi_pool_backward_##suffix(__VA_ARGS__);      \
    case OpKind::kMultiScaleRoIAlign:                                                        \
      return multi_scale_roi_align_backward_##suffix(__VA_ARGS__);                           \
    case OpKind::kRoIAlignRotated: return roi_align_rotated_backward_##suffix(__VA_ARGS__);  \
    case OpKind::kPrRoIPool: return prroi_pool_backward_##suffix(__VA_ARGS__);               \
  }                                                                                          \
  return Status::InvalidArgument("unknown op kind");

Status backward_cpu(OpKind op, const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                    const CpuOptions& options) {
  const Status status = validate_backward(op, attrs, args, grads);
  if (!status.ok()) return status;
  const ScopedCpuExecutor executor(options.executor);
  ROIPOOL_BACKWARD_CASES(cpu, attrs, args, grads, options.num_threads)
}

#ifdef ROIPOOL_WITH_CUDA
Status backward_cuda(OpKind op, const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                     void* stream) {
  const Status status = validate_backward(op, attrs, args, grads);
  if (!status.ok()) return status;
  ROIPOOL_BACKWARD_CASES(cuda, attrs, args, grads, stream)
}
#else
Status backward_cuda(OpKind op, const OpAttrs&, const OpArgs&, const GradArgs&, void*) {
  return Status::Unsupported(std::string(op_name(op)) + ": roipool was built without CUDA");
}
#endif

#undef ROIPOOL_BACKWARD_CASES

}  // namespace roipool
