// optimizer_step.h: the training loop's per-parameter updates as one in-place pass each (SPEC §8: AdamW with
// decoupled weight decay, and the EMA of the weights), instead of a dozen whole-tensor TF.js ops that each
// allocate a fresh output. Plain C++ over raw pointers; the TF.js integration is src/train/optimizer.ts.
//
// Every constant is passed as the float32 the TF.js composition uses (src/train/optimizer.ts rounds them
// with Math.fround), and each step below is one float32 operation in the composition's order, so the
// result is bit-identical to that composition (each TF.js op rounds to float32 once; this file is compiled
// without FMA contraction).
#pragma once
#include <cstdint>

#include "common/status.h"

namespace r4p {

// AdamW, elementwise over n values, in place on p, m, v (g read only):
//   m = b1*m + c1*g;  v = b2*v + c2*(g*g);
//   if update_p: p = wd*p - lr * ((m / bc1) / (sqrt(v / bc2) + eps))
// with c1 = 1 - beta1, c2 = 1 - beta2 (as float32), bc1/bc2 the bias corrections, wd = 1 - lr*weight_decay
// (1 for parameters without decay: p*1 = p exactly).
struct AdamWStepArgs {
  float *p, *m, *v;
  const float* g;
  int64_t n;
  float b1, c1, b2, c2, bc1, bc2, eps, lr, wd;
  bool update_p;
};
Status adamw_step(const AdamWStepArgs& a);

// EMA of the weights, in place on e: e = d*e + c*p (c = 1 - d as float32).
struct EmaStepArgs {
  float* e;
  const float* p;
  int64_t n;
  float d, c;
};
Status ema_step(const EmaStepArgs& a);

}  // namespace r4p
