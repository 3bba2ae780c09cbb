// The CPU vector loops built for the avx512 level (see cpu_kernels.h; target flags
// from plugins/core/CMakeLists.txt).
#define ROIPOOL_ISA_NS isa_avx512
#define ROIPOOL_ISA_LEVEL CpuIsa::kAvx512
#include "cpu_kernels_impl.h"
