// Part of the bilinear backward shared by the CPU engine (bin_sampler_backward_cpu.h)
// and the CUDA work items (bin_sampler_backward_device.h): how a bin's channel sums
// become DeformRoIPool's offset and mask gradients.
#pragma once

#include <cstdint>

#include "bilinear_grad.h"
#include "bin_sampler.h"
#include "macros.h"

namespace roipool {

// Sums over channels and samples of one bin: grad * value, grad * d value / dy, dx.
struct DeformSums {
  float value, dy, dx;
};

// Writes bin `bin` of RoI k's mask and offset gradients (either may be absent). The
// bin is mask * mean(samples) with samples shifted by gamma * roi extent * offset.
ROIPOOL_HD void write_deform_gradients(const DeformSums& s, const SamplingFrame& frame,
                                       const BinOrigin& origin, float gamma, int64_t count,
                                       int64_t k, int64_t bin, int64_t bins, float* grad_offset,
                                       float* grad_mask) {
  const float inv = 1.f / static_cast<float>(count > 1 ? count : 1);
  if (grad_mask != nullptr) grad_mask[k * bins + bin] = s.value * inv;
  if (grad_offset != nullptr) {
    const float factor = inv * origin.scale * gamma;
    grad_offset[(k * 2) * bins + bin] = s.dx * factor * frame.roi_w;
    grad_offset[(k * 2 + 1) * bins + bin] = s.dy * factor * frame.roi_h;
  }
}

}  // namespace roipool
