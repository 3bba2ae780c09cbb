# FindTensorRT: the TensorRT (>= 10) public headers the plugin library compiles against.
#
# The plugin library needs headers only (no libnvinfer to link). Search order:
#   1. TENSORRT_ROOT (CMake or environment variable) and the usual system paths;
#   2. when ROIPOOL_FETCH_HEADERS is ON, the pinned, checksummed headers fetched by
#      cmake/fetch_headers.py into ${ROIPOOL_DEPS_DIR}/tensorrt.
# Defines TensorRT_FOUND, TensorRT_INCLUDE_DIR, TensorRT_VERSION and the INTERFACE
# target TensorRT::headers.

set(_trt_hints ${TENSORRT_ROOT} $ENV{TENSORRT_ROOT})
find_path(TensorRT_INCLUDE_DIR NvInferRuntime.h
  HINTS ${_trt_hints}
  PATH_SUFFIXES include include/x86_64-linux-gnu include/aarch64-linux-gnu)

if(NOT TensorRT_INCLUDE_DIR AND ROIPOOL_FETCH_HEADERS)
  if(NOT Python3_EXECUTABLE)
    find_package(Python3 COMPONENTS Interpreter QUIET)
  endif()
  if(Python3_EXECUTABLE)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/fetch_headers.py tensorrt
              ${ROIPOOL_DEPS_DIR}/tensorrt
      RESULT_VARIABLE _trt_fetch_result
      OUTPUT_VARIABLE _trt_fetch_dir
      ERROR_VARIABLE _trt_fetch_error
      OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_trt_fetch_result EQUAL 0 AND EXISTS "${_trt_fetch_dir}/NvInferRuntime.h")
      set(TensorRT_INCLUDE_DIR "${_trt_fetch_dir}" CACHE PATH "TensorRT include directory" FORCE)
    else()
      message(STATUS "roipool: fetching TensorRT headers failed: ${_trt_fetch_error}")
    endif()
  endif()
endif()

if(TensorRT_INCLUDE_DIR AND EXISTS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h")
  file(STRINGS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _trt_version_lines
       REGEX "^#define (NV_TENSORRT_MAJOR|NV_TENSORRT_MINOR|NV_TENSORRT_PATCH|TRT_MAJOR_ENTERPRISE|TRT_MINOR_ENTERPRISE|TRT_PATCH_ENTERPRISE) [0-9]+")
  foreach(_part MAJOR MINOR PATCH)
    set(_trt_${_part} "")
    foreach(_line IN LISTS _trt_version_lines)
      if(_line MATCHES "(NV_TENSORRT_${_part}|TRT_${_part}_ENTERPRISE) ([0-9]+)")
        set(_trt_${_part} "${CMAKE_MATCH_2}")
      endif()
    endforeach()
  endforeach()
  set(TensorRT_VERSION "${_trt_MAJOR}.${_trt_MINOR}.${_trt_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorRT
  REQUIRED_VARS TensorRT_INCLUDE_DIR
  VERSION_VAR TensorRT_VERSION)

if(TensorRT_FOUND AND NOT TARGET TensorRT::headers)
  add_library(TensorRT::headers INTERFACE IMPORTED GLOBAL)
  set_target_properties(TensorRT::headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIR}")
endif()
mark_as_advanced(TensorRT_INCLUDE_DIR)
