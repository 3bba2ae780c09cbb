// PrRoIPool's box gradient (SPEC 3.8 / 5, mmcv's formulas, which are the exact
// derivative), host and device. Moving a bin edge changes the bin integral by the line
// integral of the surface along that edge and the bin area by the other side; each box
// coordinate moves the bins' edges linearly (x1 moves edge j by 1 - j / pw).
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.h"
#include "prroi_pool/prroi_axis.h"

namespace roipool {

// The (at most two) pixels whose hat covers a bin edge at e and their hat values;
// pixels outside the map have weight 0 (zero padding).
struct PrEdgeTaps {
  int32_t pixel[2];
  double weight[2];
};

ROIPOOL_HD PrEdgeTaps pr_edge_taps(double e, int32_t size) {
  PrEdgeTaps t{{0, 0}, {0., 0.}};
  const double base = floor(e);
  for (int q = 0; q < 2; ++q) {
    const double p = base + q;
    if (p >= 0. && p <= size - 1.) {  // NaN fails
      t.pixel[q] = static_cast<int32_t>(p);
      const double d = 1. - fabs(e - p);
      t.weight[q] = d > 0. ? d : 0.;
    }
  }
  return t;
}

// One channel of one bin: its value and its line integrals along the left / right /
// top / bottom edges, each divided by the bin's extent along the edge (so that all
// four are on the scale of the value).
struct PrBinSums {
  double value, left, right, top, bottom;

  ROIPOOL_HD void add(const PrBinSums& o, double g) {
    value += g * o.value;
    left += g * o.left;
    right += g * o.right;
    top += g * o.top;
    bottom += g * o.bottom;
  }
};

// `v(h, w)`: the map value; `wy(h)`, `wx(w)`: the bin's normalised axis weights
// (PrAxis::weight) over its windows `rows`, `cols`.
template <typename Value, typename WeightY, typename WeightX>
ROIPOOL_HD PrBinSums pr_bin_sums(const PrAxis& y, const PrAxis& x, int32_t i, int32_t j,
                                 const PixelRange& rows, const PixelRange& cols, WeightY wy,
                                 WeightX wx, Value v) {
  const double ya = y.start + i * y.bin, xa = x.start + j * x.bin;
  const PrEdgeTaps top = pr_edge_taps(ya, y.size), bottom = pr_edge_taps(ya + y.bin, y.size);
  const PrEdgeTaps left = pr_edge_taps(xa, x.size), right = pr_edge_taps(xa + x.bin, x.size);
  PrBinSums s{0., 0., 0., 0., 0.};
  for (int32_t h = rows.begin; h < rows.end; ++h) {
    double row = 0.;
    for (int32_t w = cols.begin; w < cols.end; ++w) row += wx(w) * v(h, w);
    const double weight = wy(h);
    s.value += weight * row;
    for (int q = 0; q < 2; ++q) {
      s.left += weight * left.weight[q] * v(h, left.pixel[q]);
      s.right += weight * right.weight[q] * v(h, right.pixel[q]);
    }
  }
  for (int32_t w = cols.begin; w < cols.end; ++w) {
    const double weight = wx(w);
    for (int q = 0; q < 2; ++q) {
      s.top += weight * top.weight[q] * v(top.pixel[q], w);
      s.bottom += weight * bottom.weight[q] * v(bottom.pixel[q], w);
    }
  }
  return s;
}

// Adds bin (i, j)'s d(loss)/d(x1, y1, x2, y2) to d[1..4], from the grad-weighted sums.
ROIPOOL_HD void pr_box_gradient(const PrBinSums& s, const PrAxis& y, const PrAxis& x, int32_t i,
                                int32_t j, int32_t pooled_h, int32_t pooled_w, float scale,
                                double* d) {
  // d out / d edge = +-(line integral / area) -+ out / (bin extent across the edge).
  const double x_lo = (s.value - s.left) / x.bin, x_hi = (s.right - s.value) / x.bin;
  const double y_lo = (s.value - s.top) / y.bin, y_hi = (s.bottom - s.value) / y.bin;
  const double pw = pooled_w, ph = pooled_h;
  d[1] += scale * (x_lo * (1. - j / pw) + x_hi * (1. - (j + 1) / pw));
  d[3] += scale * (x_lo * (j / pw) + x_hi * ((j + 1) / pw));
  d[2] += scale * (y_lo * (1. - i / ph) + y_hi * (1. - (i + 1) / ph));
  d[4] += scale * (y_lo * (i / ph) + y_hi * ((i + 1) / ph));
}

}  // namespace roipool
