#include "fields.h"

#include <cstring>

namespace roipool::trt {
namespace {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

// `owner`: the plugin name (the op's, or an alias's).
Status field_error(const std::string& owner, const std::string& name, const std::string& why) {
  return Status::InvalidArgument(owner + ": field '" + printable(name) + "' " + why);
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
Status field_value(const std::string& op, const AttrSpec& spec, const PluginField& field, AttrValue* value) {
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

// Every field of `fields` but the lookup keys, as values of `specs` (the plugin's fields).
Status named_values(const std::string& owner, const std::vector<AttrSpec>& specs,
                    const nvinfer1::PluginFieldCollection* fields, std::vector<NamedValue>* values) {
  if (fields == nullptr) return Status::InvalidArgument(owner + ": null field collection");
  if (fields->nbFields < 0 || (fields->nbFields > 0 && fields->fields == nullptr)) {
    return Status::InvalidArgument(owner + ": malformed field collection");
  }
  for (int32_t i = 0; i < fields->nbFields; ++i) {
    const PluginField& field = fields->fields[i];
    if (field.name == nullptr) return field_error(owner, "#" + std::to_string(i), "has a null name");
    if (is_lookup_key(field.name)) continue;
    const AttrSpec* spec = find_spec(specs, field.name);
    if (spec == nullptr) return field_error(owner, field.name, "is not a field of this plugin");
    AttrValue value;
    Status status = field_value(owner, *spec, field, &value);
    if (!status.ok()) return status;
    values->push_back({spec->name, std::move(value)});
  }
  return Status::Ok();
}

std::vector<AttrSpec> alias_specs(const OpAlias& alias) {
  std::vector<AttrSpec> specs;
  for (const AliasAttr& a : alias.attributes) specs.push_back({a.name, a.type});
  return specs;
}

}  // namespace

Status attrs_from_fields(OpKind op, const nvinfer1::PluginFieldCollection* fields, OpAttrs* attrs) {
  std::vector<NamedValue> values;
  Status status = named_values(op_name(op), op_attributes(op), fields, &values);
  if (!status.ok()) return status;
  OpAttrs parsed = default_attrs(op);
  for (const NamedValue& v : values) {
    status = set_attribute(op, v.name, v.value, &parsed);
    if (!status.ok()) return status;
  }
  status = validate_attrs(op, parsed);
  if (status.ok()) *attrs = parsed;
  return status;
}

Status alias_attrs_from_fields(const OpAlias& alias, const nvinfer1::PluginFieldCollection* fields,
                               OpAttrs* attrs, std::vector<NamedValue>* complete) {
  std::vector<NamedValue> values;
  Status status = named_values(alias.name, alias_specs(alias), fields, &values);
  if (!status.ok()) return status;
  return alias_attrs(alias, values, attrs, complete);
}

void OwnedFields::describe(OpKind op) { describe(op_attributes(op)); }

void OwnedFields::describe(const OpAlias& alias) { describe(alias_specs(alias)); }

void OwnedFields::describe(const std::vector<AttrSpec>& specs) {
  values_.assign(specs.size(), Value{});
  fields_.clear();
  for (const AttrSpec& spec : specs) {
    const int32_t length = spec.type == AttrType::kString ? 0 : spec.type == AttrType::kFloats ? kMaxLevels : 1;
    fields_.emplace_back(spec.name, nullptr, field_type(spec.type), length);
  }
  publish();
}

void OwnedFields::encode(OpKind op, const OpAttrs& attrs) {
  std::vector<NamedValue> values;
  for (const AttrSpec& spec : op_attributes(op)) values.push_back({spec.name, get_attribute(op, spec.name, attrs)});
  encode(values);
}

void OwnedFields::encode(const std::vector<NamedValue>& values) {
  names_.clear();
  for (const NamedValue& v : values) names_.push_back(v.name);
  values_.assign(values.size(), Value{});
  fields_.clear();
  for (size_t i = 0; i < values.size(); ++i) {
    const AttrValue& source = values[i].value;
    Value& value = values_[i];
    value.ints.assign(source.ints.begin(), source.ints.end());  // every int attribute fits int32
    value.floats = source.floats;
    value.text = source.text;
    const PluginFieldType type = field_type(source.type);
    const void* data = type == PluginFieldType::kINT32     ? static_cast<const void*>(value.ints.data())
                       : type == PluginFieldType::kFLOAT32 ? static_cast<const void*>(value.floats.data())
                                                           : static_cast<const void*>(value.text.data());
    const size_t length = type == PluginFieldType::kINT32     ? value.ints.size()
                          : type == PluginFieldType::kFLOAT32 ? value.floats.size()
                                                              : value.text.size();
    fields_.emplace_back(names_[i].c_str(), data, type, static_cast<int32_t>(length));
  }
  publish();
}

void OwnedFields::publish() {
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
}

}  // namespace roipool::trt
