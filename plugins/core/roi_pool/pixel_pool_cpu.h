// CPU engine of the integer-pixel bin ops (RoIPool, PSRoIPool): RoIs are handed to
// threads in small chunks; each RoI's bin ranges are computed once and reused by every
// channel. An NCHW map that the bins read many times over is first copied
// channels-last (channels_last.h); on NHWC with contiguous channels (RoIPool) the
// vector kernels (cpu_kernels.h) reduce each bin's channels into the thread's tile,
// written out as the RoI's NCHW block.
#pragma once

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "channels_last.h"
#include "cpu_kernels.h"
#include "cpu_scratch.h"
#include "parallel.h"
#include "roi_order.h"
#include "roi_pool/pixel_bins.h"
#include "roi_pool/row_reduce.h"

namespace roipool {
namespace detail {

template <typename T>
class PixelPooler {
 public:
  PixelPooler(const OpAttrs& attrs, const OpArgs& args, const PixelBinRule& rule,
              const CpuKernels& kernels)
      : attrs_(attrs), args_(args), rule_(rule), kernels_(kernels), map_(args.features[0]),
        bins_(static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w),
        out_channels_(rule.position_sensitive ? map_.channels / bins_ : map_.channels),
        rows_(static_cast<size_t>(attrs.pooled_h)), cols_(static_cast<size_t>(attrs.pooled_w)) {
    if (map_.layout == Layout::kNHWC) {
      acc_.resize(static_cast<size_t>(out_channels_), PixelReducer::start(rule.max));
    }
  }

  // Output channels [c0, c1) of RoI k; a range short of all channels only on the
  // vector path (channel_block).
  void pool(int64_t k, int64_t c0, int64_t c1) {
    T* out = static_cast<T*>(args_.output) + k * out_channels_ * bins_;
    const auto roi = [&](int32_t column) {
      return load_as_float(args_.rois, args_.rois_dtype, k * 5 + column);
    };
    const int64_t batch = roi_batch_index(roi(0), map_.batch);
    if (batch < 0) {
      std::fill(out + c0 * bins_, out + c1 * bins_, from_float<T>(0.f));
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
    if (map_.layout == Layout::kNHWC && !rule_.position_sensitive) {
      pool_vectors(image, out, c0, c1);
    } else if (map_.layout == Layout::kNHWC) {
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

  // NHWC, contiguous channels: each bin's window reduced in vectors into the tile.
  void pool_vectors(const T* image, T* out, int64_t c0, int64_t c1) {
    CpuScratch& scratch = cpu_scratch();
    const int64_t channels = c1 - c0;
    float* tile = scratch.tile_of(bins_ * channels);
    const int64_t pixel = map_.channels, row = map_.width * pixel;
    for (int64_t bin = 0; bin < bins_; ++bin) {
      const PixelRange& rows = rows_[bin / attrs_.pooled_w];
      const PixelRange& cols = cols_[bin % attrs_.pooled_w];
      kernels_.pixels({tile + bin * channels, image + rows.begin * row + cols.begin * pixel + c0,
                       row, pixel, channels, std::max(0, rows.end - rows.begin),
                       std::max(0, cols.end - cols.begin), rule_.max});
    }
    kernels_.store_transposed(out + c0 * bins_, tile, bins_, channels);
    scratch.trim();
  }

  // NHWC, position-sensitive: channels innermost, read with the PS channel step.
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
  const CpuKernels& kernels_;
  const FeatureMap& map_;
  const int64_t bins_, out_channels_;
  std::vector<PixelRange> rows_, cols_;
  std::vector<PixelReducer> acc_;
};

// Elements the bins of every RoI read: sum over bins of rows x cols, per RoI the
// product of its row-range and column-range totals (bins are a grid).
inline double pixel_loads(const OpAttrs& attrs, const OpArgs& args, const PixelBinRule& rule) {
  const FeatureMap& map = args.features[0];
  const int64_t channels = rule.position_sensitive
                               ? map.channels / (static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w)
                               : map.channels;
  double loads = 0.;
  for (int64_t k = 0; k < args.num_rois; ++k) {
    const auto roi = [&](int32_t column) {
      return load_as_float(args.rois, args.rois_dtype, k * 5 + column);
    };
    if (roi_batch_index(roi(0), map.batch) < 0) continue;
    const auto total = [&](float lo, float hi, int32_t pooled, int64_t size) {
      const auto axis = QuantisedAxis::make(lo, hi, attrs.spatial_scale, pooled,
                                            static_cast<int32_t>(size), rule);
      double sum = 0.;
      for (int32_t i = 0; i < pooled; ++i) {
        const PixelRange r = axis.bin(i);
        sum += std::max(0, r.end - r.begin);
      }
      return sum;
    };
    loads += total(roi(2), roi(4), attrs.pooled_h, map.height) *
             total(roi(1), roi(3), attrs.pooled_w, map.width) * static_cast<double>(channels);
  }
  return loads;
}

// Channels per pass on the vector path. The bins of all RoIs read a map many times
// over (every pixel ~50x on the FPN bench); sweeping all RoIs over one slice of
// channels at a time keeps that slice in the last-level cache. 16 MiB per slice
// (half a 32 MiB L3): measured on the FPN bench, 256 x 200 x 304 fp32, 1 thread,
// RoIPool took 200 ms over all channels at once and 59 ms (per 256 channels) on
// 64-channel maps.
inline int64_t channel_block(const FeatureMap& map, int64_t out_channels, size_t element_size) {
  constexpr double kSliceBytes = 16. * (1 << 20);
  const double per_channel = static_cast<double>(map.batch) * map.height * map.width *
                             static_cast<double>(element_size);
  const auto fit = static_cast<int64_t>(kSliceBytes / std::max(per_channel, 1.)) / 16 * 16;
  return std::min(out_channels, std::max<int64_t>(16, fit));
}

// The RoIs in locality order (roi_order.h), from their box centres on the map.
inline std::vector<int64_t> locality_order(const OpAttrs& attrs, const OpArgs& args) {
  std::vector<int64_t> order(static_cast<size_t>(args.num_rois));
  std::vector<uint64_t> key(order.size());
  for (int64_t k = 0; k < args.num_rois; ++k) {
    float roi[5];
    for (int32_t i = 0; i < 5; ++i) roi[i] = load_as_float(args.rois, args.rois_dtype, k * 5 + i);
    const float scale = 0.5f * attrs.spatial_scale;
    order[static_cast<size_t>(k)] = k;
    key[static_cast<size_t>(k)] = locality_key(roi_batch_index(roi[0], args.features[0].batch),
                                               (roi[2] + roi[4]) * scale, (roi[1] + roi[3]) * scale);
  }
  sort_by_locality(order.begin(), order.end(), key);
  return order;
}

}  // namespace detail

// Runs RoIPool / PSRoIPool (per `rule`) on the CPU.
inline Status pixel_pool_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads,
                             const PixelBinRule& rule) {
  const CpuKernels* kernels = nullptr;
  Status status = select_cpu_kernels(args.dtype, &kernels);
  if (!status.ok()) return status;
  const bool copy = !rule.position_sensitive &&
                    worth_channels_last(args.features[0], detail::pixel_loads(attrs, args, rule));
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    FeatureMap map = args.features[0];
    ChannelsLastBuffer<T> buffer;
    if (copy) {
      try {
        map = buffer.assign(map, *kernels, num_threads);
      } catch (const std::bad_alloc&) {  // no room for the copy: read NCHW
      }
    }
    OpArgs local = args;
    local.features = &map;
    const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
    const int64_t out_channels = rule.position_sensitive ? map.channels / bins : map.channels;
    const int64_t block = map.layout == Layout::kNHWC && !rule.position_sensitive
                              ? detail::channel_block(map, out_channels, sizeof(T))
                              : out_channels;
    const int64_t blocks = block > 0 ? (out_channels + block - 1) / block : 1;
    const std::vector<int64_t> order = detail::locality_order(attrs, args);
    // Tasks are (channel block, RoI), channel block outermost.
    parallel_for_dynamic(blocks * args.num_rois, num_threads, 1, [&](int64_t begin, int64_t end) {
      detail::PixelPooler<T> pooler(attrs, local, rule, *kernels);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t c0 = task / args.num_rois * block;
        pooler.pool(order[task % args.num_rois], c0, std::min(out_channels, c0 + block));
      }
    });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
