// Random and mutated inputs through two surfaces of roipool, meant to run under
// AddressSanitizer + UBSan (scripts/fuzz.sh); the ONNX Runtime surface is driven from
// Python (scripts/fuzz_ort.py).
//   cabi: roipool_set_attribute / roipool_forward of libroipool_core.so with random
//         attributes (names, types, counts, values, raw OpAttrs fields), shapes, dtypes,
//         layouts, pointers and values (NaN, inf, huge, subnormal boxes).
//   trt:  libroipool_trt.so as TensorRT drives it: mutated field collections and mutated
//         serialized blobs through createPlugin, then getOutputDataTypes, getOutputShapes,
//         supportsFormatCombination, configurePlugin, onShapeChange and enqueue (its host
//         checks; a CPU-only library never launches) with random descriptors.
// Buffers always match the shapes the driver declares, so any read or write outside them
// is the library's. Besides the sanitizers, every answer is checked: error codes and
// messages (non-empty, printable ASCII), SPEC's zeros for RoIs with a NaN coordinate or a
// bad batch index, every output element written, serialization round trips.
//
// Usage: roipool_fuzz [--seed N] [--cabi N] [--trt N] [path/to/libroipool_trt.so]
// Prints the number of inputs per surface; exit status 1 on any finding.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "NvInferRuntime.h"
#include "expr_builder.h"
#include "roipool/c_api.h"
#include "roipool/common.h"

namespace {

using namespace roipool;  // NOLINT: a test driver

int g_findings = 0;

void finding(const std::string& what) {
  if (++g_findings <= 20) std::printf("FINDING: %s\n", what.c_str());
}

bool printable_message(const char* text) {
  if (text == nullptr || *text == '\0') return false;
  for (const char* p = text; *p; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  int64_t range(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(engine_) < p; }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(engine_); }
  template <typename T>
  T pick(const std::vector<T>& values) {
    return values[static_cast<size_t>(range(0, static_cast<int64_t>(values.size()) - 1))];
  }
  std::string bytes(size_t max_length) {
    std::string s(static_cast<size_t>(range(0, static_cast<int64_t>(max_length))), '\0');
    for (char& c : s) c = static_cast<char>(range(1, 255));
    return s;
  }

 private:
  std::mt19937_64 engine_;
};

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

float odd_float(Rng& rng) {
  return rng.pick<float>({0.f, -0.f, 1.f, 0.5f, 2.f, 0.25f, 7.f, 224.f, 56.f, -1.f, kNaN, kInf, -kInf,
                          1e-45f, 1e-30f, 1e30f, 3.4e38f, -3.4e38f});
}

int64_t odd_int(Rng& rng) {
  return rng.pick<int64_t>({0, 1, -1, 2, 3, 7, 64, -64, 65, 1024, 1025, 65535, 65536, INT32_MAX,
                            INT32_MIN, std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min()});
}

// ---- fp16 / bf16 storage ---------------------------------------------------------------

uint16_t to_half(float v) {  // round-toward-zero is enough for fuzz values; NaN stays NaN
  uint32_t f;
  std::memcpy(&f, &v, 4);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const int32_t exponent = static_cast<int32_t>((f >> 23) & 0xff) - 127 + 15;
  const uint32_t mantissa = f & 0x7fffffu;
  if (((f >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exponent <= 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13));
}

uint16_t to_bf16(float v) {
  uint32_t f;
  std::memcpy(&f, &v, 4);
  if (std::isnan(v)) return 0x7fc0;
  return static_cast<uint16_t>(f >> 16);
}

size_t element_size(int32_t dtype) { return dtype == 1 || dtype == 2 ? 2 : 4; }

// A buffer of `count` elements of `dtype` (float32 for unknown dtypes) holding `values`.
struct Buffer {
  std::vector<unsigned char> bytes;
  void fill(int32_t dtype, const std::vector<float>& values) {
    const size_t size = element_size(dtype);
    bytes.assign(values.size() * size + 1, 0);  // +1: never a zero-size allocation
    for (size_t i = 0; i < values.size(); ++i) {
      if (size == 4) {
        std::memcpy(&bytes[i * 4], &values[i], 4);
      } else {
        const uint16_t h = dtype == 1 ? to_half(values[i]) : to_bf16(values[i]);
        std::memcpy(&bytes[i * 2], &h, 2);
      }
    }
  }
  void* data() { return bytes.data(); }
};

// Output sentinel: a NaN payload that no computation on the fuzz values produces.
constexpr uint32_t kSentinel32 = 0x7fa5a5a5u;
constexpr uint16_t kSentinel16 = 0x7d5au;

// ---- surface 1: the C ABI ----------------------------------------------------------------

const std::vector<std::string> kAttributeNames = {
    "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode", "gamma", "clockwise",
    "spatial_scales", "level_mapping", "canonical_scale", "canonical_level", "roi_scale_factor",
    "plugin_namespace", ""};

void fuzz_set_attributes(Rng& rng, int32_t op, OpAttrs* attrs) {
  const int64_t calls = rng.range(0, 4);
  for (int64_t c = 0; c < calls; ++c) {
    std::string name = rng.chance(0.9) ? rng.pick(kAttributeNames) : rng.bytes(12);
    const auto type = static_cast<int32_t>(rng.range(-1, 5));
    const int64_t count = rng.range(0, 9);
    std::vector<int64_t> ints(static_cast<size_t>(count));
    std::vector<float> floats(static_cast<size_t>(count));
    for (auto& i : ints) i = rng.chance(0.5) ? rng.range(-2, 9) : odd_int(rng);
    for (auto& f : floats) f = rng.chance(0.5) ? rng.uniform(0.01f, 2.f) : odd_float(rng);
    std::string text = rng.chance(0.7) ? rng.pick<std::string>({"avg", "max", "mmdet", "torchvision", ""})
                                       : rng.bytes(16);
    char error[256];
    const int32_t code = roipool_set_attribute(
        op, rng.chance(0.98) ? attrs : nullptr, rng.chance(0.98) ? name.c_str() : nullptr, type,
        rng.chance(0.9) ? ints.data() : nullptr, rng.chance(0.9) ? floats.data() : nullptr,
        rng.chance(0.97) ? count : -1, rng.chance(0.9) ? text.c_str() : nullptr, error, sizeof(error));
    if (code != 0 && !printable_message(error)) finding("set_attribute error not printable: " + name);
    if (code != 0 && code != 1) finding("set_attribute returned code " + std::to_string(code));
  }
}

// Raw OpAttrs fields, as a C caller may pass any struct.
void fuzz_raw_attrs(Rng& rng, OpAttrs* a) {
  if (rng.chance(0.15)) a->pooled_h = static_cast<int32_t>(rng.pick<int64_t>({0, -1, 1, 2, 3, 9}));
  if (rng.chance(0.15)) a->pooled_w = static_cast<int32_t>(rng.pick<int64_t>({0, -3, 1, 2, 4, 9}));
  if (rng.chance(0.1)) a->spatial_scale = odd_float(rng);
  if (rng.chance(0.15)) a->sampling_ratio = static_cast<int32_t>(rng.pick<int64_t>({-5, 0, 1, 2, 3, 1025, INT32_MAX}));
  if (rng.chance(0.1)) a->aligned = static_cast<int32_t>(rng.range(-1, 2));
  if (rng.chance(0.1)) a->mode = static_cast<PoolMode>(rng.range(-1, 2));
  if (rng.chance(0.1)) a->clockwise = static_cast<int32_t>(rng.range(-1, 2));
  if (rng.chance(0.1)) a->gamma = odd_float(rng);
  if (rng.chance(0.15)) a->num_levels = static_cast<int32_t>(rng.range(-1, 9));
  if (rng.chance(0.1)) a->spatial_scales[rng.range(0, kMaxLevels - 1)] = odd_float(rng);
  if (rng.chance(0.1)) a->level_mapping = static_cast<LevelMapping>(rng.range(-1, 2));
  if (rng.chance(0.1)) a->canonical_scale = odd_float(rng);
  if (rng.chance(0.1)) a->canonical_level = static_cast<int32_t>(odd_int(rng));
  if (rng.chance(0.1)) a->roi_scale_factor = odd_float(rng);
}

float roi_value(Rng& rng, int32_t column) {
  if (column == 0) return rng.pick<float>({0.f, 0.f, 0.f, 1.f, 1.f, -1.f, 0.5f, 2.f, kNaN, 1e30f});
  if (rng.chance(0.8)) return column == 5 ? rng.uniform(-7.f, 7.f) : rng.uniform(-4.f, 14.f);
  return odd_float(rng);
}

// One roipool_forward call with random everything.
void fuzz_forward(Rng& rng) {
  const auto op = static_cast<int32_t>(rng.chance(0.97) ? rng.range(0, kNumOps - 1) : rng.pick<int64_t>({-1, 9, 100}));
  OpAttrs attrs{};
  if (roipool_default_attrs(op, &attrs) != 0) attrs = default_attrs(OpKind::kRoIAlign);
  if (op == static_cast<int32_t>(OpKind::kMultiScaleRoIAlign)) {
    attrs.num_levels = static_cast<int32_t>(rng.range(1, 3));
    for (int32_t l = 0; l < attrs.num_levels; ++l) attrs.spatial_scales[l] = 1.f / static_cast<float>(1 << l);
  }
  attrs.pooled_h = static_cast<int32_t>(rng.range(1, 4));
  attrs.pooled_w = static_cast<int32_t>(rng.range(1, 4));
  attrs.sampling_ratio = static_cast<int32_t>(rng.range(-1, 3));
  if (rng.chance(0.5)) fuzz_set_attributes(rng, op, &attrs);
  if (rng.chance(0.5)) fuzz_raw_attrs(rng, &attrs);
  // Keep explicit huge grids cheap: only on tiny outputs.
  const bool huge_ratio = attrs.sampling_ratio > 64;

  const auto dtype = static_cast<int32_t>(rng.chance(0.95) ? rng.range(0, 2) : rng.pick<int64_t>({-1, 3}));
  const int32_t rois_dtype = static_cast<int32_t>(rng.chance(0.5) ? 0 : rng.chance(0.8) ? dtype : rng.range(-1, 3));
  const int32_t valid_op = op >= 0 && op < kNumOps;
  const int32_t columns = valid_op ? roipool_rois_columns(op) : 5;
  const int64_t k = huge_ratio ? rng.range(0, 1) : rng.range(0, 4);
  const int64_t batch = rng.range(0, 2);
  const int64_t pooled_bins = static_cast<int64_t>(std::max(attrs.pooled_h, 1)) * std::max(attrs.pooled_w, 1);
  int64_t channels = rng.range(0, 3);
  if (rng.chance(0.4) && pooled_bins <= 16) channels = pooled_bins * rng.range(0, 2);  // PS-friendly
  if (huge_ratio) channels = std::min<int64_t>(channels, 1);

  // Feature maps: the declared count may disagree with the op; sizes may be invalid.
  const auto num_features = static_cast<int32_t>(
      rng.chance(0.9) ? (op == static_cast<int32_t>(OpKind::kMultiScaleRoIAlign) ? std::max(attrs.num_levels, 0) : 1)
                      : rng.range(0, 9));
  std::vector<FeatureMap> maps(static_cast<size_t>(std::max(num_features, 1)));
  std::vector<Buffer> map_data(maps.size());
  for (size_t l = 0; l < maps.size(); ++l) {
    FeatureMap& m = maps[l];
    m.batch = rng.chance(0.95) ? batch : rng.range(-1, 3);
    m.channels = rng.chance(0.95) ? channels : rng.range(-1, 4);
    m.height = rng.chance(0.95) ? rng.range(1, 6) : rng.range(-1, 0);
    m.width = rng.chance(0.95) ? rng.range(1, 6) : rng.pick<int64_t>({-1, 0, int64_t{1} << 40});
    m.layout = static_cast<Layout>(rng.chance(0.95) ? rng.range(0, 1) : rng.range(2, 3));
    const bool sized = m.batch > 0 && m.channels > 0 && m.height > 0 && m.width > 0 && m.width < 1024;
    std::vector<float> values(sized ? static_cast<size_t>(m.batch * m.channels * m.height * m.width) : 0);
    for (auto& v : values) v = rng.chance(0.97) ? rng.uniform(-3.f, 3.f) : odd_float(rng);
    map_data[l].fill(dtype, values);
    m.data = rng.chance(0.97) ? map_data[l].data() : nullptr;
  }

  Buffer rois;
  std::vector<float> roi_values(static_cast<size_t>(k * columns));
  for (int64_t r = 0; r < k; ++r) {
    for (int32_t c = 0; c < columns; ++c) roi_values[static_cast<size_t>(r * columns + c)] = roi_value(rng, c);
  }
  rois.fill(rois_dtype, roi_values);

  const int64_t ph = attrs.pooled_h, pw = attrs.pooled_w;
  const bool deform = op == static_cast<int32_t>(OpKind::kDeformRoIPool);
  Buffer offset, mask;
  const bool with_offset = (deform && rng.chance(0.5)) || rng.chance(0.02);
  const bool with_mask = (deform && rng.chance(0.5)) || rng.chance(0.02);
  auto aux_values = [&](int64_t depth) {
    std::vector<float> v(ph > 0 && pw > 0 ? static_cast<size_t>(k * depth * ph * pw) : 0);
    for (auto& x : v) x = rng.chance(0.95) ? rng.uniform(-1.f, 1.f) : odd_float(rng);
    return v;
  };
  offset.fill(dtype, aux_values(2));
  mask.fill(dtype, aux_values(1));

  // Sized as the core will read the call: from the first map's (maybe mutated) channels.
  const int64_t out_channels = valid_op ? roipool_output_channels(op, &attrs, maps[0].channels) : maps[0].channels;
  const int64_t out_count = (ph > 0 && pw > 0 && out_channels > 0) ? k * out_channels * ph * pw : 0;
  const size_t out_size = element_size(dtype);
  std::vector<unsigned char> output(static_cast<size_t>(out_count) * out_size + 1, 0);
  for (int64_t i = 0; i < out_count; ++i) {
    if (out_size == 4) std::memcpy(&output[static_cast<size_t>(i) * 4], &kSentinel32, 4);
    else std::memcpy(&output[static_cast<size_t>(i) * 2], &kSentinel16, 2);
  }

  OpArgs args{};
  args.dtype = static_cast<DType>(dtype);
  args.rois_dtype = static_cast<DType>(rois_dtype);
  args.num_features = num_features;
  args.features = rng.chance(0.98) ? maps.data() : nullptr;
  args.rois = rng.chance(0.98) ? rois.data() : nullptr;
  args.num_rois = rng.chance(0.99) ? k : -1;
  args.offset = with_offset ? offset.data() : nullptr;
  args.mask = with_mask ? mask.data() : nullptr;
  args.output = rng.chance(0.98) || out_count == 0 ? output.data() : nullptr;
  const int32_t device = rng.chance(0.97) ? 0 : static_cast<int32_t>(rng.pick<int64_t>({1, 2, -1}));
  char error[512];
  const int32_t code = roipool_forward(op, rng.chance(0.99) ? &attrs : nullptr, rng.chance(0.99) ? &args : nullptr,
                                       device, nullptr, static_cast<int32_t>(rng.range(0, 3)), error, sizeof(error));
  const std::string where = "forward op " + std::to_string(op) + " dtype " + std::to_string(dtype);
  if (code != 0) {
    if (code != 1 && code != 2) finding(where + ": code " + std::to_string(code) + ": " + error);
    if (!printable_message(error)) finding(where + ": error message not printable");
    return;
  }
  if (args.output == nullptr || args.num_rois <= 0 || out_count == 0) return;
  // Every element written; SPEC zeros for NaN-coordinate and bad-batch-index RoIs.
  const int64_t per_roi = out_channels * ph * pw;
  for (int64_t r = 0; r < k; ++r) {
    bool zero_roi = false;
    // 16-bit rois: the driver's values after conversion are what the core sees.
    for (int32_t c = 1; c < columns; ++c) zero_roi = zero_roi || std::isnan(roi_values[static_cast<size_t>(r * columns + c)]);
    const float b = roi_values[static_cast<size_t>(r * columns)];
    zero_roi = zero_roi || !(b >= 0.f && b < static_cast<float>(maps[0].batch) && std::floor(b) == b);
    for (int64_t i = r * per_roi; i < (r + 1) * per_roi; ++i) {
      uint32_t bits32 = 0;
      uint16_t bits16 = 0;
      if (out_size == 4) std::memcpy(&bits32, &output[static_cast<size_t>(i) * 4], 4);
      else std::memcpy(&bits16, &output[static_cast<size_t>(i) * 2], 2);
      if (bits32 == kSentinel32 && out_size == 4) return finding(where + ": output element not written");
      if (bits16 == kSentinel16 && out_size == 2) return finding(where + ": output element not written");
      const bool is_zero = out_size == 4 ? (bits32 & 0x7fffffffu) == 0 : (bits16 & 0x7fffu) == 0;
      if (zero_roi && !is_zero) {
        std::string row;
        for (int32_t c = 0; c < columns; ++c) row += " " + std::to_string(roi_values[static_cast<size_t>(r * columns + c)]);
        return finding(where + " rois_dtype " + std::to_string(rois_dtype) + " aligned " + std::to_string(attrs.aligned) +
                       " ratio " + std::to_string(attrs.sampling_ratio) + " mode " + std::to_string(static_cast<int>(attrs.mode)) +
                       " scale " + std::to_string(attrs.spatial_scale) + " offset " + std::to_string(with_offset) +
                       " mask " + std::to_string(with_mask) + ": RoI" + row + " must pool to zeros, element " +
                       std::to_string(i - r * per_roi));
      }
    }
  }
}

// ---- surface 2: the TensorRT plugin library -------------------------------------------------

using nvinfer1::DataType;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldCollection;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

class CountingLogger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) {
      ++errors;
      if (!printable_message(msg)) finding(std::string("TensorRT log message not printable"));
    }
  }
  int64_t errors = 0;
};

class Finder final : public nvinfer1::ILoggerFinder {
 public:
  nvinfer1::ILogger* findLogger() override { return &logger; }
  CountingLogger logger;
};

Finder g_finder;

// A field collection that owns 128 bytes of storage per field.
struct Fields {
  struct Entry {
    std::string name;
    bool null_name = false;
    PluginFieldType type = PluginFieldType::kINT32;
    int32_t length = 1;
    bool null_data = false;
    bool misaligned = false;  // data one byte into the storage
    alignas(8) unsigned char storage[136] = {};
    unsigned char* data = storage;
    Entry() = default;
    Entry(const Entry& other) { *this = other; }
    Entry& operator=(const Entry& other) {
      name = other.name;
      null_name = other.null_name;
      type = other.type;
      length = other.length;
      null_data = other.null_data;
      std::memcpy(storage, other.storage, sizeof(storage));
      set_misaligned(other.misaligned);
      return *this;
    }
    void set_misaligned(bool on) {
      misaligned = on;
      data = storage + (on ? 1 : 0);
    }
  };
  std::vector<Entry> entries;
  std::vector<PluginField> fields;
  PluginFieldCollection collection{};

  const PluginFieldCollection* get() {
    fields.clear();
    for (Entry& e : entries) {
      fields.emplace_back(e.null_name ? nullptr : e.name.c_str(), e.null_data ? nullptr : e.data, e.type, e.length);
    }
    collection = {static_cast<int32_t>(fields.size()), fields.data()};
    return &collection;
  }
};

size_t field_element_size(PluginFieldType type) {
  switch (type) {
    case PluginFieldType::kFLOAT64:
    case PluginFieldType::kINT64: return 8;
    case PluginFieldType::kFLOAT32:
    case PluginFieldType::kINT32: return 4;
    case PluginFieldType::kFLOAT16:
    case PluginFieldType::kINT16:
    case PluginFieldType::kBF16: return 2;
    default: return 1;
  }
}

void copy_field(const PluginField& f, Fields::Entry* e) {
  e->name = f.name ? f.name : "";
  e->null_name = f.name == nullptr;
  e->type = f.type;
  e->length = f.length;
  e->null_data = f.data == nullptr;
  const size_t bytes = std::min<size_t>(128, static_cast<size_t>(std::max(f.length, 0)) * field_element_size(f.type));
  if (f.data != nullptr) std::memcpy(e->data, f.data, bytes);
}

void mutate_field(Rng& rng, Fields::Entry* e) {
  switch (rng.range(0, 7)) {
    case 6: {  // the same bytes at an odd address
      unsigned char bytes[128];
      std::memcpy(bytes, e->data, sizeof(bytes));
      e->set_misaligned(!e->misaligned);
      std::memcpy(e->data, bytes, sizeof(bytes));
      break;
    }
    case 0: e->type = static_cast<PluginFieldType>(rng.range(0, 12)); break;
    case 1: e->null_data = !e->null_data; break;
    case 2: e->name = rng.chance(0.5) ? rng.pick(kAttributeNames) : rng.bytes(10); break;
    case 3: e->null_name = rng.chance(0.3); break;
    default: {
      for (int64_t n = rng.range(1, 8); n > 0; --n) e->data[rng.range(0, 127)] = static_cast<unsigned char>(rng.range(0, 255));
      if (rng.chance(0.3)) {  // an odd value at a typed position
        const int32_t i = static_cast<int32_t>(odd_int(rng));
        const float f = odd_float(rng);
        std::memcpy(e->data + 4 * rng.range(0, 8), rng.chance(0.5) ? static_cast<const void*>(&i) : &f, 4);
      }
    }
  }
  // Any length the storage holds for the declared type (or a negative one).
  const auto capacity = static_cast<int64_t>(128 / field_element_size(e->type));
  if (rng.chance(0.4)) e->length = static_cast<int32_t>(rng.range(-2, capacity));
  e->length = static_cast<int32_t>(std::min<int64_t>(e->length, capacity));
}

struct TrtCounts {
  int64_t creates = 0, calls = 0;
};

nvinfer1::PluginTensorDesc random_desc(Rng& rng) {
  nvinfer1::PluginTensorDesc d{};
  d.dims.nbDims = static_cast<int32_t>(rng.chance(0.9) ? rng.range(0, 5) : rng.pick<int64_t>({-1, 8, 9, 64}));
  for (int32_t i = 0; i < nvinfer1::Dims::MAX_DIMS; ++i) {
    d.dims.d[i] = rng.chance(0.9) ? rng.range(0, 12) : odd_int(rng);
  }
  d.type = rng.chance(0.8) ? rng.pick<DataType>({DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
                           : static_cast<DataType>(rng.range(0, 12));
  d.format = rng.chance(0.9) ? TensorFormat::kLINEAR : static_cast<TensorFormat>(rng.range(0, 14));
  return d;
}

// A plausible descriptor set for `op` (so that onShapeChange succeeds now and then).
std::vector<nvinfer1::PluginTensorDesc> plausible_descs(Rng& rng, OpKind op, const OpAttrs& a, int32_t* nb_inputs,
                                                       nvinfer1::PluginTensorDesc* out) {
  auto desc = [](std::vector<int64_t> dims) {
    nvinfer1::PluginTensorDesc d{};
    d.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) d.dims.d[i] = dims[i];
    d.type = DataType::kFLOAT;
    d.format = TensorFormat::kLINEAR;
    return d;
  };
  const int64_t k = rng.range(0, 3), bins = static_cast<int64_t>(a.pooled_h) * a.pooled_w;
  const int64_t c = (op == OpKind::kPSRoIPool || op == OpKind::kPSRoIAlign) ? bins * rng.range(1, 2) : rng.range(1, 3);
  const auto rois = desc({k, rois_columns(op)});
  std::vector<nvinfer1::PluginTensorDesc> in;
  if (op == OpKind::kMultiScaleRoIAlign) {
    in.push_back(rois);
    for (int32_t l = 0; l < a.num_levels; ++l) in.push_back(desc({2, c, 8, 8}));
  } else {
    in = {desc({2, c, 6, 7}), rois};
    if (op == OpKind::kDeformRoIPool) {
      in.push_back(desc({k, 2, a.pooled_h, a.pooled_w}));
      in.push_back(desc({k, 1, a.pooled_h, a.pooled_w}));
    }
  }
  *nb_inputs = static_cast<int32_t>(in.size());
  *out = desc({k, output_channels(op, a, c), a.pooled_h, a.pooled_w});
  if (rng.chance(0.5)) in[static_cast<size_t>(rng.range(0, *nb_inputs - 1))] = random_desc(rng);
  return in;
}

// The attributes plausible_descs needs, read back from a plugin's serialization.
void trt_attrs_from_plugin(nvinfer1::IPluginV3* plugin, OpAttrs* attrs) {
  auto* runtime = static_cast<nvinfer1::IPluginV3OneRuntime*>(
      plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
  const PluginFieldCollection* fc = runtime->getFieldsToSerialize();
  for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    const auto* ints = static_cast<const int32_t*>(f.data);
    if (std::strcmp(f.name, "pooled_h") == 0) attrs->pooled_h = ints[0];
    if (std::strcmp(f.name, "pooled_w") == 0) attrs->pooled_w = ints[0];
    if (std::strcmp(f.name, "spatial_scales") == 0) attrs->num_levels = f.length;
  }
}

void exercise_plugin(Rng& rng, OpKind op, nvinfer1::IPluginV3* plugin, nvinfer1::IPluginCreatorV3One* creator,
                     TrtCounts* counts) {
  auto* build = static_cast<nvinfer1::IPluginV3OneBuild*>(plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kBUILD));
  auto* runtime = static_cast<nvinfer1::IPluginV3OneRuntime*>(plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
  // Round trip: what the plugin serializes, it must parse.
  const PluginFieldCollection* blob = runtime->getFieldsToSerialize();
  std::unique_ptr<nvinfer1::IPluginV3> restored(creator->createPlugin("fuzz", blob, nvinfer1::TensorRTPhase::kRUNTIME));
  if (!restored) finding(std::string(op_name(op)) + ": serialized fields do not parse");
  std::unique_ptr<nvinfer1::IPluginV3> copy(plugin->clone());
  counts->calls += 2;

  OpAttrs attrs = default_attrs(op);
  trt_attrs_from_plugin(plugin, &attrs);
  for (int32_t round = 0; round < 4; ++round) {
    DataType types[12];
    for (auto& t : types) t = static_cast<DataType>(rng.range(0, 12));
    DataType out_type{};
    build->getOutputDataTypes(&out_type, static_cast<int32_t>(rng.range(0, 2)), types, static_cast<int32_t>(rng.range(-1, 11)));

    roipool::test::ExprBuilder exprs;
    nvinfer1::DimsExprs inputs[12];
    for (auto& in : inputs) {
      in.nbDims = static_cast<int32_t>(rng.chance(0.9) ? rng.range(0, 5) : rng.range(6, 8));
      for (int32_t i = 0; i < nvinfer1::Dims::MAX_DIMS; ++i) {
        in.d[i] = rng.chance(0.6) ? static_cast<const nvinfer1::IDimensionExpr*>(exprs.dim(rng.chance(0.9) ? rng.range(0, 12) : odd_int(rng)))
                                  : exprs.symbol("s" + std::to_string(i));
      }
    }
    nvinfer1::DimsExprs outputs[2];
    build->getOutputShapes(inputs, static_cast<int32_t>(rng.range(0, 11)), nullptr, 0, outputs,
                           static_cast<int32_t>(rng.range(0, 2)), exprs);

    nvinfer1::DynamicPluginTensorDesc dyn[12];
    for (auto& d : dyn) d.desc = random_desc(rng);
    const auto nb_in = static_cast<int32_t>(rng.range(0, 10));
    const auto nb_out = static_cast<int32_t>(rng.range(0, 2));
    build->supportsFormatCombination(static_cast<int32_t>(rng.range(-1, 12)), dyn, nb_in, nb_out);
    build->configurePlugin(dyn, nb_in, dyn + nb_in, nb_out);

    int32_t nb_inputs = 0;
    nvinfer1::PluginTensorDesc out{};
    std::vector<nvinfer1::PluginTensorDesc> in = plausible_descs(rng, op, attrs, &nb_inputs, &out);
    if (rng.chance(0.2)) nb_inputs = static_cast<int32_t>(rng.range(-1, static_cast<int64_t>(in.size())));
    runtime->onShapeChange(in.data(), nb_inputs, &out, rng.chance(0.9) ? 1 : 2);
    // Host checks of enqueue only: a CPU-only library never launches, so host pointers
    // (or none) are safe to pass.
    float host[64] = {};
    std::vector<const void*> pointers(in.size(), rng.chance(0.8) ? host : nullptr);
    void* out_pointer = host;
    runtime->enqueue(in.data(), &out, pointers.data(), &out_pointer, nullptr, nullptr);
    counts->calls += 6;
  }
}

// Field names the creator lists, with values that parse (pooled 1..3, one to three levels).
void valid_fields(Rng& rng, nvinfer1::IPluginCreatorV3One* creator, Fields* fields) {
  const PluginFieldCollection* names = creator->getFieldNames();
  for (int32_t i = 0; i < names->nbFields; ++i) {
    Fields::Entry e;
    e.name = names->fields[i].name;
    e.type = names->fields[i].type;
    if (e.name == "mode" || e.name == "level_mapping") {
      const char* text = e.name == "mode" ? "avg" : rng.chance(0.5) ? "mmdet" : "torchvision";
      e.length = static_cast<int32_t>(std::strlen(text) + (rng.chance(0.5) ? 1 : 0));
      std::memcpy(e.data, text, std::strlen(text));
    } else if (e.type == PluginFieldType::kFLOAT32) {
      const int32_t count = e.name == "spatial_scales" ? static_cast<int32_t>(rng.range(1, 3)) : 1;
      for (int32_t l = 0; l < count; ++l) {
        const float v = e.name == "spatial_scales" ? 1.f / static_cast<float>(1 << l)
                        : e.name == "canonical_scale" ? 0.f : rng.uniform(0.25f, 1.5f);
        std::memcpy(e.data + 4 * l, &v, 4);
      }
      e.length = count;
    } else {
      const int32_t v = e.name == "pooled_h" || e.name == "pooled_w" ? static_cast<int32_t>(rng.range(1, 3))
                        : e.name == "sampling_ratio"                ? static_cast<int32_t>(rng.range(-1, 2))
                        : e.name == "canonical_level"               ? 4
                                                                    : static_cast<int32_t>(rng.range(0, 1));
      std::memcpy(e.data, &v, 4);
    }
    if (rng.chance(0.8)) fields->entries.push_back(e);  // absent fields take defaults
  }
}

void fuzz_trt(Rng& rng, const std::vector<nvinfer1::IPluginCreatorV3One*>& creators, TrtCounts* counts) {
  const auto index = static_cast<size_t>(rng.range(0, static_cast<int64_t>(creators.size()) - 1));
  nvinfer1::IPluginCreatorV3One* creator = creators[index];
  OpKind op{};
  op_from_name(creator->getPluginName(), &op);
  Fields fields;
  valid_fields(rng, creator, &fields);
  auto phase = nvinfer1::TensorRTPhase::kBUILD;
  if (rng.chance(0.4)) {  // start from a real serialized blob instead
    std::unique_ptr<nvinfer1::IPluginV3> p(creator->createPlugin("fuzz", fields.get(), phase));
    if (p) {
      auto* runtime = static_cast<nvinfer1::IPluginV3OneRuntime*>(p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
      const PluginFieldCollection* blob = runtime->getFieldsToSerialize();
      fields.entries.assign(static_cast<size_t>(blob->nbFields), Fields::Entry{});
      for (int32_t i = 0; i < blob->nbFields; ++i) copy_field(blob->fields[i], &fields.entries[static_cast<size_t>(i)]);
      phase = nvinfer1::TensorRTPhase::kRUNTIME;
    }
  }
  for (int64_t n = rng.range(0, 3); n > 0 && !fields.entries.empty(); --n) {
    const auto at = static_cast<size_t>(rng.range(0, static_cast<int64_t>(fields.entries.size()) - 1));
    switch (rng.range(0, 5)) {
      case 0: fields.entries.erase(fields.entries.begin() + static_cast<std::ptrdiff_t>(at)); break;
      case 1: fields.entries.push_back(fields.entries[at]); break;
      default: mutate_field(rng, &fields.entries[at]);
    }
  }
  if (rng.chance(0.02)) phase = static_cast<nvinfer1::TensorRTPhase>(rng.range(2, 9));
  const PluginFieldCollection* collection = fields.get();
  PluginFieldCollection malformed{static_cast<int32_t>(rng.range(-2, 3)), nullptr};
  if (rng.chance(0.02)) collection = rng.chance(0.5) ? nullptr : &malformed;
  ++counts->creates;
  std::unique_ptr<nvinfer1::IPluginV3> plugin(creator->createPlugin("fuzz", collection, phase));
  if (plugin) exercise_plugin(rng, op, plugin.get(), creator, counts);
}

std::vector<nvinfer1::IPluginCreatorV3One*> load_trt(const char* path) {
  void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    finding(std::string("dlopen failed: ") + dlerror());
    return {};
  }
  using SetLoggerFinderFn = void (*)(nvinfer1::ILoggerFinder*);
  using GetCreatorsFn = nvinfer1::IPluginCreatorInterface* const* (*)(int32_t&);
  auto set_finder = reinterpret_cast<SetLoggerFinderFn>(dlsym(library, "setLoggerFinder"));
  auto get_creators = reinterpret_cast<GetCreatorsFn>(dlsym(library, "getCreators"));
  if (set_finder == nullptr || get_creators == nullptr) {
    finding("libroipool_trt.so lacks setLoggerFinder / getCreators");
    return {};
  }
  set_finder(&g_finder);
  int32_t count = 0;
  nvinfer1::IPluginCreatorInterface* const* list = get_creators(count);
  std::vector<nvinfer1::IPluginCreatorV3One*> creators;
  for (int32_t i = 0; i < count; ++i) creators.push_back(static_cast<nvinfer1::IPluginCreatorV3One*>(list[i]));
  return creators;
}

// ---- named regression tests of the fuzz findings (run before every fuzz pass) ---------------

void regression_output_channels_zero_pooled() {
  OpAttrs attrs = default_attrs(OpKind::kPSRoIPool);
  attrs.pooled_h = 0;  // SIGFPE in roipool_output_channels before the fix
  if (roipool_output_channels(static_cast<int32_t>(OpKind::kPSRoIPool), &attrs, 12) != 0) {
    finding("regression_output_channels_zero_pooled");
  }
}

void regression_misaligned_field_data(const std::vector<nvinfer1::IPluginCreatorV3One*>& creators) {
  // UBSan: misaligned int32 / float loads from field data at an odd address.
  alignas(8) unsigned char storage[16] = {};
  const int32_t pooled = 5;
  const float scale = 0.25f;
  std::memcpy(storage + 1, &pooled, 4);
  std::memcpy(storage + 9, &scale, 4);
  const PluginField fields[] = {{"pooled_h", storage + 1, PluginFieldType::kINT32, 1},
                                {"spatial_scale", storage + 9, PluginFieldType::kFLOAT32, 1}};
  const PluginFieldCollection collection{2, fields};
  for (nvinfer1::IPluginCreatorV3One* creator : creators) {
    if (std::strcmp(creator->getPluginName(), "RoIAlign") != 0) continue;
    std::unique_ptr<nvinfer1::IPluginV3> plugin(creator->createPlugin("fuzz", &collection, nvinfer1::TensorRTPhase::kBUILD));
    OpAttrs attrs = default_attrs(OpKind::kRoIAlign);
    if (plugin) trt_attrs_from_plugin(plugin.get(), &attrs);
    if (!plugin || attrs.pooled_h != pooled) finding("regression_misaligned_field_data");
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  int64_t cabi = 2000, trt = 2000;
  const char* trt_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--cabi" && i + 1 < argc) cabi = std::strtoll(argv[++i], nullptr, 10);
    else if (arg == "--trt" && i + 1 < argc) trt = std::strtoll(argv[++i], nullptr, 10);
    else trt_path = argv[i];
  }
  Rng rng(seed);
  regression_output_channels_zero_pooled();
  for (int64_t i = 0; i < cabi; ++i) fuzz_forward(rng);
  std::printf("cabi: %lld roipool_forward calls (seed %llu)\n", static_cast<long long>(cabi),
              static_cast<unsigned long long>(seed));
  if (trt_path != nullptr && trt > 0) {
    const auto creators = load_trt(trt_path);
    regression_misaligned_field_data(creators);
    TrtCounts counts;
    for (int64_t i = 0; i < trt && !creators.empty(); ++i) fuzz_trt(rng, creators, &counts);
    std::printf("trt: %lld createPlugin calls, %lld calls into created plugins, %lld logged errors\n",
                static_cast<long long>(counts.creates), static_cast<long long>(counts.calls),
                static_cast<long long>(g_finder.logger.errors));
  }
  std::printf("%d findings\n", g_findings);
  return g_findings == 0 ? 0 : 1;
}
