# Finds the ONNX Runtime C/C++ API headers (headers only: the custom-op library gets
# the API table from the OrtApiBase that ONNX Runtime passes to RegisterCustomOps, so
# it never links libonnxruntime and loads into any ORT >= the headers' API version).
#
# Search order: ONNXRUNTIME_INCLUDE_DIR, ONNXRUNTIME_ROOT (cache variables or environment),
# standard include paths; then, with ROIPOOL_FETCH_HEADERS, the pinned and checksummed
# headers that cmake/fetch_headers.py downloads into ${ROIPOOL_DEPS_DIR}/onnxruntime.
#
# Defines ONNXRuntime_FOUND, ONNXRuntime_INCLUDE_DIR and the INTERFACE target
# ONNXRuntime::Headers.

set(ONNXRUNTIME_ROOT "$ENV{ONNXRUNTIME_ROOT}" CACHE PATH "ONNX Runtime install prefix")
set(ONNXRUNTIME_INCLUDE_DIR "$ENV{ONNXRUNTIME_INCLUDE_DIR}" CACHE PATH
    "Directory holding onnxruntime_cxx_api.h")

set(_ort_hints)
if(ONNXRUNTIME_INCLUDE_DIR)
  list(APPEND _ort_hints "${ONNXRUNTIME_INCLUDE_DIR}")
endif()
if(ONNXRUNTIME_ROOT)
  list(APPEND _ort_hints "${ONNXRUNTIME_ROOT}/include")
endif()
# Release tarballs put the headers in include/, distro packages in include/onnxruntime/
# or include/onnxruntime/core/session/.
set(_ort_suffixes onnxruntime onnxruntime/core/session)

find_path(ONNXRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
  HINTS ${_ort_hints}
  PATH_SUFFIXES ${_ort_suffixes})

if(NOT ONNXRuntime_INCLUDE_DIR AND ROIPOOL_FETCH_HEADERS)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_Interpreter_FOUND)
    execute_process(
      COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/cmake/fetch_headers.py"
              onnxruntime "${ROIPOOL_DEPS_DIR}/onnxruntime"
      RESULT_VARIABLE _ort_fetch_result
      OUTPUT_VARIABLE _ort_fetched_dir
      ERROR_VARIABLE _ort_fetch_error
      OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_ort_fetch_result EQUAL 0)
      find_path(ONNXRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
        HINTS "${_ort_fetched_dir}" NO_DEFAULT_PATH)
    else()
      message(STATUS "roipool: fetching ONNX Runtime headers failed: ${_ort_fetch_error}")
    endif()
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ONNXRuntime REQUIRED_VARS ONNXRuntime_INCLUDE_DIR)

if(ONNXRuntime_FOUND AND NOT TARGET ONNXRuntime::Headers)
  add_library(ONNXRuntime::Headers INTERFACE IMPORTED)
  # SYSTEM: keep the third-party headers out of the project's -Wall -Wextra.
  set_target_properties(ONNXRuntime::Headers PROPERTIES
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}")
endif()
mark_as_advanced(ONNXRuntime_INCLUDE_DIR)
