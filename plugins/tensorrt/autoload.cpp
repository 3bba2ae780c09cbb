// Registration of the creators with TensorRT's plugin registry, by whichever of three
// routes comes first, and only once per process:
//   1. on load (ELF constructor), when libnvinfer is already in the process: a bare
//      dlopen / LD_PRELOAD, as Triton's TensorRT backend, polygraphy --plugins and ctypes do;
//   2. getCreators(), called by IPluginRegistry::loadLibrary / trtexec --dynamicPlugins,
//      which register what it returns;
//   3. roipool_trt_register_creators(), for a process that loaded TensorRT after us.
// Once one route has handed the creators over, the others hand over nothing: a second
// registration of the same creator makes TensorRT fail (loadLibrary reports "creator
// exists already"). No link to libnvinfer: getPluginRegistry is resolved at run time.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "logging.h"
#include "registration.h"

namespace roipool::trt {
namespace {

std::mutex g_mutex;
bool g_handed_over = false;  // guarded by g_mutex

using GetRegistryFn = nvinfer1::IPluginRegistry* (*)();

nvinfer1::IPluginRegistry* loaded_registry() noexcept {
  auto get_registry = reinterpret_cast<GetRegistryFn>(find_nvinfer_symbol("getPluginRegistry"));
  return get_registry != nullptr ? get_registry() : nullptr;
}

// Registers every creator with `registry` unless another route already handed them over;
// returns how many the registry accepted.
int32_t register_once(nvinfer1::IPluginRegistry* registry) noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_handed_over || registry == nullptr) return 0;
  int32_t count = 0;
  nvinfer1::IPluginCreatorInterface* const* list = all_creators(count);
  if (list == nullptr) return 0;
  g_handed_over = true;
  int32_t registered = 0;
  for (int32_t i = 0; i < count; ++i) {
    // Every creator is an IPluginCreatorV3One; each names its own namespace.
    const char* ns = static_cast<nvinfer1::IPluginCreatorV3One*>(list[i])->getPluginNamespace();
    if (registry->registerCreator(*list[i], ns)) {
      ++registered;
    } else {
      log_error(std::string("TensorRT's registry refused the creator of ") +
                static_cast<nvinfer1::IPluginCreatorV3One*>(list[i])->getPluginName());
    }
  }
  return registered;
}

// Route 1. Runs inside dlopen(); does nothing when libnvinfer is not loaded yet, or when
// ROIPOOL_TRT_AUTOLOAD=0 leaves registration to loadLibrary / the explicit call.
__attribute__((constructor)) void register_on_load() noexcept {
  const char* setting = std::getenv("ROIPOOL_TRT_AUTOLOAD");
  if (setting != nullptr && std::strcmp(setting, "0") == 0) return;
  register_once(loaded_registry());
}

}  // namespace
}  // namespace roipool::trt

#define ROIPOOL_TRT_EXPORT extern "C" __attribute__((visibility("default")))

// Route 2: the creators for the caller (TensorRT) to register, or none when they are
// registered already.
ROIPOOL_TRT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nb_creators) {
  std::lock_guard<std::mutex> lock(roipool::trt::g_mutex);
  nvinfer1::IPluginCreatorInterface* const* list = roipool::trt::all_creators(nb_creators);
  if (roipool::trt::g_handed_over || list == nullptr) {
    nb_creators = 0;
    static nvinfer1::IPluginCreatorInterface* const kNone[1] = {nullptr};
    return kNone;
  }
  roipool::trt::g_handed_over = true;
  return list;
}

// Route 3: registers the creators with libnvinfer's registry when libnvinfer is loaded
// and no other route registered them; returns how many were registered (0: no TensorRT
// in the process, or registered already).
ROIPOOL_TRT_EXPORT int32_t roipool_trt_register_creators() {
  return roipool::trt::register_once(roipool::trt::loaded_registry());
}
