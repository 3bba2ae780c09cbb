// The IPluginV3 boilerplate, written once: one plugin class and one creator class,
// parameterised by roipool::OpKind. Adapters only; the math lives in the kernel core.
//
// Tensor contract (ONNX node contract of the project):
//   inputs  (input, rois) for every op; (input, rois, offset?, mask?) for DeformRoIPool;
//           (rois, feature_0, ..., feature_{L-1}) for MultiScaleRoIAlign;
//   output  [K, C_out, pooled_h, pooled_w], the features' type, linear NCHW.
#pragma once

#include <string>

#include "NvInferRuntime.h"
#include "fields.h"
#include "roipool/common.h"

namespace roipool::trt {

inline constexpr const char* kPluginVersion = "1";
inline constexpr const char* kPluginNamespace = "roipool";

class RoiPoolPlugin final : public nvinfer1::IPluginV3,
                            public nvinfer1::IPluginV3OneCore,
                            public nvinfer1::IPluginV3OneBuild,
                            public nvinfer1::IPluginV3OneRuntime {
 public:
  // `attrs` must have passed validate_attrs (the creator guarantees it). An alias's plugin
  // (roipool/aliases.h) carries its name and its fields' `alias_values` to serialize.
  RoiPoolPlugin(OpKind op, const OpAttrs& attrs, const OpAlias* alias = nullptr,
                std::vector<NamedValue> alias_values = {});
  RoiPoolPlugin(const RoiPoolPlugin& other);
  RoiPoolPlugin& operator=(const RoiPoolPlugin&) = delete;
  ~RoiPoolPlugin() override = default;

  OpKind op() const { return op_; }
  const OpAttrs& attrs() const { return attrs_; }

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

  // IPluginV3OneBuild
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_inputs,
                          const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_outputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* output_types, int32_t nb_outputs,
                             const nvinfer1::DataType* input_types, int32_t nb_inputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nb_inputs,
                          const nvinfer1::DimsExprs* shape_inputs, int32_t nb_shape_inputs,
                          nvinfer1::DimsExprs* outputs, int32_t nb_outputs,
                          nvinfer1::IExprBuilder& builder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* in_out,
                                 int32_t nb_inputs, int32_t nb_outputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }

  // IPluginV3OneRuntime
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nb_inputs,
                        const nvinfer1::PluginTensorDesc* out, int32_t nb_outputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* input_desc, const nvinfer1::PluginTensorDesc* output_desc,
                  const void* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  // Index of the (first) feature map among the inputs, and of the rois.
  int32_t feature_index() const;
  int32_t rois_index() const;
  int32_t num_features(int32_t nb_inputs) const;
  bool valid_input_count(int32_t nb_inputs) const;
  Status check_shapes(const nvinfer1::PluginTensorDesc* in, int32_t nb_inputs,
                      const nvinfer1::PluginTensorDesc* out, int32_t nb_outputs) const;
  Status io_count_error(int32_t nb_inputs) const;
  int32_t fail(const Status& status) const;  // logs, returns TensorRT's error code

  OpKind op_;
  OpAttrs attrs_;
  const OpAlias* alias_;
  std::vector<NamedValue> alias_values_;
  int32_t num_inputs_ = -1;  // set by onShapeChange; enqueue is not told the count
  OwnedFields serialized_;
};

class RoiPoolPluginCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  // The creator of roipool's `op`, or of `alias` (which runs alias->op).
  explicit RoiPoolPluginCreator(OpKind op, const OpAlias* alias = nullptr);
  RoiPoolPluginCreator(const RoiPoolPluginCreator&) = delete;
  RoiPoolPluginCreator& operator=(const RoiPoolPluginCreator&) = delete;

  // Parses `fields` (both phases: the ONNX parser's fields and getFieldsToSerialize's);
  // logs the error and returns nullptr when they are invalid.
  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fields,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override;
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

 private:
  OpKind op_;
  const OpAlias* alias_;
  OwnedFields field_names_;
};

}  // namespace roipool::trt
