// CPU engine of the integer-pixel bin ops (RoIPool, PSRoIPool): RoIs are split across
// threads; each RoI's bin ranges are computed once and reused by every channel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "parallel.h"
#include "roi_pool/pixel_bins.h"
#include "roi_pool/row_reduce.h"

namespace roipool {
namespace detail {

template <typename T>
class PixelPooler {
 public:
  PixelPooler(const OpAttrs& attrs, const OpArgs& args, const PixelBinRule& rule)
      : attrs_(attrs), args_(args), rule_(rule), map_(args.features[0]),
        bins_(static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w),
        out_channels_(rule.position_sensitive ? map_.channels / bins_ : map_.channels),
        rows_(static_cast<size_t>(attrs.pooled_h)), cols_(static_cast<size_t>(attrs.pooled_w)) {
    if (map_.layout == Layout::kNHWC) {
      acc_.resize(static_cast<size_t>(out_channels_), PixelReducer::start(rule.max));
    }
  }

  void pool(int64_t k) {
    T* out = static_cast<T*>(args_.output) + k * out_channels_ * bins_;
    const auto roi = [&](int32_t column) {
      return load_as_float(args_.rois, args_.rois_dtype, k * 5 + column);
    };
    const int64_t batch = roi_batch_index(roi(0), map_.batch);
    if (batch < 0) {
      std::fill(out, out + out_channels_ * bins_, from_float<T>(0.f));
      return;
    }
    const auto height = static_cast<int32_t>(map_.height);
    const auto width = static_cast<int32_t>(map_.width);
    const float scale = attrs_.spatial_scale;
    const auto y = QuantisedAxis::make(roi(2), roi(4), scale, attrs_.pooled_h, height, rule_);
    const auto x = QuantisedAxis::make(roi(1), roi(3), scale, attrs_.pooled_w, width, rule_);
    for (int32_t i = 0; i < attrs_.pooled_h; ++i) rows_[i] = y.bin(i);
    for (int32_t j = 0; j < attrs_.pooled_w; ++j) cols_[j] = x.bin(j);
    const T* image =
        static_cast<const T*>(map_.data) + batch * map_.channels * map_.height * map_.width;
    if (map_.layout == Layout::kNHWC) {
      pool_pixels(image, out);
    } else if (rule_.max) {
      pool_planes<true>(image, out);
    } else {
      pool_planes<false>(image, out);
    }
  }

 private:
  // NCHW: one plane at a time, output rows written in order.
  template <bool kMax>
  void pool_planes(const T* image, T* out) const {
    const int64_t plane = map_.height * map_.width;
    for (int64_t c = 0; c < out_channels_; ++c) {
      for (int64_t bin = 0; bin < bins_; ++bin) {
        const PixelRange& rows = rows_[bin / attrs_.pooled_w];
        const PixelRange& cols = cols_[bin % attrs_.pooled_w];
        const T* data = image + pixel_bin_channel(rule_, c, bin, bins_) * plane;
        PixelReducer reducer = PixelReducer::start(kMax);
        for (int32_t h = rows.begin; h < rows.end; ++h) {
          const T* row = data + h * map_.width + cols.begin;
          reducer.add(reduce_row<kMax>(row, cols.end - cols.begin));
        }
        out[c * bins_ + bin] = from_float<T>(reducer.result(rows, cols));
      }
    }
  }

  // NHWC: channels innermost, so every pixel's channels are read contiguously.
  void pool_pixels(const T* image, T* out) {
    const int64_t channel_step = rule_.position_sensitive ? bins_ : 1;
    for (int64_t bin = 0; bin < bins_; ++bin) {
      const PixelRange& rows = rows_[bin / attrs_.pooled_w];
      const PixelRange& cols = cols_[bin % attrs_.pooled_w];
      const T* first = image + pixel_bin_channel(rule_, 0, bin, bins_);
      std::fill(acc_.begin(), acc_.end(), PixelReducer::start(rule_.max));
      for (int32_t h = rows.begin; h < rows.end; ++h) {
        for (int32_t w = cols.begin; w < cols.end; ++w) {
          const T* pixel = first + (h * map_.width + w) * map_.channels;
          for (int64_t c = 0; c < out_channels_; ++c) {
            acc_[c].add(to_float(pixel[c * channel_step]));
          }
        }
      }
      for (int64_t c = 0; c < out_channels_; ++c) {
        out[c * bins_ + bin] = from_float<T>(acc_[c].result(rows, cols));
      }
    }
  }

  const OpAttrs& attrs_;
  const OpArgs& args_;
  const PixelBinRule rule_;
  const FeatureMap& map_;
  const int64_t bins_, out_channels_;
  std::vector<PixelRange> rows_, cols_;
  std::vector<PixelReducer> acc_;
};

}  // namespace detail

// Runs RoIPool / PSRoIPool (per `rule`) on the CPU.
inline Status pixel_pool_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads,
                             const PixelBinRule& rule) {
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_for(args.num_rois, num_threads, 1, [&](int64_t begin, int64_t end) {
      detail::PixelPooler<T> pooler(attrs, args, rule);
      for (int64_t k = begin; k < end; ++k) pooler.pool(k);
    });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
