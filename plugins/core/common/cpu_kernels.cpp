// Picks the vector loops' ISA: ROIPOOL_CPU_ISA when set, else the best level that both
// this build (x86 builds compile every level) and this CPU support.
#include "cpu_kernels.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace roipool {
namespace {

constexpr const char* kNames[] = {"baseline", "avx2", "avx512"};

CpuIsa detect_best() {
#if defined(ROIPOOL_CPU_X86_LEVELS)
  __builtin_cpu_init();  // these checks include the OS saving the wide registers
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return CpuIsa::kAvx512;
  }
  if (avx2) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kBaseline;
}

const CpuKernels* table(CpuIsa isa, DType dtype) {
#if defined(ROIPOOL_CPU_X86_LEVELS)
  if (isa == CpuIsa::kAvx512) return isa_avx512::kernels(dtype);
  if (isa == CpuIsa::kAvx2) return isa_avx2::kernels(dtype);
#endif
  (void)isa;
  return isa_baseline::kernels(dtype);
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) { return kNames[static_cast<int32_t>(isa)]; }

Status select_cpu_kernels(DType dtype, const CpuKernels** kernels) {
  static const CpuIsa best = detect_best();
  CpuIsa isa = best;
  // Read on every call (a getenv, negligible next to a kernel), so that a process can
  // switch levels between calls: the parity tests run every level in one process.
  const char* forced = std::getenv("ROIPOOL_CPU_ISA");
  if (forced != nullptr && forced[0] != '\0') {
    int32_t level = 0;
    while (level < 3 && std::strcmp(forced, kNames[level]) != 0) ++level;
    if (level == 3) {
      return Status::InvalidArgument("ROIPOOL_CPU_ISA='" + std::string(forced) +
                                     "': expected baseline, avx2 or avx512");
    }
    if (level > static_cast<int32_t>(best)) {
      return Status::InvalidArgument("ROIPOOL_CPU_ISA=" + std::string(forced) +
                                     ": this CPU or build supports up to " +
                                     cpu_isa_name(best));
    }
    isa = static_cast<CpuIsa>(level);
  }
  *kernels = table(isa, dtype);
  return Status::Ok();
}

const char* cpu_isa() {
  const CpuKernels* kernels = nullptr;
  return select_cpu_kernels(DType::kFloat32, &kernels).ok() ? cpu_isa_name(kernels->isa) : nullptr;
}

}  // namespace roipool
