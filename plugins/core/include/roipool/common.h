// roipool kernel core: the public C++ API shared by every backend.
//
// The core depends on nothing but the C++17 standard library (and the CUDA runtime
// for the CUDA kernels). Every adapter (ONNX Runtime op, TensorRT plugin, Python
// binding) describes a call with `OpKind` + `OpAttrs` + `OpArgs` and hands it to
// `forward_cpu` / `forward_cuda`. Attribute names, defaults, parsing, validation
// and error text live here once (attributes.cpp, validation.cpp).
//
// All structs are standard-layout PODs: the C ABI (c_api.h) passes them as they are
// and the Python binding mirrors them with ctypes. Keep field order in sync with
// python/roipool/_native.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roipool {

// One value per operator of SPEC.md section 1, in SPEC order.
enum class OpKind : int32_t {
  kRoIPool = 0,
  kRoIAlign = 1,
  kRoIWarp = 2,
  kPSRoIPool = 3,
  kPSRoIAlign = 4,
  kDeformRoIPool = 5,
  kMultiScaleRoIAlign = 6,
  kRoIAlignRotated = 7,
  kPrRoIPool = 8,
};
constexpr int32_t kNumOps = 9;

enum class DType : int32_t { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };
enum class Layout : int32_t { kNCHW = 0, kNHWC = 1 };
enum class PoolMode : int32_t { kAvg = 0, kMax = 1 };
enum class LevelMapping : int32_t { kTorchvision = 0, kMMDet = 1 };

constexpr int32_t kMaxLevels = 8;
// Upper bound on samples per bin axis, explicit or adaptive: keeps absurd boxes and
// sampling ratios finite (SPEC section 2: "huge sampling ratios" get a defined result).
constexpr int32_t kMaxSamplingGrid = 1024;

// Every attribute of every op; an op reads the ones SPEC section 3 lists for it.
struct OpAttrs {
  int32_t pooled_h;
  int32_t pooled_w;
  float spatial_scale;
  int32_t sampling_ratio;  // <= 0: adaptive
  int32_t aligned;         // 0/1
  PoolMode mode;
  float gamma;             // DeformRoIPool
  int32_t clockwise;       // RoIAlignRotated, 0/1
  int32_t num_levels;      // MultiScaleRoIAlign: entries used in spatial_scales
  float spatial_scales[kMaxLevels];
  LevelMapping level_mapping;
  float canonical_scale;   // <= 0: the mapping's default (torchvision 224, mmdet 56)
  int32_t canonical_level;
  float roi_scale_factor;
  // MultiScaleRoIAlign: rescale boxes by mmdeploy's legacy rule, half width
  // ((x2 - x1 + 1) * factor - 1) / 2 (set only by the MMCVMultiLevelRoiAlign alias).
  int32_t legacy_roi_rescale;
};

// Defaults used when an attribute is absent (SPEC section 1: every field has one).
OpAttrs default_attrs(OpKind op);

// canonical_scale with the "<= 0 means the mapping's default" rule applied.
float effective_canonical_scale(const OpAttrs& attrs);

// One input feature map. `data` points at element [0, 0, 0, 0].
struct FeatureMap {
  const void* data;
  int64_t batch;
  int64_t channels;
  int64_t height;
  int64_t width;
  Layout layout;
};

// Everything one forward call reads and writes. Device pointers for CUDA.
struct OpArgs {
  DType dtype;                 // features, offset, mask and output
  DType rois_dtype;            // kFloat32 or == dtype
  int32_t num_features;        // 1; L for MultiScaleRoIAlign (finest first)
  const FeatureMap* features;  // host array of num_features entries
  const void* rois;            // [K, 5] (rotated: [K, 6]) contiguous
  int64_t num_rois;            // K >= 0
  const void* offset;          // DeformRoIPool: [K, 2, ph, pw] or nullptr
  const void* mask;            // DeformRoIPool: [K, 1, ph, pw] or nullptr
  void* output;                // [K, C_out, ph, pw] contiguous NCHW
};

class Status {
 public:
  // kInternal: the host failed (out of memory, no threads), not the call's arguments.
  enum class Code : int32_t {
    kOk = 0, kInvalidArgument = 1, kUnsupported = 2, kCudaError = 3, kInternal = 4
  };
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status Unsupported(std::string message) {
    return Status(Code::kUnsupported, std::move(message));
  }
  static Status CudaError(std::string message) {
    return Status(Code::kCudaError, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(Code::kInternal, std::move(message));
  }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// ---- names and attribute schema (attributes.cpp) ---------------------------------

// `text` safe to echo in an error message: printable ASCII kept, every other byte as
// \xNN, so a message is valid UTF-8 whatever a caller passed (bindings decode it).
std::string printable(std::string_view text);

// ONNX op_type / TensorRT plugin name, e.g. "RoIAlign".
const char* op_name(OpKind op);
// Python / C++ snake-case name, e.g. "roi_align".
const char* op_snake_name(OpKind op);
bool op_from_name(std::string_view name, OpKind* op);  // accepts either spelling

enum class AttrType : int32_t { kInt = 0, kFloat = 1, kString = 2, kInts = 3, kFloats = 4 };

struct AttrSpec {
  const char* name;
  AttrType type;
};

// The ONNX attributes (= TensorRT plugin fields) of `op`, in a fixed order.
std::vector<AttrSpec> op_attributes(OpKind op);

// An attribute value as adapters receive it. For kString, `text` holds the string;
// for kInt / kFloat one entry of `ints` / `floats`.
struct AttrValue {
  AttrType type = AttrType::kInt;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string text;
};

// Parse one attribute into `attrs`. Unknown names, wrong types and out-of-range
// values give kInvalidArgument with a message naming op and attribute.
Status set_attribute(OpKind op, std::string_view name, const AttrValue& value, OpAttrs* attrs);
// The value of one attribute of `op` (for serialization); `name` must be listed.
AttrValue get_attribute(OpKind op, std::string_view name, const OpAttrs& attrs);

// ---- shapes and validation (validation.cpp) ---------------------------------------

int32_t rois_columns(OpKind op);     // 5, or 6 for RoIAlignRotated
int32_t min_inputs(OpKind op);       // ONNX inputs (features count as one each)
int32_t max_inputs(OpKind op);
// C_out for C input channels (C / (ph * pw) for PS ops).
int64_t output_channels(OpKind op, const OpAttrs& attrs, int64_t channels);

Status validate_attrs(OpKind op, const OpAttrs& attrs);
// Checks shapes, dtypes and pointers of one call (not the RoI values: bad RoIs give
// zeros inside the kernels, SPEC section 2).
Status validate_args(OpKind op, const OpAttrs& attrs, const OpArgs& args);

// ---- execution (dispatch.cpp) -------------------------------------------------------

// A caller-supplied parallel-for, e.g. ONNX Runtime's intra-op thread pool; plain
// function pointers and user data, so it crosses C ABIs. `run` must call
// task(task_data, i) exactly once for every i in [0, num_tasks), on any threads, and
// return only when every call has returned.
using CpuTaskFn = void (*)(void* task_data, int64_t index);
struct CpuExecutor {
  void (*run)(void* user_data, int64_t num_tasks, CpuTaskFn task, void* task_data);
  void* user_data;
};

struct CpuOptions {
  // Without an executor: threads the core starts (<= 0: hardware_concurrency). With
  // one: the most tasks one parallel loop is split into (<= 0: the same default).
  int32_t num_threads = 0;
  CpuExecutor executor = {nullptr, nullptr};  // run == nullptr: the core's own threads
};

// Validate, then run the op's CPU kernel. K = 0 returns Ok without touching memory.
Status forward_cpu(OpKind op, const OpAttrs& attrs, const OpArgs& args,
                   const CpuOptions& options = {});
// Validate, then enqueue the op's CUDA kernel on `stream` (a cudaStream_t). Returns
// kUnsupported when the core was built without CUDA.
Status forward_cuda(OpKind op, const OpAttrs& attrs, const OpArgs& args, void* stream);
bool cuda_compiled();
// The CPU vector code path forward_cpu takes now: "baseline", "avx2" or "avx512"
// (ROIPOOL_CPU_ISA when set, else the best this CPU and build support); nullptr when
// ROIPOOL_CPU_ISA names an unknown or unavailable level (forward_cpu then fails).
const char* cpu_isa();

// First RoI (row of `rois`, `columns` wide, float32 or 16-bit per `rois_dtype`) whose
// batch index is not an integer in [0, batch), or -1: lets an eager API raise SPEC
// section 2's error for host tensors without a round of tensor ops (rois_check.cpp).
int64_t first_invalid_batch_index(const void* rois, DType rois_dtype, int64_t num_rois,
                                  int32_t columns, int64_t batch);

// ---- backward (backward.cpp; SPEC section 5) -----------------------------------------

// What one backward call writes. Every buffer is float32 (SPEC 2: float32 accumulation;
// the adapter casts to the input's dtype) and is overwritten entirely, zeros included.
struct GradArgs {
  const void* grad_output;      // [K, C_out, ph, pw] contiguous, OpArgs::dtype
  float* const* grad_features;  // host array of num_features [B, C, H, W] NCHW buffers
  float* grad_offset;           // DeformRoIPool with an offset: [K, 2, ph, pw], else nullptr
  float* grad_mask;             // DeformRoIPool with a mask: [K, 1, ph, pw], else nullptr
  float* grad_rois;             // PrRoIPool: [K, 5] (column 0 stays 0), or nullptr
};

// True when the backward of this call reads the input values (max modes, the offset
// and mask gradients, PrRoIPool's box gradient); otherwise FeatureMap::data may be
// null, so adapters need not keep the feature maps alive for backward.
bool backward_reads_input(OpKind op, const OpAttrs& attrs, const OpArgs& args,
                          const GradArgs& grads);

// Validate, then write the gradients of the op's forward (OpArgs::output is unused).
// K = 0 is legal and writes zeros. CPU: deterministic and independent of the thread
// count (each task owns whole gradient planes). CUDA: float32 atomics, so the order of
// additions (and the last bits of the result) may vary from run to run.
Status backward_cpu(OpKind op, const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                    const CpuOptions& options = {});
Status backward_cuda(OpKind op, const OpAttrs& attrs, const OpArgs& args, const GradArgs& grads,
                     void* stream);

}  // namespace roipool
