// Stand-in for the CUDA runtime header when no CUDA toolkit is installed: the TensorRT
// headers only name these two handle types. Used by CPU-only builds of the plugin glue.
#pragma once

struct CUstream_st;
struct CUevent_st;
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
