#include "logging.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <exception>

#include "registration.h"

namespace roipool::trt {
namespace {

std::atomic<nvinfer1::ILoggerFinder*> g_logger_finder{nullptr};

using GetLoggerFn = nvinfer1::ILogger* (*)();

nvinfer1::ILogger* current_logger() noexcept {
  if (nvinfer1::ILoggerFinder* finder = g_logger_finder.load()) {
    if (nvinfer1::ILogger* logger = finder->findLogger()) return logger;
  }
  // Loaded through ctypes next to the tensorrt module: use libnvinfer's own logger.
  if (auto get_logger = reinterpret_cast<GetLoggerFn>(find_nvinfer_symbol("getLogger"))) {
    return get_logger();
  }
  return nullptr;
}

}  // namespace

void set_logger_finder(nvinfer1::ILoggerFinder* finder) { g_logger_finder.store(finder); }

void log_message(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept {
  try {
    const std::string text = "roipool: " + message;
    if (nvinfer1::ILogger* logger = current_logger()) {
      logger->log(severity, text.c_str());
    } else if (severity <= nvinfer1::ILogger::Severity::kWARNING) {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
  } catch (...) {
    // Out of memory while formatting: nothing sensible left to report with.
  }
}

void log_current_exception(const char* op) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    try {
      log_error(std::string(op) + ": " + e.what());
    } catch (...) {
      log_error("roipool plugin: out of memory");
    }
  } catch (...) {
    log_error("roipool plugin: unknown C++ exception");
  }
}

void* find_nvinfer_symbol(const char* name) noexcept {
  if (void* symbol = dlsym(RTLD_DEFAULT, name)) return symbol;
  // Python extension modules load libnvinfer RTLD_LOCAL: look it up by soname, without
  // loading it when it is absent (RTLD_NOLOAD).
  for (const char* soname : kNvinferSonames) {
    if (void* handle = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD)) {
      void* symbol = dlsym(handle, name);
      dlclose(handle);
      if (symbol) return symbol;
    }
  }
  return nullptr;
}

}  // namespace roipool::trt
