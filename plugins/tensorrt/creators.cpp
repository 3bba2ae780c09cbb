// The nine creators and setLoggerFinder. The registration entry points (getCreators,
// roipool_trt_register_creators, registration on load) are in autoload.cpp.
#include <array>
#include <memory>

#include "logging.h"
#include "plugin_base.h"
#include "registration.h"

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
  } catch (const std::exception& e) {
    log_error(std::string(op_name(op_)) + ": createPlugin failed: " + e.what());
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

nvinfer1::IPluginCreatorInterface* const* roipool::trt::all_creators(int32_t& count) noexcept {
  try {
    nvinfer1::IPluginCreatorInterface* const* list = creators().interfaces.data();
    count = roipool::kNumOps;
    return list;
  } catch (const std::exception& e) {  // out of memory building the creators
    log_error(std::string("creating the plugin creators failed: ") + e.what());
    count = 0;
    return nullptr;
  }
}
