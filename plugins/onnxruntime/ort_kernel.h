// The one ONNX Runtime kernel behind every roipool custom op: attributes are read by
// the core's schema (roipool::op_attributes) and parsed by roipool::set_attribute, the
// math is roipool::forward_cpu / forward_cuda. Nothing here is op-specific beyond the
// input layout of the node contract.
#pragma once

// The library receives the API table from RegisterCustomOps; it never links onnxruntime.
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include "roipool/aliases.h"
#include "roipool/common.h"

namespace roipool::ort {

enum class Device { kCpu, kCuda };

// Element types one registered kernel accepts: features (and offset/mask/output) and rois.
struct Signature {
  DType features;
  DType rois;
};

class RoipoolKernel {
 public:
  RoipoolKernel(const OrtApi& api, OpKind op, Device device, OpAttrs attrs, bool use_ort_pool)
      : api_(api), op_(op), device_(device), attrs_(attrs), use_ort_pool_(use_ort_pool) {}

  // Reads and validates the node's attributes, by `alias`'s table when given (roipool's
  // own attributes of `op` otherwise); errors name the op and attribute. `api_version` is
  // the version of `api` (ONNX Runtime hands the custom op the table of the version it
  // declared).
  static OrtStatusPtr Create(const OrtApi& api, uint32_t api_version, const OrtKernelInfo* info,
                             OpKind op, const OpAlias* alias, Device device, void** kernel) noexcept;
  // KernelComputeV2: every failure comes back as an OrtStatus, nothing throws out.
  OrtStatusPtr ComputeV2(OrtKernelContext* context) noexcept;

 private:
  Status Compute(OrtKernelContext* context) const;

  const OrtApi& api_;
  OpKind op_;
  Device device_;
  OpAttrs attrs_;
  bool use_ort_pool_;  // CPU loops run on the session's intra-op pool
};

// An OrtStatus carrying a core Status (nullptr when ok).
OrtStatusPtr to_ort_status(const OrtApi& api, const Status& status);

// Releases `status` and says whether the call it came from succeeded.
inline bool succeeded(const OrtApi& api, OrtStatus* status) {
  if (status == nullptr) return true;
  api.ReleaseStatus(status);
  return false;
}

// Graph-time output type and shape [K, C_out, pooled_h, pooled_w] (ort_shape.cpp). Dims
// that cannot be known yet stay unknown; invalid nodes are left to the kernel to report.
OrtStatusPtr infer_output_shape(const OrtApi& api, OpKind op, const OpAlias* alias,
                                OrtShapeInferContext* context) noexcept;

}  // namespace roipool::ort
