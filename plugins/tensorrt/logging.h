// Error reporting of the plugin library: TensorRT's logger when one is reachable.
#pragma once

#include <string>

#include "NvInferRuntime.h"

namespace roipool::trt {

// Set by the exported setLoggerFinder() (IPluginRegistry::loadLibrary / trtexec).
void set_logger_finder(nvinfer1::ILoggerFinder* finder);

// Logs through the finder's logger, else libnvinfer's global logger when it is loaded,
// else stderr. Never throws.
void log_message(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept;
inline void log_error(const std::string& message) noexcept {
  log_message(nvinfer1::ILogger::Severity::kERROR, message);
}

// Logs "<op>: <what()>" for the exception being handled; call only inside a catch block.
void log_current_exception(const char* op) noexcept;

// A symbol of libnvinfer if the process has already loaded it (never loads it).
void* find_nvinfer_symbol(const char* name) noexcept;

}  // namespace roipool::trt
