// emu_test.cc: runs the public CUDA launchers under the CUDA emulator and compares them with the CPU ref
// kernels (native/kernels/ref), FP32 and BF16: here policyAttention fwd/bwd, GEMM, prunedBlock, on shapes that
// hit every kernel variant (tensor-core Dh 32/64/128, SIMT Dh 8/17/48/256, tails, B > 1, the cp.async and
// element-load GEMM paths, row maps, in-place prunedBlock, idx errors); the token ops (gather/scatter,
// gumbelTopK, gumbelSoftmaxST, the device-error path) are in emu_token_test.cc.
//   node native/dev/cuda_emu/build.mjs [attention|gemm|block|tokens ...]   (none: all; several: each named)
//      (builds build-emu/<asan|plain>/emu_test and runs it: the attention suites twice, default kernel
//       choice then REG4PRU_CUDA_ATTN=simt)
// Exit status 1 when any comparison misses its tolerance. What it proves: the kernels' index arithmetic,
// fragment packing, online softmax bookkeeping, pipelines (as ordering, not timing) and launch geometry agree
// with the CPU ref on these shapes. What it cannot: real-hardware behaviour (memory model, cp.async and
// mma.sync semantics beyond the documented layout, performance, resource limits other than shared memory).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "emu_check.h"
#include "kernels/cuda/attention_ops.h"
#include "kernels/ops.h"

using namespace r4p;
using r4p::cuda::DType;
using namespace emu_check;

namespace {

// ---------------------------------------------------------------- policyAttention
void check_attention(int64_t B, int64_t H, int64_t N, int64_t Dh, DType t, uint64_t seed) {
  Rng r(seed);
  const size_t n = size_t(B * H * N * Dh);
  auto q = randn(n, r), k = randn(n, r), v = randn(n, r), dout = randn(n, r);
  std::vector<float> pol(static_cast<size_t>(B * N));
  for (auto& p : pol) {
    const double u = r.u();
    p = u < 0.3 ? 0.f : u < 0.4 ? 0.5f : 1.f;
  }
  if (t == DType::BF16) {
    round_bf(q); round_bf(k); round_bf(v); round_bf(dout);
  }
  const float scale = float(1.0 / std::sqrt(double(Dh))), eps = 1e-6f;
  char name[128];
  std::snprintf(name, sizeof(name), "policyAttention %s B=%lld H=%lld N=%lld Dh=%lld", t == DType::BF16 ? "bf16" : "f32",
                (long long)B, (long long)H, (long long)N, (long long)Dh);
  // reference
  std::vector<float> out_r(n), max_r(size_t(B * H * N)), den_r(size_t(B * H * N));
  PolicyAttentionArgs ra{q.data(), k.data(), v.data(), pol.data(), out_r.data(), max_r.data(), den_r.data(), B, H, N, Dh, scale, eps};
  policy_attention_fwd_ref(ra);
  std::vector<float> dq_r(n), dk_r(n), dv_r(n), dp_r(size_t(B * N));
  PolicyAttentionBwdArgs rb{q.data(), k.data(), v.data(), pol.data(), dout.data(), dq_r.data(), dk_r.data(), dv_r.data(), dp_r.data(), B, H, N, Dh, scale, eps};
  policy_attention_bwd_ref(rb);
  // device
  void *qd = dev(q, t), *kd = dev(k, t), *vd = dev(v, t), *od = dev(dout, t), *pd = dev(pol, DType::F32);
  void* outd = dev_empty(n, DType::F32);
  void *maxd = dev_empty(size_t(B * H * N), DType::F32), *dend = dev_empty(size_t(B * H * N), DType::F32);
  cuda::PolicyAttentionDevArgs fa{qd, kd, vd, t, static_cast<float*>(pd), outd, DType::F32, static_cast<float*>(maxd),
                                  static_cast<float*>(dend), B, H, N, Dh, scale, eps};
  Status s = cuda::policy_attention_fwd(fa);
  if (!s.ok()) return report(name, false, s.message);
  const auto out = host(outd, n, DType::F32);
  const bool f32 = t == DType::F32;
  char buf[256];
  {
    const double e = f32 ? close_ratio(out, out_r, 2e-5, 1e-4) : rel_l2(out, out_r);
    std::snprintf(buf, sizeof(buf), f32 ? "max err/(2e-5+1e-4|ref|) = %.3g" : "rel-L2 %.3g (tol 1e-2)", e);
    report(std::string(name) + " out", f32 ? e <= 1 : e <= 1e-2, buf);
    const double em = close_ratio(host(maxd, max_r.size(), DType::F32), max_r, 1e-4, 1e-4);
    const double ed = close_ratio(host(dend, den_r.size(), DType::F32), den_r, 1e-4, f32 ? 1e-4 : 1e-2);
    std::snprintf(buf, sizeof(buf), "rowMax %.3g rowDen %.3g (<= 1)", em, ed);
    report(std::string(name) + " row stats", em <= 1 && ed <= 1, buf);
  }
  // bf16 output
  if (!f32) {
    void* o16 = dev_empty(n, DType::BF16);
    cuda::PolicyAttentionDevArgs fb = fa;
    fb.out = o16; fb.out_dtype = DType::BF16; fb.row_max = nullptr; fb.row_den = nullptr;
    s = cuda::policy_attention_fwd(fb);
    const double e = s.ok() ? rel_l2(host(o16, n, DType::BF16), out_r) : INFINITY;
    std::snprintf(buf, sizeof(buf), "rel-L2 %.3g (tol 1.5e-2)", e);
    report(std::string(name) + " out bf16", e <= 1.5e-2, buf);
    cuda::device_free(o16);
  }
  void *dqd = dev_empty(n, DType::F32), *dkd = dev_empty(n, DType::F32), *dvd = dev_empty(n, DType::F32), *dpd = dev_empty(size_t(B * N), DType::F32);
  cuda::PolicyAttentionBwdDevArgs ba{qd, kd, vd, od, t, static_cast<float*>(pd), static_cast<float*>(dqd), static_cast<float*>(dkd),
                                     static_cast<float*>(dvd), static_cast<float*>(dpd), B, H, N, Dh, scale, eps};
  s = cuda::policy_attention_bwd(ba);
  if (!s.ok()) {
    report(std::string(name) + " backward", false, s.message);
  } else {
    const double tol = f32 ? 1e-4 : 3e-2;
    const double e1 = rel_l2(host(dqd, n, DType::F32), dq_r), e2 = rel_l2(host(dkd, n, DType::F32), dk_r);
    const double e3 = rel_l2(host(dvd, n, DType::F32), dv_r), e4 = rel_l2(host(dpd, size_t(B * N), DType::F32), dp_r);
    std::snprintf(buf, sizeof(buf), "rel-L2 dq %.2g dk %.2g dv %.2g dpolicy %.2g (tol %.0e) |dq| %.3g |dq_ref| %.3g", e1, e2, e3, e4, tol,
                  norm(host(dqd, n, DType::F32)), norm(dq_r));
    report(std::string(name) + " backward", e1 <= tol && e2 <= tol && e3 <= tol && e4 <= tol, buf);
  }
  for (void* p : {qd, kd, vd, od, pd, outd, maxd, dend, dqd, dkd, dvd, dpd}) cuda::device_free(p);
}

// " rows128" in a check's name while REG4PRU_CUDA_ATTN_ROWS is set (the 128-row attention CTAs), else "".
const char* attn_rows_tag() { return std::getenv("REG4PRU_CUDA_ATTN_ROWS") ? " rows128" : ""; }

// ---------------------------------------------------------------- GEMM
// ct: C's dtype; with ldc_pad, C's rows are N + ldc_pad apart (an odd ldc puts every other row's column pairs at
// addresses the paired BF16 store cannot take, so both store paths run).
void check_gemm(int64_t M, int64_t N, int64_t K, DType t, bool rows, bool epi, uint64_t seed, DType ct = DType::F32,
                int64_t ldc_pad = 0) {
  Rng r(seed);
  const int64_t ldc = N + ldc_pad;
  const int64_t Msrc = M + 3;  // a_rows / r_rows pick rows of bigger buffers; c_rows scatters into one
  auto A = randn(size_t(Msrc * K), r), W = randn(size_t(N * K), r, 0.3f);
  if (t == DType::BF16) {
    round_bf(A); round_bf(W);
  }
  auto bias = randn(size_t(N), r), cs = randn(size_t(N), r), res = randn(size_t(Msrc * N), r), C0 = randn(size_t(Msrc * ldc), r);
  if (ct == DType::BF16) round_bf(C0);  // the device's C_old is BF16
  std::vector<int32_t> perm(static_cast<size_t>(Msrc));
  for (int64_t i = 0; i < Msrc; ++i) perm[size_t(i)] = int32_t((i * 7 + 3) % Msrc);  // a permutation when gcd(7, Msrc) = 1
  if (Msrc % 7 == 0)
    for (int64_t i = 0; i < Msrc; ++i) perm[size_t(i)] = int32_t(Msrc - 1 - i);
  GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = A.data(); g.lda = K; g.B = W.data(); g.ldb = K; g.transB = true;
  std::vector<float> Cr = C0;
  g.C = Cr.data(); g.ldc = ldc;
  if (rows) { g.a_rows = perm.data(); g.c_rows = perm.data() + 1; g.r_rows = perm.data() + 2; }
  if (epi) {
    g.alpha = 0.75f; g.beta = 0.5f; g.bias = bias.data(); g.act = Activation::kGelu; g.col_scale = cs.data();
    g.residual = res.data(); g.ldr = N;
  }
  gemm_ref(g);
  void *Ad = dev(A, t), *Wd = dev(W, t), *Cd = dev(C0, ct), *bd = dev(bias, DType::F32), *csd = dev(cs, DType::F32), *rd = dev(res, DType::F32);
  void* pd = nullptr;
  cuda::device_alloc(&pd, perm.size() * 4);
  std::memcpy(pd, perm.data(), perm.size() * 4);
  const int32_t* pr = static_cast<const int32_t*>(pd);
  cuda::GemmDevArgs d;
  d.M = M; d.N = N; d.K = K;
  d.A = Ad; d.lda = K; d.W = Wd; d.ldw = K; d.ab_dtype = t;
  d.C = Cd; d.ldc = ldc; d.c_dtype = ct;
  if (rows) { d.a_rows = pr; d.c_rows = pr + 1; d.r_rows = pr + 2; }
  if (epi) {
    d.alpha = 0.75f; d.beta = 0.5f; d.bias = bd; d.act = Activation::kGelu; d.col_scale = csd; d.residual = rd; d.ldr = N;
  }
  char name[128], buf[128];
  const char* tile = std::getenv("REG4PRU_CUDA_GEMM_TILE");
  const char* kind = std::getenv("REG4PRU_CUDA_GEMM");
  std::snprintf(name, sizeof(name), "gemm %s M=%lld N=%lld K=%lld%s%s%s%s tile %s%s%s", t == DType::BF16 ? "bf16" : "f32",
                (long long)M, (long long)N, (long long)K, rows ? " rows" : "", epi ? " epilogue" : "",
                ct == DType::BF16 ? " C bf16" : "", ldc_pad ? " ldc+pad" : "", tile ? tile : "auto", kind ? " " : "",
                kind ? kind : "");
  const Status s = cuda::gemm(d);
  if (!s.ok()) return report(name, false, s.message);
  const auto got = host(Cd, C0.size(), ct);
  const bool f32 = t == DType::F32 && ct == DType::F32;
  const double e = f32 ? close_ratio(got, Cr, 1e-5, 1e-4) : rel_l2(got, Cr);
  std::snprintf(buf, sizeof(buf), f32 ? "max err/(1e-5+1e-4|ref|) = %.3g" : "rel-L2 %.3g (tol 1e-2)", e);
  report(name, f32 ? e <= 1 : e <= 1e-2, buf);
  for (void* p : {Ad, Wd, Cd, bd, csd, rd, pd}) cuda::device_free(p);
}

// ---------------------------------------------------------------- prunedBlock
// A random permutation of 0..N-1 (Fisher-Yates).
std::vector<int32_t> permutation(int64_t N, Rng& r) {
  std::vector<int32_t> p(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) p[size_t(i)] = int32_t(i);
  for (int64_t i = N - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(r.u() * double(i + 1)) % size_t(i + 1)]);
  return p;
}
std::vector<std::vector<float>> block_weights(int64_t D, int64_t F, DType wt, Rng& r) {
  std::vector<std::vector<float>> w = {
      randn(size_t(D), r, 0.1f), randn(size_t(D), r, 0.1f), randn(size_t(3 * D * D), r, 1.f / std::sqrt(float(D))),
      randn(size_t(3 * D), r, 0.1f), randn(size_t(D * D), r, 1.f / std::sqrt(float(D))), randn(size_t(D), r, 0.1f),
      randn(size_t(D), r, 0.5f), randn(size_t(D), r, 0.1f), randn(size_t(D), r, 0.1f),
      randn(size_t(F * D), r, 1.f / std::sqrt(float(D))), randn(size_t(F), r, 0.1f),
      randn(size_t(D * F), r, 1.f / std::sqrt(float(F))), randn(size_t(D), r, 0.1f), randn(size_t(D), r, 0.5f)};
  for (auto& v : w[0]) v += 1.f;
  for (auto& v : w[7]) v += 1.f;
  if (wt == DType::BF16)
    for (auto& v : w) round_bf(v);
  return w;
}
BlockWeights host_weights(const std::vector<std::vector<float>>& w, int64_t D, int64_t H, int64_t F) {
  return BlockWeights{w[0].data(), w[1].data(), w[2].data(), w[3].data(), w[4].data(), w[5].data(), w[6].data(),
                      w[7].data(), w[8].data(), w[9].data(), w[10].data(), w[11].data(), w[12].data(), w[13].data(), D, H, F};
}
// out - x against the reference: FP32 close_ratio, BF16 rel-L2 of the update (rows outside idx must be x exactly).
void compare_block(const std::string& name, const std::vector<float>& got, const std::vector<float>& want,
                   const std::vector<float>& x, bool fp32) {
  char buf[160];
  if (fp32) {
    const double e = close_ratio(got, want, 5e-5, 2e-4);
    std::snprintf(buf, sizeof(buf), "max err/(5e-5+2e-4|ref|) = %.3g", e);
    report(name, e <= 1, buf);
    return;
  }
  std::vector<float> dg(got.size()), dw(got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    dg[i] = got[i] - x[i];
    dw[i] = want[i] - x[i];
  }
  const double e = rel_l2(dg, dw);
  std::snprintf(buf, sizeof(buf), "rel-L2 of out - x %.3g (tol 3e-2)", e);
  report(name, e <= 3e-2, buf);
}

// Variable-length rows (PrunedBlockDevArgs::offsets): row b runs on its own lens[b] tokens (0 allowed) against the
// CPU ref with the same offsets; then bad offsets and an index error inside a row, with the CPU binding's messages.
void check_block_varlen(const std::vector<int64_t>& lens, int64_t N, int64_t D, int64_t H, int64_t F, DType wt, int64_t max_len,
                        uint64_t seed) {
  Rng r(seed);
  const int64_t B = int64_t(lens.size());
  auto x = randn(size_t(B * N * D), r);
  std::vector<int32_t> off(size_t(B + 1), 0), idx;
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int32_t> p = permutation(N, r);
    idx.insert(idx.end(), p.begin(), p.begin() + lens[size_t(b)]);
    off[size_t(b + 1)] = off[size_t(b)] + int32_t(lens[size_t(b)]);
  }
  const int64_t K = off[size_t(B)];
  auto w = block_weights(D, F, wt, r);
  std::vector<float> want(x.size());
  PrunedBlockArgs ra{};
  ra.x = x.data(); ra.idx = idx.data(); ra.out = want.data(); ra.B = B; ra.N = N; ra.K = K; ra.offsets = off.data();
  ra.w = host_weights(w, D, H, F);
  ra.ln_eps = 1e-6f;
  pruned_block_fwd_ref(ra);
  std::vector<void*> wd;
  for (auto& v : w) wd.push_back(dev(v, wt));
  void* xd = dev(x, DType::F32);
  void *id = nullptr, *od = dev_empty(x.size(), DType::F32), *offd = nullptr;
  cuda::device_alloc(&id, idx.size() * 4);
  std::memcpy(id, idx.data(), idx.size() * 4);
  cuda::device_alloc(&offd, off.size() * 4);
  std::memcpy(offd, off.data(), off.size() * 4);
  cuda::PrunedBlockDevArgs a{};
  a.x = xd; a.x_dtype = DType::F32; a.idx = static_cast<const int32_t*>(id); a.out = od;
  a.B = B; a.N = N; a.K = K; a.offsets = static_cast<const int32_t*>(offd); a.max_len = max_len;
  a.w = cuda::BlockWeightsDev{wd[0], wd[1], wd[2], wd[3], wd[4], wd[5], wd[6], wd[7], wd[8], wd[9], wd[10], wd[11], wd[12], wd[13], wt, D, H, F};
  a.ln_eps = 1e-6f;
  std::string name = std::string("prunedBlock varlen w=") + (wt == DType::BF16 ? "bf16" : "f32") + " N=" + std::to_string(N) +
                     " D=" + std::to_string(D) + " H=" + std::to_string(H) + " maxLen=" + std::to_string(max_len) + " lens";
  for (int64_t l : lens) name += " " + std::to_string(l);
  name += attn_rows_tag();
  const Status s = cuda::pruned_block_fwd(a);
  if (!s.ok()) report(name, false, s.message);
  else compare_block(name, host(od, x.size(), DType::F32), want, x, wt == DType::F32);
  // errors: the offsets first (CPU binding order), then an index inside row 1 (position k of that row)
  auto expect_error = [&](const std::string& what, const std::string& want_msg) {
    const Status st = cuda::pruned_block_fwd(a);
    report(name + " " + what, !st.ok() && st.code == StatusCode::kRangeError && st.message == want_msg, st.message);
  };
  auto set_off = [&](const std::vector<int32_t>& o) { std::memcpy(offd, o.data(), o.size() * 4); };
  std::vector<int32_t> bad = off;
  bad[0] = 1;
  set_off(bad);
  expect_error("offsets[0] = 1", "cudaPrunedBlock: expected offsets[0] = 0, received 1");
  bad = off;
  bad[size_t(B)] = int32_t(K - 1);
  set_off(bad);
  expect_error("offsets[B] = K-1", "cudaPrunedBlock: expected offsets[B=" + std::to_string(B) + "] to equal the index count " +
                                       std::to_string(K) + ", received " + std::to_string(K - 1));
  set_off(off);
  if (B >= 2 && lens[1] >= 2) {
    const int32_t keep = idx[size_t(off[1] + 1)];
    idx[size_t(off[1] + 1)] = int32_t(N);
    std::memcpy(id, idx.data(), idx.size() * 4);
    expect_error("idx[1][1] = N", "cudaPrunedBlock: idx[1][1] = " + std::to_string(N) + " is out of range [0, " + std::to_string(N) + ")");
    idx[size_t(off[1] + 1)] = idx[size_t(off[1])];
    std::memcpy(id, idx.data(), idx.size() * 4);
    expect_error("idx duplicate in row 1", "cudaPrunedBlock: idx has duplicate index " + std::to_string(idx[size_t(off[1])]) +
                                               " in row 1 at positions 0 and 1");
    idx[size_t(off[1] + 1)] = keep;
  }
  for (void* p : wd) cuda::device_free(p);
  cuda::device_free(xd);
  cuda::device_free(od);
  cuda::device_free(id);
  cuda::device_free(offd);
}

// idx [B,K]: K distinct random tokens per row, or 0..K-1 (null_idx: what idx = null means).
std::vector<int32_t> block_idx(int64_t B, int64_t N, int64_t K, bool null_idx, Rng& r) {
  std::vector<int32_t> idx(static_cast<size_t>(B * K));
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int32_t> p = permutation(N, r);
    for (int64_t k = 0; k < K; ++k) idx[size_t(b * K + k)] = null_idx ? int32_t(k) : p[size_t(k)];
  }
  return idx;
}
// The CPU ref's output for x [B,N,D] and idx [B,K] (null: all tokens).
std::vector<float> block_ref(const std::vector<float>& x, const int32_t* idx, int64_t B, int64_t N, int64_t K,
                             const std::vector<std::vector<float>>& w, int64_t D, int64_t H, int64_t F) {
  std::vector<float> want(x.size());
  PrunedBlockArgs ra{};
  ra.x = x.data(); ra.idx = idx; ra.out = want.data(); ra.B = B; ra.N = N; ra.K = K;
  ra.w = host_weights(w, D, H, F);
  ra.ln_eps = 1e-6f;
  pruned_block_fwd_ref(ra);
  return want;
}

void check_block(int64_t B, int64_t N, int64_t K, int64_t D, int64_t H, int64_t F, DType wt, DType xt, bool null_idx,
                 bool in_place, uint64_t seed) {
  Rng r(seed);
  auto x = randn(size_t(B * N * D), r);
  std::vector<int32_t> idx = block_idx(B, N, K, null_idx, r);
  auto w = block_weights(D, F, wt, r);
  if (xt == DType::BF16) round_bf(x);
  const std::vector<float> want = block_ref(x, null_idx ? nullptr : idx.data(), B, N, K, w, D, H, F);
  std::vector<void*> wd;
  for (auto& v : w) wd.push_back(dev(v, wt));
  void* xd = dev(x, xt);
  void* id = nullptr;
  cuda::device_alloc(&id, idx.size() * 4);
  std::memcpy(id, idx.data(), idx.size() * 4);
  void* od = in_place ? xd : dev_empty(x.size(), xt);
  cuda::PrunedBlockDevArgs a{};
  a.x = xd; a.x_dtype = xt; a.idx = null_idx ? nullptr : static_cast<const int32_t*>(id); a.out = od;
  a.B = B; a.N = N; a.K = K;
  a.w = cuda::BlockWeightsDev{wd[0], wd[1], wd[2], wd[3], wd[4], wd[5], wd[6], wd[7], wd[8], wd[9], wd[10], wd[11], wd[12], wd[13], wt, D, H, F};
  a.ln_eps = 1e-6f;
  char name[160];
  std::snprintf(name, sizeof(name), "prunedBlock w=%s x=%s B=%lld N=%lld K=%lld D=%lld H=%lld F=%lld%s%s%s",
                wt == DType::BF16 ? "bf16" : "f32", xt == DType::BF16 ? "bf16" : "f32", (long long)B, (long long)N,
                (long long)K, (long long)D, (long long)H, (long long)F, null_idx ? " idx=null" : "", in_place ? " in-place" : "",
                attn_rows_tag());
  const Status s = cuda::pruned_block_fwd(a);
  if (!s.ok()) report(name, false, s.message);
  else compare_block(name, host(od, x.size(), xt), want, x, wt == DType::F32 && xt == DType::F32);
  // index errors (same messages as the CPU binding)
  if (!null_idx && K >= 2) {
    const int32_t keep = idx[size_t(K - 1)];
    idx[size_t(K - 1)] = int32_t(N);
    std::memcpy(id, idx.data(), idx.size() * 4);
    cuda::PrunedBlockDevArgs e = a;
    e.out = dev_empty(x.size(), xt);
    Status st = cuda::pruned_block_fwd(e);
    const std::string want_oob = "cudaPrunedBlock: idx[0][" + std::to_string(K - 1) + "] = " + std::to_string(N) + " is out of range [0, " + std::to_string(N) + ")";
    report(std::string(name) + " idx out of range", !st.ok() && st.code == StatusCode::kRangeError && st.message == want_oob, st.message);
    idx[size_t(K - 1)] = idx[0];
    std::memcpy(id, idx.data(), idx.size() * 4);
    st = cuda::pruned_block_fwd(e);
    const std::string want_dup = "cudaPrunedBlock: idx has duplicate index " + std::to_string(idx[0]) + " in row 0 at positions 0 and " + std::to_string(K - 1);
    report(std::string(name) + " idx duplicate", !st.ok() && st.code == StatusCode::kRangeError && st.message == want_dup, st.message);
    idx[size_t(K - 1)] = keep;
    cuda::device_free(const_cast<void*>(e.out));
  }
  for (void* p : wd) cuda::device_free(p);
  if (!in_place) cuda::device_free(od);
  cuda::device_free(xd);
  cuda::device_free(id);
}

// The CUDA engine's BF16 block call: the four matrices in BF16, the ten 1-D parameters F32 (vec_f32), x F32 updated
// in place, idx trusted (from the engine's own top-k), a caller scratch of exactly pruned_block_scratch_bytes (ASan
// flags an overrun), against the CPU ref with the same BF16-rounded matrices.
void check_block_engine(int64_t B, int64_t N, int64_t K, int64_t D, int64_t H, int64_t F, bool null_idx, uint64_t seed) {
  Rng r(seed);
  auto x = randn(size_t(B * N * D), r);
  std::vector<int32_t> idx = block_idx(B, N, K, null_idx, r);
  auto w = block_weights(D, F, DType::F32, r);
  const auto is_matrix = [](size_t i) { return i == 2 || i == 4 || i == 9 || i == 11; };
  for (size_t i = 0; i < w.size(); ++i)
    if (is_matrix(i)) round_bf(w[i]);
  const std::vector<float> want = block_ref(x, null_idx ? nullptr : idx.data(), B, N, K, w, D, H, F);
  std::vector<void*> wd;
  for (size_t i = 0; i < w.size(); ++i) wd.push_back(dev(w[i], is_matrix(i) ? DType::BF16 : DType::F32));
  void* xd = dev(x, DType::F32);
  void* id = nullptr;
  cuda::device_alloc(&id, idx.size() * 4);
  std::memcpy(id, idx.data(), idx.size() * 4);
  cuda::PrunedBlockDevArgs a{};
  a.x = xd; a.x_dtype = DType::F32; a.idx = null_idx ? nullptr : static_cast<const int32_t*>(id); a.out = xd;
  a.B = B; a.N = N; a.K = K;
  a.w = cuda::BlockWeightsDev{wd[0], wd[1], wd[2], wd[3], wd[4], wd[5], wd[6], wd[7], wd[8], wd[9], wd[10], wd[11], wd[12], wd[13],
                              DType::BF16, D, H, F};
  a.w.vec_f32 = true;
  a.ln_eps = 1e-6f;
  a.idx_trusted = true;
  a.scratch_bytes = cuda::pruned_block_scratch_bytes(a);
  void* scratch = nullptr;
  cuda::device_alloc(&scratch, a.scratch_bytes);
  a.scratch = scratch;
  const std::string name = "prunedBlock engine call (bf16 matrices, f32 vectors, trusted idx, caller scratch) B=" +
                           std::to_string(B) + " N=" + std::to_string(N) + " K=" + std::to_string(K) + (null_idx ? " idx=null" : "") +
                           attn_rows_tag();
  const Status s = cuda::pruned_block_fwd(a);
  if (!s.ok()) report(name, false, s.message);
  else compare_block(name, host(xd, x.size(), DType::F32), want, x, false);
  for (void* p : wd) cuda::device_free(p);
  for (void* p : {xd, id, scratch}) cuda::device_free(p);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> named(argv + 1, argv + argc);
  for (const std::string& s : named)
    if (s != "attention" && s != "gemm" && s != "block" && s != "tokens" && s != "attention-all") {
      std::fprintf(stderr, "emu_test: unknown suite '%s' (attention, gemm, block, tokens, attention-all)\n", s.c_str());
      return 2;
    }
  const auto has = [&](const char* s) { for (const std::string& n : named) if (n == s) return true; return false; };
  const bool all = named.empty() || has("attention-all");  // attention-all: every suite but tokens
  std::printf("REG4PRU_CUDA_ATTN=%s\n", std::getenv("REG4PRU_CUDA_ATTN") ? std::getenv("REG4PRU_CUDA_ATTN") : "(unset)");
  if (all || has("attention")) {
    for (DType t : {DType::F32, DType::BF16}) {
      check_attention(1, 1, 1, 64, t, 1);
      check_attention(2, 3, 37, 64, t, 2);
      check_attention(1, 2, 130, 32, t, 3);
      check_attention(1, 1, 77, 128, t, 4);
      check_attention(2, 1, 65, 48, t, 5);
      check_attention(1, 1, 50, 17, t, 6);
      check_attention(1, 1, 40, 256, t, 7);
    }
  }
  if (all || has("gemm")) {
    for (DType t : {DType::F32, DType::BF16}) {
      check_gemm(1, 1, 1, t, false, false, 11);
      check_gemm(3, 5, 5, t, false, true, 12);
      check_gemm(37, 19, 37, t, true, true, 13);
      check_gemm(130, 129, 64, t, true, true, 14);
      check_gemm(20, 136, 40, t, false, true, 15);
    }
    // Every tensor-core tile (the emulated GPU's 132 SMs make the shapes above take 64-row tiles), BF16 C with
    // paired and single stores, a tail in M, N and K, more than one CTA each way at 128x256.
    const char* was = std::getenv("REG4PRU_CUDA_GEMM_TILE");
    const std::string saved = was ? was : "";
    for (const char* tile : {"64", "128", "256"}) {
      setenv("REG4PRU_CUDA_GEMM_TILE", tile, 1);
      check_gemm(130, 264, 72, DType::BF16, true, true, 16);
      check_gemm(67, 258, 40, DType::BF16, false, true, 17, DType::BF16, 1);
      check_gemm(33, 20, 16, DType::BF16, false, false, 18, DType::BF16, 0);
    }
    // The wgmma path (sm_90a) at each of its tiles (64x128 with one warpgroup, 128x128, 128x256 with two): tails in M, N and K, gathered / scattered rows, BF16 C with
    // an odd ldc, and K = 328 (six k tiles: every stage of the 4-stage ring is refilled while a wgmma group may
    // still be in flight). K = 37 is not 16-byte readable, so it takes the mma.sync kernel even with wgmma asked for.
    const char* kind_was = std::getenv("REG4PRU_CUDA_GEMM");
    const std::string kind_saved = kind_was ? kind_was : "";
    setenv("REG4PRU_CUDA_GEMM", "wgmma", 1);
    for (const char* tile : {"64", "128", "256"}) {
      setenv("REG4PRU_CUDA_GEMM_TILE", tile, 1);
      check_gemm(130, 264, 72, DType::BF16, true, true, 16);
      check_gemm(67, 258, 40, DType::BF16, false, true, 17, DType::BF16, 1);
      check_gemm(33, 20, 16, DType::BF16, false, false, 18, DType::BF16, 0);
      check_gemm(70, 40, 328, DType::BF16, true, true, 19);
      check_gemm(37, 19, 37, DType::BF16, true, true, 13);
    }
    if (kind_was) setenv("REG4PRU_CUDA_GEMM", kind_saved.c_str(), 1);
    else unsetenv("REG4PRU_CUDA_GEMM");
    if (was) setenv("REG4PRU_CUDA_GEMM_TILE", saved.c_str(), 1);
    else unsetenv("REG4PRU_CUDA_GEMM_TILE");
  }
  if (all || has("block")) {
    for (DType wt : {DType::F32, DType::BF16}) {
      check_block(1, 1, 1, 8, 1, 32, wt, DType::F32, false, false, 21);
      check_block(2, 19, 7, 24, 3, 40, wt, DType::F32, false, false, 22);
      check_block(2, 13, 13, 16, 2, 24, wt, DType::F32, true, false, 23);
      check_block(1, 70, 50, 128, 2, 256, wt, DType::F32, false, true, 24);
      check_block(1, 70, 50, 128, 2, 256, wt, DType::BF16, false, false, 25);
      // variable length: tails, an empty row, a full row; SIMT Dh 12 and (BF16) the tensor-core Dh 64 path
      check_block_varlen({7, 12}, 19, 24, 2, 40, wt, 0, 26);
      check_block_varlen({5, 0, 13}, 13, 16, 2, 24, wt, 13, 27);
      check_block_varlen({50, 70, 9}, 70, 128, 2, 256, wt, 70, 28);
    }
    check_block_engine(2, 37, 29, 64, 2, 128, false, 29);  // pruned, Dh 32 (tensor-core attention)
    check_block_engine(2, 21, 21, 64, 2, 128, true, 30);   // all tokens
    // The tensor-core attention with 128 query rows per CTA (REG4PRU_CUDA_ATTN_ROWS, plain softmax only): Dh 64 and
    // 32, more than one CTA of rows with a tail, variable length.
    setenv("REG4PRU_CUDA_ATTN_ROWS", "128", 1);
    check_block(1, 200, 150, 128, 2, 256, DType::BF16, DType::BF16, false, false, 31);
    check_block_varlen({50, 140, 9}, 140, 128, 2, 256, DType::BF16, 140, 32);
    check_block_engine(2, 37, 29, 64, 2, 128, false, 33);
    unsetenv("REG4PRU_CUDA_ATTN_ROWS");
  }
  if (named.empty() || has("tokens")) {
    token_checks();
    runtime_checks();
  }
  std::printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
  return g_fail ? 1 : 0;
}
