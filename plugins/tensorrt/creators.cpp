// The creators (roipool's nine ops, then the aliases of roipool/aliases.h) and
// setLoggerFinder. The registration entry points (getCreators,
// roipool_trt_register_creators, registration on load) are in autoload.cpp.
#include <memory>
#include <vector>

#include "logging.h"
#include "plugin_base.h"
#include "registration.h"

namespace roipool::trt {

RoiPoolPluginCreator::RoiPoolPluginCreator(OpKind op, const OpAlias* alias) : op_(op), alias_(alias) {
  if (alias) {
    field_names_.describe(*alias);
  } else {
    field_names_.describe(op);
  }
}

nvinfer1::IPluginV3* RoiPoolPluginCreator::createPlugin(const char*, const nvinfer1::PluginFieldCollection* fields,
                                                        nvinfer1::TensorRTPhase phase) noexcept {
  try {
    if (phase != nvinfer1::TensorRTPhase::kBUILD && phase != nvinfer1::TensorRTPhase::kRUNTIME) {
      log_error(std::string(getPluginName()) + ": unknown TensorRT phase");
      return nullptr;
    }
    OpAttrs attrs{};
    std::vector<NamedValue> values;
    const Status status = alias_ ? alias_attrs_from_fields(*alias_, fields, &attrs, &values)
                                 : attrs_from_fields(op_, fields, &attrs);
    if (!status.ok()) {
      log_error(status.message());
      return nullptr;
    }
    return std::make_unique<RoiPoolPlugin>(op_, attrs, alias_, std::move(values)).release();
  } catch (...) {
    log_current_exception(getPluginName());
    return nullptr;
  }
}

const nvinfer1::PluginFieldCollection* RoiPoolPluginCreator::getFieldNames() noexcept {
  return field_names_.collection();
}
const char* RoiPoolPluginCreator::getPluginName() const noexcept { return alias_ ? alias_->name : op_name(op_); }
const char* RoiPoolPluginCreator::getPluginVersion() const noexcept {
  return alias_ ? alias_->plugin_version : kPluginVersion;
}
const char* RoiPoolPluginCreator::getPluginNamespace() const noexcept {
  return alias_ ? alias_->plugin_namespace : kPluginNamespace;
}

namespace {

struct Creators {
  std::vector<std::unique_ptr<RoiPoolPluginCreator>> owned;
  std::vector<nvinfer1::IPluginCreatorInterface*> interfaces;

  Creators() {
    for (int32_t i = 0; i < kNumOps; ++i) {
      owned.push_back(std::make_unique<RoiPoolPluginCreator>(static_cast<OpKind>(i)));
    }
    for (const OpAlias& alias : op_aliases()) {
      owned.push_back(std::make_unique<RoiPoolPluginCreator>(alias.op, &alias));
    }
    for (const auto& creator : owned) interfaces.push_back(creator.get());
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
    const auto& interfaces = creators().interfaces;
    count = static_cast<int32_t>(interfaces.size());
    return interfaces.data();
  } catch (...) {  // out of memory building the creators
    log_current_exception("creating the plugin creators");
    count = 0;
    return nullptr;
  }
}
