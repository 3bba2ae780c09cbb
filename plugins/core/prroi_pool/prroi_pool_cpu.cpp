// PrRoIPool (SPEC 3.8) on the CPU: per RoI, the row and column weights of every bin
// are computed once (prroi_axis.h) and reused by every channel.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "op_kernels.h"
#include "parallel.h"
#include "prroi_pool/prroi_table.h"
#include "roi_pool/row_reduce.h"

namespace roipool {
namespace {

template <typename T>
class PrPooler {
 public:
  PrPooler(const OpAttrs& attrs, const OpArgs& args)
      : attrs_(attrs), args_(args), map_(args.features[0]),
        bins_(static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w) {
    if (map_.layout == Layout::kNHWC) acc_.resize(static_cast<size_t>(map_.channels));
  }

  void pool(int64_t k) {
    T* out = static_cast<T*>(args_.output) + k * map_.channels * bins_;
    const auto roi = [&](int32_t column) {
      return load_as_float(args_.rois, args_.rois_dtype, k * 5 + column);
    };
    const int64_t batch = roi_batch_index(roi(0), map_.batch);
    const PrAxis y = PrAxis::make(roi(2), roi(4), attrs_.spatial_scale, attrs_.pooled_h,
                                  static_cast<int32_t>(map_.height));
    const PrAxis x = PrAxis::make(roi(1), roi(3), attrs_.spatial_scale, attrs_.pooled_w,
                                  static_cast<int32_t>(map_.width));
    if (batch < 0 || !pr_roi_has_area(y, x)) {
      std::fill(out, out + map_.channels * bins_, from_float<T>(0.f));
      return;
    }
    rows_.build(y, attrs_.pooled_h);
    cols_.build(x, attrs_.pooled_w);
    const T* image =
        static_cast<const T*>(map_.data) + batch * map_.channels * map_.height * map_.width;
    if (map_.layout == Layout::kNHWC) {
      pool_pixels(image, out);
    } else {
      pool_planes(image, out);
    }
  }

 private:
  struct BinWindow {
    PixelRange rows, cols;
    const float* wy;  // weights of rows.begin .. rows.end
    const float* wx;
  };

  BinWindow bin_window(int64_t bin) const {
    const auto i = static_cast<int32_t>(bin / attrs_.pooled_w);
    const auto j = static_cast<int32_t>(bin % attrs_.pooled_w);
    return {rows_.windows[i], cols_.windows[j], rows_.weights_of(i), cols_.weights_of(j)};
  }

  // NCHW: one plane at a time, output rows written in order.
  void pool_planes(const T* image, T* out) const {
    const int64_t plane = map_.height * map_.width;
    for (int64_t c = 0; c < map_.channels; ++c) {
      const T* data = image + c * plane;
      for (int64_t bin = 0; bin < bins_; ++bin) {
        const auto [rows, cols, wy, wx] = bin_window(bin);
        float sum = 0.f;
        for (int32_t h = rows.begin; h < rows.end; ++h) {
          const T* row = data + h * map_.width + cols.begin;
          sum += wy[h - rows.begin] * weighted_row_sum(wx, row, cols.end - cols.begin);
        }
        out[c * bins_ + bin] = from_float<T>(sum);
      }
    }
  }

  // NHWC: channels innermost, so every pixel's channels are read contiguously.
  void pool_pixels(const T* image, T* out) {
    for (int64_t bin = 0; bin < bins_; ++bin) {
      const auto [rows, cols, wy, wx] = bin_window(bin);
      std::fill(acc_.begin(), acc_.end(), 0.f);
      for (int32_t h = rows.begin; h < rows.end; ++h) {
        for (int32_t w = cols.begin; w < cols.end; ++w) {
          const float weight = wy[h - rows.begin] * wx[w - cols.begin];
          const T* pixel = image + (h * map_.width + w) * map_.channels;
          for (int64_t c = 0; c < map_.channels; ++c) acc_[c] += weight * to_float(pixel[c]);
        }
      }
      for (int64_t c = 0; c < map_.channels; ++c) out[c * bins_ + bin] = from_float<T>(acc_[c]);
    }
  }

  const OpAttrs& attrs_;
  const OpArgs& args_;
  const FeatureMap& map_;
  const int64_t bins_;
  AxisTable rows_, cols_;
  std::vector<float> acc_;
};

}  // namespace

Status prroi_pool_forward_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads) {
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_for_dynamic(args.num_rois, num_threads, 1, [&](int64_t begin, int64_t end) {
      PrPooler<T> pooler(attrs, args);
      for (int64_t k = begin; k < end; ++k) pooler.pool(k);
    });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
