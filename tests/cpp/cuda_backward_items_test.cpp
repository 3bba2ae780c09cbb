// Runs the CUDA backward work items of the nine ops on the host (the device code of
// bin_sampler_backward_device.h, pixel_pool_backward_device.h and
// prroi_pool_backward_device.h compiles as host C++, with add_gradient a plain add)
// and compares every gradient with backward_cpu on the same inputs. The two sum in
// different orders, so they agree to float32 rounding, not bit for bit.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bilinear_geometry.h"
#include "bin_sampler_backward_device.h"
#include "dtype.h"
#include "prroi_pool/prroi_pool_backward_device.h"
#include "roi_pool/pixel_pool_backward_device.h"
#include "roipool/common.h"

namespace roipool {
namespace {

constexpr int32_t kPooledH = 2, kPooledW = 3, kBatch = 2, kRois = 7;

struct Lcg {
  uint64_t state;
  float next() {  // in [-4, 4)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((state >> 40) & 0xffffff) / 16777216.f * 8.f - 4.f;
  }
};

// `count` values of dtype d (raw storage) drawn from rng.
std::vector<uint16_t> storage(DType d, int64_t count, Lcg& rng, std::vector<float>* f32) {
  std::vector<uint16_t> half(static_cast<size_t>(count));
  f32->resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const float v = rng.next();
    (*f32)[i] = v;
    if (d == DType::kFloat16) half[i] = float_to_half(v);
    if (d == DType::kBFloat16) half[i] = float_to_bfloat16(v);
  }
  return half;
}

struct Tensor {
  DType dtype;
  std::vector<float> f32;
  std::vector<uint16_t> bits;
  Tensor(DType d, int64_t count, Lcg& rng) : dtype(d) { bits = storage(d, count, rng, &f32); }
  const void* data() const {
    return dtype == DType::kFloat32 ? static_cast<const void*>(f32.data()) : bits.data();
  }
};

struct Problem {
  OpKind op;
  OpAttrs attrs;
  DType dtype;
  std::vector<Tensor> maps;
  std::vector<FeatureMap> features;
  std::vector<float> rois;
  std::vector<Tensor> aux;  // offset, mask (DeformRoIPool)
  int64_t out_elements;

  OpArgs args() const {
    return {dtype, DType::kFloat32, static_cast<int32_t>(features.size()), features.data(),
            rois.data(), kRois, aux.empty() ? nullptr : aux[0].data(),
            aux.empty() ? nullptr : aux[1].data(), nullptr};
  }
};

Problem make_problem(OpKind op, DType dtype, Lcg& rng) {
  Problem p{op, default_attrs(op), dtype, {}, {}, {}, {}, 0};
  p.attrs.pooled_h = kPooledH;
  p.attrs.pooled_w = kPooledW;
  p.attrs.spatial_scale = 0.5f;
  p.attrs.sampling_ratio = op == OpKind::kRoIWarp ? 2 : -1;
  if (op == OpKind::kRoIAlign) p.attrs.mode = PoolMode::kMax;
  const bool ps = op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign;
  const int64_t channels = ps ? 2 * kPooledH * kPooledW : 5;
  std::vector<int64_t> sizes = {9};
  if (op == OpKind::kMultiScaleRoIAlign) {
    p.attrs.num_levels = 3;
    const float scales[3] = {0.25f, 0.125f, 0.0625f};
    for (int l = 0; l < 3; ++l) p.attrs.spatial_scales[l] = scales[l];
    sizes = {64, 32, 16};
  }
  for (int64_t size : sizes) p.maps.emplace_back(dtype, kBatch * channels * size * (size + 2), rng);
  for (size_t l = 0; l < sizes.size(); ++l) {
    p.features.push_back({p.maps[l].data(), kBatch, channels, sizes[l], sizes[l] + 2,
                          Layout::kNCHW});
  }
  const float extent = op == OpKind::kMultiScaleRoIAlign ? 200.f : 20.f;
  const int32_t columns = rois_columns(op);
  for (int64_t k = 0; k < kRois; ++k) {
    float a = (rng.next() + 4.f) / 8.f * extent, b = (rng.next() + 4.f) / 8.f * extent;
    float c = (rng.next() + 4.f) / 8.f * extent, d = (rng.next() + 4.f) / 8.f * extent;
    const float batch = k == 0 ? -1.f : static_cast<float>(k % kBatch);  // row 0: bad index
    if (op == OpKind::kMultiScaleRoIAlign) {  // sides on each of the three levels
      const float side = std::vector<float>{60.f, 150.f, 300.f}[k % 3];
      p.rois.insert(p.rois.end(), {batch, a, b, a + side, b + side});
    } else if (columns == 6) {
      p.rois.insert(p.rois.end(), {batch, a, b, 2.f + std::fabs(c - a), 2.f + std::fabs(d - b),
                                   rng.next()});
    } else {
      p.rois.insert(p.rois.end(), {batch, std::fmin(a, c) - 2.f, std::fmin(b, d) - 1.f,
                                   std::fmax(a, c), std::fmax(b, d)});
    }
  }
  if (op == OpKind::kDeformRoIPool) {
    p.aux.emplace_back(dtype, kRois * 2 * kPooledH * kPooledW, rng);
    p.aux.emplace_back(dtype, kRois * kPooledH * kPooledW, rng);
  }
  p.out_elements = kRois * output_channels(op, p.attrs, channels) * kPooledH * kPooledW;
  return p;
}

// Every float32 gradient buffer of one backward call.
struct Grads {
  std::vector<std::vector<float>> features;
  std::vector<float*> pointers;
  std::vector<float> offset, mask, rois;

  explicit Grads(const Problem& p) {
    for (const FeatureMap& f : p.features) {
      features.emplace_back(static_cast<size_t>(f.batch * f.channels * f.height * f.width), 0.f);
    }
    for (auto& f : features) pointers.push_back(f.data());
    if (p.op == OpKind::kDeformRoIPool) {
      offset.assign(kRois * 2 * kPooledH * kPooledW, 0.f);
      mask.assign(kRois * kPooledH * kPooledW, 0.f);
    }
    if (p.op == OpKind::kPrRoIPool) rois.assign(kRois * 5, 0.f);
  }

  GradArgs args(const void* grad_output) {
    return {grad_output, pointers.data(), offset.empty() ? nullptr : offset.data(),
            mask.empty() ? nullptr : mask.data(), rois.empty() ? nullptr : rois.data()};
  }
};

template <typename T, OpKind kOp>
void run_bilinear(const Problem& p, const GradArgs& g) {
  const OpArgs args = p.args();
  const auto geometry = bilinear_geometry<kOp>(p.attrs);
  const auto b = detail::make_backward_launch(p.attrs, args, g, bin_options(kOp, p.attrs, args));
  for (int64_t i = 0; i < detail::pool_work_items(b.pool); ++i) {
    if (b.pool.options.mode == PoolMode::kMax) {
      detail::scatter_work_item<T, true>(b, geometry, i);
    } else {
      detail::scatter_work_item<T, false>(b, geometry, i);
    }
  }
  if (g.grad_offset == nullptr && g.grad_mask == nullptr) return;
  for (int64_t i = 0; i < detail::deform_work_items(b); ++i) detail::deform_work_item<T>(b, geometry, i);
}

template <typename T>
void run_items(const Problem& p, const GradArgs& g) {
  const OpArgs args = p.args();
  const auto* grad_output = static_cast<const T*>(g.grad_output);
  switch (p.op) {
    case OpKind::kRoIPool:
    case OpKind::kPSRoIPool: {
      const auto launch = detail::make_pixel_pool_launch(
          p.attrs, args, p.op == OpKind::kRoIPool ? kRoIPoolRule : kPSRoIPoolRule);
      for (int64_t i = 0; i < detail::pixel_pool_work_items(launch); ++i) {
        detail::pixel_backward_work_item<T>(launch, grad_output, g.grad_features[0], i);
      }
      return;
    }
    case OpKind::kPrRoIPool: {
      const auto launch = detail::make_pr_launch(p.attrs, args);
      for (int64_t i = 0; i < detail::pr_work_items(launch); ++i) {
        detail::pr_input_work_item<T>(launch, grad_output, g.grad_features[0], i);
      }
      for (int64_t i = 0; i < detail::pr_box_work_items(launch); ++i) {
        detail::pr_box_work_item<T>(launch, grad_output, g.grad_rois, i);
      }
      return;
    }
    case OpKind::kRoIAlign: return run_bilinear<T, OpKind::kRoIAlign>(p, g);
    case OpKind::kRoIWarp: return run_bilinear<T, OpKind::kRoIWarp>(p, g);
    case OpKind::kPSRoIAlign: return run_bilinear<T, OpKind::kPSRoIAlign>(p, g);
    case OpKind::kDeformRoIPool: return run_bilinear<T, OpKind::kDeformRoIPool>(p, g);
    case OpKind::kMultiScaleRoIAlign: return run_bilinear<T, OpKind::kMultiScaleRoIAlign>(p, g);
    case OpKind::kRoIAlignRotated: return run_bilinear<T, OpKind::kRoIAlignRotated>(p, g);
  }
}

int g_failures = 0;

void compare(const std::string& what, const std::vector<float>& expected,
             const std::vector<float>& actual) {
  double magnitude = 1.0, error = 0.0;
  bool nonzero = expected.empty();
  for (size_t i = 0; i < expected.size(); ++i) {
    nonzero = nonzero || expected[i] != 0.f;
    magnitude = std::fmax(magnitude, std::fabs(expected[i]));
    const double d = std::fabs(static_cast<double>(expected[i]) - actual[i]);
    error = std::isnan(d) ? INFINITY : std::fmax(error, d);
  }
  if (!nonzero) {  // a comparison of zeros would prove nothing
    ++g_failures;
    std::fprintf(stderr, "FAIL %s: the expected gradient is all zeros\n", what.c_str());
  }
  if (error > 1e-4 * magnitude) {
    ++g_failures;
    std::fprintf(stderr, "FAIL %s: max abs error %g (magnitude %g)\n", what.c_str(), error,
                 magnitude);
  }
}

void check(OpKind op, DType dtype, Lcg& rng) {
  const Problem p = make_problem(op, dtype, rng);
  const Tensor grad_output(dtype, p.out_elements, rng);
  Grads expected(p), actual(p);
  const std::string what = std::string(op_name(op)) + "/" + std::to_string(static_cast<int>(dtype));
  const Status status = backward_cpu(op, p.attrs, p.args(), expected.args(grad_output.data()));
  if (!status.ok()) {
    ++g_failures;
    std::fprintf(stderr, "FAIL %s: backward_cpu: %s\n", what.c_str(), status.message().c_str());
    return;
  }
  const GradArgs g = actual.args(grad_output.data());
  dispatch_host_dtype(dtype, [&](auto tag) {
    run_items<decltype(tag)>(p, g);
    return 0;
  });
  for (size_t l = 0; l < expected.features.size(); ++l) {
    compare(what + " input " + std::to_string(l), expected.features[l], actual.features[l]);
  }
  compare(what + " offset", expected.offset, actual.offset);
  compare(what + " mask", expected.mask, actual.mask);
  compare(what + " rois", expected.rois, actual.rois);
}

}  // namespace
}  // namespace roipool

int main() {
  using namespace roipool;
  Lcg rng{42};
  int checks = 0;
  for (int32_t op = 0; op < kNumOps; ++op) {
    for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      check(static_cast<OpKind>(op), dtype, rng);
      ++checks;
    }
  }
  std::printf("%d backward work-item checks, %d failures\n", checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
