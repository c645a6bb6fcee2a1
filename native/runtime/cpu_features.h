// cpu_features.h: what the CPU can run (cpuid via the compiler's builtins, which also check that
// the OS saves the YMM state). The registry uses this to pick avx2 kernels or the portable ref.
#pragma once
#include <string>

namespace r4p {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;  // reported only; no kernel uses it
};

const CpuFeatures& cpu_features();
// "avx2+fma" when the fast kernels can run, else "none".
std::string cpu_simd_name();

}  // namespace r4p
