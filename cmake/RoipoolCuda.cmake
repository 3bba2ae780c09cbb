# Enables CUDA when asked (ON) or when a working nvcc is found (AUTO). No GPU is
# needed to compile. Architectures: ROIPOOL_CUDA_ARCHITECTURES, by default machine code
# for Turing (sm_75) through Hopper (sm_90) and Blackwell (sm_100, sm_120), plus PTX of
# compute_120 that the driver JIT-compiles on newer GPUs ("120" = 120-real + 120-virtual).
# sm_75 is the oldest architecture CUDA 13 still compiles for.
set(ROIPOOL_DEFAULT_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;100-real;120")
set(ROIPOOL_CUDA_ARCHITECTURES "${ROIPOOL_DEFAULT_CUDA_ARCHITECTURES}" CACHE STRING
    "CUDA architectures to compile for (CMake CUDA_ARCHITECTURES syntax)")

set(ROIPOOL_CUDA_ENABLED OFF)
if(NOT ROIPOOL_WITH_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "${ROIPOOL_CUDA_ARCHITECTURES}")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(ROIPOOL_CUDA_ENABLED ON)
  elseif(ROIPOOL_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ROIPOOL_WITH_CUDA=ON but no working CUDA compiler was found")
  endif()
endif()
message(STATUS "roipool: CUDA kernels ${ROIPOOL_CUDA_ENABLED} (${CMAKE_CUDA_ARCHITECTURES})")

# Warnings for host code, and for device code through nvcc's host compiler.
function(roipool_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>)
endfunction()
