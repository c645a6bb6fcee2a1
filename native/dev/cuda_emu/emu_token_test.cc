// emu_token_test.cc: runs the CUDA token-op launchers (kernels/cuda/token_ops.h: gather_scatter.cu,
// gumbel.cu) on the emulator, through the addon's own runtime (runtime.cu: allocation, download,
// synchronize, the DeviceError record), and compares them with the CPU ref kernels (native/kernels/ref).
//   - gatherTokens / scatterTokens forward and backward, FP32 and BF16: every result BIT-EXACT (they move
//     rows; the gather gradient sums in ascending k in FP32 as the ref does, then BF16 rounds once, so
//     BF16 must equal the ref's FP32 result rounded to bf16). Odd shapes (D = 1, 3, 7, 13, K = 1, K = N,
//     K > N with duplicates, B > 1, D = 1000 for several packet rounds per lane), duplicates, in-place
//     scatter, null gradient outputs, and buffers offset from their allocation by 1-3 elements so every
//     packet width (16/8/4/2 bytes; the gather gradient's packed vs element path) is taken; the poisoned
//     elements before each offset buffer must stay untouched.
//   - gumbelTopK: indices IDENTICAL to gumbel_topk_ref (same seed), noise on/off, ties (few distinct
//     logits, +-inf), active masks (down to exactly k active), k = 1, k = N, N up to 16384, BF16 logits.
//   - gumbelSoftmaxST forward (hard, soft) and backward: bit-exact (FP32), bf16(ref) exact (BF16).
//   - device-side errors: out-of-range indices (N, -1, INT32_MIN/MAX), a NaN logit, a row with too few
//     active tokens: the launcher returns Ok, the documented RangeError comes at the next synchronize()
//     or download, exactly once; the rows are zeroed / skipped / filled with -1 as token_ops.h says, the
//     other rows are right, and (with the ASan build) nothing is read or written out of bounds. Host-side
//     argument errors (dtype, k, tau) and scratch-buffer leaks are checked too.
// Inputs are random normals (never zeros); every device buffer starts as 0xFF bytes (NaN / -1).
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_runtime.h"  // emu::live_allocations
#include "emu_check.h"
#include "kernels/cuda/token_ops.h"
#include "kernels/ops.h"

using namespace r4p;
using namespace emu_check;

namespace {

const char* tname(DType t) { return t == DType::BF16 ? "bf16" : "f32"; }

// n elements of dtype t starting `off` elements into a device allocation; the off elements in front stay
// poisoned (0xFF) and prefix_untouched() checks them. off != 0 breaks the 16-byte alignment of the row
// starts, which sends the kernels down their narrower packet paths.
struct DevBuf {
  void* alloc = nullptr;
  void* p = nullptr;
  size_t n = 0, off = 0;
  DType t;
  DevBuf(size_t n_, DType t_, size_t off_ = 0) : n(n_), off(off_), t(t_) {
    if (!cuda::device_alloc(&alloc, (n + off) * cuda::dtype_size(t)).ok()) std::abort();
    p = static_cast<char*>(alloc) + off * cuda::dtype_size(t);
  }
  DevBuf(const std::vector<float>& v, DType t_, size_t off_ = 0) : DevBuf(v.size(), t_, off_) { fill(v); }
  DevBuf(const std::vector<int32_t>& v, size_t off_ = 0) : DevBuf(v.size(), DType::I32, off_) { fill_raw(v.data()); }
  DevBuf(const std::vector<uint8_t>& v) : DevBuf(v.size(), DType::U8) { fill_raw(v.data()); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { cuda::device_free(alloc); }
  void fill_raw(const void* src) {
    if (!cuda::upload(p, src, n * cuda::dtype_size(t)).ok()) std::abort();
  }
  void fill(const std::vector<float>& v) {
    if (t == DType::BF16) {
      if (!cuda::f32_to_bf16_upload(p, v.data(), n).ok()) std::abort();
    } else {
      fill_raw(v.data());
    }
  }
  // Through the runtime's download: a pending device error comes back as its Status.
  Status get(std::vector<float>* v) const {
    v->assign(n, 0.f);
    if (t == DType::BF16) return cuda::bf16_to_f32_download(v->data(), p, n);
    return cuda::download(v->data(), p, n * 4);
  }
  Status get(std::vector<int32_t>* v) const {
    v->assign(n, 0);
    return cuda::download(v->data(), p, n * 4);
  }
  bool prefix_untouched() const {
    const auto* b = static_cast<const unsigned char*>(alloc);
    for (size_t i = 0; i < off * cuda::dtype_size(t); ++i)
      if (b[i] != 0xff) return false;
    return true;
  }
};

// Number of elements whose bits differ, and the first such index in *first.
template <typename T>
size_t bit_diffs(const std::vector<T>& got, const std::vector<T>& want, size_t* first) {
  size_t bad = 0;
  *first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      if (bad++ == 0) *first = i;
    }
  return got.size() == want.size() ? bad : std::max(got.size(), want.size());
}

// Reports an exact comparison of one output.
template <typename T>
void expect_same(const std::string& what, const Status& s, const std::vector<T>& got, const std::vector<T>& want) {
  if (!s.ok()) return report(what, false, s.message);
  size_t first = 0;
  const size_t bad = bit_diffs(got, want, &first);
  char buf[200];
  if (bad == 0) {
    std::snprintf(buf, sizeof(buf), "bit-exact (%zu values)", got.size());
  } else {
    std::snprintf(buf, sizeof(buf), "%zu of %zu differ; first [%zu] got %.9g want %.9g", bad, got.size(), first,
                  double(first < got.size() ? got[first] : 0), double(first < want.size() ? want[first] : 0));
  }
  report(what, bad == 0, buf);
}

std::vector<float> as_bf16(std::vector<float> v) {
  round_bf(v);
  return v;
}

// idx [B,K]: distinct per row (a prefix of a random permutation; needs K <= N) or drawn with
// replacement with at least one duplicate per row when K >= 2.
std::vector<int32_t> make_idx(int64_t B, int64_t N, int64_t K, bool dups, Rng& r) {
  std::vector<int32_t> idx(size_t(B * K));
  for (int64_t b = 0; b < B; ++b) {
    if (dups) {
      for (int64_t k = 0; k < K; ++k) idx[size_t(b * K + k)] = int32_t(size_t(r.u() * double(N)) % size_t(N));
      if (K >= 2) idx[size_t(b * K + K - 1)] = idx[size_t(b * K + size_t(r.u() * double(K - 1)) % size_t(K - 1))];
    } else {
      std::vector<int32_t> p(static_cast<size_t>(N));
      for (int64_t i = 0; i < N; ++i) p[size_t(i)] = int32_t(i);
      for (int64_t i = N - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(r.u() * double(i + 1)) % size_t(i + 1)]);
      for (int64_t k = 0; k < K; ++k) idx[size_t(b * K + k)] = p[size_t(k)];
    }
  }
  return idx;
}

std::string shape_name(const char* op, DType t, int64_t B, int64_t N, int64_t K, int64_t D, bool dups, size_t o1, size_t o2,
                       size_t o3 = 0) {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "%s %s B=%lld N=%lld K=%lld D=%lld%s off=%zu/%zu/%zu", op, tname(t), (long long)B,
                (long long)N, (long long)K, (long long)D, dups ? " dups" : "", o1, o2, o3);
  return buf;
}

// ---------------------------------------------------------------- gather / scatter
void check_gather(int64_t B, int64_t N, int64_t K, int64_t D, DType t, bool dups, size_t ox, size_t oo, uint64_t seed) {
  Rng r(seed);
  auto x = randn(size_t(B * N * D), r);
  if (t == DType::BF16) round_bf(x);
  const auto idx = make_idx(B, N, K, dups, r);
  std::vector<float> want(size_t(B * K * D));
  gather_tokens_fwd_ref({x.data(), idx.data(), want.data(), B, N, K, D});
  DevBuf X(x, t, ox), I(idx), O(want.size(), t, oo);
  const std::string name = shape_name("gatherTokens", t, B, N, K, D, dups, ox, oo);
  Status s = cuda::gather_tokens_fwd_cuda(t, X.p, static_cast<const int32_t*>(I.p), O.p, B, N, K, D);
  std::vector<float> got;
  if (s.ok()) s = O.get(&got);
  expect_same(name, s, got, want);
  if (!O.prefix_untouched()) report(name + " writes before out", false, "");

  // Gradient: a scatter-add of dout in ascending k.
  auto dout = randn(size_t(B * K * D), r);
  if (t == DType::BF16) round_bf(dout);
  std::vector<float> dx_want(size_t(B * N * D));
  gather_tokens_bwd_ref({dout.data(), idx.data(), dx_want.data(), B, N, K, D});
  if (t == DType::BF16) round_bf(dx_want);  // one rounding of the FP32 sum
  DevBuf G(dout, t, oo), DX(dx_want.size(), t, ox);
  s = cuda::gather_tokens_bwd_cuda(t, G.p, static_cast<const int32_t*>(I.p), DX.p, B, N, K, D);
  if (s.ok()) s = DX.get(&got);
  expect_same(shape_name("gatherTokens backward", t, B, N, K, D, dups, oo, ox), s, got, dx_want);
  if (!DX.prefix_untouched()) report(name + " backward writes before dx", false, "");
}

void check_scatter(int64_t B, int64_t N, int64_t K, int64_t D, DType t, bool dups, bool in_place, size_t ob, size_t os,
                   size_t oo, uint64_t seed) {
  Rng r(seed);
  auto base = randn(size_t(B * N * D), r), src = randn(size_t(B * K * D), r);
  if (t == DType::BF16) {
    round_bf(base);
    round_bf(src);
  }
  const auto idx = make_idx(B, N, K, dups, r);
  std::vector<float> want(base.size());
  scatter_tokens_fwd_ref({base.data(), idx.data(), src.data(), want.data(), B, N, K, D});  // duplicates: last k wins
  DevBuf BASE(base, t, ob), I(idx), S(src, t, os), O(base.size(), t, oo);
  void* out = in_place ? BASE.p : O.p;
  const std::string name = shape_name(in_place ? "scatterTokens in-place" : "scatterTokens", t, B, N, K, D, dups, ob, os,
                                      in_place ? ob : oo);
  Status s = cuda::scatter_tokens_fwd_cuda(t, BASE.p, static_cast<const int32_t*>(I.p), S.p, out, B, N, K, D);
  std::vector<float> got;
  if (s.ok()) s = (in_place ? BASE : O).get(&got);
  expect_same(name, s, got, want);
  if (!O.prefix_untouched() || !BASE.prefix_untouched()) report(name + " writes outside out", false, "");
}

void check_scatter_bwd(int64_t B, int64_t N, int64_t K, int64_t D, DType t, bool dups, bool want_dbase, bool want_dsrc,
                       size_t og, size_t ob, size_t os, uint64_t seed) {
  Rng r(seed);
  auto dout = randn(size_t(B * N * D), r);
  if (t == DType::BF16) round_bf(dout);
  const auto idx = make_idx(B, N, K, dups, r);
  std::vector<float> dbase(dout.size()), dsrc(size_t(B * K * D));
  scatter_tokens_bwd_ref({dout.data(), idx.data(), want_dbase ? dbase.data() : nullptr, want_dsrc ? dsrc.data() : nullptr,
                          B, N, K, D});
  DevBuf G(dout, t, og), I(idx), DB(dbase.size(), t, ob), DS(dsrc.size(), t, os);
  std::string name = shape_name("scatterTokens backward", t, B, N, K, D, dups, og, ob, os);
  name += want_dbase ? (want_dsrc ? "" : " dsrc=null") : " dbase=null";
  Status s = cuda::scatter_tokens_bwd_cuda(t, G.p, static_cast<const int32_t*>(I.p), want_dbase ? DB.p : nullptr,
                                           want_dsrc ? DS.p : nullptr, B, N, K, D);
  std::vector<float> got;
  if (want_dbase) {
    Status s1 = s.ok() ? DB.get(&got) : s;
    expect_same(name + " dbase", s1, got, dbase);
  }
  if (want_dsrc) {
    Status s2 = s.ok() ? DS.get(&got) : s;
    expect_same(name + " dsrc", s2, got, dsrc);
  }
  if (!want_dbase && !want_dsrc) expect_status(name, s);
  std::vector<float> untouched;
  if (!want_dbase && DB.get(&untouched).ok()) {
    for (float v : untouched)
      if (!std::isnan(v)) return report(name + " wrote the null dbase's buffer?", false, "");
  }
}

// ---------------------------------------------------------------- gumbelTopK
enum class Logits { kRandom, kTies, kTiesInf };

void check_topk(int64_t B, int64_t N, int64_t k, DType t, bool noise, Logits kind, double active_p, uint64_t seed) {
  Rng r(seed);
  std::vector<float> logits(size_t(B * N));
  for (auto& v : logits) {
    if (kind == Logits::kRandom) {
      v = r.n() * 3.f;
    } else {
      const double u = r.u();  // four distinct values (+ infinities): long runs of equal keys
      v = u < 0.25 ? -1.f : u < 0.5 ? 0.5f : u < 0.75 ? 2.f : 1.25f;
      if (kind == Logits::kTiesInf && r.u() < 0.2) v = r.u() < 0.5 ? INFINITY : -INFINITY;
    }
  }
  if (t == DType::BF16) round_bf(logits);
  std::vector<uint8_t> active;
  if (active_p < 1.0) {
    active.resize(logits.size());
    for (int64_t b = 0; b < B; ++b) {
      int64_t count = 0;
      for (int64_t n = 0; n < N; ++n) count += (active[size_t(b * N + n)] = r.u() < active_p ? 1 : 0);
      for (int64_t n = 0; n < N && count < k; ++n)  // top up to exactly k where the draw gave fewer
        if (!active[size_t(b * N + n)]) active[size_t(b * N + n)] = 1, ++count;
    }
  }
  const uint64_t s64 = (uint64_t(r.u() * 4294967296.0) << 32) ^ uint64_t(r.u() * 4294967296.0);
  std::vector<int32_t> want(size_t(B * k));
  Status rs = gumbel_topk_ref({logits.data(), active.empty() ? nullptr : active.data(), want.data(), B, N, k, s64, noise});
  char name[200];
  std::snprintf(name, sizeof(name), "gumbelTopK %s B=%lld N=%lld k=%lld noise=%d %s active=%.2g", tname(t), (long long)B,
                (long long)N, (long long)k, int(noise),
                kind == Logits::kRandom ? "random" : kind == Logits::kTies ? "ties" : "ties+inf", active_p);
  if (!rs.ok()) return report(name, false, "ref: " + rs.message);
  DevBuf L(logits, t), O(want.size(), DType::I32);
  DevBuf A(active.empty() ? std::vector<uint8_t>{1} : active);
  const size_t live = emu::live_allocations();
  Status s = cuda::gumbel_topk_cuda(t, L.p, active.empty() ? nullptr : static_cast<const uint8_t*>(A.p),
                                    static_cast<int32_t*>(O.p), B, N, k, s64, noise);
  std::vector<int32_t> got;
  if (s.ok()) s = O.get(&got);
  expect_same(name, s, got, want);
  if (emu::live_allocations() != live) report(std::string(name) + " scratch freed", false, "");
}

// ---------------------------------------------------------------- gumbelSoftmaxST
void check_softmax_st(int64_t B, int64_t N, DType t, float tau, uint64_t seed) {
  Rng r(seed);
  auto logits = randn(size_t(B * N * 2), r, 2.f), dhard = randn(size_t(B * N), r);
  if (t == DType::BF16) {
    round_bf(logits);
    round_bf(dhard);
  }
  const uint64_t s64 = seed * 0x2545F4914F6CDD1Dull;
  std::vector<float> hard(size_t(B * N)), soft(size_t(B * N));
  gumbel_softmax_st_fwd_ref({logits.data(), hard.data(), soft.data(), B, N, tau, s64});
  char name[160];
  std::snprintf(name, sizeof(name), "gumbelSoftmaxST %s B=%lld N=%lld tau=%g", tname(t), (long long)B, (long long)N, double(tau));
  DevBuf L(logits, t), H(hard.size(), t), S(soft.size(), t);
  Status s = cuda::gumbel_softmax_st_fwd_cuda(t, L.p, H.p, S.p, B, N, tau, s64);
  std::vector<float> got;
  if (s.ok()) s = H.get(&got);
  expect_same(std::string(name) + " hard", s, got, hard);
  if (s.ok()) s = S.get(&got);
  expect_same(std::string(name) + " soft", s, got, t == DType::BF16 ? as_bf16(soft) : soft);
  // Backward from the soft values the device holds (bf16 for BF16).
  std::vector<float> soft_in = t == DType::BF16 ? as_bf16(soft) : soft, dl(size_t(B * N * 2));
  gumbel_softmax_st_bwd_ref({dhard.data(), soft_in.data(), dl.data(), B, N, tau});
  if (t == DType::BF16) round_bf(dl);
  DevBuf DH(dhard, t), DL(dl.size(), t);
  s = cuda::gumbel_softmax_st_bwd_cuda(t, DH.p, S.p, DL.p, B, N, tau);
  if (s.ok()) s = DL.get(&got);
  expect_same(std::string(name) + " backward", s, got, dl);
}

// ---------------------------------------------------------------- device-side and host-side errors
// The RangeError of an out-of-range idx as runtime.cu words it.
std::string idx_msg(const char* op, int64_t b, int64_t k, int64_t v, int64_t N) {
  return std::string(op) + ": idx[" + std::to_string(b) + "][" + std::to_string(k) + "] = " + std::to_string(v) +
         " is out of range [0, " + std::to_string(N) +
         ") (found on the device; the output rows of out-of-range indices were zeroed or skipped)";
}

// Expects the device error at this synchronize() and a clean one right after.
void expect_sync_error(const std::string& what, const std::string& msg) {
  const Status s = cuda::synchronize();
  report(what + " error at sync", !s.ok() && s.code == StatusCode::kRangeError && s.message == msg, s.message);
  const Status again = cuda::synchronize();
  report(what + " reported once", again.ok(), again.message);
}

void check_idx_errors(DType t, int32_t bad, bool via_download) {
  const int64_t B = 2, N = 9, K = 5, D = 11;
  Rng r(77 + uint64_t(bad & 0xff));
  auto x = randn(size_t(B * N * D), r), src = randn(size_t(B * K * D), r), dout = randn(size_t(B * K * D), r);
  if (t == DType::BF16) {
    round_bf(x);
    round_bf(src);
    round_bf(dout);
  }
  auto idx = make_idx(B, N, K, false, r);
  const int64_t bb = 1, bk = 3;  // the bad entry
  idx[size_t(bb * K + bk)] = bad;
  auto valid = [&](int64_t i) { return idx[size_t(i)] >= 0 && idx[size_t(i)] < N; };
  char tag[96];
  std::snprintf(tag, sizeof(tag), " %s idx[1][3]=%d%s", tname(t), bad, via_download ? " (download)" : "");
  DevBuf I(idx), X(x, t), S(src, t), G(dout, t);
  const size_t live = emu::live_allocations();
  std::vector<float> got;

  // gather: the bad row zeroed, the others copied.
  {
    std::vector<float> want(size_t(B * K * D), 0.f);
    for (int64_t i = 0; i < B * K; ++i)
      if (valid(i))
        for (int64_t d = 0; d < D; ++d) want[size_t(i * D + d)] = x[size_t(((i / K) * N + idx[size_t(i)]) * D + d)];
    DevBuf O(want.size(), t);
    Status s = cuda::gather_tokens_fwd_cuda(t, X.p, static_cast<const int32_t*>(I.p), O.p, B, N, K, D);
    report(std::string("gatherTokens") + tag + " launch", s.ok(), s.message);
    const std::string msg = idx_msg("cudaGatherTokens", bb, bk, bad, N);
    if (via_download) {
      s = O.get(&got);
      report(std::string("gatherTokens") + tag + " error at download", !s.ok() && s.message == msg, s.message);
    } else {
      expect_sync_error(std::string("gatherTokens") + tag, msg);
    }
    s = O.get(&got);
    expect_same(std::string("gatherTokens") + tag + " rows", s, got, want);
  }
  // gather backward: dx from the valid indices only.
  {
    std::vector<float> want(size_t(B * N * D), 0.f);
    for (int64_t i = 0; i < B * K; ++i)
      if (valid(i))
        for (int64_t d = 0; d < D; ++d) want[size_t(((i / K) * N + idx[size_t(i)]) * D + d)] += dout[size_t(i * D + d)];
    if (t == DType::BF16) round_bf(want);
    DevBuf DX(want.size(), t);
    Status s = cuda::gather_tokens_bwd_cuda(t, G.p, static_cast<const int32_t*>(I.p), DX.p, B, N, K, D);
    report(std::string("gatherTokens backward") + tag + " launch", s.ok(), s.message);
    expect_sync_error(std::string("gatherTokens backward") + tag, idx_msg("cudaGatherTokensBackward", bb, bk, bad, N));
    s = DX.get(&got);
    expect_same(std::string("gatherTokens backward") + tag + " rows", s, got, want);
  }
  // scatter (out of place and in place): the bad k skipped.
  for (bool in_place : {false, true}) {
    std::vector<float> want = x;
    for (int64_t i = 0; i < B * K; ++i)
      if (valid(i))
        for (int64_t d = 0; d < D; ++d) want[size_t(((i / K) * N + idx[size_t(i)]) * D + d)] = src[size_t(i * D + d)];
    DevBuf BASE(x, t), O(x.size(), t);
    void* out = in_place ? BASE.p : O.p;
    const std::string what = std::string(in_place ? "scatterTokens in-place" : "scatterTokens") + tag;
    Status s = cuda::scatter_tokens_fwd_cuda(t, BASE.p, static_cast<const int32_t*>(I.p), S.p, out, B, N, K, D);
    report(what + " launch", s.ok(), s.message);
    expect_sync_error(what, idx_msg("cudaScatterTokens", bb, bk, bad, N));
    s = (in_place ? BASE : O).get(&got);
    expect_same(what + " rows", s, got, want);
  }
  // scatter backward: dsrc row of the bad k zeroed, dbase = dout with the valid rows zeroed.
  {
    auto g = randn(size_t(B * N * D), r);
    if (t == DType::BF16) round_bf(g);
    std::vector<float> dbase = g, dsrc(size_t(B * K * D), 0.f);
    for (int64_t i = 0; i < B * K; ++i)
      if (valid(i))
        for (int64_t d = 0; d < D; ++d) {
          const size_t row = size_t(((i / K) * N + idx[size_t(i)]) * D + d);
          dsrc[size_t(i * D + d)] = g[row];
          dbase[row] = 0.f;
        }
    DevBuf GG(g, t), DB(dbase.size(), t), DS(dsrc.size(), t);
    const std::string what = std::string("scatterTokens backward") + tag;
    Status s = cuda::scatter_tokens_bwd_cuda(t, GG.p, static_cast<const int32_t*>(I.p), DB.p, DS.p, B, N, K, D);
    report(what + " launch", s.ok(), s.message);
    expect_sync_error(what, idx_msg("cudaScatterTokensBackward", bb, bk, bad, N));
    s = DB.get(&got);
    expect_same(what + " dbase", s, got, dbase);
    s = DS.get(&got);
    expect_same(what + " dsrc", s, got, dsrc);
  }
  if (emu::live_allocations() != live) report(std::string("token ops") + tag + " scratch freed", false, "");
}

void check_topk_errors(DType t) {
  const int64_t B = 3, N = 40, k = 6;
  Rng r(91);
  auto logits = randn(size_t(B * N), r);
  if (t == DType::BF16) round_bf(logits);
  std::vector<uint8_t> active(size_t(B * N), 1);
  const uint64_t seed = 0x1234567890abcdefull;
  std::vector<int32_t> want(size_t(B * k));
  gumbel_topk_ref({logits.data(), active.data(), want.data(), B, N, k, seed, true});
  const std::string tag = std::string(" ") + tname(t);
  std::vector<int32_t> got;
  // A NaN in row 1 (at an inactive position: still an error, as on the CPU).
  {
    auto l = logits;
    l[size_t(1 * N + 5)] = NAN;
    auto a = active;
    a[size_t(1 * N + 5)] = 0;
    DevBuf L(l, t), A(a), O(want.size(), DType::I32);
    Status s = cuda::gumbel_topk_cuda(t, L.p, static_cast<const uint8_t*>(A.p), static_cast<int32_t*>(O.p), B, N, k, seed, true);
    report("gumbelTopK NaN" + tag + " launch", s.ok(), s.message);
    expect_sync_error("gumbelTopK NaN" + tag,
                      "cudaGumbelTopK: expected logits to contain no NaN (the order is undefined), received logits[1][5] = NaN "
                      "(found on the device)");
    auto w = want;
    for (int64_t j = 0; j < k; ++j) w[size_t(1 * k + j)] = -1;
    s = O.get(&got);
    expect_same("gumbelTopK NaN" + tag + " rows", s, got, w);
  }
  // Row 2 with k - 1 active tokens.
  {
    auto a = active;
    for (int64_t n = k - 1; n < N; ++n) a[size_t(2 * N + n)] = 0;
    std::vector<int32_t> w(size_t(B * k));
    gumbel_topk_ref({logits.data(), a.data(), w.data(), 2, N, k, seed, true});  // rows 0 and 1 only
    for (int64_t j = 0; j < k; ++j) w[size_t(2 * k + j)] = -1;
    DevBuf L(logits, t), A(a), O(w.size(), DType::I32);
    Status s = cuda::gumbel_topk_cuda(t, L.p, static_cast<const uint8_t*>(A.p), static_cast<int32_t*>(O.p), B, N, k, seed, true);
    report("gumbelTopK too few active" + tag + " launch", s.ok(), s.message);
    expect_sync_error("gumbelTopK too few active" + tag,
                      "cudaGumbelTopK: active[2] has " + std::to_string(k - 1) + " active tokens, fewer than k=" +
                          std::to_string(k) + " (found on the device; that output row was filled with -1)");
    s = O.get(&got);
    expect_same("gumbelTopK too few active" + tag + " rows", s, got, w);
  }
  // Host-side argument errors: immediate, nothing enqueued.
  DevBuf L(logits, t), O(want.size(), DType::I32);
  for (int64_t kk : {int64_t(0), N + 1}) {
    const Status s = cuda::gumbel_topk_cuda(t, L.p, nullptr, static_cast<int32_t*>(O.p), B, N, kk, seed, true);
    report("gumbelTopK k=" + std::to_string(kk) + tag, s.code == StatusCode::kRangeError && s.message.find("k to be in [1, 40]") != std::string::npos, s.message);
  }
  for (float tau : {0.f, -1.f, NAN, INFINITY}) {
    const Status s = cuda::gumbel_softmax_st_fwd_cuda(t, L.p, O.p, O.p, 1, 1, tau, seed);
    const Status s2 = cuda::gumbel_softmax_st_bwd_cuda(t, L.p, L.p, O.p, 1, 1, tau);
    report("gumbelSoftmaxST tau=" + std::to_string(tau) + tag,
           s.code == StatusCode::kRangeError && s2.code == StatusCode::kRangeError && s.message.find("tau") != std::string::npos,
           s.message);
  }
  expect_status("no device error left" + tag, cuda::synchronize());
}

void check_dtype_errors() {
  const Status g = cuda::gather_tokens_fwd_cuda(DType::I32, nullptr, nullptr, nullptr, 1, 1, 1, 1);
  const Status gb = cuda::gather_tokens_bwd_cuda(DType::U8, nullptr, nullptr, nullptr, 1, 1, 1, 1);
  const Status sc = cuda::scatter_tokens_fwd_cuda(DType::I32, nullptr, nullptr, nullptr, nullptr, 1, 1, 1, 1);
  const Status sb = cuda::scatter_tokens_bwd_cuda(DType::I32, nullptr, nullptr, nullptr, nullptr, 1, 1, 1, 1);
  const Status tk = cuda::gumbel_topk_cuda(DType::I32, nullptr, nullptr, nullptr, 1, 1, 1, 0, true);
  const Status sf = cuda::gumbel_softmax_st_fwd_cuda(DType::U8, nullptr, nullptr, nullptr, 1, 1, 1.f, 0);
  bool ok = true;
  for (const Status* s : {&g, &gb, &sc, &sb, &tk, &sf}) ok = ok && s->code == StatusCode::kTypeError;
  report("token ops: non-float dtype -> TypeError", ok, g.message + " | " + tk.message);
}

}  // namespace

void token_checks() {
  expect_status("runtime ready", cuda::synchronize());  // creates the runtime (and its DeviceError record) first
  const size_t live0 = emu::live_allocations();
  for (DType t : {DType::F32, DType::BF16}) {
    // gather fwd + bwd: (B, N, K, D, dups, x/dx offset, out/dout offset)
    check_gather(1, 1, 1, 1, t, false, 0, 0, 101);
    check_gather(1, 5, 1, 7, t, false, 0, 0, 102);
    check_gather(2, 9, 9, 3, t, false, 1, 0, 103);      // K = N
    check_gather(3, 37, 20, 33, t, true, 0, 1, 104);    // duplicates, odd D
    check_gather(2, 17, 34, 8, t, true, 0, 0, 105);     // K > N: every row repeats
    check_gather(2, 64, 40, 64, t, false, 0, 0, 106);   // 16-byte packets, packed gradient
    check_gather(2, 64, 40, 64, t, true, 1, 2, 107);    // the same, misaligned: narrower packets
    check_gather(1, 30, 25, 12, t, true, 2, 3, 108);    // f32 48-byte rows at 8-/4-byte offsets
    check_gather(1, 50, 45, 13, t, true, 0, 0, 109);    // bf16 26-byte rows: 2-byte packets
    check_gather(1, 40, 33, 1000, t, true, 0, 0, 110);  // several packet rounds per lane
    check_gather(2, 12, 7, 16, t, true, 3, 0, 111);
    // scatter fwd: (B, N, K, D, dups, in_place, base/src/out offsets)
    check_scatter(1, 1, 1, 1, t, false, false, 0, 0, 0, 201);
    check_scatter(2, 9, 9, 3, t, false, false, 0, 0, 0, 202);
    check_scatter(3, 37, 20, 33, t, true, false, 1, 0, 2, 203);
    check_scatter(2, 64, 40, 64, t, false, false, 0, 0, 0, 204);
    check_scatter(2, 64, 40, 64, t, true, true, 0, 0, 0, 205);
    check_scatter(2, 64, 40, 64, t, false, true, 1, 3, 0, 206);
    check_scatter(1, 40, 33, 1000, t, true, false, 0, 2, 0, 207);
    check_scatter(1, 30, 1, 13, t, false, true, 0, 0, 0, 208);
    // scatter bwd: (B, N, K, D, dups, dbase?, dsrc?, dout/dbase/dsrc offsets)
    check_scatter_bwd(1, 1, 1, 1, t, false, true, true, 0, 0, 0, 301);
    check_scatter_bwd(3, 37, 20, 33, t, true, true, true, 0, 1, 2, 302);
    check_scatter_bwd(2, 64, 64, 64, t, false, true, true, 0, 0, 0, 303);
    check_scatter_bwd(2, 64, 40, 64, t, true, false, true, 1, 0, 0, 304);
    check_scatter_bwd(2, 64, 40, 64, t, true, true, false, 0, 2, 0, 305);
    check_scatter_bwd(1, 40, 33, 1000, t, false, true, true, 3, 0, 1, 306);
  }
  for (DType t : {DType::F32, DType::BF16}) {
    // gumbelTopK: (B, N, k, noise, logits, active fraction)
    check_topk(1, 1, 1, t, true, Logits::kRandom, 1.0, 401);
    check_topk(1, 7, 3, t, true, Logits::kRandom, 1.0, 402);
    check_topk(2, 33, 1, t, true, Logits::kRandom, 1.0, 403);
    check_topk(2, 33, 33, t, false, Logits::kRandom, 1.0, 404);
    check_topk(3, 100, 40, t, true, Logits::kRandom, 0.6, 405);
    check_topk(2, 100, 40, t, false, Logits::kTies, 1.0, 406);
    check_topk(2, 777, 300, t, false, Logits::kTies, 0.5, 407);
    check_topk(2, 600, 250, t, true, Logits::kTiesInf, 1.0, 408);
    check_topk(1, 1000, 999, t, false, Logits::kTies, 1.0, 409);
    check_topk(1, 513, 100, t, true, Logits::kRandom, 0.1, 410);  // exactly k active after the top-up
    check_topk(2, 4101, 2871, t, true, Logits::kRandom, 1.0, 411);
    check_topk(1, 16384, 1, t, true, Logits::kRandom, 1.0, 412);
    check_topk(1, 16384, 16384, t, true, Logits::kTiesInf, 1.0, 413);
    check_topk(1, 16384, 5000, t, false, Logits::kTies, 0.7, 414);
    // gumbelSoftmaxST: (B, N, tau)
    check_softmax_st(1, 1, t, 1.f, 501);
    check_softmax_st(2, 37, t, 0.5f, 502);
    check_softmax_st(3, 1000, t, 2.f, 503);
    check_softmax_st(1, 4101, t, 0.1f, 504);
  }
  for (DType t : {DType::F32, DType::BF16}) {
    check_idx_errors(t, 9, false);  // = N
    check_idx_errors(t, -1, true);
    check_idx_errors(t, INT32_MAX, false);
    check_idx_errors(t, INT32_MIN, false);
    check_topk_errors(t);
  }
  check_dtype_errors();
  const size_t live1 = emu::live_allocations();
  report("token ops: every device allocation freed", live1 == live0,
         std::to_string(live0) + " live before, " + std::to_string(live1) + " after");
}
