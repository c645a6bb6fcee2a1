// precision.h: the matmul precision of the calling thread (SPEC §6 throughput protocol; issue: BF16 inference
// path). FP32 everywhere by default. The inference engine runs a forward under ScopedMatmulPrecision(kBf16),
// and every GEMM the registry dispatches from that thread then rounds its A and B operands to BF16 (round to
// nearest even) and accumulates in FP32 (vdpbf16ps); epilogues, LayerNorm, softmax and the attention stay FP32.
// Thread-local: concurrent sessions with different precisions do not interfere.
#pragma once
#include <cstdint>

namespace r4p {

enum class MatmulPrecision : int32_t { kFp32 = 0, kBf16 = 1 };

MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision p);

class ScopedMatmulPrecision {
 public:
  explicit ScopedMatmulPrecision(MatmulPrecision p) : prev_(matmul_precision()) { set_matmul_precision(p); }
  ~ScopedMatmulPrecision() { set_matmul_precision(prev_); }
  ScopedMatmulPrecision(const ScopedMatmulPrecision&) = delete;
  ScopedMatmulPrecision& operator=(const ScopedMatmulPrecision&) = delete;

 private:
  MatmulPrecision prev_;
};

}  // namespace r4p
