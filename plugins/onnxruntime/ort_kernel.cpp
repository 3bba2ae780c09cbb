#include "ort_kernel.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace roipool::ort {
namespace {

// ---- attributes --------------------------------------------------------------------

template <typename T, typename Getter>
std::optional<std::vector<T>> read_array(const OrtApi& api, Getter getter,
                                         const OrtKernelInfo* info, const char* name) {
  size_t size = 0;  // a null buffer asks for the element count
  if (!succeeded(api, (api.*getter)(info, name, nullptr, &size))) return std::nullopt;
  std::vector<T> values(size);
  if (size > 0 && !succeeded(api, (api.*getter)(info, name, values.data(), &size))) {
    return std::nullopt;
  }
  return values;
}

// The node's attribute `name` read as `type`; nullopt when it has none of that type.
std::optional<AttrValue> read_as(const OrtApi& api, const OrtKernelInfo* info, const char* name,
                                 AttrType type) {
  AttrValue value;
  value.type = type;
  switch (type) {
    case AttrType::kInt: {
      int64_t i = 0;
      if (!succeeded(api, api.KernelInfoGetAttribute_int64(info, name, &i))) return std::nullopt;
      value.ints = {i};
      return value;
    }
    case AttrType::kFloat: {
      float f = 0.f;
      if (!succeeded(api, api.KernelInfoGetAttribute_float(info, name, &f))) return std::nullopt;
      value.floats = {f};
      return value;
    }
    case AttrType::kString: {
      auto chars = read_array<char>(api, &OrtApi::KernelInfoGetAttribute_string, info, name);
      if (!chars) return std::nullopt;
      value.text.assign(chars->data(), chars->empty() ? 0 : chars->size() - 1);  // drop the NUL
      return value;
    }
    case AttrType::kInts: {
      auto ints = read_array<int64_t>(api, &OrtApi::KernelInfoGetAttributeArray_int64, info, name);
      if (!ints) return std::nullopt;
      value.ints = std::move(*ints);
      return value;
    }
    case AttrType::kFloats: {
      auto floats = read_array<float>(api, &OrtApi::KernelInfoGetAttributeArray_float, info, name);
      if (!floats) return std::nullopt;
      value.floats = std::move(*floats);
      return value;
    }
  }
  return std::nullopt;
}

// The node's attribute `spec.name` in whatever ONNX type it has, so that a wrong type
// reaches set_attribute and gets the core's message. ONNX Runtime's scalar getters check
// the attribute's type but its list getters read anything as a (maybe empty) list, so
// scalars are probed first, then the schema's list type (a scalar given for a list
// attribute is accepted as one entry by set_attribute).
std::optional<AttrValue> read_attribute(const OrtApi& api, const OrtKernelInfo* info,
                                        const AttrSpec& spec) {
  const bool ints_first = spec.type != AttrType::kFloats;
  for (AttrType type : {AttrType::kInt, AttrType::kFloat, AttrType::kString,
                        ints_first ? AttrType::kInts : AttrType::kFloats,
                        ints_first ? AttrType::kFloats : AttrType::kInts}) {
    if (auto value = read_as(api, info, spec.name, type)) return value;
  }
  return std::nullopt;
}

// Every attribute any roipool op has. One that belongs to another op (mode on
// PSRoIAlign) is read and reported by set_attribute.
const std::vector<AttrSpec>& roipool_attribute_names() {
  static const std::vector<AttrSpec> names = [] {
    std::vector<AttrSpec> all;
    for (int32_t k = 0; k < kNumOps; ++k) {
      for (const AttrSpec& spec : op_attributes(static_cast<OpKind>(k))) {
        bool seen = false;
        for (const AttrSpec& s : all) seen = seen || std::string_view(s.name) == spec.name;
        if (!seen) all.push_back(spec);
      }
    }
    return all;
  }();
  return names;
}

// ---- unknown attributes ----------------------------------------------------------------
//
// SPEC section 6 makes an attribute the op does not define an error naming it. ONNX
// Runtime's custom-op API cannot list a node's attributes (OrtKernelInfo answers by name
// only, and the schema it builds for a custom op allows any attribute), so the kernel asks
// for a closed set of names a node may carry by mistake: other toolkits' spellings of the
// same parameters and every single-edit typo of the op's own names. roipool's Python
// session helper checks the complete list (docs/onnxruntime.md).

// Spellings of RoI pooling parameters in ONNX (RoiAlign, MaxRoiPool), mmcv / mmdeploy,
// Caffe and Detectron exports.
constexpr const char* kForeignNames[] = {
    "output_height", "output_width", "output_size", "pooled_height", "pooled_width",
    "pooled_size", "pooled_shape", "spatial_scale", "spatial_scales", "sampling_ratio",
    "sample_num", "sampling_ratios", "aligned", "mode", "pool_mode", "coordinate_transformation_mode",
    "featmap_strides", "finest_scale", "roi_scale_factor", "gamma", "clockwise", "output_dim",
    "group_size", "trans_std", "part_size", "sample_per_part", "no_trans", "canonical_scale",
    "canonical_level", "level_mapping"};

// Names the ONNX nodes carry for TensorRT's parser; no op parameter.
bool is_lookup_key(std::string_view name) {
  return name == "plugin_namespace" || name == "plugin_version";
}

void add_typos(std::string_view name, std::vector<std::string>* out) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz_0123456789";
  const std::string word(name);
  for (size_t i = 0; i <= word.size(); ++i) {
    if (i < word.size()) out->push_back(std::string(word).erase(i, 1));  // deletion
    if (i + 1 < word.size()) {                                            // transposition
      std::string swapped = word;
      std::swap(swapped[i], swapped[i + 1]);
      out->push_back(swapped);
    }
    for (char c : kAlphabet) {
      out->push_back(std::string(word).insert(i, 1, c));  // insertion
      if (i < word.size() && word[i] != c) {              // substitution
        std::string changed = word;
        changed[i] = c;
        out->push_back(changed);
      }
    }
  }
}

// The names to probe for a node whose defined attributes are `own`.
std::vector<std::string> suspect_names(const std::vector<std::string>& own) {
  std::vector<std::string> names(std::begin(kForeignNames), std::end(kForeignNames));
  for (const AttrSpec& spec : roipool_attribute_names()) names.emplace_back(spec.name);
  for (const OpAlias& alias : op_aliases()) {
    for (const AliasAttr& spec : alias.attributes) names.emplace_back(spec.name);
  }
  for (const std::string& name : own) add_typos(name, &names);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto defined = [&](const std::string& name) {
    return is_lookup_key(name) || std::find(own.begin(), own.end(), name) != own.end();
  };
  names.erase(std::remove_if(names.begin(), names.end(), defined), names.end());
  return names;
}

// ONNX Runtime's list getters read an attribute of any type (as a maybe empty list) and
// fail only when the node has none of that name.
bool node_has_attribute(const OrtApi& api, const OrtKernelInfo* info, const char* name) {
  size_t size = 0;
  return succeeded(api, api.KernelInfoGetAttributeArray_int64(info, name, nullptr, &size));
}

Status check_unknown_attributes(const OrtApi& api, const OrtKernelInfo* info, const char* op,
                                const std::vector<std::string>& own) {
  for (const std::string& name : suspect_names(own)) {
    if (node_has_attribute(api, info, name.c_str())) {
      return Status::InvalidArgument(std::string(op) + ": attribute '" + name +
                                     "' is not an attribute of this op");
    }
  }
  return Status::Ok();
}

Status parse_attributes(const OrtApi& api, const OrtKernelInfo* info, OpKind op, OpAttrs* attrs) {
  std::vector<std::string> own;
  for (const AttrSpec& spec : op_attributes(op)) own.emplace_back(spec.name);
  Status status = check_unknown_attributes(api, info, op_name(op), own);
  if (!status.ok()) return status;
  *attrs = default_attrs(op);
  for (const AttrSpec& spec : roipool_attribute_names()) {
    std::optional<AttrValue> value = read_attribute(api, info, spec);
    if (!value) continue;  // absent: the core's default
    status = set_attribute(op, spec.name, *value, attrs);
    if (!status.ok()) return status;
  }
  return validate_attrs(op, *attrs);
}

// An alias node: its own attribute names, types and defaults (roipool/aliases.h).
Status parse_alias_attributes(const OrtApi& api, const OrtKernelInfo* info, const OpAlias& alias,
                              OpAttrs* attrs) {
  std::vector<std::string> own;
  for (const AliasAttr& spec : alias.attributes) own.emplace_back(spec.name);
  Status status = check_unknown_attributes(api, info, alias.name, own);
  if (!status.ok()) return status;
  std::vector<NamedValue> values;
  for (const AliasAttr& spec : alias.attributes) {
    if (auto value = read_attribute(api, info, AttrSpec{spec.name, spec.type})) {
      values.push_back({spec.name, std::move(*value)});
    }
  }
  return alias_attrs(alias, values, attrs);
}

// ---- tensors -----------------------------------------------------------------------

Status invalid(OpKind op, const std::string& why) {
  return Status::InvalidArgument(std::string(op_name(op)) + ": " + why);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

bool to_dtype(ONNXTensorElementDataType type, DType* dtype) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: *dtype = DType::kFloat32; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: *dtype = DType::kFloat16; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: *dtype = DType::kBFloat16; return true;
    default: return false;
  }
}

// One input tensor: data, shape and dtype.
struct TensorView {
  const void* data = nullptr;
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
};

Status view_tensor(OpKind op, const Ort::ConstValue& value, const char* what, TensorView* view) {
  auto info = value.GetTensorTypeAndShapeInfo();
  if (!to_dtype(info.GetElementType(), &view->dtype)) {
    return invalid(op, std::string(what) + " must be float32, float16 or bfloat16");
  }
  view->shape = info.GetShape();
  view->data = value.GetTensorRawData();
  return Status::Ok();
}

Status view_feature(OpKind op, const Ort::ConstValue& value, TensorView* view, FeatureMap* map) {
  Status status = view_tensor(op, value, "input", view);
  if (!status.ok()) return status;
  if (view->shape.size() != 4) {
    return invalid(op, "input must be [B, C, H, W], got " + shape_text(view->shape));
  }
  *map = FeatureMap{view->data, view->shape[0], view->shape[1], view->shape[2], view->shape[3],
                    Layout::kNCHW};
  return Status::Ok();
}

// DeformRoIPool's optional offset / mask: nullptr when absent, else checked against `expected`.
Status optional_input(OpKind op, const Ort::KernelContext& context, size_t index, const char* what,
                      const std::vector<int64_t>& expected, DType dtype, const void** data) {
  *data = nullptr;
  if (index >= context.GetInputCount()) return Status::Ok();
  Ort::ConstValue value = context.GetInput(index);
  if (static_cast<const OrtValue*>(value) == nullptr) return Status::Ok();
  TensorView view;
  Status status = view_tensor(op, value, what, &view);
  if (!status.ok()) return status;
  if (view.shape != expected || view.dtype != dtype) {
    return invalid(op, std::string(what) + " must be " + shape_text(expected) +
                           " with the input's dtype, got " + shape_text(view.shape));
  }
  *data = view.data;
  return Status::Ok();
}

// ---- threads -----------------------------------------------------------------------

// OrtApi::KernelContext_ParallelFor exists in API tables of this version and later.
constexpr uint32_t kParallelForApiVersion = 17;

struct PoolTasks {
  const OrtApi* api;
  const OrtKernelContext* context;
};

// CpuExecutor::run on the session's intra-op thread pool (none with
// intra_op_num_threads = 1: ONNX Runtime then runs every task on the calling thread).
void run_on_ort_pool(void* pool, int64_t num_tasks, CpuTaskFn task, void* task_data) {
  const auto* tasks = static_cast<const PoolTasks*>(pool);
  struct Call {
    CpuTaskFn task;
    void* data;
  } call{task, task_data};
  OrtStatus* status = tasks->api->KernelContext_ParallelFor(
      tasks->context,
      [](void* c, size_t index) {
        const auto* call = static_cast<const Call*>(c);
        call->task(call->data, static_cast<int64_t>(index));
      },
      static_cast<size_t>(num_tasks), 0, &call);
  // ONNX Runtime refuses only a null context, before running any task.
  if (!succeeded(*tasks->api, status)) {
    for (int64_t i = 0; i < num_tasks; ++i) task(task_data, i);
  }
}

}  // namespace

OrtStatusPtr to_ort_status(const OrtApi& api, const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk: return nullptr;
    case Status::Code::kInvalidArgument:
      return api.CreateStatus(ORT_INVALID_ARGUMENT, status.message().c_str());
    case Status::Code::kUnsupported:
      return api.CreateStatus(ORT_NOT_IMPLEMENTED, status.message().c_str());
    case Status::Code::kCudaError: return api.CreateStatus(ORT_EP_FAIL, status.message().c_str());
    case Status::Code::kInternal: return api.CreateStatus(ORT_RUNTIME_EXCEPTION, status.message().c_str());
  }
  return api.CreateStatus(ORT_FAIL, status.message().c_str());
}

OrtStatusPtr RoipoolKernel::Create(const OrtApi& api, uint32_t api_version,
                                   const OrtKernelInfo* info, OpKind op, const OpAlias* alias,
                                   Device device, void** kernel) noexcept {
  try {
    OpAttrs attrs{};
    Status status = alias ? parse_alias_attributes(api, info, *alias, &attrs)
                          : parse_attributes(api, info, op, &attrs);
    if (!status.ok()) return to_ort_status(api, status);
    // Owned by ONNX Runtime from here; CustomOpBase's KernelDestroy deletes it.
    const bool use_ort_pool = api_version >= kParallelForApiVersion;
    *kernel = std::make_unique<RoipoolKernel>(api, op, device, attrs, use_ort_pool).release();
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_FAIL, e.what());
  }
}

OrtStatusPtr RoipoolKernel::ComputeV2(OrtKernelContext* context) noexcept {
  try {
    return to_ort_status(api_, Compute(context));
  } catch (const Ort::Exception& e) {
    return api_.CreateStatus(e.GetOrtErrorCode(), e.what());
  } catch (const std::exception& e) {
    return api_.CreateStatus(ORT_FAIL, e.what());
  }
}

Status RoipoolKernel::Compute(OrtKernelContext* raw_context) const {
  const Ort::KernelContext context(raw_context);
  const size_t num_inputs = context.GetInputCount();
  if (num_inputs < 2) return invalid(op_, "expected at least 2 inputs");
  // Node contract: (input, rois[, offset, mask]) or, for MultiScaleRoIAlign, (rois, f0, ..., fL-1).
  const bool rois_first = op_ == OpKind::kMultiScaleRoIAlign;
  const size_t first_feature = rois_first ? 1 : 0;
  const size_t end_feature = rois_first ? num_inputs : 1;

  std::vector<FeatureMap> features(end_feature - first_feature);
  TensorView feature;
  for (size_t i = first_feature; i < end_feature; ++i) {
    Status status = view_feature(op_, context.GetInput(i), &feature, &features[i - first_feature]);
    if (!status.ok()) return status;
  }
  TensorView rois;
  Status status = view_tensor(op_, context.GetInput(rois_first ? 0 : 1), "rois", &rois);
  if (!status.ok()) return status;
  const int64_t columns = rois_columns(op_);
  if (rois.shape.size() != 2 || rois.shape[1] != columns) {
    return invalid(op_, "rois must be [K, " + std::to_string(columns) + "], got " +
                            shape_text(rois.shape));
  }
  const int64_t num_rois = rois.shape[0];

  OpArgs args{};
  args.dtype = feature.dtype;
  args.rois_dtype = rois.dtype;
  args.num_features = static_cast<int32_t>(features.size());
  args.features = features.data();
  args.rois = rois.data;
  args.num_rois = num_rois;
  if (op_ == OpKind::kDeformRoIPool) {
    const int64_t ph = attrs_.pooled_h, pw = attrs_.pooled_w;
    status = optional_input(op_, context, 2, "offset", {num_rois, 2, ph, pw}, args.dtype,
                            &args.offset);
    if (!status.ok()) return status;
    status = optional_input(op_, context, 3, "mask", {num_rois, 1, ph, pw}, args.dtype, &args.mask);
    if (!status.ok()) return status;
  }

  const int64_t channels = output_channels(op_, attrs_, features.front().channels);
  Ort::UnownedValue output =
      context.GetOutput(0, {num_rois, channels, attrs_.pooled_h, attrs_.pooled_w});
  args.output = output.GetTensorMutableRawData();

  if (device_ == Device::kCuda) {
    return forward_cuda(op_, attrs_, args, context.GetGPUComputeStream());
  }
  // Without ONNX Runtime's pool the session's intra-op budget is unknown; one thread
  // never exceeds it (intra_op_num_threads = 1 is the common serving setting).
  if (!use_ort_pool_) return forward_cpu(op_, attrs_, args, CpuOptions{1});
  PoolTasks pool{&api_, raw_context};
  CpuOptions options;
  options.executor = CpuExecutor{run_on_ort_pool, &pool};
  return forward_cpu(op_, attrs_, args, options);
}

}  // namespace roipool::ort
