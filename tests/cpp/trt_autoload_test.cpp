// libroipool_trt.so registers its creators exactly once, whichever way it reaches a
// process with TensorRT: bare dlopen after libnvinfer (Triton, polygraphy --plugins,
// ctypes), getCreators() as IPluginRegistry::loadLibrary calls it, or
// roipool_trt_register_creators() after TensorRT was loaded later. libnvinfer is the
// test-only stand-in (nvinfer_standin.cpp), loaded under its soname libnvinfer.so.10/.11.
//
// Usage: roipool_trt_autoload_test ORDER path/to/libnvinfer.so.N path/to/libroipool_trt.so
//   ORDER: standin-first | standin-first-global | plugin-first-loadlibrary | plugin-first-register
//          | standin-first-no-autoload (ROIPOOL_TRT_AUTOLOAD=0: loadLibrary registers)
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "NvInferRuntime.h"

namespace {

int g_failed = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  g_failed += ok ? 0 : 1;
}

constexpr const char* kOps[] = {"RoIPool", "RoIAlign", "RoIWarp", "PSRoIPool", "PSRoIAlign",
                                "DeformRoIPool", "MultiScaleRoIAlign", "RoIAlignRotated", "PrRoIPool"};

using CountFn = int32_t (*)(const char*);
using CallsFn = int32_t (*)();
using RegistryFn = nvinfer1::IPluginRegistry* (*)();
using GetCreatorsFn = nvinfer1::IPluginCreatorInterface* const* (*)(int32_t&);
using RegisterFn = int32_t (*)();

template <typename Fn>
Fn symbol(void* handle, const char* name) {
  Fn fn = reinterpret_cast<Fn>(dlsym(handle, name));
  check(fn != nullptr, std::string("exports ") + name);
  return fn;
}

// Every roipool creator registered exactly once, and no creator (aliases included)
// registered twice.
void check_registered_once(void* standin, const std::string& when) {
  auto count = symbol<CountFn>(standin, "standin_registrations");
  auto calls = symbol<CallsFn>(standin, "standin_calls");
  auto creators = symbol<CallsFn>(standin, "standin_creators");
  if (count == nullptr || calls == nullptr || creators == nullptr) return;
  for (const char* op : kOps) {
    const int32_t n = count((std::string("roipool::") + op + "/1").c_str());
    check(n == 1, when + ": roipool::" + op + "/1 registered once (got " + std::to_string(n) + ")");
  }
  check(calls() == creators(), when + ": no creator registered twice (" + std::to_string(calls()) +
                                   " registrations of " + std::to_string(creators()) + " creators)");
}

// What IPluginRegistry::loadLibrary does with the library's getCreators(); returns how
// many creators it handed over.
int32_t register_like_load_library(void* plugin, nvinfer1::IPluginRegistry* registry) {
  auto get_creators = symbol<GetCreatorsFn>(plugin, "getCreators");
  if (get_creators == nullptr) return -1;
  int32_t n = -1;
  nvinfer1::IPluginCreatorInterface* const* list = get_creators(n);
  for (int32_t i = 0; list != nullptr && i < n; ++i) {
    auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(list[i]);
    registry->registerCreator(*list[i], creator->getPluginNamespace());
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ORDER libnvinfer.so.N libroipool_trt.so\n", argv[0]);
    return 2;
  }
  const std::string order = argv[1];
  const char* standin_path = argv[2];
  const char* plugin_path = argv[3];
  void* standin = nullptr;
  void* plugin = nullptr;
  if (order == "standin-first-no-autoload") {
    setenv("ROIPOOL_TRT_AUTOLOAD", "0", 1);
    standin = dlopen(standin_path, RTLD_NOW | RTLD_LOCAL);
    plugin = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (standin == nullptr || plugin == nullptr) return std::printf("FAILED: dlopen: %s\n", dlerror()), 1;
    auto calls = symbol<CallsFn>(standin, "standin_calls");
    check(calls != nullptr && calls() == 0, "ROIPOOL_TRT_AUTOLOAD=0: nothing registered on load");
    auto registry = symbol<RegistryFn>(standin, "getPluginRegistry");
    if (registry == nullptr) return 1;
    check(register_like_load_library(plugin, registry()) >= 9, "getCreators hands over the creators");
    check_registered_once(standin, "after loadLibrary");
  } else if (order.rfind("standin-first", 0) == 0) {
    const int mode = order == "standin-first-global" ? RTLD_GLOBAL : RTLD_LOCAL;
    standin = dlopen(standin_path, RTLD_NOW | mode);
    plugin = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (standin == nullptr || plugin == nullptr) return std::printf("FAILED: dlopen: %s\n", dlerror()), 1;
    check_registered_once(standin, "after a bare dlopen");
  } else if (order.rfind("plugin-first", 0) == 0) {
    plugin = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    standin = dlopen(standin_path, RTLD_NOW | RTLD_LOCAL);
    if (standin == nullptr || plugin == nullptr) return std::printf("FAILED: dlopen: %s\n", dlerror()), 1;
    auto calls = symbol<CallsFn>(standin, "standin_calls");
    check(calls != nullptr && calls() == 0, "nothing registered while TensorRT was absent");
    auto registry = symbol<RegistryFn>(standin, "getPluginRegistry");
    if (registry == nullptr) return 1;
    if (order == "plugin-first-loadlibrary") {
      check(register_like_load_library(plugin, registry()) >= 9, "getCreators hands over the creators");
    } else {
      auto register_creators = symbol<RegisterFn>(plugin, "roipool_trt_register_creators");
      check(register_creators != nullptr && register_creators() >= 9,
            "roipool_trt_register_creators finds libnvinfer by soname and registers");
    }
    check_registered_once(standin, "after " + order.substr(std::strlen("plugin-first-")));
  } else {
    std::fprintf(stderr, "unknown ORDER %s\n", order.c_str());
    return 2;
  }
  // Later attempts hand over nothing more: loadLibrary, an explicit registration, a
  // second dlopen of the library.
  auto standin_registry = symbol<RegistryFn>(standin, "getPluginRegistry");
  if (standin_registry == nullptr) return 1;
  check(register_like_load_library(plugin, standin_registry()) == 0, "getCreators then returns none");
  auto register_creators = symbol<RegisterFn>(plugin, "roipool_trt_register_creators");
  check(register_creators != nullptr && register_creators() == 0, "a later registration adds nothing");
  void* again = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
  check(again == plugin, "a second dlopen returns the loaded library");
  check_registered_once(standin, "after every later attempt");
  std::printf("%s\n", g_failed == 0 ? "all checks passed" : "some checks FAILED");
  return g_failed == 0 ? 0 : 1;
}
