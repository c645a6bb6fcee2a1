// binary_ref.cc: broadcast float32 arithmetic for the TF.js cpu backend (ops.h BinaryArgs), written out
// literally: one odometer over all ndim axes, one offset per operand, one operation per element.
#include "kernels/ops.h"

namespace r4p {

namespace {

float apply(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::kAdd: return x + y;
    case BinaryOp::kSub: return x - y;
    case BinaryOp::kMul: return x * y;
    case BinaryOp::kDiv: return x / y;
  }
  return 0.f;
}

}  // namespace

Status binary_ref(const BinaryArgs& a) {
  int64_t n = 1;
  for (int i = 0; i < a.ndim; ++i) n *= a.size[i];
  int64_t idx[kBinaryMaxDims] = {};
  int64_t offa = 0, offb = 0;
  for (int64_t e = 0; e < n; ++e) {
    a.out[e] = apply(a.op, a.a[offa], a.b[offb]);
    for (int i = a.ndim - 1; i >= 0; --i) {
      ++idx[i];
      offa += a.sa[i];
      offb += a.sb[i];
      if (idx[i] < a.size[i]) break;
      offa -= a.sa[i] * a.size[i];
      offb -= a.sb[i] * a.size[i];
      idx[i] = 0;
    }
  }
  return Status::Ok();
}

}  // namespace r4p
