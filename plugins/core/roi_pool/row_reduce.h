// Reductions of one contiguous row of pixels for the CPU kernels of RoIPool,
// PSRoIPool and PrRoIPool. Four independent accumulators keep several loads in flight
// and let the compiler vectorise (it may not reassociate one float sum by itself).
#pragma once

#include <cmath>
#include <cstdint>

#include "dtype.h"

namespace roipool {

// max (-inf for n = 0; NaN values are skipped, as in torchvision) or sum of row[0, n).
template <bool kMax, typename T>
float reduce_row(const T* row, int32_t n) {
  const auto step = [](float acc, float v) {
    if (kMax) return v > acc ? v : acc;
    return acc + v;
  };
  const float init = kMax ? -INFINITY : 0.f;
  float a0 = init, a1 = init, a2 = init, a3 = init;
  int32_t w = 0;
  for (; w + 4 <= n; w += 4) {
    a0 = step(a0, to_float(row[w]));
    a1 = step(a1, to_float(row[w + 1]));
    a2 = step(a2, to_float(row[w + 2]));
    a3 = step(a3, to_float(row[w + 3]));
  }
  for (; w < n; ++w) a0 = step(a0, to_float(row[w]));
  return step(step(a0, a1), step(a2, a3));
}

// sum of weight[w] * row[w] over [0, n).
template <typename T>
float weighted_row_sum(const float* weight, const T* row, int32_t n) {
  float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
  int32_t w = 0;
  for (; w + 4 <= n; w += 4) {
    a0 += weight[w] * to_float(row[w]);
    a1 += weight[w + 1] * to_float(row[w + 1]);
    a2 += weight[w + 2] * to_float(row[w + 2]);
    a3 += weight[w + 3] * to_float(row[w + 3]);
  }
  for (; w < n; ++w) a0 += weight[w] * to_float(row[w]);
  return (a0 + a1) + (a2 + a3);
}

}  // namespace roipool
