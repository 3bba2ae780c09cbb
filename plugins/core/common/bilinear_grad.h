// Derivatives of the SPEC section 2 bilinear rule (bilinear.h) w.r.t. the sample
// position, for DeformRoIPool's offset gradient (SPEC 5: the exact derivative). A
// coordinate the rule clamps (below 0, at or past the last row / column) or zeroes
// (outside [-1, H]) has derivative 0 along that axis.
#pragma once

#include <cstdint>

#include "bilinear.h"
#include "dtype.h"
#include "macros.h"

namespace roipool {

// Which axes of a sample at (y, x) move the bilinear value.
struct BilinearSlope {
  bool y_live, x_live;
};

ROIPOOL_HD BilinearSlope bilinear_slope(float y, float x, int32_t height, int32_t width) {
  // Written so that NaN fails every test (like bilinear_taps).
  const bool inside = y >= -1.f && y <= static_cast<float>(height) && x >= -1.f &&
                      x <= static_cast<float>(width);
  return {inside && y >= 0.f && y < static_cast<float>(height - 1),
          inside && x >= 0.f && x < static_cast<float>(width - 1)};
}

// d value / dy and d value / dx of the taps on a plane (stride as bilinear_interpolate).
// The weights already hold hx = w00 + w10, lx = w01 + w11, hy = w00 + w01, ly = w10 + w11.
struct BilinearGradient {
  float dy, dx;
};

template <typename T>
ROIPOOL_HD BilinearGradient bilinear_gradient(const T* plane, const BilinearTaps& t,
                                              int64_t stride, const BilinearSlope& s) {
  const float v00 = to_float(plane[t.o00 * stride]), v01 = to_float(plane[t.o01 * stride]);
  const float v10 = to_float(plane[t.o10 * stride]), v11 = to_float(plane[t.o11 * stride]);
  BilinearGradient g{0.f, 0.f};
  if (s.y_live) g.dy = (t.w00 + t.w10) * (v10 - v00) + (t.w01 + t.w11) * (v11 - v01);
  if (s.x_live) g.dx = (t.w00 + t.w01) * (v01 - v00) + (t.w10 + t.w11) * (v11 - v10);
  return g;
}

// *p += v: an atomic add on the device (float32 atomics: the order of additions, and
// so the last bits, may vary between runs), a plain add on the host (the CPU engine
// owns whole planes; the host test of the work items runs them one at a time).
ROIPOOL_HD void add_gradient(float* p, float v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

// Adds `g` times the tap weights to a float plane (the vjp of bilinear_interpolate).
ROIPOOL_HD void bilinear_scatter(float* plane, const BilinearTaps& t, float g) {
  add_gradient(plane + t.o00, t.w00 * g);
  add_gradient(plane + t.o01, t.w01 * g);
  add_gradient(plane + t.o10, t.w10 * g);
  add_gradient(plane + t.o11, t.w11 * g);
}

}  // namespace roipool
