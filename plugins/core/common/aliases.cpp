// The alias table (docs/mmdeploy.md) and its attribute conversions. Each entry follows
// the definition of the backend its graphs target:
//   MMCVRoiAlign, MMCVMultiLevelRoiAlign: mmdeploy's TensorRT plugins
//     (csrc/mmdeploy/backend_ops/tensorrt/{roi_align,multi_level_roi_align});
//   MMCVRoIAlignRotated: mmdeploy's ONNX Runtime op, which reads every attribute; the
//     ones it requires but mmcv's roi_align_rotated defaults take mmcv's default;
//   MMCVDeformRoIPool, PrRoIPool: mmcv's ONNX symbolics (no backend op defines them),
//     with mmcv's Python defaults.
// TensorRT plugins: version "1", namespace "" (mmdeploy registers its creators with
// REGISTER_TENSORRT_PLUGIN, i.e. the empty namespace), so the parser finds them from
// mmdeploy's nodes, which carry no plugin_namespace.
#include "roipool/aliases.h"

#include <cmath>

namespace roipool {
namespace {

AttrValue int_value(int64_t v) {
  AttrValue value;
  value.type = AttrType::kInt;
  value.ints = {v};
  return value;
}

AttrValue float_value(float v) {
  AttrValue value;
  value.type = AttrType::kFloat;
  value.floats = {v};
  return value;
}

AttrValue string_value(const char* v) {
  AttrValue value;
  value.type = AttrType::kString;
  value.text = v;
  return value;
}

using C = AliasConversion;
constexpr AttrType kInt = AttrType::kInt;
constexpr AttrType kFloat = AttrType::kFloat;
constexpr AttrType kString = AttrType::kString;
constexpr AttrType kFloats = AttrType::kFloats;
const std::optional<AttrValue> kRequired = std::nullopt;

std::vector<OpAlias> build_table() {
  return {
      // mmdeploy 0.1 - 0.4 wrote domain mmdeploy (its #262), later releases mmcv.
      {"MMCVRoiAlign", {"mmcv", "mmdeploy"}, "", "1", OpKind::kRoIAlign, 2,
       {{"output_height", kInt, C::kRename, "pooled_h", int_value(7)},
        {"output_width", kInt, C::kRename, "pooled_w", int_value(7)},
        {"spatial_scale", kFloat, C::kRename, "spatial_scale", float_value(1.f)},
        {"sampling_ratio", kInt, C::kRename, "sampling_ratio", int_value(0)},
        // The plugin asserts that a mode was given: there is no default.
        {"mode", kString, C::kRename, "mode", kRequired},
        {"aligned", kInt, C::kRename, "aligned", int_value(1)}},
       {}},
      // Domain mmcv before mmdeploy #262, mmdeploy since.
      {"MMCVMultiLevelRoiAlign", {"mmdeploy", "mmcv"}, "", "1", OpKind::kMultiScaleRoIAlign,
       1 + kMaxLevels,
       {{"output_height", kInt, C::kRename, "pooled_h", int_value(7)},
        {"output_width", kInt, C::kRename, "pooled_w", int_value(7)},
        {"pool_mode", kInt, C::kPoolModeFlag, "mode", int_value(0)},
        {"sampling_ratio", kInt, C::kRename, "sampling_ratio", int_value(2)},
        {"featmap_strides", kFloats, C::kStridesToScales, "spatial_scales", kRequired},
        {"roi_scale_factor", kFloat, C::kLegacyRescale, "roi_scale_factor", float_value(-1.f)},
        {"finest_scale", kInt, C::kIntToFloat, "canonical_scale", int_value(56)},
        {"aligned", kInt, C::kRename, "aligned", int_value(0)}},
       {{"level_mapping", string_value("mmdet")}}},
      {"MMCVRoIAlignRotated", {"mmdeploy", "mmcv"}, "", "1", OpKind::kRoIAlignRotated, 2,
       {{"output_height", kInt, C::kRename, "pooled_h", kRequired},
        {"output_width", kInt, C::kRename, "pooled_w", kRequired},
        {"spatial_scale", kFloat, C::kRename, "spatial_scale", kRequired},
        {"sampling_ratio", kInt, C::kRename, "sampling_ratio", int_value(0)},
        {"aligned", kInt, C::kRename, "aligned", int_value(1)},
        {"clockwise", kInt, C::kRename, "clockwise", int_value(0)}},
       {}},
      {"MMCVDeformRoIPool", {"mmcv"}, "", "1", OpKind::kDeformRoIPool, 3,
       {{"pooled_height", kInt, C::kRename, "pooled_h", kRequired},
        {"pooled_width", kInt, C::kRename, "pooled_w", kRequired},
        {"spatial_scale", kFloat, C::kRename, "spatial_scale", float_value(1.f)},
        {"sampling_ratio", kFloat, C::kTruncateToInt, "sampling_ratio", float_value(0.f)},
        {"gamma", kFloat, C::kRename, "gamma", float_value(0.1f)}},
       {}},
      {"PrRoIPool", {"mmcv"}, "", "1", OpKind::kPrRoIPool, 2,
       {{"pooled_height", kInt, C::kRename, "pooled_h", kRequired},
        {"pooled_width", kInt, C::kRename, "pooled_w", kRequired},
        {"spatial_scale", kFloat, C::kRename, "spatial_scale", float_value(1.f)}},
       {}},
  };
}

Status alias_error(const OpAlias& alias, const AliasAttr& spec, const std::string& why) {
  return Status::InvalidArgument(std::string(alias.name) + ": attribute '" + spec.name + "' " + why);
}

// One number of a scalar attribute given as itself or as a one-entry list.
bool scalar(const AttrValue& v, AttrType type, double* out) {
  const bool ints = type == AttrType::kInt;
  if (v.type != type && v.type != (ints ? AttrType::kInts : AttrType::kFloats)) return false;
  if ((ints ? v.ints.size() : v.floats.size()) != 1) return false;
  *out = ints ? static_cast<double>(v.ints[0]) : static_cast<double>(v.floats[0]);
  return true;
}

const char* type_text(AttrType type) {
  switch (type) {
    case AttrType::kInt: return "one int";
    case AttrType::kFloat: return "one float";
    case AttrType::kString: return "a string";
    case AttrType::kInts: return "a list of ints";
    case AttrType::kFloats: return "a list of floats";
  }
  return "?";
}

// `value` of `spec` as the roipool attribute it targets; sets `legacy` for kLegacyRescale.
Status convert(const OpAlias& alias, const AliasAttr& spec, const AttrValue& value,
               AttrValue* target, bool* legacy) {
  double number = 0.0;
  switch (spec.conversion) {
    case C::kRename:
      *target = value;  // the core checks type and range
      return Status::Ok();
    case C::kTruncateToInt:
      if (!scalar(value, AttrType::kFloat, &number)) return alias_error(alias, spec, "must be one float");
      if (!(std::fabs(number) < 2147483648.0)) return alias_error(alias, spec, "must be a finite int32 value");
      *target = int_value(static_cast<int64_t>(std::trunc(number)));
      return Status::Ok();
    case C::kIntToFloat:
      if (!scalar(value, AttrType::kInt, &number)) return alias_error(alias, spec, "must be one int");
      if (number <= 0.0) return alias_error(alias, spec, "must be > 0, got " + std::to_string(value.ints[0]));
      *target = float_value(static_cast<float>(number));
      return Status::Ok();
    case C::kStridesToScales: {
      if (value.type != AttrType::kFloats && value.type != AttrType::kFloat) {
        return alias_error(alias, spec, "must be a list of floats");
      }
      AttrValue scales;
      scales.type = AttrType::kFloats;
      for (float stride : value.floats) {
        if (!(stride > 0.f) || !std::isfinite(stride)) {
          return alias_error(alias, spec, "entries must be finite and > 0");
        }
        scales.floats.push_back(1.f / stride);  // as mmdeploy's kernel computes the scale
      }
      *target = scales;
      return Status::Ok();
    }
    case C::kPoolModeFlag:
      if (!scalar(value, AttrType::kInt, &number)) return alias_error(alias, spec, "must be one int");
      if (number != 0.0 && number != 1.0) {
        return alias_error(alias, spec, "must be 0 (max) or 1 (avg), got " + std::to_string(value.ints[0]));
      }
      *target = string_value(number == 0.0 ? "max" : "avg");
      return Status::Ok();
    case C::kLegacyRescale:
      if (!scalar(value, AttrType::kFloat, &number)) return alias_error(alias, spec, "must be one float");
      if (!std::isfinite(number)) return alias_error(alias, spec, "must be finite");
      *legacy = number > 0.0;
      *target = float_value(*legacy ? static_cast<float>(number) : 1.f);  // <= 0: no rescale
      return Status::Ok();
  }
  return alias_error(alias, spec, "has an unknown conversion");
}

// The op whose set_attribute parses `spec`'s target. MultiScaleRoIAlign has no mode
// attribute of its own, but mmdeploy's plugin pools max or avg: the shared OpAttrs field
// is parsed by RoIAlign's rule.
OpKind target_parser(const OpAlias& alias, const AliasAttr& spec) {
  const bool borrowed_mode = alias.op == OpKind::kMultiScaleRoIAlign && std::string_view(spec.target) == "mode";
  return borrowed_mode ? OpKind::kRoIAlign : alias.op;
}

// The core's message about `target`, reworded to name the alias and its attribute.
Status reword(const OpAlias& alias, const AliasAttr& spec, const Status& status) {
  const std::string prefix = std::string(op_name(target_parser(alias, spec))) + ": attribute '" + spec.target + "' ";
  const std::string& message = status.message();
  if (message.compare(0, prefix.size(), prefix) != 0) {
    return Status::InvalidArgument(std::string(alias.name) + " (attribute '" + spec.name + "'): " + message);
  }
  return alias_error(alias, spec, message.substr(prefix.size()));
}

}  // namespace

const std::vector<OpAlias>& op_aliases() {
  static const std::vector<OpAlias> table = build_table();
  return table;
}

const OpAlias* find_alias(std::string_view domain, std::string_view name) {
  for (const OpAlias& alias : op_aliases()) {
    if (name != alias.name) continue;
    for (const char* d : alias.domains) {
      if (domain == d) return &alias;
    }
  }
  return nullptr;
}

const AliasAttr* find_alias_attr(const OpAlias& alias, std::string_view name) {
  for (const AliasAttr& spec : alias.attributes) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

Status alias_attrs(const OpAlias& alias, const std::vector<NamedValue>& values, OpAttrs* attrs,
                   std::vector<NamedValue>* complete) {
  for (const NamedValue& v : values) {
    if (find_alias_attr(alias, v.name) == nullptr) {
      return Status::InvalidArgument(std::string(alias.name) + ": attribute '" + v.name +
                                     "' is not an attribute of this op");
    }
  }
  OpAttrs parsed = default_attrs(alias.op);
  for (const auto& [name, value] : alias.fixed) {
    Status status = set_attribute(alias.op, name, value, &parsed);
    if (!status.ok()) return status;
  }
  std::vector<NamedValue> filled;
  for (const AliasAttr& spec : alias.attributes) {
    const AttrValue* value = nullptr;
    for (const NamedValue& v : values) {
      if (v.name == spec.name) value = &v.value;
    }
    if (value == nullptr && spec.default_value) value = &*spec.default_value;
    if (value == nullptr) return alias_error(alias, spec, "is required");
    if (value->type != spec.type && spec.conversion == C::kRename &&
        !(spec.type == AttrType::kInt && value->type == AttrType::kInts) &&
        !(spec.type == AttrType::kFloat && value->type == AttrType::kFloats)) {
      return alias_error(alias, spec, std::string("must be ") + type_text(spec.type));
    }
    AttrValue target;
    bool legacy = false;
    Status status = convert(alias, spec, *value, &target, &legacy);
    if (!status.ok()) return status;
    status = set_attribute(target_parser(alias, spec), spec.target, target, &parsed);
    if (!status.ok()) return reword(alias, spec, status);
    if (spec.conversion == C::kLegacyRescale) parsed.legacy_roi_rescale = legacy ? 1 : 0;
    filled.push_back({spec.name, *value});
  }
  Status status = validate_attrs(alias.op, parsed);
  if (!status.ok()) return Status::InvalidArgument(std::string(alias.name) + ": " + status.message());
  *attrs = parsed;
  if (complete != nullptr) *complete = std::move(filled);
  return Status::Ok();
}

}  // namespace roipool
