// TensorRT plugin fields <-> roipool::OpAttrs, with the encoding TensorRT's ONNX parser
// uses (docs/tensorrt.md): INT -> kINT32, FLOAT -> kFLOAT32, STRING -> kCHAR (the bytes
// and a NUL, the length counting it), INTS -> kINT32 array, FLOATS -> kFLOAT32 array.
// A string field is read up to its length or its first NUL, so both the parser's form
// and the unterminated one getFieldsToSerialize writes parse.
#pragma once

#include <string>
#include <vector>

#include "NvInferRuntime.h"
#include "roipool/common.h"

namespace roipool::trt {

// Starts from default_attrs(op) and applies every field through roipool::set_attribute,
// then validate_attrs. Wrong field types, lengths, names or values and null pointers
// give kInvalidArgument naming the field.
Status attrs_from_fields(OpKind op, const nvinfer1::PluginFieldCollection* fields, OpAttrs* attrs);

// A PluginFieldCollection that owns its names' and values' storage.
class OwnedFields {
 public:
  OwnedFields() = default;
  OwnedFields(const OwnedFields&) = delete;
  OwnedFields& operator=(const OwnedFields&) = delete;

  // The field list of `op` for IPluginCreatorV3One::getFieldNames (no data).
  void describe(OpKind op);
  // The values of `attrs` for IPluginV3OneRuntime::getFieldsToSerialize.
  void encode(OpKind op, const OpAttrs& attrs);
  const nvinfer1::PluginFieldCollection* collection() const { return &collection_; }

 private:
  struct Value {
    std::vector<int32_t> ints;
    std::vector<float> floats;
    std::string text;
  };
  void publish();

  std::vector<Value> values_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

}  // namespace roipool::trt
