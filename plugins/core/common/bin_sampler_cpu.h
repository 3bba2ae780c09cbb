// CPU engine of the bilinear ops: RoIs are split across threads; for each bin the
// sample taps are computed once (in bounded chunks) and reused by every channel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bin_sampler.h"
#include "parallel.h"

namespace roipool {
namespace detail {

// Taps computed per chunk: bounds memory for huge sampling grids (up to 1024 x 1024).
constexpr int64_t kTapChunk = 4096;

// Where the channels of one bin live in one (batch) image of a feature map.
struct ChannelWalk {
  int64_t first;      // element offset of the bin's first input channel
  int64_t step;       // offset between consecutive output channels' input channels
  int64_t pixel;      // offset between horizontally adjacent pixels of a plane
  int64_t count;      // output channels
};

// acc[c] <- reduce over taps of the bilinear value of channel c.
template <bool kMax, typename T>
void accumulate(const T* image, const ChannelWalk& walk, bool channels_inner,
                const std::vector<BilinearTaps>& taps, float* acc) {
  if (!channels_inner) {  // NCHW: one plane at a time, taps innermost
    for (int64_t c = 0; c < walk.count; ++c) {
      const T* plane = image + walk.first + c * walk.step;
      float a = acc[c];
      for (const BilinearTaps& t : taps) {
        a = reduce_step<kMax>(a, bilinear_interpolate(plane, t, walk.pixel));
      }
      acc[c] = a;
    }
    return;
  }
  for (const BilinearTaps& t : taps) {  // NHWC: channels are contiguous per pixel
    const T* plane = image + walk.first;
    for (int64_t c = 0; c < walk.count; ++c) {
      const float value = bilinear_interpolate(plane + c * walk.step, t, walk.pixel);
      acc[c] = reduce_step<kMax>(acc[c], value);
    }
  }
}

// Reduces bin (i, j) of RoI k for every output channel into acc.
template <bool kMax, typename T>
void reduce_bin(const SamplingFrame& frame, const BinOrigin& origin, const FeatureMap& map,
                const T* image, const ChannelWalk& walk, std::vector<BilinearTaps>& taps,
                std::vector<float>& acc) {
  std::fill(acc.begin(), acc.end(), reduce_init<kMax>());
  const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
  const auto height = static_cast<int32_t>(map.height), width = static_cast<int32_t>(map.width);
  for (int64_t chunk = 0; chunk < count; chunk += kTapChunk) {
    taps.clear();
    const int64_t end = std::min(count, chunk + kTapChunk);
    for (int64_t s = chunk; s < end; ++s) {
      taps.push_back(sample_taps(frame, origin, static_cast<int32_t>(s / frame.grid_w),
                                 static_cast<int32_t>(s % frame.grid_w), height, width));
    }
    accumulate<kMax>(image, walk, map.layout == Layout::kNHWC, taps, acc.data());
  }
}

template <bool kMax, typename T, typename Geometry>
void pool_rois(const OpAttrs& attrs, const OpArgs& args, const Geometry& geometry,
               const BinOptions& options, int64_t begin, int64_t end) {
  const int32_t ph = attrs.pooled_h, pw = attrs.pooled_w;
  const int64_t bins = static_cast<int64_t>(ph) * pw;
  const int64_t channels = args.features[0].channels;
  const int64_t out_channels = options.position_sensitive ? channels / bins : channels;
  const int32_t columns = geometry.rois_columns();
  T* output = static_cast<T*>(args.output);
  std::vector<BilinearTaps> taps;
  taps.reserve(kTapChunk);
  std::vector<float> acc(static_cast<size_t>(out_channels));
  for (int64_t k = begin; k < end; ++k) {
    T* out = output + k * out_channels * bins;
    float roi[6];
    load_roi(args.rois, args.rois_dtype, k, columns, roi);
    const int64_t batch = roi_batch_index(roi[0], args.features[0].batch);
    if (batch < 0) {
      std::fill(out, out + out_channels * bins, from_float<T>(0.f));
      continue;
    }
    const SamplingFrame frame = geometry(roi);
    const FeatureMap& map = args.features[frame.level];
    const int64_t plane = map.height * map.width;
    const T* image = static_cast<const T*>(map.data) + batch * channels * plane;
    const bool nhwc = map.layout == Layout::kNHWC;
    for (int32_t i = 0; i < ph; ++i) {
      for (int32_t j = 0; j < pw; ++j) {
        const int64_t bin = static_cast<int64_t>(i) * pw + j;
        const int64_t first_channel = options.position_sensitive ? bin : 0;
        const int64_t channel_step = options.position_sensitive ? bins : 1;
        const ChannelWalk walk{nhwc ? first_channel : first_channel * plane,
                               nhwc ? channel_step : channel_step * plane, nhwc ? channels : 1,
                               out_channels};
        const BinOrigin origin = bin_origin(frame, options, k, i, j, ph, pw);
        reduce_bin<kMax>(frame, origin, map, image, walk, taps, acc);
        const int64_t count = static_cast<int64_t>(frame.grid_h) * frame.grid_w;
        for (int64_t c = 0; c < out_channels; ++c) {
          out[c * bins + bin] = from_float<T>(reduce_final<kMax>(acc[c], count, origin.scale));
        }
      }
    }
  }
}

}  // namespace detail

// Runs a bilinear op on the CPU: `geometry` maps a RoI row to its SamplingFrame
// (and says how many rois columns it reads), `options` adds mode / PS / deform.
template <typename Geometry>
Status bilinear_pool_cpu(const OpAttrs& attrs, const OpArgs& args, int32_t num_threads,
                         const Geometry& geometry, const BinOptions& options) {
  dispatch_host_dtype(args.dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_for(args.num_rois, num_threads, 1, [&](int64_t begin, int64_t end) {
      if (options.mode == PoolMode::kMax) {
        detail::pool_rois<true, T>(attrs, args, geometry, options, begin, end);
      } else {
        detail::pool_rois<false, T>(attrs, args, geometry, options, begin, end);
      }
    });
    return 0;
  });
  return Status::Ok();
}

}  // namespace roipool
