// How the creators reach TensorRT's registry (autoload.cpp).
#pragma once

#include <cstdint>

#include "NvInferRuntime.h"

namespace roipool::trt {

// Every creator of the library, owned by it (creators.cpp); nullptr and count 0 when
// they could not be created.
nvinfer1::IPluginCreatorInterface* const* all_creators(int32_t& count) noexcept;

// libnvinfer sonames tried, newest first, when libnvinfer is loaded RTLD_LOCAL.
inline constexpr const char* kNvinferSonames[] = {"libnvinfer.so.11", "libnvinfer.so.10",
                                                  "libnvinfer.so"};

}  // namespace roipool::trt
