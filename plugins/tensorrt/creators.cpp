// The nine creators and the library's entry points:
//   getCreators / setLoggerFinder  for IPluginRegistry::loadLibrary and trtexec --dynamicPlugins;
//   roipool_trt_register_creators  for a process that loaded the library itself (ctypes):
//                                  registers with libnvinfer's registry found at runtime.
#include <array>
#include <memory>

#include "logging.h"
#include "plugin_base.h"

namespace roipool::trt {

RoiPoolPluginCreator::RoiPoolPluginCreator(OpKind op) : op_(op) { field_names_.describe(op); }

nvinfer1::IPluginV3* RoiPoolPluginCreator::createPlugin(const char*, const nvinfer1::PluginFieldCollection* fields,
                                                        nvinfer1::TensorRTPhase phase) noexcept {
  try {
    if (phase != nvinfer1::TensorRTPhase::kBUILD && phase != nvinfer1::TensorRTPhase::kRUNTIME) {
      log_error(std::string(op_name(op_)) + ": unknown TensorRT phase");
      return nullptr;
    }
    OpAttrs attrs{};
    const Status status = attrs_from_fields(op_, fields, &attrs);
    if (!status.ok()) {
      log_error(status.message());
      return nullptr;
    }
    return std::make_unique<RoiPoolPlugin>(op_, attrs).release();
  } catch (...) {
    log_current_exception(op_name(op_));
    return nullptr;
  }
}

const nvinfer1::PluginFieldCollection* RoiPoolPluginCreator::getFieldNames() noexcept {
  return field_names_.collection();
}
const char* RoiPoolPluginCreator::getPluginName() const noexcept { return op_name(op_); }
const char* RoiPoolPluginCreator::getPluginVersion() const noexcept { return kPluginVersion; }
const char* RoiPoolPluginCreator::getPluginNamespace() const noexcept { return kPluginNamespace; }

namespace {

struct Creators {
  std::array<std::unique_ptr<RoiPoolPluginCreator>, kNumOps> owned;
  std::array<nvinfer1::IPluginCreatorInterface*, kNumOps> interfaces{};

  Creators() {
    for (int32_t i = 0; i < kNumOps; ++i) {
      owned[i] = std::make_unique<RoiPoolPluginCreator>(static_cast<OpKind>(i));
      interfaces[i] = owned[i].get();
    }
  }
};

Creators& creators() {
  static Creators instance;
  return instance;
}

}  // namespace
}  // namespace roipool::trt

#define ROIPOOL_TRT_EXPORT extern "C" __attribute__((visibility("default")))

ROIPOOL_TRT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
  roipool::trt::set_logger_finder(finder);
}

ROIPOOL_TRT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nb_creators) {
  nb_creators = roipool::kNumOps;
  return roipool::trt::creators().interfaces.data();
}

// Registers the creators with libnvinfer's global registry when libnvinfer is already
// loaded in the process; returns how many were registered (0: no TensorRT loaded).
// Not done at load time: IPluginRegistry::loadLibrary also dlopen()s this library and
// registers getCreators() itself.
ROIPOOL_TRT_EXPORT int32_t roipool_trt_register_creators() {
  using GetRegistryFn = nvinfer1::IPluginRegistry* (*)();
  auto get_registry = reinterpret_cast<GetRegistryFn>(roipool::trt::find_nvinfer_symbol("getPluginRegistry"));
  nvinfer1::IPluginRegistry* registry = get_registry ? get_registry() : nullptr;
  if (registry == nullptr) return 0;
  int32_t registered = 0;
  for (nvinfer1::IPluginCreatorInterface* creator : roipool::trt::creators().interfaces) {
    registered += registry->registerCreator(*creator, roipool::trt::kPluginNamespace) ? 1 : 0;
  }
  return registered;
}
