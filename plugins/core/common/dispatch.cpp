// forward_cpu / forward_cuda: validate once, skip empty outputs, route to the op's kernel,
// and return any exception as a Status.
#include <exception>
#include <new>
#include <string>

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

// An output without elements (K = 0 or C_out = 0): nothing to launch or touch.
bool empty_output(OpKind op, const OpAttrs& attrs, const OpArgs& args) {
  return args.num_rois == 0 || output_channels(op, attrs, args.features[0].channels) == 0;
}

// Runs `fn` (returning Status) and turns any exception into a Status, so none crosses
// the C ABI, ONNX Runtime's or TensorRT's noexcept entry points (std::bad_alloc from a
// kernel's scratch buffers, std::system_error when a worker thread cannot start).
template <typename Fn>
Status guarded(OpKind op, Fn&& fn) noexcept {
  const bool known = static_cast<int32_t>(op) >= 0 && static_cast<int32_t>(op) < kNumOps;
  const char* name = known ? op_name(op) : "roipool";
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string(name) + ": out of host memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string(name) + ": " + e.what());
  } catch (...) {
    return Status::Internal(std::string(name) + ": unknown C++ exception");
  }
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
  return guarded(op, [&]() -> Status {
    Status status = validate(op, attrs, args);
    if (!status.ok() || empty_output(op, attrs, args)) return status;
    const ScopedCpuExecutor executor(options.executor);  // see ScopedCpuExecutor for why
    ROIPOOL_OP_CASES(cpu, attrs, args, options.num_threads)
  });
}

#ifdef ROIPOOL_WITH_CUDA
bool cuda_compiled() { return true; }

Status forward_cuda(OpKind op, const OpAttrs& attrs, const OpArgs& args, void* stream) {
  return guarded(op, [&]() -> Status {
    Status status = validate(op, attrs, args);
    if (!status.ok() || empty_output(op, attrs, args)) return status;
    ROIPOOL_OP_CASES(cuda, attrs, args, stream)
  });
}
#else
bool cuda_compiled() { return false; }

Status forward_cuda(OpKind op, const OpAttrs&, const OpArgs&, void*) {
  return Status::Unsupported(std::string(op_name(op)) + ": roipool was built without CUDA");
}
#endif

#undef ROIPOOL_OP_CASES

}  // namespace roipool
