// The bilinear sampling rule of SPEC section 2, written once for every bilinear op
// (RoIAlign, RoIWarp, PSRoIAlign, DeformRoIPool, MultiScaleRoIAlign, RoIAlignRotated).
#pragma once

#include <cmath>
#include <cstdint>

#include "dtype.h"
#include "macros.h"

namespace roipool {

// Four taps of one sample: flat offsets (y * W + x) into an H x W plane and weights.
// An invalid sample has all weights 0 and offsets 0, so callers may accumulate it
// without a branch and never read out of bounds.
struct BilinearTaps {
  int32_t o00, o01, o10, o11;
  float w00, w01, w10, w11;
};

ROIPOOL_HD BilinearTaps bilinear_taps(float y, float x, int32_t height, int32_t width) {
  BilinearTaps t{0, 0, 0, 0, 0.f, 0.f, 0.f, 0.f};
  // Written so that NaN fails the test (SPEC section 2).
  if (!(y >= -1.f && y <= static_cast<float>(height) && x >= -1.f &&
        x <= static_cast<float>(width))) {
    return t;
  }
  y = y < 0.f ? 0.f : y;
  x = x < 0.f ? 0.f : x;
  int32_t y0 = static_cast<int32_t>(y);
  int32_t x0 = static_cast<int32_t>(x);
  int32_t y1, x1;
  if (y0 >= height - 1) {
    y0 = y1 = height - 1;
    y = static_cast<float>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= width - 1) {
    x0 = x1 = width - 1;
    x = static_cast<float>(x0);
  } else {
    x1 = x0 + 1;
  }
  const float ly = y - static_cast<float>(y0), lx = x - static_cast<float>(x0);
  const float hy = 1.f - ly, hx = 1.f - lx;
  t.o00 = y0 * width + x0;
  t.o01 = y0 * width + x1;
  t.o10 = y1 * width + x0;
  t.o11 = y1 * width + x1;
  t.w00 = hy * hx;
  t.w01 = hy * lx;
  t.w10 = ly * hx;
  t.w11 = ly * lx;
  return t;
}

// Value of the taps on a plane whose element i is plane[i * stride] (stride = 1 for
// NCHW, = C for NHWC); T is any type with to_float().
template <typename T>
ROIPOOL_HD float bilinear_interpolate(const T* plane, const BilinearTaps& t, int64_t stride) {
  return t.w00 * to_float(plane[t.o00 * stride]) + t.w01 * to_float(plane[t.o01 * stride]) +
         t.w10 * to_float(plane[t.o10 * stride]) + t.w11 * to_float(plane[t.o11 * stride]);
}

}  // namespace roipool
