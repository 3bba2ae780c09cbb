// libroipool_torch.so: CPU and CUDA kernels of the torch.ops.roipool operators, registered
// with the dispatcher through torch's stable ABI (STABLE_TORCH_LIBRARY_IMPL), so one build
// loads into every torch from the targeted stable-ABI version on (TORCH_TARGET_VERSION).
//
// A thin adapter over the kernel core's C ABI (libroipool_core.so): it describes the call
// (OpAttrs / OpArgs / GradArgs of common.h) and lets the core parse, validate and run it;
// no formula or rule lives here. The schemas, fake kernels and autograd stay in Python
// (python/roipool/ops/_library.py), as torchvision does for its stable-ABI ops.
//
// A call this file does not serve itself (float64 or other dtypes, mixed devices or
// dtypes, rois of a third dtype, ROIPOOL_DISABLE_NATIVE set, a CUDA tensor with a CPU-only
// core, or arguments the core rejects) is handed whole to the op's Python implementation,
// roipool::_<op>_fallback, which runs the reference or raises the eager API's ValueError
// (the stable ABI can raise only RuntimeError). See docs/architecture.md.
#include <dlfcn.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>

#include "roipool/c_api.h"

namespace {

using torch::headeronly::ScalarType;
using torch::stable::Tensor;

constexpr size_t kErrorSize = 1024;

std::optional<roipool::DType> core_dtype(ScalarType type) {
  switch (type) {
    case ScalarType::Float: return roipool::DType::kFloat32;
    case ScalarType::Half: return roipool::DType::kFloat16;
    case ScalarType::BFloat16: return roipool::DType::kBFloat16;
    default: return std::nullopt;
  }
}

// Whether the strides of a 4-d tensor describe a dense layout with dims ordered
// innermost-first as in `order` (size-1 dims may have any stride, as torch's rule says).
bool dense_in_order(const Tensor& t, const std::array<int64_t, 4>& order) {
  int64_t expected = 1;
  for (const int64_t d : order) {
    const int64_t size = t.size(d);
    if (size != 1 && t.stride(d) != expected) return false;
    expected *= size;
  }
  return true;
}

// `t` itself when already contiguous: skips a dispatcher round trip on the common path.
Tensor as_contiguous(const Tensor& t) {
  return t.is_contiguous() ? t : torch::stable::contiguous(t);
}

// ---- CPU loops on torch's intra-op threads (at::parallel_for through the stable ABI) ----

struct LoopBody {
  roipool::CpuTaskFn task;
  void* data;
};

void run_on_torch_threads(void* /*user_data*/, int64_t num_tasks, roipool::CpuTaskFn task,
                          void* task_data) {
  const LoopBody body{task, task_data};
  torch::stable::parallel_for(0, num_tasks, 1, [&body](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body.task(body.data, i);
  });
}

roipool::CpuOptions torch_cpu_options() {
  roipool::CpuOptions options;
  options.num_threads = static_cast<int32_t>(torch::stable::get_num_threads());
  options.executor = roipool::CpuExecutor{run_on_torch_threads, nullptr};
  return options;
}

// ---- torch symbols newer than the target version, or only in CUDA builds -----------------

// A function of one of torch's loaded libraries, or nullptr. Looked up in the library
// itself (torch loads it RTLD_LOCAL, so RTLD_DEFAULT does not see it) rather than linked,
// so this file loads into torch builds and versions that lack it.
void* torch_symbol(const char* library, const char* name) {
  void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
  return handle != nullptr ? dlsym(handle, name) : nullptr;
}

// aoti_torch_get_current_cuda_stream lives in libtorch_cuda.so, which a CPU-only torch lacks.
void* current_cuda_stream(int32_t device_index) {
  using GetStream = int32_t (*)(int32_t, void**);
  static const auto get_stream = reinterpret_cast<GetStream>(
      torch_symbol("libtorch_cuda.so", "aoti_torch_get_current_cuda_stream"));
  STD_TORCH_CHECK(get_stream != nullptr,
                  "roipool: torch's CUDA stream API (libtorch_cuda.so) is not loaded");
  void* stream = nullptr;
  STD_TORCH_CHECK(get_stream(device_index, &stream) == 0,
                  "roipool: cannot get the current CUDA stream");
  return stream;
}

// The message of the exception a shim call just caught on this thread (torch 2.13 on:
// torch_exception_get_what_without_backtrace), or a note that this torch keeps none.
std::string last_torch_error() {
  using GetWhat = const char* (*)();
  static const auto get_what = reinterpret_cast<GetWhat>(
      torch_symbol("libtorch_cpu.so", "torch_exception_get_what_without_backtrace"));
  const char* what = get_what != nullptr ? get_what() : nullptr;
  if (what == nullptr) return "(this torch passes no message across its stable ABI)";
  std::string message = what;
  const size_t traceback = message.find("\n\nAt:\n");  // a Python error's stack
  return traceback == std::string::npos ? message : message.substr(0, traceback);
}

// ---- one call ------------------------------------------------------------------------------

// A call described to the core. `native` is false when the Python implementation must
// serve it (see the file comment); every check below is only "can this file pass the
// tensors as they are" — the core validates the call itself.
class OpCall {
 public:
  OpCall(const char* name, std::vector<Tensor> features, Tensor rois,
         std::optional<Tensor> offset = std::nullopt, std::optional<Tensor> mask = std::nullopt)
      : name_(name), features_(std::move(features)), rois_(std::move(rois)),
        offset_(std::move(offset)), mask_(std::move(mask)) {
    native_ = roipool_op_from_name(name, &op_) == 0 &&
              roipool_default_attrs(op_, &attrs_) == 0 && !native_disabled() && check_tensors();
  }

  void set(const char* attr, int64_t value) {
    set_attribute(attr, roipool::AttrType::kInt, &value, nullptr, 1, nullptr);
  }
  void set(const char* attr, bool value) { set(attr, static_cast<int64_t>(value)); }
  void set(const char* attr, double value) {
    const float f = static_cast<float>(value);
    set_attribute(attr, roipool::AttrType::kFloat, nullptr, &f, 1, nullptr);
  }
  void set(const char* attr, const std::string& value) {
    set_attribute(attr, roipool::AttrType::kString, nullptr, nullptr, 0, value.c_str());
  }
  void set(const char* attr, const std::vector<double>& values) {
    const std::vector<float> floats(values.begin(), values.end());
    set_attribute(attr, roipool::AttrType::kFloats, nullptr, floats.data(),
                  static_cast<int64_t>(floats.size()), nullptr);
  }

  // Whether these kernels serve the call (else Python does); raises a rejected attribute.
  bool native() const {
    if (native_ && !attr_error_.empty()) throw std::runtime_error(attr_error_);
    return native_;
  }
  const char* name() const { return name_; }

  // The pooled output; nullopt when the core cannot size it (the Python path then words
  // the error).
  std::optional<Tensor> forward() {
    const int64_t channels = roipool_output_channels(op_, &attrs_, features_.front().size(1));
    if (channels < 0) return std::nullopt;
    const Tensor& first = features_.front();
    Tensor output =
        torch::stable::empty({rois_.size(0), channels, attrs_.pooled_h, attrs_.pooled_w},
                             first.scalar_type(), std::nullopt, first.device());
    describe_features(true);
    roipool::OpArgs args = op_args(output.numel() > 0 ? rois_.size(0) : 0);
    args.output = output.data_ptr();
    run(&args, nullptr);
    return output;
  }

  // Gradients in the order the Python autograd expects: every feature map, then offset
  // and mask (when given), then the rois (PrRoIPool); nullopt for a gradient of the wrong
  // shape (the Python path words that error).
  std::optional<std::vector<Tensor>> backward(const Tensor& grad_in) {
    const Tensor& first = features_.front();
    const int64_t channels = roipool_output_channels(op_, &attrs_, first.size(1));
    const std::array<int64_t, 4> out_shape{rois_.size(0), channels, attrs_.pooled_h,
                                           attrs_.pooled_w};
    if (channels < 0 || grad_in.dim() != 4 || grad_in.device() != first.device()) {
      return std::nullopt;
    }
    for (int64_t d = 0; d < 4; ++d) {
      if (grad_in.size(d) != out_shape[d]) return std::nullopt;
    }
    Tensor grad = grad_in.scalar_type() == first.scalar_type()
                      ? grad_in
                      : torch::stable::to(grad_in, first.scalar_type());
    grad = as_contiguous(grad);

    std::vector<Tensor> buffers;
    std::vector<float*> feature_grads;
    for (const Tensor& f : features_) feature_grads.push_back(push_buffer(&buffers, f));
    roipool::GradArgs grads{grad.data_ptr(), feature_grads.data(), nullptr, nullptr, nullptr};
    if (offset_) grads.grad_offset = push_buffer(&buffers, *offset_);
    if (mask_) grads.grad_mask = push_buffer(&buffers, *mask_);
    if (grad_rois_wanted()) grads.grad_rois = push_buffer(&buffers, rois_);

    // Python keeps a stride-0 stand-in of maps this backward never reads: described by
    // shape only (null data), so it is never materialised.
    describe_features(false);
    roipool::OpArgs args = op_args(rois_.size(0));
    if (roipool_backward_reads_input(op_, &attrs_, &args, &grads) != 0) {
      describe_features(true);
      args = op_args(rois_.size(0));
    }
    if (grad.numel() == 0) {  // C_out = 0 or K = 0: every gradient is zero
      for (Tensor& b : buffers) torch::stable::zero_(b);
    } else {
      run(&args, &grads);
    }
    return cast_back(std::move(buffers));
  }

 private:
  static bool native_disabled() {
    const char* value = std::getenv("ROIPOOL_DISABLE_NATIVE");
    return value != nullptr && value[0] != '\0';
  }

  bool check_tensors() {
    if (features_.empty()) return false;
    const Tensor& first = features_.front();
    const auto dtype = core_dtype(first.scalar_type());
    if (!dtype || !(first.is_cpu() || (first.is_cuda() && roipool_cuda_compiled()))) return false;
    for (const Tensor& f : features_) {
      if (f.dim() != 4 || f.scalar_type() != first.scalar_type() || f.device() != first.device()) {
        return false;
      }
    }
    if (rois_.dim() != 2 || rois_.size(1) != roipool_rois_columns(op_) ||
        rois_.device() != first.device()) {
      return false;
    }
    const auto rois_dtype = core_dtype(rois_.scalar_type());
    if (!rois_dtype || (*rois_dtype != roipool::DType::kFloat32 && *rois_dtype != *dtype)) {
      return false;
    }
    dtype_ = *dtype;
    rois_dtype_ = *rois_dtype;
    rois_ = as_contiguous(rois_);
    for (std::optional<Tensor>* aux : {&offset_, &mask_}) {
      if (!*aux) continue;
      if ((*aux)->scalar_type() != first.scalar_type() || (*aux)->device() != first.device()) {
        return false;
      }
      *aux = as_contiguous(**aux);
    }
    return true;
  }

  // Parses one attribute in the core; a rejected value raises its message (naming op
  // and attribute) when the kernels get the call. Skipped for calls Python serves.
  void set_attribute(const char* attr, roipool::AttrType type, const int64_t* ints,
                     const float* floats, int64_t count, const char* text) {
    if (!native_ || !attr_error_.empty()) return;
    char error[kErrorSize] = {0};
    if (roipool_set_attribute(op_, &attrs_, attr, static_cast<int32_t>(type), ints, floats,
                              count, text, error, kErrorSize) != 0) {
      attr_error_ = error[0] != '\0' ? error : "roipool: bad attribute";
    }
  }

  // The core's view of the feature maps: NHWC when channels-last dense, else NCHW
  // (made contiguous); with `with_data` false, shapes only.
  void describe_features(bool with_data) {
    maps_.clear();
    for (Tensor& f : features_) {
      roipool::FeatureMap map{nullptr, f.size(0), f.size(1), f.size(2), f.size(3),
                              roipool::Layout::kNCHW};
      if (with_data) {
        if (!f.is_contiguous() && dense_in_order(f, {1, 3, 2, 0})) {
          map.layout = roipool::Layout::kNHWC;
        } else {
          f = as_contiguous(f);
        }
        map.data = f.data_ptr();
      }
      maps_.push_back(map);
    }
  }

  roipool::OpArgs op_args(int64_t num_rois) const {
    roipool::OpArgs args{};
    args.dtype = dtype_;
    args.rois_dtype = rois_dtype_;
    args.num_features = static_cast<int32_t>(maps_.size());
    args.features = maps_.data();
    args.rois = rois_.data_ptr();
    args.num_rois = num_rois;
    args.offset = offset_ ? offset_->data_ptr() : nullptr;
    args.mask = mask_ ? mask_->data_ptr() : nullptr;
    return args;
  }

  // Runs the core (forward when `grads` is null); raises the core's error, which names the
  // argument for rejected ones.
  void run(const roipool::OpArgs* args, const roipool::GradArgs* grads) {
    char error[kErrorSize] = {0};
    const Tensor& first = features_.front();
    int32_t code = 0;
    if (first.is_cuda()) {
      const torch::stable::accelerator::DeviceGuard guard(first.get_device_index());
      void* stream = current_cuda_stream(first.get_device_index());
      code = grads ? roipool_backward_with(op_, &attrs_, args, grads, 1, stream, nullptr, error,
                                           kErrorSize)
                   : roipool_forward_with(op_, &attrs_, args, 1, stream, nullptr, error,
                                          kErrorSize);
    } else {
      const roipool::CpuOptions options = torch_cpu_options();
      code = grads ? roipool_backward_with(op_, &attrs_, args, grads, 0, nullptr, &options, error,
                                           kErrorSize)
                   : roipool_forward_with(op_, &attrs_, args, 0, nullptr, &options, error,
                                          kErrorSize);
    }
    if (code != 0) throw std::runtime_error(error);
  }

  // A float32 gradient buffer shaped like `like` (SPEC 2: float32 accumulation).
  static float* push_buffer(std::vector<Tensor>* buffers, const Tensor& like) {
    std::vector<int64_t> shape;
    for (int64_t d = 0; d < like.dim(); ++d) shape.push_back(like.size(d));
    buffers->push_back(torch::stable::empty(shape, ScalarType::Float, std::nullopt, like.device()));
    return static_cast<float*>(buffers->back().data_ptr());
  }

  // The float32 gradients in the dtype of the tensor each belongs to (SPEC 2).
  std::vector<Tensor> cast_back(std::vector<Tensor> buffers) const {
    std::vector<const Tensor*> owners;
    for (const Tensor& f : features_) owners.push_back(&f);
    if (offset_) owners.push_back(&*offset_);
    if (mask_) owners.push_back(&*mask_);
    if (grad_rois_wanted()) owners.push_back(&rois_);
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (owners[i]->scalar_type() != ScalarType::Float) {
        buffers[i] = torch::stable::to(buffers[i], owners[i]->scalar_type());
      }
    }
    return buffers;
  }

  bool grad_rois_wanted() const { return op_ == static_cast<int32_t>(roipool::OpKind::kPrRoIPool); }

  const char* name_;
  std::vector<Tensor> features_;
  Tensor rois_;
  std::optional<Tensor> offset_, mask_;
  int32_t op_ = -1;
  roipool::OpAttrs attrs_{};
  roipool::DType dtype_ = roipool::DType::kFloat32;
  roipool::DType rois_dtype_ = roipool::DType::kFloat32;
  std::vector<roipool::FeatureMap> maps_;
  bool native_ = false;
  std::string attr_error_;
};

// ---- the operators --------------------------------------------------------------------------

// roipool::_<name>_fallback / _<name>_backward_fallback (Python) with the same arguments.
template <typename Result, typename... Args>
Result call_fallback(const OpCall& call, const char* suffix, const Args&... args) {
  const std::string op = std::string("roipool::_") + call.name() + suffix;
  std::array<StableIValue, sizeof...(Args)> stack{torch::stable::detail::from(args)...};
  // The Python error (often a ValueError naming the argument) reaches the caller as a
  // RuntimeError with its text: the stable ABI passes no exception type.
  if (torch_call_dispatcher(op.c_str(), "", stack.data(), TORCH_ABI_VERSION) != TORCH_SUCCESS) {
    throw std::runtime_error(last_torch_error());
  }
  return torch::stable::detail::to<Result>(stack[0]);
}

// The forward and backward kernels of the op whose OpCall `Build` describes; `Build`'s
// parameters are the op's schema arguments.
template <auto Build>
struct Kernels;

template <typename... Args, OpCall (*Build)(Args...)>
struct Kernels<Build> {
  static Tensor forward(Args... args) {
    OpCall call = Build(args...);
    if (call.native()) {
      if (std::optional<Tensor> out = call.forward()) return *out;
    }
    return call_fallback<Tensor>(call, "_fallback", args...);
  }

  static std::vector<Tensor> backward(Tensor grad, Args... args) {
    OpCall call = Build(args...);
    if (call.native()) {
      if (std::optional<std::vector<Tensor>> grads = call.backward(grad)) return *grads;
    }
    return call_fallback<std::vector<Tensor>>(call, "_backward_fallback", grad, args...);
  }
};

OpCall pooled(const char* name, Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale) {
  OpCall call(name, {std::move(input)}, std::move(rois));
  call.set("pooled_h", ph);
  call.set("pooled_w", pw);
  call.set("spatial_scale", scale);
  return call;
}

OpCall roi_pool(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale) {
  return pooled("roi_pool", std::move(input), std::move(rois), ph, pw, scale);
}

OpCall ps_roi_pool(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale) {
  return pooled("ps_roi_pool", std::move(input), std::move(rois), ph, pw, scale);
}

OpCall prroi_pool(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale) {
  return pooled("prroi_pool", std::move(input), std::move(rois), ph, pw, scale);
}

OpCall ps_roi_align(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale,
                    int64_t sampling_ratio) {
  OpCall call = pooled("ps_roi_align", std::move(input), std::move(rois), ph, pw, scale);
  call.set("sampling_ratio", sampling_ratio);
  return call;
}

OpCall sampled(const char* name, Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale,
               int64_t sampling_ratio, bool aligned, std::string mode) {
  OpCall call = pooled(name, std::move(input), std::move(rois), ph, pw, scale);
  call.set("sampling_ratio", sampling_ratio);
  call.set("aligned", aligned);
  call.set("mode", mode);
  return call;
}

OpCall roi_align(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale,
                 int64_t sampling_ratio, bool aligned, std::string mode) {
  return sampled("roi_align", std::move(input), std::move(rois), ph, pw, scale, sampling_ratio,
                 aligned, std::move(mode));
}

OpCall roi_warp(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale,
                int64_t sampling_ratio, bool aligned, std::string mode) {
  return sampled("roi_warp", std::move(input), std::move(rois), ph, pw, scale, sampling_ratio,
                 aligned, std::move(mode));
}

OpCall deform_roi_pool(Tensor input, Tensor rois, std::optional<Tensor> offset,
                       std::optional<Tensor> mask, int64_t ph, int64_t pw, double scale,
                       int64_t sampling_ratio, double gamma) {
  OpCall call("deform_roi_pool", {std::move(input)}, std::move(rois), std::move(offset),
              std::move(mask));
  call.set("pooled_h", ph);
  call.set("pooled_w", pw);
  call.set("spatial_scale", scale);
  call.set("sampling_ratio", sampling_ratio);
  call.set("gamma", gamma);
  return call;
}

OpCall multi_scale_roi_align(Tensor rois, std::vector<Tensor> features, int64_t ph, int64_t pw,
                             int64_t sampling_ratio, bool aligned,
                             std::vector<double> spatial_scales, std::string level_mapping,
                             double canonical_scale, int64_t canonical_level,
                             double roi_scale_factor) {
  OpCall call("multi_scale_roi_align", std::move(features), std::move(rois));
  call.set("pooled_h", ph);
  call.set("pooled_w", pw);
  call.set("sampling_ratio", sampling_ratio);
  call.set("aligned", aligned);
  call.set("spatial_scales", spatial_scales);
  call.set("level_mapping", level_mapping);
  call.set("canonical_scale", canonical_scale);
  call.set("canonical_level", canonical_level);
  call.set("roi_scale_factor", roi_scale_factor);
  return call;
}

OpCall roi_align_rotated(Tensor input, Tensor rois, int64_t ph, int64_t pw, double scale,
                         int64_t sampling_ratio, bool aligned, bool clockwise) {
  OpCall call = pooled("roi_align_rotated", std::move(input), std::move(rois), ph, pw, scale);
  call.set("sampling_ratio", sampling_ratio);
  call.set("aligned", aligned);
  call.set("clockwise", clockwise);
  return call;
}

#define ROIPOOL_REGISTER(m, op)                                    \
  do {                                                             \
    (m).impl(#op, TORCH_BOX(&Kernels<&op>::forward));              \
    (m).impl(#op "_backward", TORCH_BOX(&Kernels<&op>::backward)); \
  } while (0)

void register_kernels(torch::stable::detail::StableLibrary& m) {
  ROIPOOL_REGISTER(m, roi_pool);
  ROIPOOL_REGISTER(m, roi_align);
  ROIPOOL_REGISTER(m, roi_warp);
  ROIPOOL_REGISTER(m, ps_roi_pool);
  ROIPOOL_REGISTER(m, ps_roi_align);
  ROIPOOL_REGISTER(m, deform_roi_pool);
  ROIPOOL_REGISTER(m, multi_scale_roi_align);
  ROIPOOL_REGISTER(m, roi_align_rotated);
  ROIPOOL_REGISTER(m, prroi_pool);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(roipool, CPU, m) { register_kernels(m); }

STABLE_TORCH_LIBRARY_IMPL(roipool, CUDA, m) { register_kernels(m); }
