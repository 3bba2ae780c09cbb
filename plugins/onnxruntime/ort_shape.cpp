// Output shape inference, so graphs built on a roipool node see [K, C_out, ph, pw]
// (with K and C symbolic where the inputs are) before anything runs.
#include <string>
#include <vector>

#include "ort_kernel.h"

namespace roipool::ort {
namespace {

// One dimension as ONNX Runtime describes it: a value (-1 unknown) and a symbol ("" none).
struct Dim {
  int64_t value = -1;
  std::string symbol;
};

bool input_dims(const OrtApi& api, OrtShapeInferContext* context, size_t index,
                std::vector<Dim>* dims, ONNXTensorElementDataType* type) {
  OrtTensorTypeAndShapeInfo* info = nullptr;  // owned by the context
  size_t rank = 0;
  if (!succeeded(api, api.ShapeInferContext_GetInputTypeShape(context, index, &info)) ||
      info == nullptr || !succeeded(api, api.GetDimensionsCount(info, &rank)) ||
      !succeeded(api, api.GetTensorElementType(info, type))) {
    return false;
  }
  std::vector<int64_t> values(rank);
  std::vector<const char*> symbols(rank, nullptr);
  if (!succeeded(api, api.GetDimensions(info, values.data(), rank)) ||
      !succeeded(api, api.GetSymbolicDimensions(info, symbols.data(), rank))) {
    return false;
  }
  dims->resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    (*dims)[i] = Dim{values[i] >= 0 ? values[i] : -1, symbols[i] ? symbols[i] : ""};
  }
  return true;
}

// The node's name for roipool's `target` attribute (pooled_h / pooled_w) and its
// default; false when an alias requires it.
bool node_attribute(OpKind op, const OpAlias* alias, const char* target, const char** name,
                    AttrValue* fallback) {
  *name = target;
  *fallback = get_attribute(op, target, default_attrs(op));
  if (alias == nullptr) return true;
  for (const AliasAttr& spec : alias->attributes) {
    if (std::string_view(spec.target) != target) continue;
    *name = spec.name;
    if (!spec.default_value) return false;
    *fallback = *spec.default_value;
    return true;
  }
  return true;
}

// pooled_h / pooled_w as the kernel will parse them (absent: the default); false when
// they cannot be known.
bool output_size(const OrtApi& api, OrtShapeInferContext* context, OpKind op, const OpAlias* alias,
                 OpAttrs* attrs) {
  *attrs = default_attrs(op);
  for (const char* target : {"pooled_h", "pooled_w"}) {
    const char* name = nullptr;
    AttrValue value;
    const bool has_default = node_attribute(op, alias, target, &name, &value);
    const OrtOpAttr* attr = nullptr;
    if (succeeded(api, api.ShapeInferContext_GetAttribute(context, name, &attr)) && attr) {
      value = AttrValue{};
      value.ints = {0};
      size_t bytes = 0;
      OrtStatus* read =
          api.ReadOpAttr(attr, ORT_OP_ATTR_INT, value.ints.data(), sizeof(int64_t), &bytes);
      if (!succeeded(api, read)) return false;
    } else if (!has_default) {
      return false;
    }
    if (!set_attribute(op, target, value, attrs).ok()) return false;
  }
  return true;
}

OrtStatusPtr set_output(const OrtApi& api, OrtShapeInferContext* context,
                        ONNXTensorElementDataType type, const std::vector<Dim>& dims) {
  std::vector<int64_t> values;
  std::vector<const char*> symbols;
  for (const Dim& dim : dims) {
    values.push_back(dim.value);
    symbols.push_back(dim.symbol.c_str());
  }
  OrtTensorTypeAndShapeInfo* info = nullptr;
  if (OrtStatus* status = api.CreateTensorTypeAndShapeInfo(&info)) return status;
  OrtStatus* status = api.SetTensorElementType(info, type);
  if (!status) status = api.SetDimensions(info, values.data(), values.size());
  if (!status) status = api.SetSymbolicDimensions(info, symbols.data(), symbols.size());
  if (!status) status = api.ShapeInferContext_SetOutputTypeShape(context, 0, info);
  api.ReleaseTensorTypeAndShapeInfo(info);
  return status;
}

}  // namespace

OrtStatusPtr infer_output_shape(const OrtApi& api, OpKind op, const OpAlias* alias,
                                OrtShapeInferContext* context) noexcept {
  try {
    const bool rois_first = op == OpKind::kMultiScaleRoIAlign;
    std::vector<Dim> features, rois;
    ONNXTensorElementDataType feature_type{}, rois_type{};
    OpAttrs attrs{};
    if (!input_dims(api, context, rois_first ? 1 : 0, &features, &feature_type) ||
        !input_dims(api, context, rois_first ? 0 : 1, &rois, &rois_type) || features.size() != 4 ||
        rois.size() != 2 || !output_size(api, context, op, alias, &attrs)) {
      return nullptr;  // nothing reliable to say; the kernel reports real errors
    }
    Dim channels = features[1];
    if (op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign) {
      const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
      if (channels.value >= 0) {
        if (channels.value % bins != 0) return nullptr;  // the kernel reports it
        channels.value = output_channels(op, attrs, channels.value);
      } else if (!channels.symbol.empty()) {
        channels.symbol += "/" + std::to_string(bins);
      }
    }
    const std::vector<Dim> output = {rois[0], channels, Dim{attrs.pooled_h, ""},
                                     Dim{attrs.pooled_w, ""}};
    for (const Dim& dim : output) {
      // ONNX Runtime can only express an unknown dim by a symbol; without one, say nothing.
      if (dim.value < 0 && dim.symbol.empty()) return nullptr;
    }
    return set_output(api, context, feature_type, output);
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_FAIL, e.what());
  }
}

}  // namespace roipool::ort
