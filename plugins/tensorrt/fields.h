// TensorRT plugin fields <-> roipool::OpAttrs, with the encoding TensorRT's ONNX parser
// uses (docs/tensorrt.md): INT -> kINT32, FLOAT -> kFLOAT32, STRING -> kCHAR (the bytes
// and a NUL, the length counting it), INTS -> kINT32 array, FLOATS -> kFLOAT32 array.
// A string field is read up to its length or its first NUL, so both the parser's form
// and the unterminated one getFieldsToSerialize writes parse.
#pragma once

#include <string>
#include <vector>

#include "NvInferRuntime.h"
#include "roipool/aliases.h"
#include "roipool/common.h"

namespace roipool::trt {

// Starts from default_attrs(op) and applies every field through roipool::set_attribute,
// then validate_attrs. Wrong field types, lengths, names or values and null pointers
// give kInvalidArgument naming the field.
Status attrs_from_fields(OpKind op, const nvinfer1::PluginFieldCollection* fields, OpAttrs* attrs);

// The same for an alias's fields (roipool::alias_attrs); `complete` receives every field's
// value, defaults filled in, for serialization.
Status alias_attrs_from_fields(const OpAlias& alias, const nvinfer1::PluginFieldCollection* fields,
                               OpAttrs* attrs, std::vector<NamedValue>* complete);

// A PluginFieldCollection that owns its names' and values' storage.
class OwnedFields {
 public:
  OwnedFields() = default;
  OwnedFields(const OwnedFields&) = delete;
  OwnedFields& operator=(const OwnedFields&) = delete;

  // The field list of `op` / `alias` for IPluginCreatorV3One::getFieldNames (no data).
  void describe(OpKind op);
  void describe(const OpAlias& alias);
  // The values of `attrs` for IPluginV3OneRuntime::getFieldsToSerialize; an alias's
  // plugin serializes its fields' values as given.
  void encode(OpKind op, const OpAttrs& attrs);
  void encode(const std::vector<NamedValue>& values);
  const nvinfer1::PluginFieldCollection* collection() const { return &collection_; }

 private:
  struct Value {
    std::vector<int32_t> ints;
    std::vector<float> floats;
    std::string text;
  };
  void describe(const std::vector<AttrSpec>& specs);
  void publish();

  std::vector<std::string> names_;  // encode's field names
  std::vector<Value> values_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

}  // namespace roipool::trt
