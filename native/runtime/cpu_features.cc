#include "runtime/cpu_features.h"

namespace r4p {

static CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_simd_name() {
  const auto& f = cpu_features();
  return (f.avx2 && f.fma) ? "avx2+fma" : "none";
}

}  // namespace r4p
