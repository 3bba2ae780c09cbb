// RegisterCustomOps: the library's only exported symbol. Registers every roipool op in
// domain "roipool" (opset 1), and every alias of roipool/aliases.h in its own domains
// ("mmcv", "mmdeploy"), once per (execution provider, element types) pair, all backed by
// the one generic RoipoolKernel.
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "ort_kernel.h"

namespace roipool::ort {
namespace {

constexpr const char* kDomain = "roipool";

ONNXTensorElementDataType onnx_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DType::kFloat16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DType::kBFloat16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

// Features T and rois (float32 or T) for one provider; the output is T.
std::vector<Signature> signatures(Device device) {
  std::vector<Signature> list = {{DType::kFloat32, DType::kFloat32},
                                 {DType::kFloat16, DType::kFloat16},
                                 {DType::kFloat16, DType::kFloat32}};
  if (device == Device::kCpu) {
    list.push_back({DType::kBFloat16, DType::kBFloat16});
    list.push_back({DType::kBFloat16, DType::kFloat32});
  }
  return list;
}

// One (op, provider, types) registration. Fixed element types (not UNDEFINED) let ONNX
// Runtime infer the output type and pick the kernel for a node's input types.
class RoipoolCustomOp : public Ort::CustomOpBase<RoipoolCustomOp, RoipoolKernel, true> {
 public:
  // `alias` (nullptr for roipool's own ops) names the op and defines its attributes.
  RoipoolCustomOp(OpKind op, const OpAlias* alias, Device device, Signature signature)
      : op_(op), alias_(alias), device_(device), signature_(signature) {
    // CustomOpBase only knows a static InferOutputShape; ours needs the op kind.
    OrtCustomOp::InferOutputShapeFn = [](const OrtCustomOp* self, OrtShapeInferContext* context) {
      const auto* custom = static_cast<const RoipoolCustomOp*>(self);
      return infer_output_shape(Ort::GetApi(), custom->op_, custom->alias_, context);
    };
  }

  const char* GetName() const { return alias_ ? alias_->name : op_name(op_); }
  const char* GetExecutionProviderType() const {
    return device_ == Device::kCuda ? "CUDAExecutionProvider" : "CPUExecutionProvider";
  }

  // Inputs as declared slots: MultiScaleRoIAlign has (rois, features...) with a
  // variadic last slot; DeformRoIPool (input, rois, offset?, mask?); the rest (input, rois).
  // mmcv's MMCVDeformRoIPool stops at the offset.
  size_t GetInputTypeCount() const {
    if (op_ != OpKind::kDeformRoIPool) return 2;
    return alias_ ? static_cast<size_t>(alias_->max_inputs) : 4;
  }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return onnx_type(index == rois_slot() ? signature_.rois : signature_.features);
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    if (op_ == OpKind::kMultiScaleRoIAlign && index == 1) return INPUT_OUTPUT_VARIADIC;
    if (op_ == OpKind::kDeformRoIPool && index >= 2) return INPUT_OUTPUT_OPTIONAL;
    return INPUT_OUTPUT_REQUIRED;
  }

  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return onnx_type(signature_.features); }

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return RoipoolKernel::Create(api, version, info, op_, alias_, device_, kernel);
  }

 private:
  size_t rois_slot() const { return op_ == OpKind::kMultiScaleRoIAlign ? 0 : 1; }

  OpKind op_;
  const OpAlias* alias_;
  Device device_;
  Signature signature_;
};

std::vector<Device> devices() {
#ifdef ROIPOOL_WITH_CUDA
  return {Device::kCpu, Device::kCuda};
#else
  return {Device::kCpu};
#endif
}

// The domains every session shares: "roipool" first, then each alias domain. ONNX
// Runtime keeps pointers to them and their ops, so all live until the library is unloaded.
std::deque<Ort::CustomOpDomain>& shared_domains() {
  static std::deque<RoipoolCustomOp> ops;
  static std::deque<Ort::CustomOpDomain> domains;
  static std::vector<std::string> names;
  static std::once_flag once;
  std::call_once(once, [] {
    auto domain = [](const std::string& name) -> Ort::CustomOpDomain& {
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return domains[i];
      }
      names.push_back(name);
      return domains.emplace_back(name.c_str());
    };
    for (Device device : devices()) {
      for (Signature signature : signatures(device)) {
        for (int32_t k = 0; k < kNumOps; ++k) {
          domain(kDomain).Add(&ops.emplace_back(static_cast<OpKind>(k), nullptr, device, signature));
        }
        for (const OpAlias& alias : op_aliases()) {
          RoipoolCustomOp* op = &ops.emplace_back(alias.op, &alias, device, signature);
          for (const char* name : alias.domains) domain(name).Add(op);
        }
      }
    }
  });
  return domains;
}

}  // namespace
}  // namespace roipool::ort

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    // Older than the headers we were built with: report through the oldest API table.
    const std::string message =
        "libroipool_ort needs ONNX Runtime >= 1." + std::to_string(ORT_API_VERSION);
    return api_base->GetApi(1)->CreateStatus(ORT_FAIL, message.c_str());
  }
  Ort::InitApi(api);
  try {
    for (Ort::CustomOpDomain& domain : roipool::ort::shared_domains()) {
      if (OrtStatus* status = api->AddCustomOpDomain(options, domain)) {
        return status;
      }
    }
    return nullptr;
  } catch (const Ort::Exception& e) {
    return api->CreateStatus(e.GetOrtErrorCode(), e.what());
  } catch (const std::exception& e) {
    return api->CreateStatus(ORT_FAIL, e.what());
  }
}
