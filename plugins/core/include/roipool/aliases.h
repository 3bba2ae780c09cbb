// Other toolkits' RoI ops served by roipool's kernels (SPEC section 6): mmdeploy's and
// mmcv's custom ops under their own names, domains, attribute names, types and
// defaults. Each alias is one table entry (aliases.cpp) that the ONNX Runtime
// registration, the TensorRT creators and the Python converter all read; it maps the
// alias's attributes onto an OpKind's OpAttrs, so no formula is duplicated.
// docs/mmdeploy.md lists every entry and the source it follows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "roipool/common.h"

namespace roipool {

// How one alias attribute becomes a roipool attribute.
enum class AliasConversion : int32_t {
  kRename = 0,           // the same value under roipool's name
  kTruncateToInt = 1,    // FLOAT -> INT, truncated (mmcv's int(sampling_ratio))
  kIntToFloat = 2,       // INT -> FLOAT (finest_scale -> canonical_scale)
  kStridesToScales = 3,  // FLOATS strides -> spatial_scales, 1 / stride each
  kPoolModeFlag = 4,     // INT 0 = max, 1 = avg -> mode
  kLegacyRescale = 5,    // FLOAT; <= 0 off, else roi_scale_factor with legacy_roi_rescale
};

struct AliasAttr {
  const char* name;   // the alias's attribute / field name
  AttrType type;      // its ONNX attribute type (TensorRT field type as in SPEC section 1)
  AliasConversion conversion;
  const char* target;                      // the roipool attribute it sets
  std::optional<AttrValue> default_value;  // none: the attribute is required
};

struct OpAlias {
  const char* name;                   // ONNX op_type and TensorRT plugin name
  std::vector<const char*> domains;   // ONNX domains the op is registered in
  const char* plugin_namespace;       // TensorRT plugin namespace
  const char* plugin_version;         // TensorRT plugin version
  OpKind op;                          // the roipool op it runs
  int32_t max_inputs;                 // inputs the alias defines (<= max_inputs(op))
  std::vector<AliasAttr> attributes;  // in the source's field order
  // roipool attributes every node of the alias has (e.g. level_mapping = "mmdet").
  std::vector<std::pair<const char*, AttrValue>> fixed;
};

struct NamedValue {
  std::string name;
  AttrValue value;
};

const std::vector<OpAlias>& op_aliases();

// The alias named `name` in ONNX domain `domain`, or nullptr.
const OpAlias* find_alias(std::string_view domain, std::string_view name);

// The alias attribute of `alias` named `name`, or nullptr.
const AliasAttr* find_alias_attr(const OpAlias& alias, std::string_view name);

// Parses a node's attributes (a plugin's fields) `values` of `alias` into `attrs`: a name
// the alias does not define, a wrong type, a bad value or a missing attribute without a
// default is kInvalidArgument naming the alias and the attribute. On success `complete`
// (when given) holds every attribute of the alias, defaults filled in, in table order.
Status alias_attrs(const OpAlias& alias, const std::vector<NamedValue>& values, OpAttrs* attrs,
                   std::vector<NamedValue>* complete = nullptr);

}  // namespace roipool
