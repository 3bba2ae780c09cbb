// The "sample a bin" engine shared by the six bilinear ops (RoIAlign, RoIWarp,
// PSRoIAlign, DeformRoIPool, MultiScaleRoIAlign, RoIAlignRotated). An op only
// supplies a geometry functor (RoI row -> SamplingFrame) and BinOptions; where the
// samples lie, how they are weighted and how a bin is reduced is written here once,
// for the CPU engine (bin_sampler_cpu.h) and the CUDA engine (bin_sampler_cuda.cuh).
#pragma once

#include <cmath>
#include <cstdint>

#include "bilinear.h"
#include "dtype.h"
#include "macros.h"
#include "roipool/common.h"
#include "sampling.h"

namespace roipool {

// Where one RoI's bins lie. Bin (i, j) sample (iy, ix) has local coordinates
//   yy = start_y + i * bin_h + shift_y + (iy + 0.5) * bin_h / grid_h   (same for x)
// (shift = DeformRoIPool's offset, else 0). Axis-aligned frames sample at (yy, xx);
// rotated frames at (yy*cos - xx*sin + center_y, yy*sin + xx*cos + center_x) (mmcv).
struct SamplingFrame {
  int32_t level;  // feature map (MultiScaleRoIAlign), else 0
  int32_t grid_h, grid_w;
  float start_y, start_x;
  float bin_h, bin_w;
  float roi_h, roi_w;  // box extent: DeformRoIPool scales offsets by it
  bool rotated;
  float center_y, center_x, cos_t, sin_t;
};

// Frame of an axis-aligned box given by its start and extent in feature coordinates.
// `clamp_to_one`: RoIAlign aligned=0 clamps the extent to >= 1 (SPEC 3.2), NaN stays NaN.
ROIPOOL_HD SamplingFrame extent_frame(float start_y, float start_x, float roi_h, float roi_w,
                                      bool clamp_to_one, const GridRule& rule) {
  SamplingFrame f{};
  f.roi_h = clamp_to_one ? max_keep_nan(roi_h, 1.f) : roi_h;
  f.roi_w = clamp_to_one ? max_keep_nan(roi_w, 1.f) : roi_w;
  f.start_y = start_y;
  f.start_x = start_x;
  f.bin_h = f.roi_h / static_cast<float>(rule.pooled_h);
  f.bin_w = f.roi_w / static_cast<float>(rule.pooled_w);
  f.grid_h = rule.grid_h(f.roi_h);
  f.grid_w = rule.grid_w(f.roi_w);
  return f;
}

// Frame of an axis-aligned box (y1, x1)-(y2, x2) already mapped to feature coordinates.
ROIPOOL_HD SamplingFrame box_frame(float y1, float x1, float y2, float x2, bool clamp_to_one,
                                   const GridRule& rule) {
  return extent_frame(y1, x1, y2 - y1, x2 - x1, clamp_to_one, rule);
}

// RoIAlign (SPEC 3.2), RoIWarp (3.3: `quantize`), PSRoIAlign and DeformRoIPool
// (always aligned, no clamp): a box row (batch, x1, y1, x2, y2) -> frame.
struct BoxGeometry {
  float spatial_scale;
  GridRule grid;
  bool aligned;
  bool quantize;  // RoIWarp: round(v * scale), then aligned=0 on that box

  static BoxGeometry from_attrs(const OpAttrs& a, bool aligned, bool quantize) {
    return {a.spatial_scale, GridRule::from_attrs(a), aligned && !quantize, quantize};
  }

  ROIPOOL_HD int32_t rois_columns() const { return 5; }

  ROIPOOL_HD float map(float v) const {
    if (quantize) return roundf(v * spatial_scale);
    return v * spatial_scale - (aligned ? 0.5f : 0.f);
  }

  ROIPOOL_HD SamplingFrame operator()(const float* roi) const {
    return box_frame(map(roi[2]), map(roi[1]), map(roi[4]), map(roi[3]), !aligned, grid);
  }
};

// What an op does with a bin beyond the frame.
struct BinOptions {
  PoolMode mode = PoolMode::kAvg;
  bool position_sensitive = false;  // output (c, i, j) reads channel (c*ph + i)*pw + j
  const void* offset = nullptr;     // DeformRoIPool [K, 2, ph, pw], dtype of the input
  const void* mask = nullptr;       // DeformRoIPool [K, 1, ph, pw]
  float gamma = 0.f;
  DType dtype = DType::kFloat32;    // of offset and mask
};

// The BinOptions of a bilinear op (validate_attrs allows mode 'max' only where defined).
inline BinOptions bin_options(OpKind op, const OpAttrs& attrs, const OpArgs& args) {
  BinOptions o;
  o.mode = attrs.mode;
  o.position_sensitive = op == OpKind::kPSRoIAlign;
  if (op == OpKind::kDeformRoIPool) {
    o.offset = args.offset;
    o.mask = args.mask;
    o.gamma = attrs.gamma;
    o.dtype = args.dtype;
  }
  return o;
}

// Local origin of bin (i, j) of RoI k (deformable shift included) and the factor its
// reduced value is multiplied by (the modulation mask, else 1).
struct BinOrigin {
  float y, x, scale;
};

ROIPOOL_HD BinOrigin bin_origin(const SamplingFrame& f, const BinOptions& o, int64_t k, int32_t i,
                                int32_t j, int32_t pooled_h, int32_t pooled_w) {
  const int64_t bins = static_cast<int64_t>(pooled_h) * pooled_w;
  const int64_t bin = static_cast<int64_t>(i) * pooled_w + j;
  float start_y = f.start_y, start_x = f.start_x;
  if (o.offset != nullptr) {  // mmcv: shift the RoI start before placing the bin
    start_x += o.gamma * f.roi_w * load_as_float(o.offset, o.dtype, (k * 2) * bins + bin);
    start_y += o.gamma * f.roi_h * load_as_float(o.offset, o.dtype, (k * 2 + 1) * bins + bin);
  }
  BinOrigin b;
  b.y = start_y + static_cast<float>(i) * f.bin_h;
  b.x = start_x + static_cast<float>(j) * f.bin_w;
  b.scale = o.mask != nullptr ? load_as_float(o.mask, o.dtype, k * bins + bin) : 1.f;
  return b;
}

// Map coordinates (y, x) of sample (iy, ix) of a bin.
struct SamplePoint {
  float y, x;
};

ROIPOOL_HD SamplePoint sample_point(const SamplingFrame& f, const BinOrigin& b, int32_t iy,
                                    int32_t ix) {
  const float yy = b.y + (static_cast<float>(iy) + 0.5f) * f.bin_h / static_cast<float>(f.grid_h);
  const float xx = b.x + (static_cast<float>(ix) + 0.5f) * f.bin_w / static_cast<float>(f.grid_w);
  if (!f.rotated) return {yy, xx};
  return {yy * f.cos_t - xx * f.sin_t + f.center_y, yy * f.sin_t + xx * f.cos_t + f.center_x};
}

ROIPOOL_HD BilinearTaps sample_taps(const SamplingFrame& f, const BinOrigin& b, int32_t iy,
                                    int32_t ix, int32_t height, int32_t width) {
  const SamplePoint p = sample_point(f, b, iy, ix);
  return bilinear_taps(p.y, p.x, height, width);
}

// Accumulator start value and final value of a bin with `count` samples (SPEC 2:
// average = sum / max(count, 1); the max of no samples is 0).
template <bool kMax>
ROIPOOL_HD float reduce_init() {
  return kMax ? -INFINITY : 0.f;
}

template <bool kMax>
ROIPOOL_HD float reduce_step(float acc, float value) {
  if (kMax) return value > acc ? value : acc;
  return acc + value;
}

template <bool kMax>
ROIPOOL_HD float reduce_final(float acc, int64_t count, float scale) {
  if (kMax) return count > 0 ? acc * scale : 0.f;
  return acc / static_cast<float>(count > 1 ? count : 1) * scale;
}

// Reads row k of the rois tensor (5 or 6 columns) as float.
ROIPOOL_HD void load_roi(const void* rois, DType dtype, int64_t k, int32_t columns, float* row) {
  for (int32_t c = 0; c < columns; ++c) row[c] = load_as_float(rois, dtype, k * columns + c);
}

}  // namespace roipool
