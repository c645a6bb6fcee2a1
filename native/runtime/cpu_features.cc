#include "runtime/cpu_features.h"

namespace r4p {

static CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool cpu_has_avx2() {
  const auto& f = cpu_features();
  return f.avx2 && f.fma;
}

bool cpu_has_avx512() {
  const auto& f = cpu_features();
  return cpu_has_avx2() && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
}

bool cpu_has_avx512_bf16() { return cpu_has_avx512() && cpu_features().avx512bf16; }

std::string cpu_simd_name() {
  if (cpu_has_avx512()) return cpu_has_avx512_bf16() ? "avx512+bf16" : "avx512";
  return cpu_has_avx2() ? "avx2+fma" : "none";
}

}  // namespace r4p
