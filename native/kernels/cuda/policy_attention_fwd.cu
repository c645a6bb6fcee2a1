// policy_attention_fwd.cu: SPEC §4 policyAttention forward on CUDA, flash-style (also prunedBlock's MHSA).
// Compiled for sm_80 / sm_90a / compute_90. Ran on an H200 on 2026-12-04 (docs/gpu-results.md); the ldmatrix
// fragments, the no-policy variant and paired stores of 2026-12-05 have run on the CPU emulator only.
//   q,k,v [B,H,N,Dh] (or strided head slices), policy [B,N] f32 -> out [B,H,N,Dh]; formula in
//   policy_attention.cuh (max over ALL keys, masked E, + eps/N, / (sum E + eps)).
//
// Two kernels, one contract:
//   attn_fwd_mma<DH>  BF16, DH in {32, 64, 128}: a CTA of 4 warps owns 64 query rows (16 per warp), streams
//       key/value tiles of 64 rows through shared memory (cp.async, double-buffered), S = Q K^T and O += P V
//       on tensor cores (mma.sync m16n8k16, FP32 accumulators); P stays in registers (C -> A fragment); its
//       softmax runs in log2 units (scores times scale * log2 e, exp2), one multiply per score fewer than expf.
//   attn_fwd_simt<T, NDV>  FP32 (or BF16 with any Dh <= 256): a CTA of 8 warps owns 32 query rows (4 per
//       warp), key tiles of 32 (lane = key) in shared memory as float; scores and P V in FP32 FMA, expf.
// Online softmax over key tiles: running max m (raw scores, masked keys included, as the SPEC's max over all
// keys), running l = sum E and O rescaled by exp(m_old - m_new) when m grows. The mask multiplies E after the
// exponential, so it never changes m. The argmax (first index attaining m, ties to the lower j) is tracked for
// the backward's max path. At the end Z = l + eps and out = (O + eps/N * vsum) / Z, with m the global max:
// exactly the SPEC's E and S. Keys past N are -inf scores with P = 0; their K/V rows are zero-filled so that
// 0 * garbage can never make a NaN.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/attention_tiles.cuh"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/policy_attention.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda {

using dev::bf16;

namespace {

constexpr int kVsumChunks = 32;  // first-pass row chunks of the vsum reduction (fixed: determinism)

// ---------------------------------------------------------------- vsum (two passes, fixed order)
// partial[(bh*C + c)*Dh + d] = sum over rows j of chunk c of v[b,h,j,d]; 8 row-lanes x 32 column-lanes.
template <typename T>
__global__ void __launch_bounds__(256) vsum_partial_kernel(AttnFwdParams p, float* partial) {
  __shared__ float red[8][32];
  const int bh = blockIdx.x, c = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int lane = threadIdx.x & 31, r = threadIdx.x >> 5;
  const int rows = (p.N + kVsumChunks - 1) / kVsumChunks;
  const int j_begin = c * rows, j_end = min(p.N, j_begin + rows);
  const T* vb = static_cast<const T*>(p.v) + b * p.v_sb + h * p.v_sh;
  for (int d0 = 0; d0 < p.Dh; d0 += 32) {
    const int d = d0 + lane;
    float s = 0.f;
    if (d < p.Dh)
      for (int j = j_begin + r; j < j_end; j += 8) s += dev::to_f(vb[int64_t(j) * p.v_sn + d]);
    red[r][lane] = s;
    __syncthreads();
    if (r == 0 && d < p.Dh) {
      float t = 0.f;
      for (int q = 0; q < 8; ++q) t += red[q][lane];
      partial[(int64_t(bh) * kVsumChunks + c) * p.Dh + d] = t;
    }
    __syncthreads();
  }
}

__global__ void vsum_reduce_kernel(const float* partial, float* vsum, int BH, int Dh) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= int64_t(BH) * Dh) return;
  const int64_t bh = e / Dh, d = e % Dh;
  float t = 0.f;
  for (int c = 0; c < kVsumChunks; ++c) t += partial[(bh * kVsumChunks + c) * Dh + d];
  vsum[e] = t;
}

// ---------------------------------------------------------------- SIMT kernel
constexpr int kSimtBR = 32, kSimtBC = 32, kSimtRW = 4, kSimtThreads = 256;
static_assert(kSimtBC == 32, "a key tile is one warp wide: lane = key (dev::simt_scores, dev::simt_accumulate)");

size_t simt_smem_bytes(int Dh) {
  return sizeof(float) * (size_t(kSimtBR) * Dh + size_t(kSimtBC) * (Dh + 1) + size_t(kSimtBC) * Dh +
                          size_t(8) * kSimtRW * kSimtBC + kSimtBC);
}

// NDV = ceil(Dh / 32) rounded up to {1, 2, 4, 8}: output columns per lane (d = lane + 32c).
template <typename T, int NDV>
__global__ void __launch_bounds__(kSimtThreads) attn_fwd_simt(AttnFwdParams p) {
  R4P_DYNAMIC_SMEM(smraw);
  float* sm = reinterpret_cast<float*>(smraw);
  const int Dh = p.Dh, ldk = Dh + 1;
  float* Qs = sm;                           // [BR][Dh]   broadcast reads
  float* Ks = Qs + kSimtBR * Dh;            // [BC][Dh+1] lane = key: odd stride, conflict-free
  float* Vs = Ks + kSimtBC * ldk;           // [BC][Dh]   lane = column
  float* Ps = Vs + kSimtBC * Dh;            // [8 warps][RW][BC] probabilities, warp-private rows
  float* pols = Ps + 8 * kSimtRW * kSimtBC; // [BC]
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int i0 = blockIdx.x * kSimtBR;
  int64_t r0;  // first row of batch b (varlen)
  const int N = attn_seq_len(p, b, &r0);
  if (i0 >= N) return;  // varlen: past this sequence (block-uniform, before any barrier)
  const T* qb = static_cast<const T*>(p.q) + b * p.q_sb + r0 * p.q_sn + h * p.q_sh;
  const T* kb = static_cast<const T*>(p.k) + b * p.k_sb + r0 * p.k_sn + h * p.k_sh;
  const T* vb = static_cast<const T*>(p.v) + b * p.v_sb + r0 * p.v_sn + h * p.v_sh;
  const float* pol = p.policy ? p.policy + int64_t(b) * N : nullptr;

  for (int e = tid; e < kSimtBR * Dh; e += kSimtThreads) {
    const int r = e / Dh, d = e % Dh, i = i0 + r;
    Qs[e] = i < N ? dev::to_f(qb[int64_t(i) * p.q_sn + d]) : 0.f;
  }
  float m[kSimtRW], l[kSimtRW], acc[kSimtRW][NDV];
  int arg[kSimtRW];
#pragma unroll
  for (int r = 0; r < kSimtRW; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
    arg[r] = 0;
#pragma unroll
    for (int c = 0; c < NDV; ++c) acc[r][c] = 0.f;
  }

  for (int j0 = 0; j0 < N; j0 += kSimtBC) {
    __syncthreads();  // the previous tile's readers are done before K/V/pol are overwritten
    for (int e = tid; e < kSimtBC * Dh; e += kSimtThreads) {
      const int r = e / Dh, d = e % Dh, j = j0 + r;
      const bool ok = j < N;
      Ks[r * ldk + d] = ok ? dev::to_f(kb[int64_t(j) * p.k_sn + d]) : 0.f;
      Vs[r * Dh + d] = ok ? dev::to_f(vb[int64_t(j) * p.v_sn + d]) : 0.f;
    }
    if (tid < kSimtBC) pols[tid] = (pol && j0 + tid < N) ? pol[j0 + tid] : 1.f;
    __syncthreads();

    const int j = j0 + lane;
    const bool jv = j < N;
    float s[kSimtRW];
    dev::simt_scores<kSimtRW>(s, Qs, Dh, Ks, ldk, Dh, w, lane);
#pragma unroll
    for (int r = 0; r < kSimtRW; ++r) {
      const int i = i0 + w * kSimtRW + r;
      const float x = jv ? s[r] * p.scale : -INFINITY;
      float tm = x;
      int tj = jv ? j : INT_MAX;
      dev::warp_argmax(tm, tj);
      const float mn = fmaxf(m[r], tm);
      if (tm > m[r]) arg[r] = tj;  // strict: an equal max in a later tile keeps the earlier index
      const float alpha = (m[r] == -INFINITY) ? 0.f : expf(m[r] - mn);
      const float mask = (j == i) ? 1.f : pols[lane];
      const float pr = jv ? expf(x - mn) * mask : 0.f;
      l[r] = l[r] * alpha + pr;  // per-lane partial sum; reduced across the warp at the end
      m[r] = mn;
      Ps[(w * kSimtRW + r) * kSimtBC + lane] = pr;
#pragma unroll
      for (int c = 0; c < NDV; ++c) acc[r][c] *= alpha;
    }
    __syncwarp();
    dev::simt_accumulate<kSimtRW, NDV>(acc, Ps + w * kSimtRW * kSimtBC, Vs, Dh, Dh, lane);
  }

  const float c_eps = p.eps / float(N);
#pragma unroll
  for (int r = 0; r < kSimtRW; ++r) {
    const int i = i0 + w * kSimtRW + r;
    const float Z = dev::warp_sum(l[r]) + p.eps;
    if (i >= N) continue;  // warp-uniform
    const float inv = 1.f / Z;
#pragma unroll
    for (int c = 0; c < NDV; ++c) {
      const int d = lane + 32 * c;
      if (d >= Dh) continue;
      float o = acc[r][c];
      if (p.eps != 0.f) o = fmaf(c_eps, p.vsum[int64_t(bh) * Dh + d], o);
      dev::st_f(p.out, p.out_bf16, b * p.o_sb + h * p.o_sh + (r0 + i) * p.o_sn + d, o * inv);
    }
    if (lane == 0) {
      const int64_t row = int64_t(bh) * N + i;
      if (p.row_max) p.row_max[row] = m[r];
      if (p.row_den) p.row_den[row] = Z;
      if (p.row_arg) p.row_arg[row] = arg[r];
    }
  }
}

// ---------------------------------------------------------------- tensor-core kernel (BF16)
// A CTA of 4 warps owns 64 MW query rows, each warp MW row tiles of 16 (MW = 1: 64 rows, MW = 2: 128): the key and
// value fragments of a tile are loaded once per warp and used by its MW row tiles, so MW = 2 does twice the MMAs per
// fragment load (at ~2x the registers for scores and outputs). Per row the arithmetic is the same for any MW.
constexpr int kMmaBC = 64, kMmaThreads = 128;
// exp(x) = exp2(x log2 e): the scores are scaled by scale * log2 e once, so each exponential is one exp2 (MUFU.EX2)
// without the multiply __expf adds; row_max goes out multiplied back by ln 2.
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

template <int DH, int MW>
constexpr size_t mma_smem_bytes() {
  return sizeof(bf16) * size_t(64 * MW + 4 * kMmaBC) * (DH + 8) + sizeof(float) * 2 * kMmaBC;
}

// Rows [r0, r0 + R) x DH of a BF16 matrix (row stride sn elements) -> a [R][DH+8] tile; rows >= N zero-filled.
template <int DH, int R = kMmaBC>
__device__ __forceinline__ void load_tile_async(bf16* dst, const bf16* src, int64_t sn, int r0, int N, int tid) {
  dev::tile_async<DH, R, kMmaThreads>(dst, src, sn, r0, N, tid);
}

// kFull: a policy to multiply in or row arguments to record (training); without (inference, and every plain
// softmax) the kernel neither stages policy values nor tracks the argmax: the same bits, fewer instructions.
template <int DH, bool kFull, int MW>
__global__ void __launch_bounds__(kMmaThreads) attn_fwd_mma(AttnFwdParams p) {
  constexpr int BR = 64 * MW;           // query rows of the CTA
  constexpr int LD = DH + 8;            // +16 bytes per row: conflict-free fragment loads
  constexpr int NT = kMmaBC / 8;        // score n-tiles per warp row block
  constexpr int DT = DH / 8;            // output n-tiles
  constexpr int KC = DH / 16;           // k-chunks of Q K^T
  R4P_DYNAMIC_SMEM(smraw);
  bf16* Qs = reinterpret_cast<bf16*>(smraw);          // [BR][LD]
  bf16* Ks = Qs + BR * LD;                            // [2][64][LD]
  bf16* Vs = Ks + 2 * kMmaBC * LD;                    // [2][64][LD]
  float* pols = reinterpret_cast<float*>(Vs + 2 * kMmaBC * LD);  // [2][64]

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int i0 = blockIdx.x * BR;
  int64_t r0;  // first row of batch b (varlen)
  const int N = attn_seq_len(p, b, &r0);
  if (i0 >= N) return;  // varlen: past this sequence (block-uniform, before any barrier or cp.async)
  const bf16* qb = static_cast<const bf16*>(p.q) + b * p.q_sb + r0 * p.q_sn + h * p.q_sh;
  const bf16* kb = static_cast<const bf16*>(p.k) + b * p.k_sb + r0 * p.k_sn + h * p.k_sh;
  const bf16* vb = static_cast<const bf16*>(p.v) + b * p.v_sb + r0 * p.v_sn + h * p.v_sh;
  const float* pol = kFull && p.policy ? p.policy + int64_t(b) * N : nullptr;
  const int ntiles = (N + kMmaBC - 1) / kMmaBC;

  load_tile_async<DH, BR>(Qs, qb, p.q_sn, i0, N, tid);
  load_tile_async<DH>(Ks, kb, p.k_sn, 0, N, tid);
  load_tile_async<DH>(Vs, vb, p.v_sn, 0, N, tid);
  if (kFull && tid < kMmaBC) pols[tid] = (pol && tid < N) ? pol[tid] : 1.f;
  dev::cp_async_commit();

  // This lane's query rows: row tile mt, half rr (the C fragment's rows g and g + 8).
  auto row_of = [&](int mt, int rr) { return i0 + 16 * (MW * w + mt) + g + 8 * rr; };
  float o[MW][DT][4];
#pragma unroll
  for (int mt = 0; mt < MW; ++mt)
#pragma unroll
    for (int dn = 0; dn < DT; ++dn) o[mt][dn][0] = o[mt][dn][1] = o[mt][dn][2] = o[mt][dn][3] = 0.f;
  float mrow[MW][2], lrow[MW][2];  // running max in log2 units (scale2), running sum
  [[maybe_unused]] int arg[MW][2];
#pragma unroll
  for (int mt = 0; mt < MW; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      mrow[mt][rr] = -INFINITY;
      lrow[mt][rr] = 0.f;
      arg[mt][rr] = 0;
    }
  const float scale2 = p.scale * kLog2e;

  for (int jt = 0; jt < ntiles; ++jt) {
    const int st = jt & 1, ns = st ^ 1, j1 = (jt + 1) * kMmaBC;
    dev::next_tile(jt + 1 < ntiles, [&] {
      load_tile_async<DH>(Ks + ns * kMmaBC * LD, kb, p.k_sn, j1, N, tid);
      load_tile_async<DH>(Vs + ns * kMmaBC * LD, vb, p.v_sn, j1, N, tid);
      if (kFull && tid < kMmaBC) pols[ns * kMmaBC + tid] = (pol && j1 + tid < N) ? pol[j1 + tid] : 1.f;
    });

    const bf16* Kt = Ks + st * kMmaBC * LD;
    const bf16* Vt = Vs + st * kMmaBC * LD;
    [[maybe_unused]] const float* pt = pols + st * kMmaBC;
    const int j0 = jt * kMmaBC;

    // S = Q K^T for this warp's MW x 16 rows x 64 keys. Q's fragments are re-read from shared memory for every key
    // tile (4 of the 36 ldmatrix per tile at Dh 64, MW 1): holding them in registers took Dh 64 from 114 to 130
    // registers a thread, 4 -> 3 CTAs per SM.
    float s[MW][NT][4];
    dev::mma_scores_rows<LD, NT, KC, MW>(s, Qs, 16 * MW * w, Kt, g, t);

#pragma unroll
    for (int mt = 0; mt < MW; ++mt) {
      // Scale (into log2 units: exp2 below needs no multiply of its own), drop keys past N, tile max + first argmax
      // per row (j ascending within the lane).
      float tmax[2] = {-INFINITY, -INFINITY};
      [[maybe_unused]] int targ[2] = {INT_MAX, INT_MAX};
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int rr = e >> 1, j = j0 + n * 8 + 2 * t + (e & 1);
          const float x = j < N ? s[mt][n][e] * scale2 : -INFINITY;
          s[mt][n][e] = x;
          if constexpr (kFull) {
            if (x > tmax[rr]) {
              tmax[rr] = x;
              targ[rr] = j;
            }
          } else {
            tmax[rr] = fmaxf(tmax[rr], x);
          }
        }
      float alpha[2];
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        if constexpr (kFull) {
          dev::quad_argmax(tmax[rr], targ[rr]);
          if (tmax[rr] > mrow[mt][rr]) arg[mt][rr] = targ[rr];
        } else {
          tmax[rr] = fmaxf(tmax[rr], __shfl_xor_sync(0xffffffffu, tmax[rr], 1));
          tmax[rr] = fmaxf(tmax[rr], __shfl_xor_sync(0xffffffffu, tmax[rr], 2));
        }
        const float mn = fmaxf(mrow[mt][rr], tmax[rr]);
        alpha[rr] = (mrow[mt][rr] == -INFINITY) ? 0.f : exp2f(mrow[mt][rr] - mn);
        mrow[mt][rr] = mn;
      }
      float lsum[2] = {0.f, 0.f};
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int rr = e >> 1, jl = n * 8 + 2 * t + (e & 1), j = j0 + jl;
          float pv = j < N ? exp2f(s[mt][n][e] - mrow[mt][rr]) : 0.f;
          if constexpr (kFull) pv *= (j == row_of(mt, rr)) ? 1.f : pt[jl];
          s[mt][n][e] = pv;
          lsum[rr] += pv;
        }
      lrow[mt][0] = lrow[mt][0] * alpha[0] + lsum[0];
      lrow[mt][1] = lrow[mt][1] * alpha[1] + lsum[1];
#pragma unroll
      for (int dn = 0; dn < DT; ++dn) {
        o[mt][dn][0] *= alpha[0];
        o[mt][dn][1] *= alpha[0];
        o[mt][dn][2] *= alpha[1];
        o[mt][dn][3] *= alpha[1];
      }
    }

    // O += P V: P (BF16) from the score registers, V column pairs from shared memory.
    dev::mma_accumulate_rows<LD, kMmaBC / 16, DT, MW>(o, s, Vt, g, t);
    __syncthreads();  // this stage is refilled two iterations on
  }

  const float c_eps = p.eps / float(N);
#pragma unroll
  for (int mt = 0; mt < MW; ++mt)
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      const float Z = dev::quad_sum(lrow[mt][rr]) + p.eps;
      const int i = row_of(mt, rr);
      if (i >= N) continue;
      const float inv = 1.f / Z;
      const int64_t ob = b * p.o_sb + h * p.o_sh + (r0 + i) * p.o_sn;
#pragma unroll
      for (int dn = 0; dn < DT; ++dn) {
        const int d = dn * 8 + 2 * t;  // a column pair: one paired store
        float v0 = o[mt][dn][2 * rr], v1 = o[mt][dn][2 * rr + 1];
        if (p.eps != 0.f) {
          v0 = fmaf(c_eps, p.vsum[int64_t(bh) * DH + d], v0);
          v1 = fmaf(c_eps, p.vsum[int64_t(bh) * DH + d + 1], v1);
        }
        dev::st_f2(p.out, p.out_bf16, ob + d, v0 * inv, v1 * inv);
      }
      if (t == 0) {
        const int64_t row = int64_t(bh) * N + i;
        if (p.row_max) p.row_max[row] = mrow[mt][rr] * kLn2;  // back to the scaled scores' units
        if (p.row_den) p.row_den[row] = Z;
        if (kFull && p.row_arg) p.row_arg[row] = arg[mt][rr];
      }
    }
}

// ---------------------------------------------------------------- launch helpers

// Tensor-core path preconditions: BF16, supported DH, every row start 16-byte aligned.
bool mma_ok(const AttnFwdParams& p) {
  if (!p.in_bf16 || attention_force_simt()) return false;
  if (p.Dh != 32 && p.Dh != 64 && p.Dh != 128) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v)) return false;
  for (int64_t s : {p.q_sb, p.q_sh, p.q_sn, p.k_sb, p.k_sh, p.k_sn, p.v_sb, p.v_sh, p.v_sn})
    if (s % 8 != 0) return false;
  return true;
}

template <typename Kernel>
Status launch_with_smem(Kernel kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                        const AttnFwdParams& p, const char* op) {
  R4P_RETURN_IF_ERROR(allow_dynamic_smem(kernel, smem, op, "attention", p.Dh));
  kernel<<<grid, block, smem, stream>>>(p);
  return launch_status(op);
}

template <typename T>
Status launch_simt(const AttnFwdParams& p, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + kSimtBR - 1) / kSimtBR, p.B * p.H), block(kSimtThreads);
  const size_t smem = simt_smem_bytes(p.Dh);
  if (p.Dh <= 32) return launch_with_smem(attn_fwd_simt<T, 1>, grid, block, smem, stream, p, op);
  if (p.Dh <= 64) return launch_with_smem(attn_fwd_simt<T, 2>, grid, block, smem, stream, p, op);
  if (p.Dh <= 128) return launch_with_smem(attn_fwd_simt<T, 4>, grid, block, smem, stream, p, op);
  return launch_with_smem(attn_fwd_simt<T, 8>, grid, block, smem, stream, p, op);
}

template <int MW, bool kFull>
Status launch_mma(const AttnFwdParams& p, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + 64 * MW - 1) / (64 * MW), p.B * p.H), block(kMmaThreads);
  if (p.Dh == 32) return launch_with_smem(attn_fwd_mma<32, kFull, MW>, grid, block, mma_smem_bytes<32, MW>(), stream, p, op);
  if constexpr (MW == 1) {
    if (p.Dh == 128) return launch_with_smem(attn_fwd_mma<128, kFull, 1>, grid, block, mma_smem_bytes<128, 1>(), stream, p, op);
  }
  return launch_with_smem(attn_fwd_mma<64, kFull, MW>, grid, block, mma_smem_bytes<64, MW>(), stream, p, op);
}

// Query rows per CTA of the tensor-core forward: 64 by default (the layout that ran on the H200), 128 with
// REG4PRU_CUDA_ATTN_ROWS=128 (twice the MMAs per key/value fragment load; ~250 registers a thread at Dh 64, 2 CTAs
// per SM; not the default until a GPU run has timed it) for the plain softmax (no policy, no argmax) at Dh <= 64.
// Read at each call, so a benchmark can compare them in one process.
bool attention_rows128(const AttnFwdParams& p) {
  const char* e = std::getenv("REG4PRU_CUDA_ATTN_ROWS");
  return e != nullptr && std::strcmp(e, "128") == 0 && p.Dh <= 64 && !p.policy && !p.row_arg;
}

}  // namespace

bool attention_force_simt() {
  static const bool force = [] {
    const char* e = std::getenv("REG4PRU_CUDA_ATTN");
    return e != nullptr && std::strcmp(e, "simt") == 0;
  }();
  return force;
}

Status attention_vsum(const AttnFwdParams& p, float* vsum, float* partial, cudaStream_t stream, const char* op) {
  const dim3 grid1(p.B * p.H, kVsumChunks);
  if (p.in_bf16)
    vsum_partial_kernel<bf16><<<grid1, 256, 0, stream>>>(p, partial);
  else
    vsum_partial_kernel<float><<<grid1, 256, 0, stream>>>(p, partial);
  R4P_RETURN_IF_ERROR(launch_status(op));
  const int64_t n = int64_t(p.B) * p.H * p.Dh;
  vsum_reduce_kernel<<<grid_for(n, 256), 256, 0, stream>>>(partial, vsum, p.B * p.H, p.Dh);
  return launch_status(op);
}

Status attention_fwd(AttnFwdParams p, float* vsum_scratch, float* vsum_partial, cudaStream_t stream, const char* op) {
  if (p.Dh < 1 || p.Dh > 256)
    return range_error(op, ": the CUDA kernels support Dh in [1, 256], received Dh=", p.Dh);
  if (p.N < 1 || p.B < 1 || p.H < 1) return Status::Ok();
  if (p.cu_seqlens && (p.policy || p.eps != 0.f || p.row_max || p.row_den || p.row_arg))
    return internal_error(op, ": variable-length attention (cu_seqlens) is plain softmax only (no policy, eps, row statistics)");
  if (int64_t(p.B) * p.H > 65535)
    return range_error(op, ": the CUDA kernels support B*H <= 65535, received B*H=", int64_t(p.B) * p.H);
  if (p.eps != 0.f && p.vsum == nullptr) {
    if (!vsum_scratch || !vsum_partial) return internal_error(op, ": vsum scratch missing");
    R4P_RETURN_IF_ERROR(attention_vsum(p, vsum_scratch, vsum_partial, stream, op));
    p.vsum = vsum_scratch;
  }
  if (mma_ok(p)) {
    if (attention_rows128(p)) return launch_mma<2, false>(p, stream, op);
    return p.policy || p.row_arg ? launch_mma<1, true>(p, stream, op) : launch_mma<1, false>(p, stream, op);
  }
  return p.in_bf16 ? launch_simt<bf16>(p, stream, op) : launch_simt<float>(p, stream, op);
}

// ---------------------------------------------------------------- public launcher
Status policy_attention_fwd(const PolicyAttentionDevArgs& a) {
  const char* op = "cudaPolicyAttention";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (a.dtype != DType::F32 && a.dtype != DType::BF16)
    return type_error(op, ": expected q, k, v to be float32 or bfloat16, received ", dtype_name(a.dtype));
  if (a.out_dtype != DType::F32 && a.out_dtype != DType::BF16)
    return type_error(op, ": expected out to be float32 or bfloat16, received ", dtype_name(a.out_dtype));
  if (a.B < 1 || a.H < 1 || a.N < 1 || a.Dh < 1 || a.N > INT_MAX || a.B * a.H > 65535)
    return range_error(op, ": sizes out of the supported range (B*H <= 65535, N < 2^31), received B=", a.B, " H=", a.H,
                       " N=", a.N, " Dh=", a.Dh);
  AttnFwdParams p{};
  p.q = a.q; p.k = a.k; p.v = a.v;
  p.in_bf16 = a.dtype == DType::BF16;
  p.policy = a.policy;
  p.out = a.out;
  p.out_bf16 = a.out_dtype == DType::BF16;
  p.row_max = a.row_max; p.row_den = a.row_den; p.row_arg = nullptr;
  p.B = int(a.B); p.H = int(a.H); p.N = int(a.N); p.Dh = int(a.Dh);
  p.scale = a.scale; p.eps = a.eps;
  attn_set_bhnd(p);
  if (p.Dh < 1 || p.Dh > 256) return range_error(op, ": the CUDA kernels support Dh in [1, 256], received Dh=", a.Dh);

  float* scratch = nullptr;
  const int64_t bhd = a.B * a.H * a.Dh;
  if (a.eps != 0.f) {
    void* s = nullptr;
    R4P_RETURN_IF_ERROR(device_alloc(&s, sizeof(float) * size_t(bhd) * (1 + kVsumChunks)));
    scratch = static_cast<float*>(s);
  }
  const Status st = attention_fwd(p, scratch, scratch ? scratch + bhd : nullptr, lib_stream(), op);
  device_free(scratch);  // stream-ordered: released after the kernels that read it
  return st;
}

}  // namespace r4p::cuda
