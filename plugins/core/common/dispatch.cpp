// forward_cpu / forward_cuda: validate once, skip K = 0, route to the op's kernel.
#include "op_kernels.h"
#include "parallel.h"
#include "roipool/common.h"

namespace roipool {
namespace {

Status validate(OpKind op, const OpAttrs& attrs, const OpArgs& args) {
  if (static_cast<int32_t>(op) < 0 || static_cast<int32_t>(op) >= kNumOps) {
    return Status::InvalidArgument("unknown op kind " + std::to_string(static_cast<int32_t>(op)));
  }
  Status status = validate_attrs(op, attrs);
  return status.ok() ? validate_args(op, attrs, args) : status;
}

}  // namespace

#define ROIPOOL_OP_CASES(suffix, ...)                                                     \
  switch (op) {                                                                           \
    case OpKind::kRoIPool: return roi_pool_forward_##suffix(__VA_ARGS__);                 \
    case OpKind::kRoIAlign: return roi_align_forward_##suffix(__VA_ARGS__);               \
    case OpKind::kRoIWarp: return roi_warp_forward_##suffix(__VA_ARGS__);                 \
    case OpKind::kPSRoIPool: return ps_roi_pool_forward_##suffix(__VA_ARGS__);            \
    case OpKind::kPSRoIAlign: return ps_roi_align_forward_##suffix(__VA_ARGS__);          \
    case OpKind::kDeformRoIPool: return deform_roi_pool_forward_##suffix(__VA_ARGS__);    \
    case OpKind::kMultiScaleRoIAlign: return multi_scale_roi_align_forward_##suffix(__VA_ARGS__); \
    case OpKind::kRoIAlignRotated: return roi_align_rotated_forward_##suffix(__VA_ARGS__); \
    case OpKind::kPrRoIPool: return prroi_pool_forward_##suffix(__VA_ARGS__);             \
  }                                                                                       \
  return Status::InvalidArgument("unknown op kind");

Status forward_cpu(OpKind op, const OpAttrs& attrs, const OpArgs& args, const CpuOptions& options) {
  Status status = validate(op, attrs, args);
  if (!status.ok() || args.num_rois == 0) return status;
  const ScopedCpuExecutor executor(options.executor);  // see ScopedCpuExecutor for why
  ROIPOOL_OP_CASES(cpu, attrs, args, options.num_threads)
}

#ifdef ROIPOOL_WITH_CUDA
bool cuda_compiled() { return true; }

Status forward_cuda(OpKind op, const OpAttrs& attrs, const OpArgs& args, void* stream) {
  Status status = validate(op, attrs, args);
  if (!status.ok() || args.num_rois == 0) return status;
  ROIPOOL_OP_CASES(cuda, attrs, args, stream)
}
#else
bool cuda_compiled() { return false; }

Status forward_cuda(OpKind op, const OpAttrs&, const OpArgs&, void*) {
  return Status::Unsupported(std::string(op_name(op)) + ": roipool was built without CUDA");
}
#endif

#undef ROIPOOL_OP_CASES

}  // namespace roipool
