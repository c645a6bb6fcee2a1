/** Float64 oracles for SPEC §5 gatherTokens / scatterTokens and their gradients. */
export function gatherRef(x: ArrayLike<number>, idx: ArrayLike<number>, B: number, N: number, K: number, D: number): Float64Array {
  const out = new Float64Array(B * K * D);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) out[(b * K + k) * D + d] = x[(b * N + idx[b * K + k]!) * D + d]!;
  return out;
}
export function gatherBwdRef(dout: ArrayLike<number>, idx: ArrayLike<number>, B: number, N: number, K: number, D: number): Float64Array {
  const dx = new Float64Array(B * N * D);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) dx[(b * N + idx[b * K + k]!) * D + d]! += dout[(b * K + k) * D + d]!;
  return dx;
}
export function scatterRef(base: ArrayLike<number>, idx: ArrayLike<number>, src: ArrayLike<number>, B: number, N: number, K: number, D: number): Float64Array {
  const out = Float64Array.from(base);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) out[(b * N + idx[b * K + k]!) * D + d] = src[(b * K + k) * D + d]!;
  return out;
}
