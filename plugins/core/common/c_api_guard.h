// Status -> C ABI return code, shared by c_api.cpp and schema_c_api.cpp: no C++ exception
// may cross the C ABI (issue 10), so every entry point that allocates runs through
// `reported`, which turns one into Status::Code::kInternal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

#include "roipool/common.h"

namespace roipool::c_api {

// The status code; on failure the message, NUL-terminated, into `error` (may be null).
inline int32_t report(const Status& status, char* error, size_t error_size) {
  if (!status.ok() && error != nullptr && error_size > 0) {
    std::strncpy(error, status.message().c_str(), error_size - 1);
    error[error_size - 1] = '\0';
  }
  return static_cast<int32_t>(status.code());
}

// Runs `fn` (returning a Status) and reports it, an exception included.
template <typename Fn>
int32_t reported(char* error, size_t error_size, Fn&& fn) noexcept {
  try {
    return report(fn(), error, error_size);
  } catch (const std::exception& e) {
    try {
      return report(Status::Internal(std::string("roipool: ") + e.what()), error, error_size);
    } catch (...) {
    }
  } catch (...) {
  }
  if (error != nullptr && error_size > 0) {
    std::strncpy(error, "roipool: internal error", error_size - 1);
    error[error_size - 1] = '\0';
  }
  return static_cast<int32_t>(Status::Code::kInternal);
}

}  // namespace roipool::c_api
