// Storage types and float conversions for fp16 / bf16, usable on host and device.
// Accumulation is always float32 (SPEC section 2); these only load and store.
#pragma once

#include <cstdint>
#include <cstring>

#include "macros.h"
#include "roipool/common.h"

namespace roipool {

// 16-bit storage wrappers for the CPU kernels (CUDA kernels may use __half /
// __nv_bfloat16, which have the same bit layout).
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

ROIPOOL_HD float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
#endif
}

ROIPOOL_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
#endif
}

// Exact for every input. Host: branch-free (the magnitude's bits placed as a float and
// rebiased by 2^112, exact also for subnormal halves; inf / NaN get the top exponent),
// so the CPU kernels' loops stay vectorisable; device: the classic branches.
ROIPOOL_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));  // inf/nan
  if (exponent != 0) return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_to_float(sign);
  // Subnormal half: value = mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign ? -magnitude : magnitude;
#else
  uint32_t bits = float_to_bits(bits_to_float(static_cast<uint32_t>(h & 0x7fffu) << 13) * 0x1p112f);
  bits |= (h & 0x7c00u) == 0x7c00u ? 0x7f800000u : 0u;
  return bits_to_float(bits | static_cast<uint32_t>(h & 0x8000u) << 16);
#endif
}

// Round to nearest even, with overflow to inf and NaN preserved.
ROIPOOL_HD uint16_t float_to_half(float f) {
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {  // subnormal or zero in half
    const float scaled = bits_to_float(abs) * 16777216.0f;  // * 2^24, exact
    // Round half to even on the integer part.
    uint32_t q = static_cast<uint32_t>(scaled);
    const float rem = scaled - static_cast<float>(q);
    if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

ROIPOOL_HD float bfloat16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

ROIPOOL_HD uint16_t float_to_bfloat16(float f) {
  const uint32_t x = float_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

ROIPOOL_HD float to_float(float v) { return v; }
ROIPOOL_HD float to_float(Half v) { return half_to_float(v.bits); }
ROIPOOL_HD float to_float(BFloat16 v) { return bfloat16_to_float(v.bits); }

template <typename T>
ROIPOOL_HD T from_float(float v);
template <>
ROIPOOL_HD float from_float<float>(float v) { return v; }
template <>
ROIPOOL_HD Half from_float<Half>(float v) { return Half{float_to_half(v)}; }
template <>
ROIPOOL_HD BFloat16 from_float<BFloat16>(float v) { return BFloat16{float_to_bfloat16(v)}; }

// Element `index` of a buffer of runtime dtype `dtype`, as float (used for rois,
// whose dtype may differ from the features').
ROIPOOL_HD float load_as_float(const void* data, DType dtype, int64_t index) {
  switch (dtype) {
    case DType::kFloat16:
      return half_to_float(static_cast<const uint16_t*>(data)[index]);
    case DType::kBFloat16:
      return bfloat16_to_float(static_cast<const uint16_t*>(data)[index]);
    default:
      return static_cast<const float*>(data)[index];
  }
}

inline size_t dtype_size(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

// Calls f(T{}) with T the host storage type of `dtype`.
template <typename F>
auto dispatch_host_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat16:
      return f(Half{});
    case DType::kBFloat16:
      return f(BFloat16{});
    default:
      return f(float{});
  }
}

}  // namespace roipool
