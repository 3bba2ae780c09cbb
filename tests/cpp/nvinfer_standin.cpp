// Test-only stand-in for libnvinfer (built as libnvinfer.so.10 and .so.11): exports
// getPluginRegistry, whose registry records every registerCreator call and, like
// TensorRT's, refuses a second creator under the same namespace, name and version.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "NvInferRuntime.h"

namespace {

using nvinfer1::IPluginCreatorInterface;

class RecordingRegistry final : public nvinfer1::IPluginRegistry {
 public:
  bool registerCreator(IPluginCreatorInterface& creator, const char* ns) noexcept override {
    const auto* v3 = static_cast<nvinfer1::IPluginCreatorV3One*>(&creator);
    const std::string key = std::string(ns) + "::" + v3->getPluginName() + "/" + v3->getPluginVersion();
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls;
    return ++registrations[key] == 1;
  }
  bool registerCreator(nvinfer1::IPluginCreator&, const char*) noexcept override { return false; }
  nvinfer1::IPluginCreator* const* getPluginCreatorList(int32_t* n) const noexcept override { return *n = 0, nullptr; }
  nvinfer1::IPluginCreator* getPluginCreator(const char*, const char*, const char*) noexcept override { return nullptr; }
  void setErrorRecorder(nvinfer1::IErrorRecorder*) noexcept override {}
  nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  bool deregisterCreator(const nvinfer1::IPluginCreator&) noexcept override { return false; }
  bool isParentSearchEnabled() const override { return false; }
  void setParentSearchEnabled(bool) override {}
  PluginLibraryHandle loadLibrary(const char*) noexcept override { return nullptr; }
  void deregisterLibrary(PluginLibraryHandle) noexcept override {}
  IPluginCreatorInterface* const* getAllCreators(int32_t* n) const noexcept override { return *n = 0, nullptr; }
  IPluginCreatorInterface* getCreator(const char*, const char*, const char*) noexcept override { return nullptr; }
  bool deregisterCreator(const IPluginCreatorInterface&) noexcept override { return false; }
  nvinfer1::IPluginResource* acquirePluginResource(const char*, nvinfer1::IPluginResource*) noexcept override {
    return nullptr;
  }
  int32_t releasePluginResource(const char*) noexcept override { return -1; }
  IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* n) noexcept override { return *n = 0, nullptr; }

  std::mutex mutex_;
  std::map<std::string, int32_t> registrations;  // "ns::name/version" -> registerCreator calls
  int32_t calls = 0;
};

RecordingRegistry g_registry;

}  // namespace

#define STANDIN_EXPORT extern "C" __attribute__((visibility("default")))

STANDIN_EXPORT nvinfer1::IPluginRegistry* getPluginRegistry() noexcept { return &g_registry; }

// How often the creator "ns::name/version" was registered.
STANDIN_EXPORT int32_t standin_registrations(const char* key) noexcept {
  std::lock_guard<std::mutex> lock(g_registry.mutex_);
  const auto found = g_registry.registrations.find(key);
  return found == g_registry.registrations.end() ? 0 : found->second;
}

// registerCreator calls of any creator.
STANDIN_EXPORT int32_t standin_calls() noexcept {
  std::lock_guard<std::mutex> lock(g_registry.mutex_);
  return g_registry.calls;
}

// Distinct creators registered.
STANDIN_EXPORT int32_t standin_creators() noexcept {
  std::lock_guard<std::mutex> lock(g_registry.mutex_);
  return static_cast<int32_t>(g_registry.registrations.size());
}
