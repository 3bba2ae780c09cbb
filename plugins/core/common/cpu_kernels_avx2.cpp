// The CPU vector loops built for the avx2 level (see cpu_kernels.h; target flags
// from plugins/core/CMakeLists.txt).
#define ROIPOOL_ISA_NS isa_avx2
#define ROIPOOL_ISA_LEVEL CpuIsa::kAvx2
#include "cpu_kernels_impl.h"
