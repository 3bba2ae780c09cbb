// CPU backward of the bilinear ops on the same sampling engine as the forward
// (bin_sampler.h): the taps a forward sample reads are exactly where its gradient goes.
//  - input: each task owns (image, output channels) planes (backward_cpu.h) and, per
//    RoI of its image, computes the taps once and scatters every channel's gradient;
//    `max` recomputes each bin's maximum and sends the whole gradient to the FIRST
//    maximal sample in scan order (iy-major, then ix; mmcv), never splitting ties;
//  - DeformRoIPool offset / mask: a second pass over RoIs (each owns its rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backward_cpu.h"
#include "bilinear_grad.h"
#include "bin_sampler.h"
#include "bin_sampler_backward.h"

namespace roipool {
namespace detail {

// Taps held at once: bounds scratch memory for huge sampling grids (up to 1024 x 1024).
constexpr int64_t kBackwardTapChunk = 4096;
// Taps of a group of RoIs walked channel by channel (4 MiB of taps per task).
constexpr int64_t kGroupTaps = int64_t{1} << 17;

template <typename T, typename Geometry>
class BinBackward {
 public:
  BinBackward(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
              const Geometry& geometry, const BinOptions& options)
      : args_(args), grads_(grads), geometry_(geometry), options_(options), ph_(attrs.pooled_h),
        pw_(attrs.pooled_w), bins_(static_cast<int64_t>(ph_) * pw_),
        channels_(args.features[0].channels),
        out_channels_(options.position_sensitive ? channels_ / bins_ : channels_) {
    taps_.reserve(kBackwardTapChunk);
  }

  int64_t out_channels() const { return out_channels_; }

  enum class Added { kYes, kFull, kLarge };

  // Adds RoI k's taps to the group (kFull: no room left, flush first; kLarge: more taps
  // than one table holds, so scatter_large handles it alone). An empty grid adds nothing.
  Added add(int64_t k) {
    const SamplingFrame frame = this->frame(k);
    const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
    if (count == 0) return Added::kYes;
    if (count * bins_ > kBackwardTapChunk) return Added::kLarge;
    if (static_cast<int64_t>(group_taps_.size()) + count * bins_ > kGroupTaps) return Added::kFull;
    const FeatureMap& map = args_.features[frame.level];
    set_origins(frame, k);
    group_.push_back({k, static_cast<int64_t>(group_taps_.size()), count, frame.level});
    for (int64_t bin = 0; bin < bins_; ++bin) {
      group_scales_.push_back(origins_[bin].scale);
      for (int64_t s = 0; s < count; ++s) {
        const SamplePoint p = point(frame, bin, s);
        group_taps_.push_back(bilinear_taps(p.y, p.x, static_cast<int32_t>(map.height),
                                            static_cast<int32_t>(map.width)));
      }
    }
    return Added::kYes;
  }

  void clear_group() {
    group_.clear();
    group_taps_.clear();
    group_scales_.clear();
  }

  // Adds output channel c's gradient of every RoI of the group (all of image b): one
  // channel's planes stay in cache for the whole group.
  void scatter_group(int64_t b, int64_t c) {
    for (size_t i = 0; i < group_.size(); ++i) {
      const Loaded& roi = group_[i];
      const FeatureMap& map = args_.features[roi.level];
      const int64_t plane = map.height * map.width;
      float* grad = grads_.grad_features[roi.level] + b * channels_ * plane;
      const float* scales = group_scales_.data() + i * bins_;
      for (int64_t bin = 0; bin < bins_; ++bin) {
        const int64_t channel = input_channel(c, bin);
        const float g = grad_out(roi.k, c, bin) * scales[bin];
        const BilinearTaps* t = group_taps_.data() + roi.first_tap + bin * roi.count;
        if (options_.mode == PoolMode::kMax) {
          int64_t stride = 1;
          const T* values = channel_plane<T>(map, b, channel, &stride);
          const int64_t s = first_max(values, stride, t, roi.count);
          if (s >= 0) bilinear_scatter(grad + channel * plane, t[s], g);
        } else {
          const float share = g / static_cast<float>(roi.count);
          for (int64_t s = 0; s < roi.count; ++s) {
            bilinear_scatter(grad + channel * plane, t[s], share);
          }
        }
      }
    }
  }

  // Adds the input gradient of a RoI whose taps do not fit one table (of image b) to
  // output channels [first, last): bin by bin, taps in chunks.
  void scatter_large(int64_t k, int64_t b, int64_t first, int64_t last) {
    const SamplingFrame frame = this->frame(k);
    const FeatureMap& map = args_.features[frame.level];
    float* grad = grads_.grad_features[frame.level] + b * channels_ * map.height * map.width;
    set_origins(frame, k);
    for (int64_t bin = 0; bin < bins_; ++bin) scatter_bin(frame, map, k, b, bin, first, last, grad);
  }

  // Writes the offset and mask gradients of RoI k (DeformRoIPool).
  void offset_mask(int64_t k) {
    float roi[6];
    load_roi(args_.rois, args_.rois_dtype, k, geometry_.rois_columns(), roi);
    const int64_t b = roi_batch_index(roi[0], args_.features[0].batch);
    const SamplingFrame frame = geometry_(roi);
    const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
    const FeatureMap& map = args_.features[frame.level];
    set_origins(frame, k);
    for (int64_t bin = 0; bin < bins_; ++bin) {
      DeformSums sums{0.f, 0.f, 0.f};
      if (b >= 0) {
        for (int64_t chunk = 0; chunk < count; chunk += kBackwardTapChunk) {
          const int64_t n = std::min(count - chunk, kBackwardTapChunk);
          taps_.clear();
          slopes_.clear();
          for (int64_t s = chunk; s < chunk + n; ++s) {
            const SamplePoint p = point(frame, bin, s);
            const auto h = static_cast<int32_t>(map.height), w = static_cast<int32_t>(map.width);
            taps_.push_back(bilinear_taps(p.y, p.x, h, w));
            slopes_.push_back(bilinear_slope(p.y, p.x, h, w));
          }
          for (int64_t c = 0; c < out_channels_; ++c) {
            const float g = grad_out(k, c, bin);
            int64_t stride = 1;
            const T* values = channel_plane<T>(map, b, input_channel(c, bin), &stride);
            float v = 0.f, dy = 0.f, dx = 0.f;
            for (int64_t s = 0; s < n; ++s) {
              v += bilinear_interpolate(values, taps_[s], stride);
              const BilinearGradient d = bilinear_gradient(values, taps_[s], stride, slopes_[s]);
              dy += d.dy;
              dx += d.dx;
            }
            sums.value += g * v;
            sums.dy += g * dy;
            sums.dx += g * dx;
          }
        }
      }
      write_deform_gradients(sums, frame, origins_[bin], options_.gamma, count, k, bin, bins_,
                             grads_.grad_offset, grads_.grad_mask);
    }
  }

 private:
  SamplingFrame frame(int64_t k) const {
    float roi[6];
    load_roi(args_.rois, args_.rois_dtype, k, geometry_.rois_columns(), roi);
    return geometry_(roi);
  }

  void set_origins(const SamplingFrame& frame, int64_t k) {
    origins_.clear();
    for (int32_t i = 0; i < ph_; ++i) {
      for (int32_t j = 0; j < pw_; ++j) origins_.push_back(bin_origin(frame, options_, k, i, j, ph_, pw_));
    }
  }

  SamplePoint point(const SamplingFrame& frame, int64_t bin, int64_t s) const {
    return sample_point(frame, origins_[bin], static_cast<int32_t>(s / frame.grid_w),
                        static_cast<int32_t>(s % frame.grid_w));
  }

  void add_taps(const SamplingFrame& frame, const FeatureMap& map, int64_t bin, int64_t first,
                int64_t last) {
    for (int64_t s = first; s < last; ++s) {
      const SamplePoint p = point(frame, bin, s);
      taps_.push_back(bilinear_taps(p.y, p.x, static_cast<int32_t>(map.height),
                                    static_cast<int32_t>(map.width)));
    }
  }

  int64_t input_channel(int64_t c, int64_t bin) const {
    return options_.position_sensitive ? c * bins_ + bin : c;
  }

  float grad_out(int64_t k, int64_t c, int64_t bin) const {
    return to_float(static_cast<const T*>(grads_.grad_output)[(k * out_channels_ + c) * bins_ + bin]);
  }

  // Index of the first sample whose value is the bin's maximum (the forward's `>` scan:
  // NaN never wins), or -1 when none beats -inf.
  static int64_t first_max(const T* values, int64_t stride, const BilinearTaps* t, int64_t n,
                           float* best = nullptr) {
    float top = best != nullptr ? *best : -INFINITY;
    int64_t at = -1;
    for (int64_t s = 0; s < n; ++s) {
      const float v = bilinear_interpolate(values, t[s], stride);
      if (v > top) {
        top = v;
        at = s;
      }
    }
    if (best != nullptr) *best = top;
    return at;
  }

  // One bin whose taps do not fit at once: chunk by chunk, channels inside.
  void scatter_bin(const SamplingFrame& frame, const FeatureMap& map, int64_t k, int64_t b,
                   int64_t bin, int64_t first, int64_t last, float* grad) {
    const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
    const int64_t plane = map.height * map.width;
    const bool max = options_.mode == PoolMode::kMax;
    if (max) {
      best_value_.assign(static_cast<size_t>(last - first), -INFINITY);
      best_tap_.assign(static_cast<size_t>(last - first), BilinearTaps{});
      found_.assign(static_cast<size_t>(last - first), 0);
    }
    for (int64_t chunk = 0; chunk < count; chunk += kBackwardTapChunk) {
      const int64_t n = std::min(count - chunk, kBackwardTapChunk);
      taps_.clear();
      add_taps(frame, map, bin, chunk, chunk + n);
      for (int64_t c = first; c < last; ++c) {
        const int64_t channel = input_channel(c, bin);
        if (max) {
          int64_t stride = 1;
          const T* values = channel_plane<T>(map, b, channel, &stride);
          const auto i = static_cast<size_t>(c - first);
          const int64_t s = first_max(values, stride, taps_.data(), n, &best_value_[i]);
          if (s >= 0) {
            best_tap_[i] = taps_[s];
            found_[i] = 1;
          }
        } else {
          const float share = grad_out(k, c, bin) * origins_[bin].scale / static_cast<float>(count);
          for (int64_t s = 0; s < n; ++s) bilinear_scatter(grad + channel * plane, taps_[s], share);
        }
      }
    }
    if (!max) return;
    for (int64_t c = first; c < last; ++c) {
      const auto i = static_cast<size_t>(c - first);
      if (found_[i]) {
        bilinear_scatter(grad + input_channel(c, bin) * plane, best_tap_[i],
                         grad_out(k, c, bin) * origins_[bin].scale);
      }
    }
  }

  const OpArgs& args_;
  const GradArgs& grads_;
  const Geometry& geometry_;
  const BinOptions& options_;
  const int32_t ph_, pw_;
  const int64_t bins_, channels_, out_channels_;
  // A RoI of the group: where its taps start in group_taps_ and its samples per bin.
  struct Loaded {
    int64_t k, first_tap, count;
    int32_t level;
  };

  std::vector<Loaded> group_;
  std::vector<BilinearTaps> group_taps_;
  std::vector<float> group_scales_;  // per RoI and bin: the mask factor (else 1)
  std::vector<BilinearTaps> taps_;
  std::vector<BinOrigin> origins_;
  std::vector<BilinearSlope> slopes_;
  std::vector<float> best_value_;
  std::vector<BilinearTaps> best_tap_;
  std::vector<char> found_;
};

}  // namespace detail

// Backward of a bilinear op on the CPU; same geometry / options as bilinear_pool_cpu.
template <typename Geometry>
Status bilinear_backward_cpu(const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                             int32_t num_threads, const Geometry& geometry,
                             const BinOptions& options) {
  const int64_t bins = static_cast<int64_t>(attrs.pooled_h) * attrs.pooled_w;
  const detail::BatchGroups groups =
      detail::group_by_batch(args, geometry.rois_columns(), [&](int64_t, const float* roi) {
        const SamplingFrame f = geometry(roi);
        return static_cast<double>(f.grid_h) * f.grid_w * static_cast<double>(bins);
      });
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t units = detail::BinBackward<T, Geometry>(attrs, args, grads, geometry, options)
                              .out_channels();
    const int64_t per_unit = options.position_sensitive ? bins : 1;  // input channels
    detail::parallel_over_planes(
        args.features[0].batch, units, groups.work, num_threads,
        [&](int64_t b, int64_t first, int64_t last) {
          for (int32_t l = 0; l < args.num_features; ++l) {
            detail::zero_channels(grads.grad_features[l], args.features[l], b, first * per_unit,
                                  last * per_unit);
          }
          // Channel by channel over groups of RoIs, so one channel's gradient and input
          // planes stay in cache while every RoI of the group adds to them.
          detail::BinBackward<T, Geometry> pass(attrs, args, grads, geometry, options);
          using Added = typename detail::BinBackward<T, Geometry>::Added;
          const auto flush = [&] {
            for (int64_t c = first; c < last; ++c) pass.scatter_group(b, c);
            pass.clear_group();
          };
          for (int64_t r = groups.begin[b]; r < groups.begin[b + 1]; ++r) {
            const int64_t k = groups.order[r];
            Added added = pass.add(k);
            if (added == Added::kFull) {
              flush();
              added = pass.add(k);  // fits an empty group (kBackwardTapChunk < kGroupTaps)
            }
            if (added == Added::kLarge) pass.scatter_large(k, b, first, last);
          }
          flush();
        });
    if (grads.grad_offset != nullptr || grads.grad_mask != nullptr) {
      parallel_for(args.num_rois, num_threads, 1, [&](int64_t first, int64_t last) {
        detail::BinBackward<T, Geometry> pass(attrs, args, grads, geometry, options);
        for (int64_t k = first; k < last; ++k) pass.offset_mask(k);
      });
    }
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
