// The attribute schema of every op and the alias table over the C ABI (c_api.h), for the
// Python converter (roipool.export.mmdeploy) and roipool.runtime.ort's node check: no
// binding keeps a copy of either.
#include <cstring>
#include <string>
#include <vector>

#include "c_api_guard.h"
#include "roipool/aliases.h"
#include "roipool/c_api.h"

namespace {

const roipool::OpAlias* alias_at(int32_t index) {
  const auto& table = roipool::op_aliases();
  return index >= 0 && static_cast<size_t>(index) < table.size() ? &table[index] : nullptr;
}

// "mmdeploy,mmcv" per alias, built once.
const std::vector<std::string>& joined_domains() {
  static const std::vector<std::string> joined = [] {
    std::vector<std::string> all;
    for (const roipool::OpAlias& alias : roipool::op_aliases()) {
      std::string text;
      for (const char* domain : alias.domains) text += (text.empty() ? "" : ",") + std::string(domain);
      all.push_back(text);
    }
    return all;
  }();
  return joined;
}

using roipool::c_api::report;
using roipool::c_api::reported;

}  // namespace

int32_t roipool_op_attribute(int32_t op, int32_t index, const char** name, int32_t* type) {
  if (op < 0 || op >= roipool::kNumOps || index < 0 || name == nullptr || type == nullptr) return 1;
  return reported(nullptr, 0, [&] {
    const std::vector<roipool::AttrSpec> specs = roipool::op_attributes(static_cast<roipool::OpKind>(op));
    if (static_cast<size_t>(index) >= specs.size()) return roipool::Status::InvalidArgument("no such attribute");
    *name = specs[static_cast<size_t>(index)].name;  // a literal of the core's op table
    *type = static_cast<int32_t>(specs[static_cast<size_t>(index)].type);
    return roipool::Status::Ok();
  });
}

const char* roipool_op_name(int32_t op) {
  return op >= 0 && op < roipool::kNumOps ? roipool::op_name(static_cast<roipool::OpKind>(op)) : nullptr;
}

int32_t roipool_alias_count(void) { return static_cast<int32_t>(roipool::op_aliases().size()); }

int32_t roipool_alias_info(int32_t index, const char** name, const char** domains,
                           const char** plugin_namespace, const char** plugin_version, int32_t* op,
                           int32_t* max_inputs) {
  const roipool::OpAlias* alias = alias_at(index);
  if (alias == nullptr || !name || !domains || !plugin_namespace || !plugin_version || !op || !max_inputs) {
    return 1;
  }
  const char* joined = nullptr;
  const int32_t code = reported(nullptr, 0, [&] {  // the joined list is built on first use
    joined = joined_domains()[static_cast<size_t>(index)].c_str();
    return roipool::Status::Ok();
  });
  if (code != 0) return code;
  *name = alias->name;
  *domains = joined;
  *plugin_namespace = alias->plugin_namespace;
  *plugin_version = alias->plugin_version;
  *op = static_cast<int32_t>(alias->op);
  *max_inputs = alias->max_inputs;
  return 0;
}

int32_t roipool_alias_attribute(int32_t index, int32_t k, const char** name, int32_t* type,
                                int32_t* has_default) {
  const roipool::OpAlias* alias = alias_at(index);
  if (alias == nullptr || k < 0 || static_cast<size_t>(k) >= alias->attributes.size() || !name || !type ||
      !has_default) {
    return 1;
  }
  const roipool::AliasAttr& spec = alias->attributes[static_cast<size_t>(k)];
  *name = spec.name;
  *type = static_cast<int32_t>(spec.type);
  *has_default = spec.default_value ? 1 : 0;
  return 0;
}

int32_t roipool_alias_attrs(int32_t index, int32_t count, const char* const* names, const int32_t* types,
                            const int64_t* const* ints, const float* const* floats, const int64_t* counts,
                            const char* const* texts, roipool::OpAttrs* attrs, char* error,
                            size_t error_size) {
  const roipool::OpAlias* alias = alias_at(index);
  if (alias == nullptr || attrs == nullptr || count < 0 ||
      (count > 0 && (!names || !types || !ints || !floats || !counts || !texts))) {
    return report(roipool::Status::InvalidArgument("roipool_alias_attrs: bad arguments"), error, error_size);
  }
  return reported(error, error_size, [&] {
    std::vector<roipool::NamedValue> values;
    for (int32_t i = 0; i < count; ++i) {
      if (names[i] == nullptr || counts[i] < 0) {
        return roipool::Status::InvalidArgument("roipool_alias_attrs: bad attribute");
      }
      roipool::AttrValue value;
      value.type = static_cast<roipool::AttrType>(types[i]);
      if (ints[i] != nullptr) value.ints.assign(ints[i], ints[i] + counts[i]);
      if (floats[i] != nullptr) value.floats.assign(floats[i], floats[i] + counts[i]);
      if (texts[i] != nullptr) value.text = texts[i];
      values.push_back({names[i], std::move(value)});
    }
    return roipool::alias_attrs(*alias, values, attrs);
  });
}
