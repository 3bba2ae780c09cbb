// Host/device qualifiers so one inline function serves the CPU and CUDA kernels.
#pragma once

#if defined(__CUDACC__)
#define ROIPOOL_HD __host__ __device__ __forceinline__
#else
#define ROIPOOL_HD inline
#endif
