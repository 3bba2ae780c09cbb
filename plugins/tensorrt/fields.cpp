#include "fields.h"

#include <cstring>

namespace roipool::trt {
namespace {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

Status field_error(OpKind op, const std::string& name, const std::string& why) {
  return Status::InvalidArgument(std::string(op_name(op)) + ": field '" + printable(name) + "' " + why);
}

PluginFieldType field_type(AttrType type) {
  switch (type) {
    case AttrType::kInt:
    case AttrType::kInts: return PluginFieldType::kINT32;
    case AttrType::kFloat:
    case AttrType::kFloats: return PluginFieldType::kFLOAT32;
    case AttrType::kString: return PluginFieldType::kCHAR;
  }
  return PluginFieldType::kUNKNOWN;
}

const char* field_type_name(PluginFieldType type) {
  switch (type) {
    case PluginFieldType::kINT32: return "kINT32";
    case PluginFieldType::kFLOAT32: return "kFLOAT32";
    case PluginFieldType::kCHAR: return "kCHAR";
    default: return "an unsupported type";
  }
}

// The ONNX node attributes that name the plugin for TensorRT's parser. The parser passes
// only the fields getFieldNames lists, so they never arrive from it; another writer may
// pass them, and they carry no plugin parameter.
bool is_lookup_key(const char* name) {
  return std::strcmp(name, "plugin_namespace") == 0 || std::strcmp(name, "plugin_version") == 0;
}

// The attribute spec of `name` for `op`, or nullptr when `op` has no such attribute.
const AttrSpec* find_spec(const std::vector<AttrSpec>& specs, const char* name) {
  for (const AttrSpec& spec : specs) {
    if (std::strcmp(spec.name, name) == 0) return &spec;
  }
  return nullptr;
}

// Converts one field to the value set_attribute expects; type and pointer checks only,
// the core checks counts and ranges.
Status field_value(OpKind op, const AttrSpec& spec, const PluginField& field, AttrValue* value) {
  const PluginFieldType expected = field_type(spec.type);
  if (field.type != expected) {
    return field_error(op, spec.name, std::string("must be ") + field_type_name(expected) +
                                          ", got " + field_type_name(field.type));
  }
  if (field.length < 0 || (field.length > 0 && field.data == nullptr)) {
    return field_error(op, spec.name, "has a negative length or null data");
  }
  const auto count = static_cast<size_t>(field.length);
  value->type = spec.type;
  // Copied bytewise: nothing promises that field data (a deserialized blob, say) is
  // aligned for its type (a misaligned load was a UBSan finding of scripts/fuzz.sh).
  switch (expected) {
    case PluginFieldType::kINT32: {
      std::vector<int32_t> ints(count);
      if (count > 0) std::memcpy(ints.data(), field.data, count * sizeof(int32_t));
      value->ints.assign(ints.begin(), ints.end());
      break;
    }
    case PluginFieldType::kFLOAT32: {
      value->floats.resize(count);
      if (count > 0) std::memcpy(value->floats.data(), field.data, count * sizeof(float));
      break;
    }
    default: {
      // Up to `length` bytes; a terminator inside them ends the string early.
      const auto* data = static_cast<const char*>(field.data);
      value->text.assign(data, count == 0 ? 0 : strnlen(data, count));
      break;
    }
  }
  return Status::Ok();
}

}  // namespace

Status attrs_from_fields(OpKind op, const nvinfer1::PluginFieldCollection* fields, OpAttrs* attrs) {
  if (fields == nullptr) return Status::InvalidArgument(std::string(op_name(op)) + ": null field collection");
  if (fields->nbFields < 0 || (fields->nbFields > 0 && fields->fields == nullptr)) {
    return Status::InvalidArgument(std::string(op_name(op)) + ": malformed field collection");
  }
  const std::vector<AttrSpec> specs = op_attributes(op);
  OpAttrs parsed = default_attrs(op);
  for (int32_t i = 0; i < fields->nbFields; ++i) {
    const PluginField& field = fields->fields[i];
    if (field.name == nullptr) return field_error(op, "#" + std::to_string(i), "has a null name");
    if (is_lookup_key(field.name)) continue;
    const AttrSpec* spec = find_spec(specs, field.name);
    if (spec == nullptr) return field_error(op, field.name, "is not a field of this plugin");
    AttrValue value;
    Status status = field_value(op, *spec, field, &value);
    if (status.ok()) status = set_attribute(op, spec->name, value, &parsed);
    if (!status.ok()) return status;
  }
  Status status = validate_attrs(op, parsed);
  if (status.ok()) *attrs = parsed;
  return status;
}

void OwnedFields::describe(OpKind op) {
  const std::vector<AttrSpec> specs = op_attributes(op);
  values_.assign(specs.size(), Value{});
  fields_.clear();
  for (const AttrSpec& spec : specs) {
    const int32_t length = spec.type == AttrType::kString ? 0 : spec.type == AttrType::kFloats ? kMaxLevels : 1;
    fields_.emplace_back(spec.name, nullptr, field_type(spec.type), length);
  }
  publish();
}

void OwnedFields::encode(OpKind op, const OpAttrs& attrs) {
  const std::vector<AttrSpec> specs = op_attributes(op);
  values_.assign(specs.size(), Value{});
  fields_.clear();
  for (size_t i = 0; i < specs.size(); ++i) {
    const AttrValue source = get_attribute(op, specs[i].name, attrs);
    Value& value = values_[i];
    value.ints.assign(source.ints.begin(), source.ints.end());  // every int attribute fits int32
    value.floats = source.floats;
    value.text = source.text;
    const PluginFieldType type = field_type(specs[i].type);
    const void* data = type == PluginFieldType::kINT32     ? static_cast<const void*>(value.ints.data())
                       : type == PluginFieldType::kFLOAT32 ? static_cast<const void*>(value.floats.data())
                                                           : static_cast<const void*>(value.text.data());
    const size_t length = type == PluginFieldType::kINT32     ? value.ints.size()
                          : type == PluginFieldType::kFLOAT32 ? value.floats.size()
                                                              : value.text.size();
    fields_.emplace_back(specs[i].name, data, type, static_cast<int32_t>(length));
  }
  publish();
}

void OwnedFields::publish() {
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
}

}  // namespace roipool::trt
