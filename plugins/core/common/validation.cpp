// Shape, dtype and attribute checks of one call, with the error text every backend shows.
#include <cmath>
#include <limits>
#include <string>

#include <cstdlib>

#include "roipool/common.h"
#include "sampling.h"

namespace roipool {
namespace {

int32_t read_adaptive_sample_limit() {
  const char* text = std::getenv(kAdaptiveSampleLimitVariable);
  if (text == nullptr || *text == '\0') return kDefaultAdaptiveSampleLimit;
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (*end != '\0' || value < 1 || value > kMaxAdaptiveSampleLimit) return -1;
  return static_cast<int32_t>(value);
}

Status invalid(OpKind op, const std::string& why) {
  return Status::InvalidArgument(std::string(op_name(op)) + ": " + why);
}

bool valid_dtype(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16 || d == DType::kBFloat16;
}

bool is_ps(OpKind op) { return op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign; }

}  // namespace

int32_t adaptive_sample_limit() {
  static const int32_t limit = read_adaptive_sample_limit();
  return limit;
}

int32_t rois_columns(OpKind op) { return op == OpKind::kRoIAlignRotated ? 6 : 5; }

int32_t min_inputs(OpKind) { return 2; }

int32_t max_inputs(OpKind op) {
  if (op == OpKind::kDeformRoIPool) return 4;
  if (op == OpKind::kMultiScaleRoIAlign) return 1 + kMaxLevels;
  return 2;
}

int64_t output_channels(OpKind op, const OpAttrs& attrs, int64_t channels) {
  if (!is_ps(op)) return channels;
  // Attributes that fail validate_attrs (pooled_h = 0 through the C ABI) give 0, not a
  // division by zero (found by tests/cpp/fuzz_surfaces.cpp).
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  return bins > 0 ? channels / bins : 0;
}

Status validate_attrs(OpKind op, const OpAttrs& a) {
  if (a.pooled_h < 1 || a.pooled_w < 1) {
    return invalid(op, "output size must be >= 1, got " + std::to_string(a.pooled_h) + "x" +
                           std::to_string(a.pooled_w));
  }
  if (!(a.spatial_scale > 0.f) || !std::isfinite(a.spatial_scale)) {
    return invalid(op, "spatial_scale must be finite and > 0");
  }
  if (a.sampling_ratio > kMaxSamplingGrid) {
    return invalid(op, "sampling_ratio must be <= " + std::to_string(kMaxSamplingGrid));
  }
  if (adaptive_sample_limit() < 1) {
    return invalid(op, std::string(kAdaptiveSampleLimitVariable) + " must be an integer in [1, " +
                           std::to_string(kMaxAdaptiveSampleLimit) + "]");
  }
  if ((a.aligned != 0 && a.aligned != 1) || (a.clockwise != 0 && a.clockwise != 1)) {
    return invalid(op, "aligned and clockwise must be 0 or 1");
  }
  if (a.mode != PoolMode::kAvg && a.mode != PoolMode::kMax) return invalid(op, "unknown mode");
  // MultiScaleRoIAlign pools max only as mmdeploy's MMCVMultiLevelRoiAlign (aliases.h).
  if (a.mode == PoolMode::kMax && op != OpKind::kRoIAlign && op != OpKind::kRoIWarp &&
      op != OpKind::kMultiScaleRoIAlign) {
    return invalid(op, "mode 'max' is only defined for RoIAlign and RoIWarp");
  }
  if (a.legacy_roi_rescale != 0 && (a.legacy_roi_rescale != 1 || op != OpKind::kMultiScaleRoIAlign)) {
    return invalid(op, "legacy_roi_rescale is only defined (as 0 or 1) for MultiScaleRoIAlign");
  }
  if (op == OpKind::kMultiScaleRoIAlign) {
    if (a.num_levels < 1 || a.num_levels > kMaxLevels) {
      return invalid(op, "spatial_scales must have 1 to " + std::to_string(kMaxLevels) + " entries");
    }
    for (int32_t l = 0; l < a.num_levels; ++l) {
      if (!(a.spatial_scales[l] > 0.f) || !std::isfinite(a.spatial_scales[l])) {
        return invalid(op, "spatial_scales entries must be finite and > 0");
      }
    }
    if (!(a.roi_scale_factor > 0.f) || !std::isfinite(a.roi_scale_factor)) {
      return invalid(op, "roi_scale_factor must be finite and > 0");
    }
    if (a.level_mapping != LevelMapping::kTorchvision && a.level_mapping != LevelMapping::kMMDet) {
      return invalid(op, "unknown level_mapping");
    }
  }
  return Status::Ok();
}

Status validate_args(OpKind op, const OpAttrs& a, const OpArgs& args) {
  if (!valid_dtype(args.dtype)) return invalid(op, "input dtype must be float32, float16 or bfloat16");
  if (args.rois_dtype != DType::kFloat32 && args.rois_dtype != args.dtype) {
    return invalid(op, "rois must be float32 or have the input's dtype");
  }
  const int32_t expected_features = op == OpKind::kMultiScaleRoIAlign ? a.num_levels : 1;
  if (args.num_features != expected_features || args.features == nullptr) {
    return invalid(op, "expected " + std::to_string(expected_features) + " feature map(s), got " +
                           std::to_string(args.num_features));
  }
  const FeatureMap& first = args.features[0];
  for (int32_t l = 0; l < args.num_features; ++l) {
    const FeatureMap& f = args.features[l];
    if (f.batch < 0 || f.channels < 0 || f.height < 1 || f.width < 1) {
      return invalid(op, "input must be [B, C, H, W] with H, W >= 1");
    }
    if (f.height * f.width > std::numeric_limits<int32_t>::max()) {
      return invalid(op, "input planes larger than 2^31 elements are not supported");
    }
    if (f.batch != first.batch || f.channels != first.channels) {
      return invalid(op, "all feature maps must have the same batch size and channel count");
    }
    if (f.layout != Layout::kNCHW && f.layout != Layout::kNHWC) return invalid(op, "unknown layout");
    if (f.data == nullptr && f.batch * f.channels > 0) return invalid(op, "input data is null");
  }
  if (is_ps(op) && first.channels % (static_cast<int64_t>(a.pooled_h) * a.pooled_w) != 0) {
    return invalid(op, "input channels (" + std::to_string(first.channels) +
                           ") must be divisible by pooled_h * pooled_w (" +
                           std::to_string(static_cast<int64_t>(a.pooled_h) * a.pooled_w) + ")");
  }
  if (args.num_rois < 0) return invalid(op, "number of rois must be >= 0");
  if (args.num_rois > 0 && args.rois == nullptr) return invalid(op, "rois must not be null");
  // An output with no elements (C_out = 0) may have no storage: nothing is written.
  if (args.num_rois > 0 && args.output == nullptr && output_channels(op, a, first.channels) > 0) {
    return invalid(op, "output must not be null");
  }
  if (op != OpKind::kDeformRoIPool && (args.offset != nullptr || args.mask != nullptr)) {
    return invalid(op, "offset and mask are only inputs of DeformRoIPool");
  }
  return Status::Ok();
}

}  // namespace roipool
