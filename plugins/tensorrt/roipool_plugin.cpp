#include <memory>

#include "logging.h"
#include "plugin_base.h"

namespace roipool::trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::DimensionOperation;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;

bool is_float_type(DataType type) {
  return type == DataType::kFLOAT || type == DataType::kHALF || type == DataType::kBF16;
}

DType to_dtype(DataType type) {
  return type == DataType::kHALF ? DType::kFloat16 : type == DataType::kBF16 ? DType::kBFloat16 : DType::kFloat32;
}

// A caller may pass any nbDims: only the MAX_DIMS entries that exist are read.
std::string dims_text(const nvinfer1::Dims& dims) {
  if (dims.nbDims < 0 || dims.nbDims > nvinfer1::Dims::MAX_DIMS) {
    return "<invalid rank " + std::to_string(dims.nbDims) + ">";
  }
  std::string text = "[";
  for (int32_t i = 0; i < dims.nbDims; ++i) text += (i ? ", " : "") + std::to_string(dims.d[i]);
  return text + "]";
}

bool is_position_sensitive(OpKind op) { return op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign; }

bool dims_equal(const nvinfer1::Dims& dims, std::initializer_list<int64_t> expected) {
  if (dims.nbDims != static_cast<int32_t>(expected.size())) return false;
  int32_t i = 0;
  for (int64_t e : expected) {
    if (dims.d[i++] != e) return false;
  }
  return true;
}

// DeformRoIPool's optional inputs after (input, rois): with four inputs they are
// (offset, mask). With three the third is the offset unless it is [K, 1, ph, pw]: that can
// only be a mask (an offset is [K, 2, ph, pw]), as a network built directly with
// addPluginV3 may pass for mask-only. (The ONNX parser keeps an absent input's position
// instead; docs/tensorrt.md.)
struct DeformInputs {
  int32_t offset = -1;
  int32_t mask = -1;
};

DeformInputs deform_inputs(const PluginTensorDesc* in, int32_t nb_inputs) {
  if (nb_inputs == 4) return {2, 3};
  if (nb_inputs == 3) return in[2].dims.nbDims > 1 && in[2].dims.d[1] == 1 ? DeformInputs{-1, 2} : DeformInputs{2, -1};
  return {};
}

// TensorRT calls the plugin through noexcept methods: an exception from their bodies
// (std::bad_alloc while formatting a message, say) is logged and reported as an error.
template <typename Fn>
int32_t guarded(const char* name, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    log_current_exception(name);
    return -1;
  }
}

}  // namespace

RoiPoolPlugin::RoiPoolPlugin(OpKind op, const OpAttrs& attrs, const OpAlias* alias,
                             std::vector<NamedValue> alias_values)
    : op_(op), attrs_(attrs), alias_(alias), alias_values_(std::move(alias_values)) {}

RoiPoolPlugin::RoiPoolPlugin(const RoiPoolPlugin& other)
    : IPluginV3(other), IPluginV3OneCore(other), IPluginV3OneBuild(other), IPluginV3OneRuntime(other),
      op_(other.op_), attrs_(other.attrs_), alias_(other.alias_), alias_values_(other.alias_values_),
      num_inputs_(other.num_inputs_) {}

nvinfer1::IPluginCapability* RoiPoolPlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept {
  switch (type) {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

nvinfer1::IPluginV3* RoiPoolPlugin::clone() noexcept {
  try {
    return std::make_unique<RoiPoolPlugin>(*this).release();
  } catch (...) {
    log_current_exception(getPluginName());
    return nullptr;
  }
}

const char* RoiPoolPlugin::getPluginName() const noexcept { return alias_ ? alias_->name : op_name(op_); }
const char* RoiPoolPlugin::getPluginVersion() const noexcept {
  return alias_ ? alias_->plugin_version : kPluginVersion;
}
const char* RoiPoolPlugin::getPluginNamespace() const noexcept {
  return alias_ ? alias_->plugin_namespace : kPluginNamespace;
}

int32_t RoiPoolPlugin::feature_index() const { return op_ == OpKind::kMultiScaleRoIAlign ? 1 : 0; }
int32_t RoiPoolPlugin::rois_index() const { return op_ == OpKind::kMultiScaleRoIAlign ? 0 : 1; }

int32_t RoiPoolPlugin::num_features(int32_t nb_inputs) const {
  return op_ == OpKind::kMultiScaleRoIAlign ? nb_inputs - 1 : 1;
}

bool RoiPoolPlugin::valid_input_count(int32_t nb_inputs) const {
  if (op_ == OpKind::kMultiScaleRoIAlign) return nb_inputs == 1 + attrs_.num_levels;
  return nb_inputs >= min_inputs(op_) && nb_inputs <= (alias_ ? alias_->max_inputs : max_inputs(op_));
}

Status RoiPoolPlugin::io_count_error(int32_t nb_inputs) const {
  return Status::InvalidArgument(std::string(getPluginName()) + ": unexpected number of inputs (" +
                                 std::to_string(nb_inputs) + ") or outputs, or null tensor descriptions");
}

int32_t RoiPoolPlugin::fail(const Status& status) const {
  // Core messages about attributes and shapes name the op already; CUDA errors may not.
  const std::string& message = status.message();
  const std::string name = getPluginName();
  log_error(message.compare(0, name.size(), name) == 0 ? message : name + ": " + message);
  return -1;
}

int32_t RoiPoolPlugin::configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_inputs,
                                       const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_outputs) noexcept {
  return guarded(getPluginName(), [&]() -> int32_t {
    if (in == nullptr || out == nullptr || !valid_input_count(nb_inputs) || nb_outputs != 1) {
      return fail(io_count_error(nb_inputs));
    }
    return 0;
  });
}

int32_t RoiPoolPlugin::getOutputDataTypes(DataType* output_types, int32_t nb_outputs, const DataType* input_types,
                                          int32_t nb_inputs) const noexcept {
  return guarded(getPluginName(), [&]() -> int32_t {
    const std::string name = getPluginName();
    if (output_types == nullptr || input_types == nullptr || nb_outputs != 1 || !valid_input_count(nb_inputs)) {
      return fail(io_count_error(nb_inputs));
    }
    const DataType features = input_types[feature_index()];
    if (!is_float_type(features)) {
      return fail(Status::InvalidArgument(name + ": input must be float32, float16 or bfloat16"));
    }
    output_types[0] = features;
    return 0;
  });
}

int32_t RoiPoolPlugin::getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nb_inputs,
                                       const nvinfer1::DimsExprs*, int32_t, nvinfer1::DimsExprs* outputs,
                                       int32_t nb_outputs, nvinfer1::IExprBuilder& builder) noexcept {
  return guarded(getPluginName(), [&]() -> int32_t {
    const std::string name = getPluginName();
    if (inputs == nullptr || outputs == nullptr || nb_outputs != 1 || !valid_input_count(nb_inputs)) {
      return fail(io_count_error(nb_inputs));
    }
    const nvinfer1::DimsExprs& features = inputs[feature_index()];
    const nvinfer1::DimsExprs& rois = inputs[rois_index()];
    if (features.nbDims != 4 || rois.nbDims != 2) {
      return fail(Status::InvalidArgument(name + ": input must be [B, C, H, W] and rois [K, " +
                                          std::to_string(rois_columns(op_)) + "]"));
    }
    if (rois.d[1]->isConstant() && rois.d[1]->getConstantValue() != rois_columns(op_)) {
      return fail(Status::InvalidArgument(name + ": rois must have " + std::to_string(rois_columns(op_)) +
                                          " columns, got " + std::to_string(rois.d[1]->getConstantValue())));
    }
    const nvinfer1::IDimensionExpr* channels = features.d[1];
    if (is_position_sensitive(op_)) {  // C_out = C / (ph * pw)
      const int64_t bins = static_cast<int64_t>(attrs_.pooled_h) * attrs_.pooled_w;
      if (channels->isConstant() && channels->getConstantValue() % bins != 0) {
        return fail(Status::InvalidArgument(name + ": input channels (" + std::to_string(channels->getConstantValue()) +
                                            ") must be divisible by pooled_h * pooled_w (" + std::to_string(bins) + ")"));
      }
      const nvinfer1::IDimensionExpr* divisor = builder.constant(bins);
      channels = divisor ? builder.operation(DimensionOperation::kFLOOR_DIV, *channels, *divisor) : nullptr;
    }
    outputs[0].nbDims = 4;
    outputs[0].d[0] = rois.d[0];
    outputs[0].d[1] = channels;
    outputs[0].d[2] = builder.constant(attrs_.pooled_h);
    outputs[0].d[3] = builder.constant(attrs_.pooled_w);
    for (int32_t i = 1; i < 4; ++i) {
      if (outputs[0].d[i] == nullptr) return fail(Status::InvalidArgument(name + ": shape expression failed"));
    }
    return 0;
  });
}

bool RoiPoolPlugin::supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* in_out,
                                              int32_t nb_inputs, int32_t nb_outputs) noexcept {
  if (in_out == nullptr || !valid_input_count(nb_inputs) || nb_outputs != 1 || pos < 0 ||
      pos >= nb_inputs + nb_outputs) {
    return false;
  }
  const PluginTensorDesc& desc = in_out[pos].desc;
  if (desc.format != TensorFormat::kLINEAR || !is_float_type(desc.type)) return false;
  // TensorRT asks position by position; only positions before `pos` are settled.
  const int32_t features = feature_index();
  const int32_t rois = rois_index();
  if (pos == rois) return pos < features || desc.type == DataType::kFLOAT || desc.type == in_out[features].desc.type;
  if (pos == features) {
    return rois > pos || in_out[rois].desc.type == DataType::kFLOAT || in_out[rois].desc.type == desc.type;
  }
  // Further feature maps, offset, mask and the output share the input's type.
  return desc.type == in_out[features].desc.type;
}

Status RoiPoolPlugin::check_shapes(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc* out,
                                   int32_t nb_outputs) const {
  const std::string name = getPluginName();
  if (in == nullptr || out == nullptr || !valid_input_count(nb_inputs) || nb_outputs != 1) {
    return io_count_error(nb_inputs);
  }
  const nvinfer1::Dims& rois = in[rois_index()].dims;
  if (rois.nbDims != 2 || rois.d[1] != rois_columns(op_)) {
    return Status::InvalidArgument(name + ": rois must be [K, " + std::to_string(rois_columns(op_)) + "], got " +
                                   dims_text(rois));
  }
  if (!is_float_type(in[rois_index()].type)) {
    return Status::InvalidArgument(name + ": rois must be float32, float16 or bfloat16");
  }
  const int64_t k = rois.d[0];
  for (int32_t l = 0; l < num_features(nb_inputs); ++l) {
    const PluginTensorDesc& feature = in[feature_index() + l];
    if (feature.dims.nbDims != 4) {
      return Status::InvalidArgument(name + ": input must be [B, C, H, W], got " + dims_text(feature.dims));
    }
    if (!is_float_type(feature.type) || feature.format != TensorFormat::kLINEAR) {
      return Status::InvalidArgument(name + ": input must be linear float32, float16 or bfloat16");
    }
  }
  if (op_ == OpKind::kDeformRoIPool) {
    const DeformInputs extra = deform_inputs(in, nb_inputs);
    const int64_t ph = attrs_.pooled_h;
    const int64_t pw = attrs_.pooled_w;
    if (extra.offset >= 0 && !dims_equal(in[extra.offset].dims, {k, 2, ph, pw})) {
      return Status::InvalidArgument(name + ": offset must be [K, 2, pooled_h, pooled_w], got " +
                                     dims_text(in[extra.offset].dims));
    }
    if (extra.mask >= 0 && !dims_equal(in[extra.mask].dims, {k, 1, ph, pw})) {
      return Status::InvalidArgument(name + ": mask must be [K, 1, pooled_h, pooled_w], got " +
                                     dims_text(in[extra.mask].dims));
    }
  }
  const int64_t bins = static_cast<int64_t>(attrs_.pooled_h) * attrs_.pooled_w;
  if (is_position_sensitive(op_) && in[feature_index()].dims.d[1] % bins != 0) {
    return Status::InvalidArgument(name + ": input channels (" + std::to_string(in[feature_index()].dims.d[1]) +
                                   ") must be divisible by pooled_h * pooled_w (" + std::to_string(bins) + ")");
  }
  const int64_t channels = output_channels(op_, attrs_, in[feature_index()].dims.d[1]);
  if (!dims_equal(out[0].dims, {k, channels, attrs_.pooled_h, attrs_.pooled_w})) {
    return Status::InvalidArgument(name + ": output must be [K, C_out, pooled_h, pooled_w], got " +
                                   dims_text(out[0].dims));
  }
  return Status::Ok();
}

int32_t RoiPoolPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc* out,
                                     int32_t nb_outputs) noexcept {
  return guarded(getPluginName(), [&]() -> int32_t {
    const Status status = check_shapes(in, nb_inputs, out, nb_outputs);
    if (!status.ok()) return fail(status);
    num_inputs_ = nb_inputs;
    return 0;
  });
}

int32_t RoiPoolPlugin::enqueue(const PluginTensorDesc* input_desc, const PluginTensorDesc* output_desc,
                               const void* const* inputs, void* const* outputs, void*, cudaStream_t stream) noexcept {
  return guarded(getPluginName(), [&]() -> int32_t {
    // enqueue is not told the input count: onShapeChange recorded it.
    const Status shapes = check_shapes(input_desc, num_inputs_, output_desc, 1);
    if (!shapes.ok()) return fail(shapes);
    if (inputs == nullptr || outputs == nullptr) {
      return fail(Status::InvalidArgument(std::string(getPluginName()) + ": null input or output array"));
    }
    const PluginTensorDesc& rois = input_desc[rois_index()];
    if (rois.dims.d[0] == 0) return 0;  // K = 0: nothing to launch, nothing to touch

    FeatureMap features[kMaxLevels];
    const int32_t levels = num_features(num_inputs_);
    for (int32_t l = 0; l < levels; ++l) {
      const PluginTensorDesc& desc = input_desc[feature_index() + l];
      features[l] = FeatureMap{inputs[feature_index() + l], desc.dims.d[0], desc.dims.d[1], desc.dims.d[2],
                               desc.dims.d[3], Layout::kNCHW};
    }
    OpArgs args{};
    args.dtype = to_dtype(input_desc[feature_index()].type);
    args.rois_dtype = to_dtype(rois.type);
    args.num_features = levels;
    args.features = features;
    args.rois = inputs[rois_index()];
    args.num_rois = rois.dims.d[0];
    if (op_ == OpKind::kDeformRoIPool) {
      const DeformInputs extra = deform_inputs(input_desc, num_inputs_);
      args.offset = extra.offset >= 0 ? inputs[extra.offset] : nullptr;
      args.mask = extra.mask >= 0 ? inputs[extra.mask] : nullptr;
    }
    args.output = outputs[0];
    const Status status = forward_cuda(op_, attrs_, args, stream);
    return status.ok() ? 0 : fail(status);
  });
}

nvinfer1::IPluginV3* RoiPoolPlugin::attachToContext(nvinfer1::IPluginResourceContext*) noexcept { return clone(); }

const nvinfer1::PluginFieldCollection* RoiPoolPlugin::getFieldsToSerialize() noexcept {
  try {
    if (alias_) {
      serialized_.encode(alias_values_);
    } else {
      serialized_.encode(op_, attrs_);
    }
    return serialized_.collection();
  } catch (...) {
    log_current_exception(getPluginName());
    return nullptr;
  }
}

}  // namespace roipool::trt
