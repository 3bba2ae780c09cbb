// The CPU vector loops, written once over a small vector layer and included by one
// translation unit per ISA (cpu_kernels_<isa>.cpp), which defines ROIPOOL_ISA_NS and
// is compiled with that ISA's target flags. Everything here has internal linkage and
// calls no inline function of other headers: an out-of-line copy of such a function
// built with AVX-512 flags could otherwise be the one the linker keeps for the whole
// library, and crash on a CPU without AVX-512.
//
// Accuracy: float32 accumulation as everywhere (SPEC 2), with the scalar paths'
// operations in their order (no FMA), so every level's results are bit-identical to
// the scalar code's; max keeps the rule `v > acc ? v : acc` (vmaxps has that NaN rule). fp16 loads and stores use F16C's
// conversions (round to nearest even, as dtype.h), bf16 a shift and the same integer
// round-to-nearest-even as dtype.h.
#if !defined(ROIPOOL_ISA_NS) || !defined(ROIPOOL_ISA_LEVEL)
#error "define ROIPOOL_ISA_NS and ROIPOOL_ISA_LEVEL before including cpu_kernels_impl.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 flags the deliberately undefined registers inside its own AVX-512 intrinsics
// (_mm512_undefined_*) as maybe-uninitialised; the warning is about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

#include "cpu_kernels.h"
#include "dtype.h"

namespace roipool {
namespace ROIPOOL_ISA_NS {
namespace {

// The level this unit stands for (its vector layer follows the compiler's target: a
// baseline unit built with -march=native uses AVX code, and is still "baseline").
constexpr CpuIsa kIsa = ROIPOOL_ISA_LEVEL;

// ---- 8-lane stores (AVX2 and AVX-512 units): 8 floats converted to the dtype ----------
#if defined(__AVX2__)
inline void store8(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void store8(Half* p, __m256 v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline void store8(BFloat16* p, __m256 v) {  // dtype.h's float_to_bfloat16, 8 lanes
  const __m256i x = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), odd), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  // abs > 0x7f800000 as signed compare: abs < 2^31, so signed order is unsigned order.
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  const __m256i bits = _mm256_blendv_epi8(rounded, quiet, nan);
  // 8 x 32-bit lanes (each < 2^16) -> 8 x 16-bit.
  const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(bits),
                                          _mm256_extracti128_si256(bits, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
}
#endif

// ---- vector layer: V holds kLanes floats ------------------------------------------
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
using V = __m512;
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline V vload(const Half* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline V vload(const BFloat16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline void vstore(Half* p, V v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline void vstore(BFloat16* p, V v) {  // two 8-lane halves (outputs only: not a hot path)
  store8(p, _mm512_castps512_ps256(v));
  store8(p + 8, _mm512_extractf32x8_ps(v, 1));
}
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
inline V vmax(V v, V acc) { return _mm512_max_ps(v, acc); }  // v > acc ? v : acc
#elif defined(__AVX2__)
constexpr int64_t kLanes = 8;
using V = __m256;
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline V vload(const Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline V vload(const BFloat16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
inline void vstore(float* p, V v) { store8(p, v); }
inline void vstore(Half* p, V v) { store8(p, v); }
inline void vstore(BFloat16* p, V v) { store8(p, v); }
inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
inline V vmax(V v, V acc) { return _mm256_max_ps(v, acc); }  // v > acc ? v : acc
#else
// Portable: plain arrays in loops the compiler's default target vectorises (SSE2,
// NEON); conversions are dtype.h's, which this unit (default flags) may call.
constexpr int64_t kLanes = 8;
struct V {
  float v[kLanes];
};
inline V vset1(float x) {
  V r;
  for (int64_t i = 0; i < kLanes; ++i) r.v[i] = x;
  return r;
}
inline float lane_load(float x) { return x; }
#if defined(__aarch64__)
inline float lane_load(Half x) {  // hardware fcvt
  __fp16 h;
  std::memcpy(&h, &x.bits, sizeof(h));
  return static_cast<float>(h);
}
#else
inline float lane_load(Half x) { return half_to_float(x.bits); }  // branch-free on the host
#endif
inline float lane_load(BFloat16 x) {
  const uint32_t bits = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
template <typename T>
inline V vload(const T* p) {
  V r;
  for (int64_t i = 0; i < kLanes; ++i) r.v[i] = lane_load(p[i]);
  return r;
}
template <typename T>
inline void vstore(T* p, V a) {
  for (int64_t i = 0; i < kLanes; ++i) p[i] = from_float<T>(a.v[i]);
}
inline V vmul(V a, V b) {
  for (int64_t i = 0; i < kLanes; ++i) a.v[i] *= b.v[i];
  return a;
}
inline V vadd(V a, V b) {
  for (int64_t i = 0; i < kLanes; ++i) a.v[i] += b.v[i];
  return a;
}
inline V vdiv(V a, V b) {
  for (int64_t i = 0; i < kLanes; ++i) a.v[i] /= b.v[i];
  return a;
}
inline V vmax(V v, V acc) {
  for (int64_t i = 0; i < kLanes; ++i) acc.v[i] = v.v[i] > acc.v[i] ? v.v[i] : acc.v[i];
  return acc;
}
#endif

// Scalar loads (the NCHW plane loop): the ISA's own conversions.
inline float sload(const float* p) { return *p; }
inline float sload(const BFloat16* p) {
  const uint32_t bits = static_cast<uint32_t>(p->bits) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
#if defined(__AVX2__)
inline float sload(const Half* p) { return _cvtsh_ss(p->bits); }
#elif defined(__aarch64__)
inline float sload(const Half* p) {
  __fp16 h;
  std::memcpy(&h, &p->bits, sizeof(h));
  return static_cast<float>(h);
}
#else
inline float sload(const Half* p) { return half_to_float(p->bits); }
#endif

// Scalar stores (the NCHW plane loop's outputs): the ISA's own conversions, the same
// roundings as the vector stores (dtype.h's).
inline void sstore(float* p, float v) { *p = v; }
inline void sstore(BFloat16* p, float v) {
  uint32_t x;
  std::memcpy(&x, &v, sizeof(x));
  p->bits = (x & 0x7fffffffu) > 0x7f800000u ? static_cast<uint16_t>((x >> 16) | 0x40u)
                                             : static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
#if defined(__AVX2__)
inline void sstore(Half* p, float v) {
  p->bits = static_cast<uint16_t>(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#elif defined(__aarch64__)
inline void sstore(Half* p, float v) {
  const __fp16 h = static_cast<__fp16>(v);
  std::memcpy(&p->bits, &h, sizeof(h));
}
#else
inline void sstore(Half* p, float v) { *p = from_float<Half>(v); }
#endif

// The first n < kLanes lanes, through a zero-padded buffer (channel tails).
template <typename T>
inline V vload_part(const T* p, int64_t n) {
  T buffer[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) buffer[i] = p[i];
  return vload(buffer);
}
template <typename T>
inline void vstore_part(T* p, V v, int64_t n) {
  T buffer[kLanes];
  vstore(buffer, v);
  for (int64_t i = 0; i < n; ++i) p[i] = buffer[i];
}
// Masked loads where the ISA has them: the same lanes (the rest zero) without the
// buffer's round trip, which dominated maps of fewer channels than a vector (a tail
// load per tap; e.g. 4 channels: most of a K = 1 call).
#if defined(__AVX512F__)
inline __mmask16 lane_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline V vload_part(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lane_mask(n), p); }
inline V vload_part(const Half* p, int64_t n) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lane_mask(n), p));
}
inline V vload_part(const BFloat16* p, int64_t n) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lane_mask(n), p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
inline void vstore_part(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, lane_mask(n), v); }
#elif defined(__AVX2__)
inline __m256i lane_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline V vload_part(const float* p, int64_t n) { return _mm256_maskload_ps(p, lane_mask(n)); }
inline void vstore_part(float* p, V v, int64_t n) { _mm256_maskstore_ps(p, lane_mask(n), v); }
#endif

// Full vectors, or the first `part` lanes when kPart.
template <bool kPart, typename T>
inline V load(const T* p, int64_t part) {
  return kPart ? vload_part(p, part) : vload(p);
}
template <bool kPart, typename T>
inline void store(T* p, V v, int64_t part) {
  if (kPart) {
    vstore_part(p, v, part);
  } else {
    vstore(p, v);
  }
}

// Channels handled per pass: kBlock vectors kept in registers across all the
// pixels of a bin, so accumulators are loaded and stored once per bin.
constexpr int kBlock = 4;

// ---- bilinear bins ------------------------------------------------------------------
template <typename T, bool kMax, int kU, bool kPart>
void taps_block(const TapRun& r, int64_t c, int64_t part) {
  const T* base = static_cast<const T*>(r.first) + c;
  float* acc = r.acc + c;
  V a[kU];
  for (int u = 0; u < kU; ++u) {
    a[u] = r.start ? vset1(kMax ? -INFINITY : 0.f) : load<kPart>(acc + u * kLanes, part);
  }
  for (int64_t t = 0; t < r.num_taps; ++t) {
    const BilinearTaps& tap = r.taps[t];
    const T* p00 = base + tap.o00 * r.pixel_stride;
    const T* p01 = base + tap.o01 * r.pixel_stride;
    const T* p10 = base + tap.o10 * r.pixel_stride;
    const T* p11 = base + tap.o11 * r.pixel_stride;
    const V w00 = vset1(tap.w00), w01 = vset1(tap.w01), w10 = vset1(tap.w10),
            w11 = vset1(tap.w11);
    for (int u = 0; u < kU; ++u) {
      const int64_t o = u * kLanes;
      const V v00 = load<kPart>(p00 + o, part), v01 = load<kPart>(p01 + o, part);
      const V v10 = load<kPart>(p10 + o, part), v11 = load<kPart>(p11 + o, part);
      // bilinear_interpolate's products and sums in its order, then reduce_step: the
      // same roundings as the scalar paths and the CUDA kernels' host build, so every
      // ISA level gives bit-identical results (no FMA contraction: see CMakeLists).
      V v = vadd(vadd(vadd(vmul(w00, v00), vmul(w01, v01)), vmul(w10, v10)), vmul(w11, v11));
      a[u] = kMax ? vmax(v, a[u]) : vadd(a[u], v);
    }
  }
  if (r.finish) {  // reduce_final of bin_sampler.h
    const bool empty = kMax && r.count <= 0;
    const V divisor = vset1(static_cast<float>(r.count > 1 ? r.count : 1));
    const V scale = vset1(r.scale);
    for (int u = 0; u < kU; ++u) {
      if (empty) {
        a[u] = vset1(0.f);
      } else {
        a[u] = kMax ? vmul(a[u], scale) : vmul(vdiv(a[u], divisor), scale);
      }
    }
  }
  for (int u = 0; u < kU; ++u) store<kPart>(acc + u * kLanes, a[u], part);
}

template <typename T, bool kMax>
void taps_all(const TapRun& r) {
  int64_t c = 0;
  for (; c + kBlock * kLanes <= r.channels; c += kBlock * kLanes) {
    taps_block<T, kMax, kBlock, false>(r, c, 0);
  }
  for (; c + kLanes <= r.channels; c += kLanes) taps_block<T, kMax, 1, false>(r, c, 0);
  if (c < r.channels) taps_block<T, kMax, 1, true>(r, c, r.channels - c);
}

template <typename T>
void taps(const TapRun& r) {
  if (r.max) {
    taps_all<T, true>(r);
  } else {
    taps_all<T, false>(r);
  }
}

// ---- pixel bins -----------------------------------------------------------------------
template <typename T, bool kMax, int kU, bool kPart>
void pixels_block(const PixelRun& r, int64_t c, int64_t part) {
  const T* base = static_cast<const T*>(r.first) + c;
  V a[kU];
  for (int u = 0; u < kU; ++u) a[u] = vset1(kMax ? -INFINITY : 0.f);
  for (int32_t h = 0; h < r.rows; ++h) {
    const T* row = base + h * r.row_stride;
    for (int32_t w = 0; w < r.cols; ++w) {
      const T* pixel = row + w * r.pixel_stride;
      for (int u = 0; u < kU; ++u) {
        const V v = load<kPart>(pixel + u * kLanes, part);
        a[u] = kMax ? vmax(v, a[u]) : vadd(a[u], v);
      }
    }
  }
  const int64_t area = static_cast<int64_t>(r.rows) * r.cols;  // PixelReducer::result
  const V divisor = vset1(static_cast<float>(area));
  for (int u = 0; u < kU; ++u) {
    if (area <= 0) {
      a[u] = vset1(0.f);
    } else if (!kMax) {
      a[u] = vdiv(a[u], divisor);
    }
    store<kPart>(r.acc + c + u * kLanes, a[u], part);
  }
}

template <typename T, bool kMax>
void pixels_all(const PixelRun& r) {
  int64_t c = 0;
  for (; c + kBlock * kLanes <= r.channels; c += kBlock * kLanes) {
    pixels_block<T, kMax, kBlock, false>(r, c, 0);
  }
  for (; c + kLanes <= r.channels; c += kLanes) pixels_block<T, kMax, 1, false>(r, c, 0);
  if (c < r.channels) pixels_block<T, kMax, 1, true>(r, c, r.channels - c);
}

template <typename T>
void pixels(const PixelRun& r) {
  if (r.max) {
    pixels_all<T, true>(r);
  } else {
    pixels_all<T, false>(r);
  }
}

// ---- bilinear bins on NCHW planes --------------------------------------------------------
template <typename T, bool kMax>
void planes_all(const PlaneRun& r) {
  const T* image = static_cast<const T*>(r.image);
  T* out = static_cast<T*>(r.out);
  for (int64_t c = 0; c < r.channels; ++c) {
    for (int64_t bin = 0; bin < r.bins; ++bin) {
      const T* plane = image + (c * r.channel_step + bin * r.bin_step) * r.plane;
      const BilinearTaps* t = r.taps + bin * r.count;
      float a = kMax ? -INFINITY : 0.f;
      for (int64_t s = 0; s < r.count; ++s, ++t) {  // bilinear_interpolate, reduce_step
        const float v = t->w00 * sload(plane + t->o00) + t->w01 * sload(plane + t->o01) +
                        t->w10 * sload(plane + t->o10) + t->w11 * sload(plane + t->o11);
        a = kMax ? (v > a ? v : a) : a + v;
      }
      const float scale = r.origins[bin].scale;  // reduce_final
      if (kMax) {
        a = r.count > 0 ? a * scale : 0.f;
      } else {
        a = a / static_cast<float>(r.count > 1 ? r.count : 1) * scale;
      }
      sstore(out + c * r.bins + bin, a);
    }
  }
}

template <typename T>
void planes(const PlaneRun& r) {
  if (r.max) {
    planes_all<T, true>(r);
  } else {
    planes_all<T, false>(r);
  }
}

// ---- 8 x 8 transposes ------------------------------------------------------------------
// One 8 x 8 block: row i of the source (channel i, 8 pixels) becomes column i of the
// destination (pixel j, 8 channels). A plain copy of the elements' bits.
#if defined(__AVX2__)
// rows[j] = column j of the 8 x 8 block at src (row i at src + i * src_stride).
inline void transpose8_rows(const float* src, int64_t src_stride, __m256 rows[8]) {
  __m256 r[8], t[8], q[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    q[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    q[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    q[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    q[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {
    rows[j] = _mm256_permute2f128_ps(q[j], q[j + 4], 0x20);
    rows[j + 4] = _mm256_permute2f128_ps(q[j], q[j + 4], 0x31);
  }
}

inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m256 rows[8];
  transpose8_rows(src, src_stride, rows);
  for (int j = 0; j < 8; ++j) store8(dst + j * dst_stride, rows[j]);
}

template <typename T16>  // Half, BFloat16: 16-bit lanes
inline void transpose8(const T16* src, int64_t src_stride, T16* dst, int64_t dst_stride) {
  __m128i r[8], a[8], b[8];
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * src_stride));
  }
  for (int i = 0; i < 8; i += 2) {
    a[i / 2] = _mm_unpacklo_epi16(r[i], r[i + 1]);      // columns 0-3 of rows i, i+1
    a[i / 2 + 4] = _mm_unpackhi_epi16(r[i], r[i + 1]);  // columns 4-7
  }
  for (int h = 0; h < 8; h += 4) {
    b[h] = _mm_unpacklo_epi32(a[h], a[h + 1]);
    b[h + 1] = _mm_unpackhi_epi32(a[h], a[h + 1]);
    b[h + 2] = _mm_unpacklo_epi32(a[h + 2], a[h + 3]);
    b[h + 3] = _mm_unpackhi_epi32(a[h + 2], a[h + 3]);
  }
  for (int h = 0; h < 8; h += 4) {  // columns h .. h+3
    for (int j = 0; j < 2; ++j) {
      __m128i* d0 = reinterpret_cast<__m128i*>(dst + (h + 2 * j) * dst_stride);
      __m128i* d1 = reinterpret_cast<__m128i*>(dst + (h + 2 * j + 1) * dst_stride);
      _mm_storeu_si128(d0, _mm_unpacklo_epi64(b[h + j], b[h + j + 2]));
      _mm_storeu_si128(d1, _mm_unpackhi_epi64(b[h + j], b[h + j + 2]));
    }
  }
}
constexpr bool kBlockTranspose = true;
#else
template <typename T>
inline void transpose8(const T* src, int64_t src_stride, T* dst, int64_t dst_stride) {
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
  }
}
constexpr bool kBlockTranspose = false;
#endif

// ---- channels-last copy ------------------------------------------------------------------
template <typename T>
void to_channels_last(void* dst_image, const void* src_image, int64_t channels, int64_t plane,
                      int64_t p0, int64_t p1) {
  T* dst = static_cast<T*>(dst_image);
  const T* src = static_cast<const T*>(src_image);
  const int64_t c8 = kBlockTranspose ? channels / 8 * 8 : 0;
  const int64_t p8 = kBlockTranspose ? p0 + (p1 - p0) / 8 * 8 : p0;
  for (int64_t c = 0; c < c8; c += 8) {
    for (int64_t p = p0; p < p8; p += 8) {
      transpose8(src + c * plane + p, plane, dst + p * channels + c, channels);
    }
  }
  // The rest (all of it where there is no block transpose): pixel rows of channels.
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t c_first = p < p8 ? c8 : 0;
    for (int64_t c = c_first; c < channels; ++c) dst[p * channels + c] = src[c * plane + p];
  }
}

// ---- output -----------------------------------------------------------------------------
// The [bins, C] tile as the RoI's [C, bins] block: 8 x 8 register transposes converted
// on the way out (AVX2, AVX-512), else kLanes bins x kTileChannels channels at a time
// through a small buffer; the edges go through a converted vector of one tile row.
constexpr int64_t kTileChannels = 16;

#if defined(__AVX2__)
template <typename T>
void store_edges(T* dst, const float* tile, int64_t bins, int64_t channels, int64_t b8,
                 int64_t c8) {
  T lanes[kLanes];
  for (int64_t b = b8; b < bins; ++b) {  // bins past the blocks, every channel
    for (int64_t c = 0; c < channels; c += kLanes) {
      const int64_t n = channels - c < kLanes ? channels - c : kLanes;
      vstore(lanes, n == kLanes ? vload(tile + b * channels + c)
                                : vload_part(tile + b * channels + c, n));
      for (int64_t i = 0; i < n; ++i) dst[(c + i) * bins + b] = lanes[i];
    }
  }
  for (int64_t c = c8; c < channels; ++c) {  // channels past the blocks, the blocks' bins
    for (int64_t b = 0; b < b8; ++b) sstore(dst + c * bins + b, tile[b * channels + c]);
  }
}
#endif

template <typename T>
void store_transposed(void* out, const float* tile, int64_t bins, int64_t channels) {
  T* dst = static_cast<T*>(out);
#if defined(__AVX2__)
  const int64_t b8 = bins / 8 * 8, c8 = channels / 8 * 8;
  for (int64_t c = 0; c < c8; c += 8) {
    for (int64_t b = 0; b < b8; b += 8) {
      __m256 rows[8];  // rows[j]: channel c + j, bins b .. b + 7
      transpose8_rows(tile + b * channels + c, channels, rows);
      for (int j = 0; j < 8; ++j) store8(dst + (c + j) * bins + b, rows[j]);
    }
  }
  store_edges(dst, tile, bins, channels, b8, c8);
#else
  float buffer[kTileChannels][kLanes] = {};
  for (int64_t b0 = 0; b0 < bins; b0 += kLanes) {
    const int64_t nb = bins - b0 < kLanes ? bins - b0 : kLanes;
    for (int64_t c0 = 0; c0 < channels; c0 += kTileChannels) {
      const int64_t nc = channels - c0 < kTileChannels ? channels - c0 : kTileChannels;
      for (int64_t b = 0; b < nb; ++b) {
        const float* row = tile + (b0 + b) * channels + c0;
        for (int64_t c = 0; c < nc; ++c) buffer[c][b] = row[c];
      }
      for (int64_t c = 0; c < nc; ++c) {
        T* line = dst + (c0 + c) * bins + b0;
        const V v = vload(buffer[c]);
        if (nb == kLanes) {
          vstore(line, v);
        } else {
          vstore_part(line, v, nb);
        }
      }
    }
  }
#endif
}

template <typename T>
const CpuKernels kTable = {&taps<T>,  &pixels<T>, &planes<T>, &store_transposed<T>,
                           &to_channels_last<T>, kIsa};

}  // namespace

const CpuKernels* kernels(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return &kTable<Half>;
    case DType::kBFloat16:
      return &kTable<BFloat16>;
    default:
      return &kTable<float>;
  }
}

}  // namespace ROIPOOL_ISA_NS
}  // namespace roipool
