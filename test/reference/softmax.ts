/**
 * Float64 reference of the last-axis softmax (ops.h SoftmaxArgs; SPEC §2 attention):
 * y[r,c] = exp(x[r,c] - max_c x[r,:]) / sum_c' exp(x[r,c'] - max_c x[r,:]).
 */
export function softmaxRef(x: ArrayLike<number>, R: number, C: number): Float64Array {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c]! - m);
    for (let c = 0; c < C; c++) y[r * C + c] = Math.exp(x[r * C + c]! - m) / s;
  }
  return y;
}
