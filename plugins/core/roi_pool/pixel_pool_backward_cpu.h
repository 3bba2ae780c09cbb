// CPU backward of the integer-pixel bin ops (RoIPool, PSRoIPool) on the same bins as
// the forward (pixel_bins.h). Tasks own (image, output channel) gradient planes
// (backward_cpu.h). RoIPool recomputes each bin's maximum and sends the whole gradient
// to the FIRST maximal pixel in row-major scan order (torchvision's argmax; NaN never
// wins, ties are not split); PSRoIPool spreads it evenly over the bin's pixels.
#pragma once

#include <cstdint>
#include <vector>

#include "backward_cpu.h"
#include "roi_pool/pixel_bins.h"
#include "roi_pool/row_reduce.h"

namespace roipool {
namespace detail {

template <typename T>
class PixelBackward {
 public:
  PixelBackward(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                const PixelBinRule& rule)
      : attrs_(attrs), args_(args), grads_(grads), rule_(rule), map_(args.features[0]),
        bins_(static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w),
        out_channels_(rule.position_sensitive ? map_.channels / bins_ : map_.channels) {}

  // Bins of RoIs order[begin .. end) (one image's), computed once per task.
  void load(const std::vector<int64_t>& order, int64_t begin, int64_t end) {
    const float scale = attrs_.spatial_scale;
    const auto height = static_cast<int32_t>(map_.height), width = static_cast<int32_t>(map_.width);
    ranges_.clear();
    for (int64_t r = begin; r < end; ++r) {
      const int64_t k = order[r];
      const auto roi = [&](int32_t column) {
        return load_as_float(args_.rois, args_.rois_dtype, k * 5 + column);
      };
      const auto y = QuantisedAxis::make(roi(2), roi(4), scale, attrs_.pooled_h, height, rule_);
      const auto x = QuantisedAxis::make(roi(1), roi(3), scale, attrs_.pooled_w, width, rule_);
      for (int32_t i = 0; i < attrs_.pooled_h; ++i) ranges_.push_back(y.bin(i));
      for (int32_t j = 0; j < attrs_.pooled_w; ++j) ranges_.push_back(x.bin(j));
    }
  }

  // Adds the gradient of output channel c of RoI k (the index-th loaded, of image b).
  void scatter(int64_t index, int64_t k, int64_t b, int64_t c) {
    const PixelRange* rows = ranges_.data() + index * (attrs_.pooled_h + attrs_.pooled_w);
    const PixelRange* cols = rows + attrs_.pooled_h;
    const int64_t plane = map_.height * map_.width;
    const T* grad_out = static_cast<const T*>(grads_.grad_output) + (k * out_channels_ + c) * bins_;
    for (int64_t bin = 0; bin < bins_; ++bin) {
      const PixelRange& r = rows[bin / attrs_.pooled_w];
      const PixelRange& q = cols[bin % attrs_.pooled_w];
      const int64_t area = static_cast<int64_t>(r.end - r.begin) * (q.end - q.begin);
      if (area <= 0) continue;
      const int64_t channel = pixel_bin_channel(rule_, c, bin, bins_);
      float* grad = grads_.grad_features[0] + (b * map_.channels + channel) * plane;
      const float g = to_float(grad_out[bin]);
      if (rule_.max) {
        const int64_t at = first_max(b, channel, r, q);
        if (at >= 0) grad[at] += g;
        continue;
      }
      const float share = g / static_cast<float>(area);
      for (int32_t h = r.begin; h < r.end; ++h) {
        for (int32_t w = q.begin; w < q.end; ++w) grad[h * map_.width + w] += share;
      }
    }
  }

 private:
  // Plane offset of the first maximal pixel of the bin, or -1 when none beats -inf.
  // Row by row: a row's maximum comes from the forward's vectorised reduce_row, and
  // only a row that beats the best so far is searched for its first maximum, so this is
  // the forward's row-major `>` scan (NaN never wins) at the forward's speed.
  int64_t first_max(int64_t b, int64_t channel, const PixelRange& rows,
                    const PixelRange& cols) const {
    int64_t stride = 1;
    const T* values = channel_plane<T>(map_, b, channel, &stride);
    float top = -INFINITY;
    int64_t at = -1;
    for (int32_t h = rows.begin; h < rows.end; ++h) {
      const int64_t row_offset = h * map_.width;
      if (stride == 1) {
        const T* row = values + row_offset + cols.begin;
        const float row_max = reduce_row<true>(row, cols.end - cols.begin);
        if (!(row_max > top)) continue;
        int32_t w = 0;
        while (!(to_float(row[w]) == row_max)) ++w;
        top = row_max;
        at = row_offset + cols.begin + w;
        continue;
      }
      for (int32_t w = cols.begin; w < cols.end; ++w) {
        const float v = to_float(values[(row_offset + w) * stride]);
        if (v > top) {
          top = v;
          at = row_offset + w;
        }
      }
    }
    return at;
  }

  const OpAttrs& attrs_;
  const OpArgs& args_;
  const GradArgs& grads_;
  const PixelBinRule rule_;
  const FeatureMap& map_;
  const int64_t bins_, out_channels_;
  std::vector<PixelRange> ranges_;  // per loaded RoI: pooled_h row ranges, pooled_w columns
};

}  // namespace detail

// Backward of RoIPool / PSRoIPool (per `rule`) on the CPU.
inline Status pixel_pool_backward_cpu(const OpAttrs& attrs, const OpArgs& args,
                                      const GradArgs& grads, int32_t num_threads,
                                      const PixelBinRule& rule) {
  const FeatureMap& map = args.features[0];
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  const int64_t units = rule.position_sensitive ? map.channels / bins : map.channels;
  const int64_t per_unit = rule.position_sensitive ? bins : 1;
  // Work per RoI and unit ~ the pixels of its box (clipped to the map), at least one per bin.
  const detail::BatchGroups groups = detail::group_by_batch(args, 5, [&](int64_t, const float* roi) {
    const double w = std::min<double>(std::fabs(roi[3] - roi[1]) * attrs.spatial_scale + 1., map.width);
    const double h = std::min<double>(std::fabs(roi[4] - roi[2]) * attrs.spatial_scale + 1., map.height);
    return (w * h > 0. ? w * h : 0.) * static_cast<double>(per_unit) + static_cast<double>(bins);
  });
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    detail::parallel_over_planes(map.batch, units, groups.work, num_threads,
                                 [&](int64_t b, int64_t first, int64_t last) {
                                   detail::zero_channels(grads.grad_features[0], map, b,
                                                         first * per_unit, last * per_unit);
                                   // Channel by channel over all RoIs: one gradient
                                   // plane and one input plane stay in cache.
                                   detail::PixelBackward<T> pass(attrs, args, grads, rule);
                                   const int64_t begin = groups.begin[b], end = groups.begin[b + 1];
                                   pass.load(groups.order, begin, end);
                                   for (int64_t c = first; c < last; ++c) {
                                     for (int64_t r = begin; r < end; ++r) {
                                       pass.scatter(r - begin, groups.order[r], b, c);
                                     }
                                   }
                                 });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
