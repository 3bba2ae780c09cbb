// Scheduling shared by the CPU backward engines. The input gradient is split into
// (batch image, channel unit) planes and each task owns whole planes: it zeroes them,
// then adds the contributions of every RoI of that image, in RoI order. No two tasks
// write one element, so there are no races and no atomics, and the result does not
// depend on the thread count. Gradients that belong to one RoI (DeformRoIPool's offset
// and mask, PrRoIPool's box) are a second pass split over RoIs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "dtype.h"
#include "parallel.h"
#include "roipool/common.h"
#include "sampling.h"

namespace roipool {
namespace detail {

// RoIs with a valid batch index grouped by image, each group in index order, and the
// total work of the input-gradient pass per channel unit (to size the tasks).
struct BatchGroups {
  std::vector<int64_t> order, begin;  // image b: order[begin[b] .. begin[b + 1])
  double work = 0.;
};

// `cost(k, roi)`: work of RoI k for one channel unit (e.g. its bilinear samples).
template <typename Cost>
BatchGroups group_by_batch(const OpArgs& args, int32_t columns, Cost&& cost) {
  const int64_t batch = args.features[0].batch;
  BatchGroups g{{}, std::vector<int64_t>(static_cast<size_t>(batch) + 1, 0), 0.};
  std::vector<int64_t> image(static_cast<size_t>(args.num_rois));
  for (int64_t k = 0; k < args.num_rois; ++k) {
    float roi[6];
    for (int32_t c = 0; c < columns; ++c) roi[c] = load_as_float(args.rois, args.rois_dtype, k * columns + c);
    image[k] = roi_batch_index(roi[0], batch);
    if (image[k] < 0) continue;
    ++g.begin[image[k] + 1];
    g.work += cost(k, roi);
  }
  for (int64_t b = 0; b < batch; ++b) g.begin[b + 1] += g.begin[b];
  std::vector<int64_t> next(g.begin.begin(), g.begin.end() - 1);
  g.order.resize(static_cast<size_t>(g.begin[batch]));
  for (int64_t k = 0; k < args.num_rois; ++k) {
    if (image[k] >= 0) g.order[next[image[k]]++] = k;
  }
  return g;
}

// A task should do at least this much work (taps x channels): below it, starting a
// thread costs more than the work.
constexpr double kMinTaskWork = 1 << 15;

// Calls fn(b, first, last) on disjoint ranges of channel units [first, last) of image
// b covering batch x units, from up to num_threads tasks.
template <typename Fn>
void parallel_over_planes(int64_t batch, int64_t units, double work, int32_t num_threads,
                          Fn&& fn) {
  const double per_unit = work / static_cast<double>(std::max<int64_t>(1, batch * units));
  const auto grain = static_cast<int64_t>(
      std::min<double>(static_cast<double>(batch * units), kMinTaskWork / std::max(per_unit, 1.)));
  parallel_for(batch * units, num_threads, std::max<int64_t>(1, grain),
               [&](int64_t begin, int64_t end) {
                 while (begin < end) {
                   const int64_t b = begin / units, first = begin % units;
                   const int64_t last = std::min(units, first + (end - begin));
                   fn(b, first, last);
                   begin += last - first;
                 }
               });
}

// Zeroes channels [first, last) of image b of an NCHW float gradient of `map`'s shape.
inline void zero_channels(float* grad, const FeatureMap& map, int64_t b, int64_t first,
                          int64_t last) {
  const int64_t plane = map.height * map.width;
  std::fill(grad + (b * map.channels + first) * plane, grad + (b * map.channels + last) * plane,
            0.f);
}

// Where the values of channel `channel` of image b of `map` lie: element i of the
// plane is plane[i * stride] (NCHW or NHWC); nullptr when the data is absent.
template <typename T>
const T* channel_plane(const FeatureMap& map, int64_t b, int64_t channel, int64_t* stride) {
  if (map.data == nullptr) return nullptr;
  const T* image = static_cast<const T*>(map.data) + b * map.channels * map.height * map.width;
  if (map.layout == Layout::kNHWC) {
    *stride = map.channels;
    return image + channel;
  }
  *stride = 1;
  return image + channel * map.height * map.width;
}

}  // namespace detail
}  // namespace roipool
