// Runs every CUDA work item of the nine ops on the host (the device code of
// bin_sampler_device.h, pixel_pool_device.h and prroi_pool_device.h compiles as host
// C++) and compares the result with forward_cpu on the same inputs. Each launch runs
// its items in order for index < work-item count, as the kernels' grid-stride loops
// do, into an output bordered by sentinel-filled guard regions, so an item writing
// outside the output, or an element no item writes, is caught too.
//
// Expectation per op (exact_match): RoIPool (a max) and the six bilinear ops (fp32
// accumulation in sample order on both sides) must match bit for bit; PSRoIPool and
// PrRoIPool sum a row with several accumulators on the CPU and one on the device, so
// they match within the SPEC section 4 tolerance.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bilinear_geometry.h"
#include "bin_sampler_device.h"
#include "dtype.h"
#include "prroi_pool/prroi_pool_device.h"
#include "roi_pool/pixel_pool_device.h"
#include "roipool/common.h"

namespace roipool {
namespace {

constexpr int64_t kGuardElements = 64;
constexpr unsigned char kSentinel = 0xA5;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

const char* dtype_name(DType d) {
  return d == DType::kFloat16 ? "fp16" : d == DType::kBFloat16 ? "bf16" : "fp32";
}

// A host buffer of `count` elements of `dtype`.
struct Buffer {
  DType dtype = DType::kFloat32;
  std::vector<unsigned char> bytes;

  Buffer() = default;
  Buffer(DType d, int64_t count) : dtype(d), bytes(static_cast<size_t>(count) * dtype_size(d)) {}

  void* data() { return bytes.empty() ? nullptr : bytes.data(); }
  float get(int64_t i) const { return load_as_float(bytes.data(), dtype, i); }
  void set(int64_t i, float v) {
    dispatch_host_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      reinterpret_cast<T*>(bytes.data())[i] = from_float<T>(v);
      return 0;
    });
  }
  uint32_t bits(int64_t i) const {
    uint32_t b = 0;
    std::memcpy(&b, bytes.data() + i * dtype_size(dtype), dtype_size(dtype));
    return b;
  }
};

Buffer from_values(DType d, const std::vector<float>& values) {
  Buffer b(d, static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) b.set(static_cast<int64_t>(i), values[i]);
  return b;
}

// Deterministic values in [-4, 4).
struct Lcg {
  uint64_t state;
  float next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((state >> 40) & 0xffffff) / 16777216.f * 8.f - 4.f;
  }
};

Buffer random_buffer(DType d, int64_t count, Lcg& rng) {
  Buffer b(d, count);
  for (int64_t i = 0; i < count; ++i) b.set(i, rng.next());
  return b;
}

// One forward call: attributes, inputs and the output size.
struct Problem {
  OpKind op;
  OpAttrs attrs;
  DType dtype, rois_dtype;
  std::vector<Buffer> maps;
  std::vector<FeatureMap> features;
  Buffer rois, offset, mask;
  int64_t num_rois, out_elements;
  float max_abs_input;

  OpArgs args(void* output) {
    return {dtype,
            rois_dtype,
            static_cast<int32_t>(features.size()),
            features.data(),
            rois.data(),
            num_rois,
            offset.data(),
            mask.data(),
            output};
  }
};

// Runs the items of a grid-stride launch of `total` items.
template <typename Item>
void run_items(int64_t total, Item&& item) {
  for (int64_t index = 0; index < total; ++index) item(index);
}

template <typename T, OpKind kOp>
void run_bilinear_items(const OpAttrs& attrs, const OpArgs& args) {
  const auto geometry = bilinear_geometry<kOp>(attrs);
  const detail::PoolLaunch p = detail::make_pool_launch(attrs, args, bin_options(kOp, attrs, args));
  if (p.options.mode == PoolMode::kMax) {
    run_items(detail::pool_work_items(p),
              [&](int64_t i) { detail::pool_work_item<T, true>(p, geometry, i); });
  } else {
    run_items(detail::pool_work_items(p),
              [&](int64_t i) { detail::pool_work_item<T, false>(p, geometry, i); });
  }
}

// The CUDA path of `op` with every kernel replaced by its work items on the host.
template <typename T>
void run_cuda_work_items(OpKind op, const OpAttrs& attrs, const OpArgs& args) {
  T* out = static_cast<T*>(args.output);
  switch (op) {
    case OpKind::kRoIPool:
    case OpKind::kPSRoIPool: {
      const auto p = detail::make_pixel_pool_launch(
          attrs, args, op == OpKind::kRoIPool ? kRoIPoolRule : kPSRoIPoolRule);
      run_items(detail::pixel_pool_work_items(p),
                [&](int64_t i) { detail::pixel_pool_work_item<T>(p, out, i); });
      return;
    }
    case OpKind::kPrRoIPool: {
      const auto p = detail::make_pr_launch(attrs, args);
      run_items(detail::pr_work_items(p), [&](int64_t i) { detail::pr_work_item<T>(p, out, i); });
      return;
    }
    case OpKind::kRoIAlign:
      return run_bilinear_items<T, OpKind::kRoIAlign>(attrs, args);
    case OpKind::kRoIWarp:
      return run_bilinear_items<T, OpKind::kRoIWarp>(attrs, args);
    case OpKind::kPSRoIAlign:
      return run_bilinear_items<T, OpKind::kPSRoIAlign>(attrs, args);
    case OpKind::kDeformRoIPool:
      return run_bilinear_items<T, OpKind::kDeformRoIPool>(attrs, args);
    case OpKind::kMultiScaleRoIAlign:
      return run_bilinear_items<T, OpKind::kMultiScaleRoIAlign>(attrs, args);
    case OpKind::kRoIAlignRotated:
      return run_bilinear_items<T, OpKind::kRoIAlignRotated>(attrs, args);
  }
}

int g_failures = 0;
int g_checks = 0;

void fail(const std::string& what, const std::string& message) {
  ++g_failures;
  if (g_failures <= 40) std::fprintf(stderr, "FAIL %s: %s\n", what.c_str(), message.c_str());
}

bool same_value(const Buffer& a, int64_t ia, const Buffer& b, int64_t ib, double tolerance) {
  if (a.bits(ia) == b.bits(ib)) return true;
  const float x = a.get(ia), y = b.get(ib);
  if (std::isnan(x) && std::isnan(y)) return true;
  return tolerance > 0.0 && std::fabs(static_cast<double>(x) - y) <= tolerance;
}

// SPEC section 4 bound for the dtype.
double spec_tolerance(DType d, float max_abs_input) {
  const double bound = d == DType::kFloat16 ? 2e-3 : d == DType::kBFloat16 ? 1.6e-2 : 1e-5;
  return bound * std::fmax(1.0, max_abs_input);
}

// Compares the work items' output (inside guards) with forward_cpu's.
void check(Problem& problem, const std::string& what, bool exact) {
  ++g_checks;
  Buffer expected(problem.dtype, problem.out_elements);
  const Status status = forward_cpu(problem.op, problem.attrs, problem.args(expected.data()));
  if (!status.ok()) return fail(what, "forward_cpu: " + status.message());

  Buffer guarded(problem.dtype, problem.out_elements + 2 * kGuardElements);
  std::memset(guarded.bytes.data(), kSentinel, guarded.bytes.size());
  const size_t elem = dtype_size(problem.dtype);
  const OpArgs args = problem.args(guarded.bytes.data() + kGuardElements * elem);
  dispatch_host_dtype(problem.dtype, [&](auto tag) {
    run_cuda_work_items<decltype(tag)>(problem.op, problem.attrs, args);
    return 0;
  });

  for (size_t b = 0; b < kGuardElements * elem; ++b) {
    if (guarded.bytes[b] != kSentinel || guarded.bytes[guarded.bytes.size() - 1 - b] != kSentinel) {
      return fail(what, "a work item wrote outside the output buffer");
    }
  }
  const double tolerance = exact ? 0.0 : spec_tolerance(problem.dtype, problem.max_abs_input);
  for (int64_t i = 0; i < problem.out_elements; ++i) {
    if (!same_value(guarded, i + kGuardElements, expected, i, tolerance)) {
      char message[200];
      std::snprintf(message, sizeof(message), "element %lld: work items %.9g, forward_cpu %.9g (%s)",
                    static_cast<long long>(i), guarded.get(i + kGuardElements), expected.get(i),
                    exact ? "bit-exact expected" : "SPEC 4 tolerance");
      return fail(what, message);
    }
  }
}

// Feature maps [N, C, H, W] per level, random values stored in `layout`.
struct MapShape {
  int64_t height, width;
};

constexpr int64_t kBatch = 2;
constexpr int32_t kPooledH = 3, kPooledW = 2;

// Rows (batch, x1, y1, x2, y2) in input coordinates: inside, partly and fully outside,
// degenerate, inverted, bad / NaN batch indices, NaN / inf coordinates; `huge` adds
// boxes whose adaptive sampling grid would hit the cap (only cheap with a fixed ratio).
std::vector<std::vector<float>> box_rois(float extent, bool huge) {
  const float e = extent;
  std::vector<std::vector<float>> rows = {
      {0, 0.1f * e, 0.2f * e, 0.7f * e, 0.9f * e},
      {1, 0.05f * e, 0.3f * e, 0.95f * e, 0.6f * e},
      {1, 0.4f * e, 0.1f * e, 0.55f * e, 0.35f * e},
      {0, 2.5f * e, 3.f * e, 4.f * e, 5.f * e},
      {1, -0.5f * e, -0.3f * e, 0.3f * e, 0.2f * e},
      {0, 0.8f * e, 0.7f * e, 1.4f * e, 1.3f * e},
      {0, 0.5f * e, 0.5f * e, 0.5f * e, 0.5f * e},
      {1, 0.7f * e, 0.6f * e, 0.2f * e, 0.1f * e},
      {2, 0.1f * e, 0.1f * e, 0.5f * e, 0.5f * e},
      {-1, 0.1f * e, 0.1f * e, 0.5f * e, 0.5f * e},
      {0.5f, 0.1f * e, 0.1f * e, 0.5f * e, 0.5f * e},
      {kNaN, 0.1f * e, 0.1f * e, 0.5f * e, 0.5f * e},
      {0, kNaN, 0.1f * e, 0.5f * e, 0.5f * e},
      {1, 0.1f * e, 0.2f * e, 0.5f * e, kNaN},
  };
  if (huge) {
    rows.push_back({0, -1e7f, -1e7f, 1e7f, 1e7f});
    rows.push_back({1, -3e38f, 0.f, 3e38f, 0.5f * e});
    rows.push_back({0, 0.f, -kInf, 0.5f * e, kInf});
  }
  return rows;
}

// Rows (batch, cx, cy, w, h, theta) for RoIAlignRotated.
std::vector<std::vector<float>> rotated_rois(float extent, bool huge) {
  const float e = extent;
  std::vector<std::vector<float>> rows = {
      {0, 0.5f * e, 0.5f * e, 0.4f * e, 0.3f * e, 0.3f},
      {1, 0.3f * e, 0.6f * e, 0.6f * e, 0.2f * e, -1.2f},
      {1, 0.5f * e, 0.5f * e, 0.3f * e, 0.3f * e, 3.14159265f},
      {0, 0.1f * e, 0.9f * e, 0.5f * e, 0.5f * e, 0.7f},
      {0, 3.f * e, 3.f * e, 0.2f * e, 0.2f * e, 0.f},
      {1, 0.5f * e, 0.5f * e, 0.f, 0.f, 0.4f},
      {0, 0.5f * e, 0.5f * e, -0.2f * e, 0.3f * e, 0.2f},
      {2, 0.5f * e, 0.5f * e, 0.2f * e, 0.2f * e, 0.f},
      {kNaN, 0.5f * e, 0.5f * e, 0.2f * e, 0.2f * e, 0.f},
      {0, 0.5f * e, 0.5f * e, 0.2f * e, 0.2f * e, kNaN},
  };
  if (huge) rows.push_back({1, 0.5f * e, 0.5f * e, 1e7f, 1e7f, 0.5f});
  return rows;
}

// A problem of `op` with the given inputs; offset / mask follow `deform` flags.
Problem make_problem(OpKind op, const OpAttrs& attrs, DType dtype, DType rois_dtype, Layout layout,
                     int64_t channels, const std::vector<MapShape>& shapes,
                     const std::vector<std::vector<float>>& roi_rows, bool with_offset,
                     bool with_mask, uint64_t seed) {
  Lcg rng{seed};
  Problem p{};
  p.op = op;
  p.attrs = attrs;
  p.dtype = dtype;
  p.rois_dtype = rois_dtype;
  p.max_abs_input = 4.f;
  for (const MapShape& s : shapes) {
    p.maps.push_back(random_buffer(dtype, kBatch * channels * s.height * s.width, rng));
  }
  for (size_t l = 0; l < shapes.size(); ++l) {
    p.features.push_back(
        {p.maps[l].data(), kBatch, channels, shapes[l].height, shapes[l].width, layout});
  }
  std::vector<float> flat;
  for (const auto& row : roi_rows) flat.insert(flat.end(), row.begin(), row.end());
  p.rois = from_values(rois_dtype, flat);
  p.num_rois = static_cast<int64_t>(roi_rows.size());
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  if (with_offset) p.offset = random_buffer(dtype, p.num_rois * 2 * bins, rng);
  if (with_mask) p.mask = random_buffer(dtype, p.num_rois * bins, rng);
  p.out_elements = p.num_rois * output_channels(op, attrs, channels) * bins;
  return p;
}

struct Variant {
  std::string name;
  OpAttrs attrs;
  bool with_offset = false, with_mask = false;
};

// Attribute variants of `op` (aligned, sampling_ratio, mode, clockwise, level mapping,
// offset / mask).
std::vector<Variant> variants(OpKind op) {
  OpAttrs base = default_attrs(op);
  base.pooled_h = kPooledH;
  base.pooled_w = kPooledW;
  base.spatial_scale = 0.5f;
  base.gamma = 0.3f;
  std::vector<Variant> out;
  switch (op) {
    case OpKind::kRoIPool:
    case OpKind::kPSRoIPool:
    case OpKind::kPrRoIPool:
      out.push_back({"scale=0.5", base});
      base.spatial_scale = 1.f;
      out.push_back({"scale=1", base});
      return out;
    default:
      break;
  }
  for (int32_t ratio : {-1, 2}) {
    base.sampling_ratio = ratio;
    const std::string r = "sampling_ratio=" + std::to_string(ratio);
    if (op == OpKind::kPSRoIAlign) {
      out.push_back({r, base});
    } else if (op == OpKind::kDeformRoIPool) {
      out.push_back({r, base});
      out.push_back({r + " offset", base, true, false});
      out.push_back({r + " offset+mask", base, true, true});
      out.push_back({r + " mask", base, false, true});
    } else if (op == OpKind::kRoIWarp) {
      for (PoolMode mode : {PoolMode::kAvg, PoolMode::kMax}) {
        base.mode = mode;
        out.push_back({r + (mode == PoolMode::kMax ? " max" : " avg"), base});
      }
    } else {
      for (int32_t aligned : {0, 1}) {
        base.aligned = aligned;
        const std::string ra = r + " aligned=" + std::to_string(aligned);
        if (op == OpKind::kRoIAlign) {
          for (PoolMode mode : {PoolMode::kAvg, PoolMode::kMax}) {
            base.mode = mode;
            out.push_back({ra + (mode == PoolMode::kMax ? " max" : " avg"), base});
          }
        } else if (op == OpKind::kRoIAlignRotated) {
          for (int32_t clockwise : {0, 1}) {
            base.clockwise = clockwise;
            out.push_back({ra + " clockwise=" + std::to_string(clockwise), base});
          }
        } else {  // MultiScaleRoIAlign
          for (LevelMapping mapping : {LevelMapping::kTorchvision, LevelMapping::kMMDet}) {
            base.level_mapping = mapping;
            base.canonical_scale = 0.f;
            base.roi_scale_factor = mapping == LevelMapping::kMMDet ? 1.5f : 1.f;
            out.push_back({ra + (mapping == LevelMapping::kMMDet ? " mmdet" : " torchvision"), base});
          }
        }
      }
    }
  }
  return out;
}

bool exact_match(OpKind op) { return op != OpKind::kPSRoIPool && op != OpKind::kPrRoIPool; }

void test_op(OpKind op, const char* name) {
  const bool position_sensitive = op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign;
  // 10 output channels: one full and one partial chunk of the bilinear engine.
  const int64_t channels = position_sensitive ? 3 * kPooledH * kPooledW : 10;
  const bool multi_scale = op == OpKind::kMultiScaleRoIAlign;
  // MultiScaleRoIAlign: a 64x64 image with levels at 1/4, 1/8, 1/16; else a 7x9 map.
  const std::vector<MapShape> shapes =
      multi_scale ? std::vector<MapShape>{{16, 16}, {8, 8}, {4, 4}} : std::vector<MapShape>{{7, 9}};
  for (Variant v : variants(op)) {
    float extent = 14.f / v.attrs.spatial_scale;  // boxes spread over the map and beyond
    if (multi_scale) {
      v.attrs.num_levels = 3;
      const float scales[] = {0.25f, 0.125f, 0.0625f};
      for (int l = 0; l < 3; ++l) v.attrs.spatial_scales[l] = scales[l];
      extent = 160.f;  // small and large boxes land on different levels
    }
    const bool bilinear = op != OpKind::kRoIPool && op != OpKind::kPSRoIPool &&
                          op != OpKind::kPrRoIPool;
    const bool huge = !bilinear || v.attrs.sampling_ratio > 0;
    const auto rows =
        op == OpKind::kRoIAlignRotated ? rotated_rois(extent, huge) : box_rois(extent, huge);
    for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (DType rois_dtype : {DType::kFloat32, dtype}) {
        for (Layout layout : {Layout::kNCHW, Layout::kNHWC}) {
          Problem p = make_problem(op, v.attrs, dtype, rois_dtype, layout, channels, shapes, rows,
                                   v.with_offset, v.with_mask, 17 + g_checks);
          const std::string what = std::string(name) + " " + dtype_name(dtype) + " rois=" +
                                   dtype_name(rois_dtype) +
                                   (layout == Layout::kNHWC ? " NHWC " : " NCHW ") + v.name;
          check(p, what, exact_match(op));
        }
      }
    }
  }
}

}  // namespace
}  // namespace roipool

int main() {
  using roipool::OpKind;
  const std::pair<OpKind, const char*> ops[] = {
      {OpKind::kRoIPool, "RoIPool"},
      {OpKind::kRoIAlign, "RoIAlign"},
      {OpKind::kRoIWarp, "RoIWarp"},
      {OpKind::kPSRoIPool, "PSRoIPool"},
      {OpKind::kPSRoIAlign, "PSRoIAlign"},
      {OpKind::kDeformRoIPool, "DeformRoIPool"},
      {OpKind::kMultiScaleRoIAlign, "MultiScaleRoIAlign"},
      {OpKind::kRoIAlignRotated, "RoIAlignRotated"},
      {OpKind::kPrRoIPool, "PrRoIPool"},
  };
  for (const auto& [op, name] : ops) roipool::test_op(op, name);
  if (roipool::g_failures > 0) {
    std::fprintf(stderr, "%d of %d CUDA work-item checks failed\n", roipool::g_failures,
                 roipool::g_checks);
    return 1;
  }
  std::printf("all %d CUDA work-item checks match forward_cpu\n", roipool::g_checks);
  return 0;
}
