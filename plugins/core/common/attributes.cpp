// Op names, the attribute schema of every op (SPEC section 3) and attribute parsing,
// shared by the ONNX Runtime ops, the TensorRT creators and the Python binding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "roipool/common.h"

namespace roipool {
namespace {

struct OpInfo {
  const char* name;
  const char* snake_name;
  std::vector<const char*> attributes;
};

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = {
      {"RoIPool", "roi_pool", {"pooled_h", "pooled_w", "spatial_scale"}},
      {"RoIAlign", "roi_align",
       {"pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode"}},
      {"RoIWarp", "roi_warp",
       {"pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode"}},
      {"PSRoIPool", "ps_roi_pool", {"pooled_h", "pooled_w", "spatial_scale"}},
      {"PSRoIAlign", "ps_roi_align", {"pooled_h", "pooled_w", "spatial_scale", "sampling_ratio"}},
      {"DeformRoIPool", "deform_roi_pool",
       {"pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "gamma"}},
      {"MultiScaleRoIAlign", "multi_scale_roi_align",
       {"pooled_h", "pooled_w", "sampling_ratio", "aligned", "spatial_scales", "level_mapping",
        "canonical_scale", "canonical_level", "roi_scale_factor"}},
      {"RoIAlignRotated", "roi_align_rotated",
       {"pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "clockwise"}},
      {"PrRoIPool", "prroi_pool", {"pooled_h", "pooled_w", "spatial_scale"}},
  };
  return table;
}

AttrType attribute_type(std::string_view name) {
  if (name == "spatial_scale" || name == "gamma" || name == "canonical_scale" ||
      name == "roi_scale_factor") {
    return AttrType::kFloat;
  }
  if (name == "mode" || name == "level_mapping") return AttrType::kString;
  if (name == "spatial_scales") return AttrType::kFloats;
  return AttrType::kInt;
}

const char* type_name(AttrType type) {
  switch (type) {
    case AttrType::kInt: return "int";
    case AttrType::kFloat: return "float";
    case AttrType::kString: return "string";
    case AttrType::kInts: return "ints";
    case AttrType::kFloats: return "floats";
  }
  return "?";
}

bool lists(OpKind op, std::string_view name) {
  const auto& names = op_table()[static_cast<size_t>(op)].attributes;
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
}

Status invalid(OpKind op, std::string_view name, const std::string& why) {
  return Status::InvalidArgument(std::string(op_name(op)) + ": attribute '" + printable(name) +
                                 "' " + why);
}

// Accepts a scalar given as a one-element list too (some front ends wrap scalars).
bool scalar_int(const AttrValue& v, int64_t* out) {
  if ((v.type == AttrType::kInt || v.type == AttrType::kInts) && v.ints.size() == 1) {
    *out = v.ints[0];
    return true;
  }
  return false;
}

bool scalar_float(const AttrValue& v, float* out) {
  if ((v.type == AttrType::kFloat || v.type == AttrType::kFloats) && v.floats.size() == 1) {
    *out = v.floats[0];
    return true;
  }
  return false;
}

}  // namespace

std::string printable(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

OpAttrs default_attrs(OpKind) {
  OpAttrs a{};
  a.pooled_h = 7;
  a.pooled_w = 7;
  a.spatial_scale = 1.f;
  a.sampling_ratio = -1;
  a.aligned = 0;
  a.mode = PoolMode::kAvg;
  a.gamma = 0.1f;
  a.clockwise = 0;
  a.num_levels = 0;
  a.level_mapping = LevelMapping::kTorchvision;
  a.canonical_scale = 0.f;
  a.canonical_level = 4;
  a.roi_scale_factor = 1.f;
  a.legacy_roi_rescale = 0;
  return a;
}

float effective_canonical_scale(const OpAttrs& attrs) {
  if (attrs.canonical_scale > 0.f) return attrs.canonical_scale;
  return attrs.level_mapping == LevelMapping::kMMDet ? 56.f : 224.f;
}

const char* op_name(OpKind op) { return op_table()[static_cast<size_t>(op)].name; }
const char* op_snake_name(OpKind op) { return op_table()[static_cast<size_t>(op)].snake_name; }

bool op_from_name(std::string_view name, OpKind* op) {
  const auto& table = op_table();
  for (size_t i = 0; i < table.size(); ++i) {
    if (name == table[i].name || name == table[i].snake_name) {
      *op = static_cast<OpKind>(i);
      return true;
    }
  }
  return false;
}

std::vector<AttrSpec> op_attributes(OpKind op) {
  std::vector<AttrSpec> specs;
  for (const char* name : op_table()[static_cast<size_t>(op)].attributes) {
    specs.push_back({name, attribute_type(name)});
  }
  return specs;
}

Status set_attribute(OpKind op, std::string_view name, const AttrValue& value, OpAttrs* attrs) {
  if (!lists(op, name)) return invalid(op, name, "is not an attribute of this op");
  const AttrType expected = attribute_type(name);
  int64_t i = 0;
  float f = 0.f;
  switch (expected) {
    case AttrType::kInt: {
      if (!scalar_int(value, &i)) return invalid(op, name, "must be one int");
      if (name == "pooled_h" || name == "pooled_w") {
        if (i < 1 || i > 65535) return invalid(op, name, "must be in [1, 65535], got " + std::to_string(i));
        (name == "pooled_h" ? attrs->pooled_h : attrs->pooled_w) = static_cast<int32_t>(i);
      } else if (name == "sampling_ratio") {
        if (i > kMaxSamplingGrid) {
          return invalid(op, name, "must be <= " + std::to_string(kMaxSamplingGrid) + ", got " + std::to_string(i));
        }
        attrs->sampling_ratio = static_cast<int32_t>(std::max<int64_t>(i, -1));
      } else if (name == "aligned" || name == "clockwise") {
        if (i != 0 && i != 1) return invalid(op, name, "must be 0 or 1, got " + std::to_string(i));
        (name == "aligned" ? attrs->aligned : attrs->clockwise) = static_cast<int32_t>(i);
      } else {  // canonical_level
        if (i < -64 || i > 64) return invalid(op, name, "must be in [-64, 64], got " + std::to_string(i));
        attrs->canonical_level = static_cast<int32_t>(i);
      }
      return Status::Ok();
    }
    case AttrType::kFloat: {
      if (!scalar_float(value, &f)) return invalid(op, name, "must be one float");
      if (!std::isfinite(f)) return invalid(op, name, "must be finite");
      if (name == "gamma") {
        attrs->gamma = f;
        return Status::Ok();
      }
      if (name == "canonical_scale") {
        if (f < 0.f) return invalid(op, name, "must be >= 0 (0: the mapping's default)");
        attrs->canonical_scale = f;
        return Status::Ok();
      }
      if (!(f > 0.f)) return invalid(op, name, "must be > 0");
      (name == "spatial_scale" ? attrs->spatial_scale : attrs->roi_scale_factor) = f;
      return Status::Ok();
    }
    case AttrType::kString: {
      if (value.type != AttrType::kString) return invalid(op, name, "must be a string");
      if (name == "mode") {
        if (value.text == "avg") attrs->mode = PoolMode::kAvg;
        else if (value.text == "max") attrs->mode = PoolMode::kMax;
        else return invalid(op, name, "must be 'avg' or 'max', got '" + printable(value.text) + "'");
      } else {
        if (value.text == "torchvision") attrs->level_mapping = LevelMapping::kTorchvision;
        else if (value.text == "mmdet") attrs->level_mapping = LevelMapping::kMMDet;
        else return invalid(op, name, "must be 'torchvision' or 'mmdet', got '" + printable(value.text) + "'");
      }
      return Status::Ok();
    }
    case AttrType::kFloats: {
      if (value.type != AttrType::kFloats && value.type != AttrType::kFloat) {
        return invalid(op, name, "must be a list of floats");
      }
      if (value.floats.empty() || value.floats.size() > static_cast<size_t>(kMaxLevels)) {
        return invalid(op, name, "must have 1 to " + std::to_string(kMaxLevels) + " entries");
      }
      for (float s : value.floats) {
        if (!(s > 0.f) || !std::isfinite(s)) return invalid(op, name, "entries must be finite and > 0");
      }
      attrs->num_levels = static_cast<int32_t>(value.floats.size());
      std::copy(value.floats.begin(), value.floats.end(), attrs->spatial_scales);
      return Status::Ok();
    }
    case AttrType::kInts:
      break;
  }
  return invalid(op, name, std::string("has unsupported type ") + type_name(expected));
}

AttrValue get_attribute(OpKind, std::string_view name, const OpAttrs& a) {
  AttrValue v;
  v.type = attribute_type(name);
  if (name == "pooled_h") v.ints = {a.pooled_h};
  else if (name == "pooled_w") v.ints = {a.pooled_w};
  else if (name == "sampling_ratio") v.ints = {a.sampling_ratio};
  else if (name == "aligned") v.ints = {a.aligned};
  else if (name == "clockwise") v.ints = {a.clockwise};
  else if (name == "canonical_level") v.ints = {a.canonical_level};
  else if (name == "spatial_scale") v.floats = {a.spatial_scale};
  else if (name == "gamma") v.floats = {a.gamma};
  else if (name == "canonical_scale") v.floats = {a.canonical_scale};
  else if (name == "roi_scale_factor") v.floats = {a.roi_scale_factor};
  else if (name == "spatial_scales") v.floats.assign(a.spatial_scales, a.spatial_scales + a.num_levels);
  else if (name == "mode") v.text = a.mode == PoolMode::kMax ? "max" : "avg";
  else if (name == "level_mapping") v.text = a.level_mapping == LevelMapping::kMMDet ? "mmdet" : "torchvision";
  return v;
}

}  // namespace roipool
