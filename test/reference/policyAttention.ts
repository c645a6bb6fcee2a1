/**
 * float64 oracle for SPEC §4 policy attention, transcribed from the formula (independent of the C++):
 *   M_ij = 1 if i == j else P_j;  A = q k^T * scale;  E_ij = exp(A_ij - max_k A_ik) M_ij
 *   S_ij = (E_ij + eps/N) / (sum_k E_ik + eps);  out = S v
 * Backward: the exact gradient including the path through max_k A_ik (j* = first argmax):
 *   dS_ij = dout_i.v_j, D_i = sum_j S_ij dS_ij, G_ij = E_ij (dS_ij - D_i)/Z_i,
 *   dA_ij = G_ij - [j == j*_i] sum_k G_ik, dq = scale dA k, dk = scale dA^T q, dv = S^T dout,
 *   dpolicy_j = sum_h sum_{i != j} (dS_ij - D_i)/Z_i exp(A_ij - m_i).
 * Layout: q,k,v,dout [B,H,N,Dh] and policy [B,N], flat row-major.
 */
export interface AttnShape {
  B: number;
  H: number;
  N: number;
  Dh: number;
}

type Arr = ArrayLike<number>;

function rowScores(q: Arr, k: Arr, base: number, i: number, N: number, Dh: number, scale: number): { A: Float64Array; m: number; js: number } {
  const A = new Float64Array(N);
  let m = -Infinity, js = 0;
  for (let j = 0; j < N; j++) {
    let s = 0;
    for (let d = 0; d < Dh; d++) s += q[base + i * Dh + d]! * k[base + j * Dh + d]!;
    A[j] = s * scale;
    if (A[j]! > m) { m = A[j]!; js = j; }
  }
  return { A, m, js };
}

export function policyAttentionRef(q: Arr, k: Arr, v: Arr, policy: Arr, s: AttnShape, eps: number): Float64Array {
  const { B, H, N, Dh } = s;
  const scale = 1 / Math.sqrt(Dh);
  const out = new Float64Array(B * H * N * Dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = (b * H + h) * N * Dh;
      for (let i = 0; i < N; i++) {
        const { A, m } = rowScores(q, k, base, i, N, Dh, scale);
        const E = new Float64Array(N);
        let Z = eps;
        for (let j = 0; j < N; j++) {
          E[j] = Math.exp(A[j]! - m) * (i === j ? 1 : policy[b * N + j]!);
          Z += E[j]!;
        }
        for (let j = 0; j < N; j++) {
          const w = (E[j]! + eps / N) / Z;
          for (let d = 0; d < Dh; d++) out[base + i * Dh + d] += w * v[base + j * Dh + d]!;
        }
      }
    }
  return out;
}

export interface AttnGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dpolicy: Float64Array;
}

export function policyAttentionBwdRef(q: Arr, k: Arr, v: Arr, policy: Arr, dout: Arr, s: AttnShape, eps: number): AttnGrads {
  const { B, H, N, Dh } = s;
  const scale = 1 / Math.sqrt(Dh);
  const n = B * H * N * Dh;
  const g: AttnGrads = { dq: new Float64Array(n), dk: new Float64Array(n), dv: new Float64Array(n), dpolicy: new Float64Array(B * N) };
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = (b * H + h) * N * Dh;
      for (let i = 0; i < N; i++) {
        const { A, m, js } = rowScores(q, k, base, i, N, Dh, scale);
        const E = new Float64Array(N), e = new Float64Array(N), dS = new Float64Array(N);
        let Z = eps;
        for (let j = 0; j < N; j++) {
          e[j] = Math.exp(A[j]! - m);
          E[j] = e[j]! * (i === j ? 1 : policy[b * N + j]!);
          Z += E[j]!;
        }
        let D = 0;
        for (let j = 0; j < N; j++) {
          let t = 0;
          for (let d = 0; d < Dh; d++) t += dout[base + i * Dh + d]! * v[base + j * Dh + d]!;
          dS[j] = t;
          D += ((E[j]! + eps / N) / Z) * t;
        }
        const G = new Float64Array(N);
        let sumG = 0;
        for (let j = 0; j < N; j++) { G[j] = (E[j]! * (dS[j]! - D)) / Z; sumG += G[j]!; }
        for (let j = 0; j < N; j++) {
          const dA = G[j]! - (j === js ? sumG : 0);
          const S = (E[j]! + eps / N) / Z;
          for (let d = 0; d < Dh; d++) {
            g.dq[base + i * Dh + d] += scale * dA * k[base + j * Dh + d]!;
            g.dk[base + j * Dh + d] += scale * dA * q[base + i * Dh + d]!;
            g.dv[base + j * Dh + d] += S * dout[base + i * Dh + d]!;
          }
          if (j !== i) g.dpolicy[b * N + j] += ((dS[j]! - D) / Z) * e[j]!;
        }
      }
    }
  return g;
}
