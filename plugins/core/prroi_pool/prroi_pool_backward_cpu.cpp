// PrRoIPool backward (SPEC 3.8 / 5) on the CPU, from the same per-RoI weight tables as
// the forward (prroi_table.h).
//  - input: the forward is linear in the map, so each pixel of a bin's window gets
//    grad * wy * wx; tasks own (image, channel) planes (backward_cpu.h).
//  - boxes: prroi_backward.h, a second pass over RoIs (each owns its row).
#include <cmath>
#include <cstdint>

#include "backward_cpu.h"
#include "op_kernels.h"
#include "prroi_pool/prroi_backward.h"
#include "prroi_pool/prroi_table.h"

namespace roipool {
namespace {

template <typename T>
class PrBackward {
 public:
  PrBackward(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads)
      : attrs_(attrs), args_(args), grads_(grads), map_(args.features[0]),
        bins_(static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w) {}

  // Builds the tables of RoI k; false when the RoI pools to 0 (no gradient).
  bool load(int64_t k) {
    const auto roi = [&](int32_t column) {
      return load_as_float(args_.rois, args_.rois_dtype, k * 5 + column);
    };
    batch_ = roi_batch_index(roi(0), map_.batch);
    y_ = PrAxis::make(roi(2), roi(4), attrs_.spatial_scale, attrs_.pooled_h,
                      static_cast<int32_t>(map_.height));
    x_ = PrAxis::make(roi(1), roi(3), attrs_.spatial_scale, attrs_.pooled_w,
                      static_cast<int32_t>(map_.width));
    if (batch_ < 0 || !pr_roi_has_area(y_, x_)) return false;
    rows_.build(y_, attrs_.pooled_h);
    cols_.build(x_, attrs_.pooled_w);
    return true;
  }

  // Adds RoI k's input gradient to channels [first, last) of its image.
  void scatter(int64_t k, int64_t first, int64_t last) {
    if (!load(k)) return;
    const int64_t plane = map_.height * map_.width;
    for (int64_t c = first; c < last; ++c) {
      float* grad = grads_.grad_features[0] + (batch_ * map_.channels + c) * plane;
      for (int64_t bin = 0; bin < bins_; ++bin) {
        const float g = grad_out(k, c, bin);
        const auto i = static_cast<int32_t>(bin / attrs_.pooled_w);
        const auto j = static_cast<int32_t>(bin % attrs_.pooled_w);
        const PixelRange rows = rows_.windows[i], cols = cols_.windows[j];
        const float* wy = rows_.weights_of(i);
        const float* wx = cols_.weights_of(j);
        for (int32_t h = rows.begin; h < rows.end; ++h) {
          const float gy = g * wy[h - rows.begin];
          float* row = grad + h * map_.width;
          for (int32_t w = cols.begin; w < cols.end; ++w) row[w] += gy * wx[w - cols.begin];
        }
      }
    }
  }

  // Writes row k of the box gradient.
  void box(int64_t k) {
    double d[5] = {0., 0., 0., 0., 0.};
    if (load(k)) {
      for (int64_t bin = 0; bin < bins_; ++bin) add_bin(k, bin, d);
    }
    for (int c = 0; c < 5; ++c) grads_.grad_rois[k * 5 + c] = static_cast<float>(d[c]);
  }

 private:
  float grad_out(int64_t k, int64_t c, int64_t bin) const {
    return to_float(static_cast<const T*>(grads_.grad_output)[(k * map_.channels + c) * bins_ + bin]);
  }

  // Adds bin `bin`'s share of d(loss)/d(x1, y1, x2, y2) to d[1..4].
  void add_bin(int64_t k, int64_t bin, double* d) const {
    const auto i = static_cast<int32_t>(bin / attrs_.pooled_w);
    const auto j = static_cast<int32_t>(bin % attrs_.pooled_w);
    const PixelRange rows = rows_.windows[i], cols = cols_.windows[j];
    const float* wy = rows_.weights_of(i);
    const float* wx = cols_.weights_of(j);
    const auto weight_y = [&](int32_t h) { return static_cast<double>(wy[h - rows.begin]); };
    const auto weight_x = [&](int32_t w) { return static_cast<double>(wx[w - cols.begin]); };
    PrBinSums sums{0., 0., 0., 0., 0.};
    for (int64_t c = 0; c < map_.channels; ++c) {
      const double g = grad_out(k, c, bin);
      if (g == 0.) continue;
      int64_t stride = 1;
      const T* v = detail::channel_plane<T>(map_, batch_, c, &stride);
      const auto value = [&](int32_t h, int32_t w) {
        return static_cast<double>(to_float(v[(static_cast<int64_t>(h) * map_.width + w) * stride]));
      };
      sums.add(pr_bin_sums(y_, x_, i, j, rows, cols, weight_y, weight_x, value), g);
    }
    pr_box_gradient(sums, y_, x_, i, j, attrs_.pooled_h, attrs_.pooled_w, attrs_.spatial_scale, d);
  }

  const OpAttrs& attrs_;
  const OpArgs& args_;
  const GradArgs& grads_;
  const FeatureMap& map_;
  const int64_t bins_;
  int64_t batch_ = -1;
  PrAxis y_{}, x_{};
  AxisTable rows_, cols_;
};

}  // namespace

Status prroi_pool_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                               int32_t num_threads) {
  const FeatureMap& map = args.features[0];
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  const detail::BatchGroups groups = detail::group_by_batch(args, 5, [&](int64_t, const float* roi) {
    const double w = std::fmin(std::fabs(roi[3] - roi[1]) * attrs.spatial_scale + 2., map.width);
    const double h = std::fmin(std::fabs(roi[4] - roi[2]) * attrs.spatial_scale + 2., map.height);
    return (w * h > 0. ? w * h : 0.) + static_cast<double>(bins);
  });
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    detail::parallel_over_planes(map.batch, map.channels, groups.work, num_threads,
                                 [&](int64_t b, int64_t first, int64_t last) {
                                   detail::zero_channels(grads.grad_features[0], map, b, first, last);
                                   PrBackward<T> pass(attrs, args, grads);
                                   for (int64_t r = groups.begin[b]; r < groups.begin[b + 1]; ++r) {
                                     pass.scatter(groups.order[r], first, last);
                                   }
                                 });
    if (grads.grad_rois != nullptr) {
      parallel_for(args.num_rois, num_threads, 1, [&](int64_t first, int64_t last) {
        PrBackward<T> pass(attrs, args, grads);
        for (int64_t k = first; k < last; ++k) pass.box(k);
      });
    }
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
