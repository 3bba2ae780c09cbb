// The CPU vector loops built for the baseline level (see cpu_kernels.h; target flags
// from plugins/core/CMakeLists.txt).
#define ROIPOOL_ISA_NS isa_baseline
#define ROIPOOL_ISA_LEVEL CpuIsa::kBaseline
#include "cpu_kernels_impl.h"
