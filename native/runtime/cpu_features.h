// cpu_features.h: what the CPU can run (cpuid via the compiler's builtins, which also check that
// the OS saves the YMM / ZMM state). The registry uses this to pick the avx512, avx2 or ref kernels.
#pragma once
#include <string>

namespace r4p {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512bf16 = false;  // vdpbf16ps / vcvtne2ps2bf16 (the BF16 inference path)
};

const CpuFeatures& cpu_features();
// The kernel families this CPU can run: AVX2+FMA, and AVX-512 F+BW+DQ+VL (what our *_avx512.cc use).
bool cpu_has_avx2();
bool cpu_has_avx512();
bool cpu_has_avx512_bf16();
// The widest family: "avx512" (F/BW/DQ/VL), "avx2+fma", or "none". With ",bf16" appended to "avx512" when
// AVX512_BF16 is there too.
std::string cpu_simd_name();

}  // namespace r4p
