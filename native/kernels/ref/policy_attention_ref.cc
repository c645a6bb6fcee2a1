// policy_attention_ref.cc: SPEC §4 policy attention, forward and backward written out literally.
// q,k,v [B,H,N,Dh] f32, policy [B,N] f32 -> out [B,H,N,Dh]; one query row at a time with its full
// row of N scores, double accumulation, single-threaded. The oracle the AVX2 kernels are tested against.
//   M_ij = 1 if i == j else policy_j;  A = scale q k^T;  m_i = max_j A_ij (over ALL keys)
//   E_ij = exp(A_ij - m_i) M_ij;  Z_i = sum_j E_ij + eps;  S_ij = (E_ij + eps/N) / Z_i;  out = S v
// Backward (overwrites dq, dk, dv, dpolicy; dpolicy summed over heads), exact including the path
// through m_i (DynamicViT does not detach the max): with j*_i the first index attaining m_i,
//   dS_ij = dout_i . v_j;  D_i = sum_j S_ij dS_ij;  G_ij = E_ij (dS_ij - D_i) / Z_i   (= dL/d(A_ij - m_i))
//   dA_ij = G_ij - [j == j*_i] sum_k G_ik;  dq_i = scale sum_j dA_ij k_j;  dk_j = scale sum_i dA_ij q_i
//   dv_j = sum_i S_ij dout_i;  dpolicy_j = sum_h sum_{i != j} (dS_ij - D_i) / Z_i * exp(A_ij - m_i)
#include <cmath>
#include <new>
#include <vector>

#include "kernels/ops.h"

namespace r4p {

// Row i of one head: fills A (scaled scores), returns m and j*.
static void score_row(const float* q, const float* k, int64_t N, int64_t Dh, float scale, int64_t i,
                      std::vector<double>& A, double* m, int64_t* jstar) {
  *m = -INFINITY;
  *jstar = 0;
  for (int64_t j = 0; j < N; ++j) {
    double acc = 0;
    for (int64_t d = 0; d < Dh; ++d) acc += double(q[i * Dh + d]) * double(k[j * Dh + d]);
    A[j] = double(scale) * acc;
    if (A[j] > *m) {
      *m = A[j];
      *jstar = j;
    }
  }
}

Status policy_attention_fwd_ref(const PolicyAttentionArgs& a) {
  const int64_t N = a.N, Dh = a.Dh;
  try {
    std::vector<double> A(N), E(N), acc(Dh);
    for (int64_t b = 0; b < a.B; ++b)
      for (int64_t h = 0; h < a.H; ++h) {
        const int64_t base = (b * a.H + h) * N * Dh;
        const float *q = a.q + base, *k = a.k + base, *v = a.v + base;
        const float* pol = a.policy + b * N;
        for (int64_t i = 0; i < N; ++i) {
          double m;
          int64_t js;
          score_row(q, k, N, Dh, a.scale, i, A, &m, &js);
          double Z = a.eps;
          for (int64_t j = 0; j < N; ++j) {
            const double M = (j == i) ? 1.0 : double(pol[j]);
            E[j] = std::exp(A[j] - m) * M;
            Z += E[j];
          }
          for (int64_t d = 0; d < Dh; ++d) acc[d] = 0;
          const double c = double(a.eps) / double(N);
          for (int64_t j = 0; j < N; ++j) {
            const double w = (E[j] + c) / Z;
            for (int64_t d = 0; d < Dh; ++d) acc[d] += w * double(v[j * Dh + d]);
          }
          float* o = a.out + base + i * Dh;
          for (int64_t d = 0; d < Dh; ++d) o[d] = float(acc[d]);
          const int64_t r = (b * a.H + h) * N + i;
          if (a.row_max) a.row_max[r] = float(m);
          if (a.row_den) a.row_den[r] = float(Z);
        }
      }
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "policyAttention (ref): out of memory");
  }
  return Status::Ok();
}

Status policy_attention_bwd_ref(const PolicyAttentionBwdArgs& a) {
  const int64_t N = a.N, Dh = a.Dh;
  try {
    std::vector<double> A(N), E(N), dS(N), G(N), dq(Dh), dk(N * Dh), dv(N * Dh), dpol(a.B * N, 0.0);
    for (int64_t b = 0; b < a.B; ++b)
      for (int64_t h = 0; h < a.H; ++h) {
        const int64_t base = (b * a.H + h) * N * Dh;
        const float *q = a.q + base, *k = a.k + base, *v = a.v + base, *dout = a.dout + base;
        const float* pol = a.policy + b * N;
        std::fill(dk.begin(), dk.end(), 0.0);
        std::fill(dv.begin(), dv.end(), 0.0);
        for (int64_t i = 0; i < N; ++i) {
          double m;
          int64_t js;
          score_row(q, k, N, Dh, a.scale, i, A, &m, &js);
          double Z = a.eps;
          for (int64_t j = 0; j < N; ++j) {
            E[j] = std::exp(A[j] - m) * ((j == i) ? 1.0 : double(pol[j]));
            Z += E[j];
          }
          const double c = double(a.eps) / double(N);
          double D = 0;
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t d = 0; d < Dh; ++d) s += double(dout[i * Dh + d]) * double(v[j * Dh + d]);
            dS[j] = s;
            D += (E[j] + c) / Z * s;
          }
          double sumG = 0;
          for (int64_t j = 0; j < N; ++j) {
            G[j] = E[j] * (dS[j] - D) / Z;
            sumG += G[j];
          }
          for (int64_t d = 0; d < Dh; ++d) dq[d] = 0;
          for (int64_t j = 0; j < N; ++j) {
            const double dA = G[j] - (j == js ? sumG : 0.0);
            const double S = (E[j] + c) / Z;
            for (int64_t d = 0; d < Dh; ++d) {
              dq[d] += dA * double(k[j * Dh + d]);
              dk[j * Dh + d] += dA * double(q[i * Dh + d]);
              dv[j * Dh + d] += S * double(dout[i * Dh + d]);
            }
            if (j != i) dpol[b * N + j] += (dS[j] - D) / Z * std::exp(A[j] - m);
          }
          if (a.dq)
            for (int64_t d = 0; d < Dh; ++d) a.dq[base + i * Dh + d] = float(double(a.scale) * dq[d]);
        }
        for (int64_t t = 0; t < N * Dh; ++t) {
          if (a.dk) a.dk[base + t] = float(double(a.scale) * dk[t]);
          if (a.dv) a.dv[base + t] = float(dv[t]);
        }
      }
    if (a.dpolicy)
      for (int64_t t = 0; t < a.B * N; ++t) a.dpolicy[t] = float(dpol[t]);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "policyAttentionBackward (ref): out of memory");
  }
  return Status::Ok();
}

}  // namespace r4p
