// The vector inner loops of the CPU engines, selected at run time by instruction set.
// Each loop runs over the channels of channels-last (NHWC) pixels with per-pixel
// weights shared by every channel, so vectors span channels. The loops are written
// once (cpu_kernels_impl.h) and compiled per ISA: baseline (whatever the compiler's
// default target vectorises to: SSE2 on x86-64, NEON on aarch64), AVX2+FMA+F16C and
// AVX-512 (F/BW/VL/DQ), each in its own translation unit with its target flags.
#pragma once

#include <cstdint>

#include "bilinear.h"
#include "bin_sampler.h"
#include "roipool/common.h"

namespace roipool {

enum class CpuIsa : int32_t { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// One bin of a bilinear op: acc[c] over the bin's taps, channel c of tap pixel p at
// first[p * pixel_stride + c], c in [0, channels).
struct TapRun {
  float* acc;
  const void* first;  // element type: the kernel table's dtype
  const BilinearTaps* taps;
  int64_t num_taps;
  int64_t pixel_stride;
  int64_t channels;
  bool max;     // reduce by max (else sum)
  bool start;   // acc starts at the reduction's initial value (else continues)
  bool finish;  // then acc = reduce_final(acc, count, scale) (bin_sampler.h)
  int64_t count;
  float scale;
};

// One bin of a pixel-bin op (RoIPool): acc[c] = max or mean over a rows x cols window
// whose pixel (h, w) channel c is first[h * row_stride + w * pixel_stride + c]; an
// empty window gives 0 (PixelReducer::result).
struct PixelRun {
  float* acc;
  const void* first;
  int64_t row_stride, pixel_stride, channels;
  int32_t rows, cols;
  bool max;
};

// All bins of one bilinear RoI on an NCHW map (a map too small to be worth a
// channels-last copy): out[c * bins + b] = reduce_final over the `count` taps of bin b
// (taps[b * count ...]) on plane c * channel_step + b * bin_step (PS: bins, 1; else 1, 0).
// Scalar code per ISA: its gain is the ISA's fp16 conversion (F16C).
struct PlaneRun {
  void* out;
  const void* image;  // channel 0 of the image
  int64_t plane;      // H * W
  const BilinearTaps* taps;
  int64_t count, bins, channels;
  int64_t channel_step, bin_step;
  const BinOrigin* origins;  // .scale: the bin's final factor
  bool max;
};

struct CpuKernels {
  void (*taps)(const TapRun& run);
  void (*pixels)(const PixelRun& run);
  void (*planes)(const PlaneRun& run);
  // out[c * bins + b] = tile[b * channels + c], converted to the dtype: the [bins, C]
  // accumulators of one RoI written as its NCHW output block, through a small
  // transpose tile so that the output is written in whole vectors.
  void (*store_transposed)(void* out, const float* tile, int64_t bins, int64_t channels);
  // dst[p * channels + c] = src[c * plane + p] for pixels p in [p0, p1) of one image:
  // the channels-last copy (channels_last.h), moved in register-transposed 8 x 8 blocks.
  void (*to_channels_last)(void* dst, const void* src, int64_t channels, int64_t plane,
                           int64_t p0, int64_t p1);
  CpuIsa isa;
};

// The kernels for `dtype` at the ISA forward_cpu uses now: ROIPOOL_CPU_ISA
// (baseline | avx2 | avx512) when set, else the best this CPU and build support.
// InvalidArgument when the variable names an unknown level or one unavailable here.
Status select_cpu_kernels(DType dtype, const CpuKernels** kernels);

// Name of a level ("baseline", "avx2", "avx512").
const char* cpu_isa_name(CpuIsa isa);

// Per-ISA tables (cpu_kernels_<isa>.cpp); the x86 ones exist only in x86 builds.
namespace isa_baseline {
const CpuKernels* kernels(DType dtype);
}
namespace isa_avx2 {
const CpuKernels* kernels(DType dtype);
}
namespace isa_avx512 {
const CpuKernels* kernels(DType dtype);
}

}  // namespace roipool
