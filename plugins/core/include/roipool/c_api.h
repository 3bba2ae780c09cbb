// Flat C ABI over the kernel core, used by the Python binding (ctypes). Structs are
// the standard-layout ones of common.h. Every function returns a Status::Code as
// int32 (0 = ok) and, on failure, writes a NUL-terminated message into `error`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "roipool/common.h"

#define ROIPOOL_C_API extern "C" __attribute__((visibility("default")))

ROIPOOL_C_API const char* roipool_version(void);
ROIPOOL_C_API int32_t roipool_cuda_compiled(void);
// roipool::cpu_isa(): "baseline", "avx2", "avx512", or NULL for a bad ROIPOOL_CPU_ISA.
ROIPOOL_C_API const char* roipool_cpu_isa(void);
ROIPOOL_C_API int32_t roipool_op_from_name(const char* name, int32_t* op);
ROIPOOL_C_API int32_t roipool_default_attrs(int32_t op, roipool::OpAttrs* attrs);
// One attribute by name; type is an AttrType, `ints` / `floats` hold `count` values
// and `text` a NUL-terminated string, as the type requires.
ROIPOOL_C_API int32_t roipool_set_attribute(int32_t op, roipool::OpAttrs* attrs, const char* name,
                                            int32_t type, const int64_t* ints, const float* floats,
                                            int64_t count, const char* text, char* error,
                                            size_t error_size);
// Schema queries, so bindings need no copy of it: the AttrType of attribute `name`
// of `op` (error when `op` has no such attribute), the rois column count, and C_out
// for `channels` input channels under `attrs`.
ROIPOOL_C_API int32_t roipool_attribute_type(int32_t op, const char* name, int32_t* type);
ROIPOOL_C_API int32_t roipool_rois_columns(int32_t op);
ROIPOOL_C_API int64_t roipool_output_channels(int32_t op, const roipool::OpAttrs* attrs,
                                              int64_t channels);
// device 0: CPU (num_threads as CpuOptions); device 1: CUDA on `stream`.
ROIPOOL_C_API int32_t roipool_forward(int32_t op, const roipool::OpAttrs* attrs,
                                      const roipool::OpArgs* args, int32_t device, void* stream,
                                      int32_t num_threads, char* error, size_t error_size);

// As roipool_forward / roipool_backward, with the CPU options given whole: `cpu` may name
// a framework's intra-op pool (CpuOptions::executor, e.g. torch's parallel_for) that runs
// the parallel loops instead of the core's own threads; NULL is CpuOptions{}.
ROIPOOL_C_API int32_t roipool_forward_with(int32_t op, const roipool::OpAttrs* attrs,
                                           const roipool::OpArgs* args, int32_t device,
                                           void* stream, const roipool::CpuOptions* cpu,
                                           char* error, size_t error_size);
ROIPOOL_C_API int32_t roipool_backward_with(int32_t op, const roipool::OpAttrs* attrs,
                                            const roipool::OpArgs* args,
                                            const roipool::GradArgs* grads, int32_t device,
                                            void* stream, const roipool::CpuOptions* cpu,
                                            char* error, size_t error_size);

// ---- schema: attribute `index` of `op` (name, AttrType; 1 past the last), its ONNX op_type ----
ROIPOOL_C_API int32_t roipool_op_attribute(int32_t op, int32_t index, const char** name,
                                           int32_t* type);
ROIPOOL_C_API const char* roipool_op_name(int32_t op);

// ---- aliases (roipool/aliases.h, docs/mmdeploy.md), by index in [0, roipool_alias_count()) ----
ROIPOOL_C_API int32_t roipool_alias_count(void);
// Name, ONNX domains (comma-separated), TensorRT namespace and version, the roipool op it
// runs and the inputs it defines. Strings live as long as the library.
ROIPOOL_C_API int32_t roipool_alias_info(int32_t alias, const char** name, const char** domains,
                                         const char** plugin_namespace,
                                         const char** plugin_version, int32_t* op,
                                         int32_t* max_inputs);
// Attribute `index` of an alias: name, AttrType and whether it has a default (else it is
// required). Returns 1 past the last attribute.
ROIPOOL_C_API int32_t roipool_alias_attribute(int32_t alias, int32_t index, const char** name,
                                              int32_t* type, int32_t* has_default);
// One node's attributes, `count` of them, each given as roipool_set_attribute takes one,
// parsed by the alias's rules into `attrs` (roipool::alias_attrs).
ROIPOOL_C_API int32_t roipool_alias_attrs(int32_t alias, int32_t count, const char* const* names,
                                          const int32_t* types, const int64_t* const* ints,
                                          const float* const* floats, const int64_t* counts,
                                          const char* const* texts, roipool::OpAttrs* attrs,
                                          char* error, size_t error_size);

// Gradients of one forward call (GradArgs of common.h; float32 buffers, overwritten).
// device 0: CPU (num_threads as CpuOptions); device 1: CUDA on `stream`.
ROIPOOL_C_API int32_t roipool_backward(int32_t op, const roipool::OpAttrs* attrs,
                                       const roipool::OpArgs* args,
                                       const roipool::GradArgs* grads, int32_t device,
                                       void* stream, int32_t num_threads, char* error,
                                       size_t error_size);
// backward_reads_input of common.h: 1 when this backward call reads the feature values
// (FeatureMap::data must then be set), 0 when shapes suffice, -1 for bad arguments.
ROIPOOL_C_API int32_t roipool_backward_reads_input(int32_t op, const roipool::OpAttrs* attrs,
                                                   const roipool::OpArgs* args,
                                                   const roipool::GradArgs* grads);
// first_invalid_batch_index of common.h over host rois; -1 when every index is valid
// (and -2 for bad arguments).
ROIPOOL_C_API int64_t roipool_first_invalid_batch_index(const void* rois, int32_t rois_dtype,
                                                        int64_t num_rois, int32_t columns,
                                                        int64_t batch);
