// CPU engine of the bilinear ops: RoIs are visited level by level and handed to
// threads in small chunks; each sample's taps are computed once per RoI (in bounded
// chunks) and reused by every channel. An NCHW map that many samples read is first
// copied channels-last (channels_last.h), so the NHWC path serves it; there the
// channels of each tap are reduced in vectors (cpu_kernels.h) into a [bins, C] tile
// that is then written out as the RoI's NCHW block.
#pragma once

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "bin_sampler.h"
#include "channels_last.h"
#include "cpu_kernels.h"
#include "cpu_scratch.h"
#include "parallel.h"
#include "roi_order.h"

namespace roipool {
namespace detail {

// Taps held at once: bounds scratch memory for huge sampling grids (up to 1024 x 1024).
constexpr int64_t kTapChunk = 4096;

// Where the channels of one bin live in one (batch) image of a feature map.
struct ChannelWalk {
  int64_t first;  // element offset of the bin's first input channel
  int64_t step;   // offset between consecutive output channels' input channels
  int64_t pixel;  // offset between horizontally adjacent pixels of a plane
};

// Pools RoIs one at a time, reusing the thread's scratch (taps, accumulators) across
// RoIs and calls. NHWC with contiguous channels (not position-sensitive): bin by bin,
// the vector kernels reduce the channels into the tile, written out at the end.
// NCHW with a table that fits: taps of all bins once, then plane by plane over the
// bins (contiguous output rows). Otherwise (PS on NHWC, huge grids on NCHW) bin by bin
// with the taps in chunks, channels innermost for NHWC and plane by plane for NCHW.
template <bool kMax, typename T, typename Geometry>
class RoiPooler {
 public:
  RoiPooler(const OpAttrs& attrs, const OpArgs& args, const Geometry& geometry,
            const BinOptions& options, const CpuKernels& kernels)
      : args_(args), geometry_(geometry), options_(options), kernels_(kernels),
        ph_(attrs.pooled_h), pw_(attrs.pooled_w), bins_(static_cast<int64_t>(ph_) * pw_),
        channels_(args.features[0].channels),
        out_channels_(options.position_sensitive ? channels_ / bins_ : channels_),
        scratch_(cpu_scratch()), taps_(scratch_.taps), origins_(scratch_.origins),
        acc_(scratch_.acc) {
    acc_.resize(static_cast<size_t>(out_channels_));
    taps_.reserve(kTapChunk);
  }
  ~RoiPooler() { scratch_.trim(); }
  RoiPooler(const RoiPooler&) = delete;
  RoiPooler& operator=(const RoiPooler&) = delete;

  void pool(int64_t k) {
    T* out = static_cast<T*>(args_.output) + k * out_channels_ * bins_;
    float roi[6];
    load_roi(args_.rois, args_.rois_dtype, k, geometry_.rois_columns(), roi);
    const int64_t batch = pooled_roi_batch(roi, geometry_.rois_columns(), args_.features[0].batch);
    if (batch < 0) {
      std::fill(out, out + out_channels_ * bins_, from_float<T>(0.f));
      return;
    }
    const SamplingFrame frame = geometry_(roi);
    const FeatureMap& map = args_.features[frame.level];
    const T* image = static_cast<const T*>(map.data) + batch * channels_ * map.height * map.width;
    origins_.clear();
    for (int32_t i = 0; i < ph_; ++i) {
      for (int32_t j = 0; j < pw_; ++j) {
        origins_.push_back(bin_origin(frame, options_, k, i, j, ph_, pw_));
      }
    }
    const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
    if (map.layout == Layout::kNHWC && !options_.position_sensitive) {
      pool_vectors(frame, map, image, count, out);
    } else if (map.layout == Layout::kNCHW && count * bins_ <= kTapChunk) {
      pool_planes(frame, map, image, count, out);
    } else {
      for (int64_t bin = 0; bin < bins_; ++bin) pool_bin(frame, map, image, count, bin, out);
    }
  }

 private:
  ChannelWalk walk(const FeatureMap& map, int64_t bin) const {
    const int64_t first = options_.position_sensitive ? bin : 0;
    const int64_t step = options_.position_sensitive ? bins_ : 1;
    if (map.layout == Layout::kNHWC) return {first, step, channels_};
    const int64_t plane = map.height * map.width;
    return {first * plane, step * plane, 1};
  }

  // Appends the taps of samples [first, last) of `bin`.
  void add_taps(const SamplingFrame& frame, const FeatureMap& map, int64_t bin, int64_t first,
                int64_t last) {
    const auto height = static_cast<int32_t>(map.height);
    const auto width = static_cast<int32_t>(map.width);
    for (int64_t s = first; s < last; ++s) {
      taps_.push_back(sample_taps(frame, origins_[bin], static_cast<int32_t>(s / frame.grid_w),
                                  static_cast<int32_t>(s % frame.grid_w), height, width));
    }
  }

  void pool_planes(const SamplingFrame& frame, const FeatureMap& map, const T* image,
                   int64_t count, T* out) {
    taps_.clear();
    for (int64_t bin = 0; bin < bins_; ++bin) add_taps(frame, map, bin, 0, count);
    const int64_t step = walk(map, 0).step / (map.height * map.width);  // in channels
    kernels_.planes({out, image, map.height * map.width, taps_.data(), count, bins_,
                     out_channels_, step, options_.position_sensitive ? 1 : 0, origins_.data(),
                     kMax});
  }

  // NHWC: every bin's channels in vectors into the [bins, C] tile (taps in chunks of at
  // most kTapChunk, accumulated across chunks), then the tile as the NCHW output block.
  void pool_vectors(const SamplingFrame& frame, const FeatureMap& map, const T* image,
                    int64_t count, T* out) {
    float* tile = scratch_.tile_of(bins_ * out_channels_);
    for (int64_t bin = 0; bin < bins_; ++bin) {
      int64_t chunk = 0;
      do {  // once even for count = 0, which still writes the bin's final value
        const int64_t last = std::min(count, chunk + kTapChunk);
        taps_.clear();
        add_taps(frame, map, bin, chunk, last);
        kernels_.taps({tile + bin * out_channels_, image, taps_.data(),
                       static_cast<int64_t>(taps_.size()), channels_, out_channels_, kMax,
                       chunk == 0, last == count, count, origins_[bin].scale});
        chunk = last;
      } while (chunk < count);
    }
    kernels_.store_transposed(out, tile, bins_, out_channels_);
  }

  void pool_bin(const SamplingFrame& frame, const FeatureMap& map, const T* image, int64_t count,
                int64_t bin, T* out) {
    const ChannelWalk w = walk(map, bin);
    std::fill(acc_.begin(), acc_.end(), reduce_init<kMax>());
    for (int64_t chunk = 0; chunk < count; chunk += kTapChunk) {
      taps_.clear();
      add_taps(frame, map, bin, chunk, std::min(count, chunk + kTapChunk));
      if (map.layout == Layout::kNHWC) {
        accumulate_pixels(image + w.first, w);
      } else {
        accumulate_planes(image + w.first, w);
      }
    }
    for (int64_t c = 0; c < out_channels_; ++c) {
      out[c * bins_ + bin] = from_float<T>(reduce_final<kMax>(acc_[c], count, origins_[bin].scale));
    }
  }

  // acc[c] over the taps, channels innermost (contiguous per pixel in NHWC).
  void accumulate_pixels(const T* first, const ChannelWalk& w) {
    for (const BilinearTaps& t : taps_) {
      for (int64_t c = 0; c < out_channels_; ++c) {
        acc_[c] = reduce_step<kMax>(acc_[c], bilinear_interpolate(first + c * w.step, t, w.pixel));
      }
    }
  }

  // acc[c] over the taps, one plane at a time (NCHW).
  void accumulate_planes(const T* first, const ChannelWalk& w) {
    for (int64_t c = 0; c < out_channels_; ++c) {
      const T* plane = first + c * w.step;
      float a = acc_[c];
      for (const BilinearTaps& t : taps_) {
        a = reduce_step<kMax>(a, bilinear_interpolate(plane, t, 1));
      }
      acc_[c] = a;
    }
  }

  const OpArgs& args_;
  const Geometry& geometry_;
  const BinOptions& options_;
  const CpuKernels& kernels_;
  const int32_t ph_, pw_;
  const int64_t bins_, channels_, out_channels_;
  CpuScratch& scratch_;
  std::vector<BilinearTaps>& taps_;
  std::vector<BinOrigin>& origins_;
  std::vector<float>& acc_;
};

// RoIs in the order they are pooled: grouped by level, so each map is read (and
// copied, if at all) once, and within a level in locality order (roi_order.h);
// `samples` counts the bilinear samples of each level.
struct RoiPlan {
  std::vector<int64_t> order;
  std::vector<int64_t> level_begin;  // level l holds order[level_begin[l] .. level_begin[l+1])
  std::vector<double> samples;       // double: only feeds a threshold, never overflows
};

template <typename Geometry>
RoiPlan plan_rois(const OpArgs& args, const Geometry& geometry, int64_t bins) {
  const auto levels = static_cast<size_t>(args.num_features);
  std::vector<int32_t> level(static_cast<size_t>(args.num_rois));
  std::vector<uint64_t> key(static_cast<size_t>(args.num_rois));
  RoiPlan plan{{}, std::vector<int64_t>(levels + 1, 0), std::vector<double>(levels, 0.)};
  for (int64_t k = 0; k < args.num_rois; ++k) {
    float roi[6];
    load_roi(args.rois, args.rois_dtype, k, geometry.rois_columns(), roi);
    const SamplingFrame frame = geometry(roi);
    const int64_t batch = roi_batch_index(roi[0], args.features[0].batch);
    level[k] = frame.level;
    const float cy = frame.rotated ? frame.center_y : frame.start_y + 0.5f * frame.roi_h;
    const float cx = frame.rotated ? frame.center_x : frame.start_x + 0.5f * frame.roi_w;
    key[k] = locality_key(batch, cy, cx);
    ++plan.level_begin[frame.level + 1];
    if (batch >= 0) {
      plan.samples[frame.level] += static_cast<double>(frame.grid_h) * frame.grid_w * bins;
    }
  }
  for (size_t l = 0; l < levels; ++l) plan.level_begin[l + 1] += plan.level_begin[l];
  std::vector<int64_t> next(plan.level_begin.begin(), plan.level_begin.end() - 1);
  plan.order.resize(level.size());  // counting sort by level, O(K)
  for (int64_t k = 0; k < args.num_rois; ++k) plan.order[next[level[k]]++] = k;
  for (size_t l = 0; l < levels; ++l) {
    sort_by_locality(plan.order.begin() + plan.level_begin[l],
                     plan.order.begin() + plan.level_begin[l + 1], key);
  }
  return plan;
}

}  // namespace detail

// Runs a bilinear op on the CPU: `geometry` maps a RoI row to its SamplingFrame
// (and says how many rois columns it reads), `options` adds mode / PS / deform.
template <typename Geometry>
Status bilinear_pool_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads,
                         const Geometry& geometry, const BinOptions& options) {
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  const int64_t out_channels = args.features[0].channels / (options.position_sensitive ? bins : 1);
  const CpuKernels* kernels = nullptr;
  Status status = select_cpu_kernels(args.dtype, &kernels);
  if (!status.ok()) return status;
  const detail::RoiPlan plan = detail::plan_rois(args, geometry, bins);
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<FeatureMap> maps(args.features, args.features + args.num_features);
    OpArgs local = args;
    local.features = maps.data();
    // Every level worth it is copied first, then all RoIs go to the threads in one
    // loop (level by level in plan order), so no level ends in a barrier with one
    // thread still busy.
    std::vector<ChannelsLastBuffer<T>> copies(static_cast<size_t>(args.num_features));
    for (int32_t l = 0; l < args.num_features; ++l) {
      // Loads: 4 per bilinear sample and output channel.
      if (worth_channels_last(maps[l], 4. * plan.samples[l] * static_cast<double>(out_channels))) {
        try {
          maps[l] = copies[static_cast<size_t>(l)].assign(maps[l], *kernels, num_threads);
        } catch (const std::bad_alloc&) {  // no room for the copy: gather from NCHW
        }
      }
    }
    parallel_for_dynamic(args.num_rois, num_threads, 1, [&](int64_t first, int64_t last) {
      if (options.mode == PoolMode::kMax) {
        detail::RoiPooler<true, T, Geometry> pooler(attrs, local, geometry, options, *kernels);
        for (int64_t i = first; i < last; ++i) pooler.pool(plan.order[i]);
      } else {
        detail::RoiPooler<false, T, Geometry> pooler(attrs, local, geometry, options, *kernels);
        for (int64_t i = first; i < last; ++i) pooler.pool(plan.order[i]);
      }
    });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
