// emu_engine_test.cc: the CUDA inference engine under the CUDA emulator (issue 11 item 5), against the CPU
// engine: (1) each non-block layer launcher of kernels/cuda/engine_layers.h against its CPU function in
// native/engine/layers.cc on small random shapes (D not a multiple of 32, B > 1, non-square maps); (2) the
// whole CudaEngine forward (engine/cuda_engine.h) against engine::Engine at a tiny config, B = 2, unpruned
// and pruned (keep 0.7, two stages, one before and one after the queries), with the per-block maps: every
// output and the kept counts; the second run of each engine is captured as a CUDA graph (emu_graph.cc). The
// layers that may store BF16 (im2col, row norms, depthwise) are checked in that mode too. The GEMM layers (patch
// embedding, policy MLP, class head, mask MLP, ConvTranspose2d, mask einsum) are covered by (2) and by
// emu_test.cc's GEMM suite. BF16 and graph behaviour of the whole engine: emu_engine_modes_test.cc.
//   node native/dev/cuda_emu/build.mjs engine [layers] [fp32] [bf16] [graphs]   (no part named: all)
// Tolerance (FP32 both sides; reductions in a different order and expf vs std::exp): max |cuda - cpu| <=
// 1e-4 * max(1, max |cpu|) per output. Prints the measured max differences.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emu_check.h"
#include "emu_engine_model.h"
#include "engine/config.h"
#include "engine/cuda_engine.h"
#include "engine/engine.h"
#include "engine/layers.h"
#include "engine/model.h"
#include "kernels/cuda/engine_layers.h"

using namespace r4p;
using namespace emu_check;

namespace {

// ---------------------------------------------------------------- layers
void check_layers(uint64_t seed) {
  Rng r(seed);
  {  // im2col: B=2, 3 x 12 x 8, p = 4
    const int64_t B = 2, Hi = 12, Wi = 8, p = 4, rows = B * 6, Kc = 48;
    auto img = randn(size_t(B * 3 * Hi * Wi), r);
    std::vector<float> want(size_t(rows * Kc));
    engine::im2col_patches(img.data(), B, Hi, Wi, p, want.data());
    float *di = fdev(img), *dc = fempty(want.size());
    expect_status("engine im2col launch", cuda::engine_im2col_cuda(di, B, Hi, Wi, p, dc));
    compare("engine im2col B=2 12x8 p=4", host(dc, want.size(), DType::F32), want, 0);
    void* db = dev_empty(want.size(), DType::BF16);  // BF16 columns: the FP32 values rounded once
    expect_status("engine im2col launch (bf16 out)", cuda::engine_im2col_cuda(di, B, Hi, Wi, p, db, true));
    auto want_bf = want;
    round_bf(want_bf);
    compare("engine im2col B=2 12x8 p=4, bf16 out", host(db, want.size(), DType::BF16), want_bf, 0);
    free_all({di, dc, db});
  }
  for (bool rms : {false, true})
    for (int64_t D : {17, 40, 96}) {  // LayerNorm / RMSNorm over rows first.. of a [B,T,D] map
      const int64_t B = 2, T = 9, first = 3, n = 5;
      auto x = randn(size_t(B * T * D), r), w = randn(size_t(D), r), b = randn(size_t(D), r);
      for (auto& v : x) v += 0.5f;
      std::vector<float> want(size_t(B * n * D));
      auto src = [&](int64_t row) { return x.data() + ((row / n) * T + first + row % n) * D; };
      if (rms) engine::rms_norm_rows(B * n, D, src, want.data(), w.data(), 1e-6f);
      else engine::layer_norm_rows(B * n, D, src, want.data(), w.data(), b.data(), 1e-6f);
      float *dx = fdev(x), *dw = fdev(w), *db = fdev(b), *dy = fempty(want.size());
      expect_status("engine row norm launch", cuda::engine_row_norm_cuda(dx, B, T, first, n, D, dw, db, 1e-6f, rms, dy));
      compare(std::string(rms ? "engine RMSNorm" : "engine LayerNorm") + " rows D=" + std::to_string(D),
              host(dy, want.size(), DType::F32), want, 1e-5);
      // BF16 rows: FP32 statistics, one rounding at the store (a value near a rounding midpoint may land on
      // the other neighbour: at most 1 BF16 ulp, at most 2^-7 relative)
      void* dyb = dev_empty(want.size(), DType::BF16);
      expect_status("engine row norm launch (bf16 out)", cuda::engine_row_norm_cuda(dx, B, T, first, n, D, dw, db, 1e-6f, rms, dyb, true));
      auto want_bf = want;
      round_bf(want_bf);
      compare(std::string(rms ? "engine RMSNorm" : "engine LayerNorm") + " rows D=" + std::to_string(D) + ", bf16 out",
              host(dyb, want.size(), DType::BF16), want_bf, 1.0 / 128);
      free_all({dx, dw, db, dy, dyb});
    }
  {  // keep scores + class probs
    const int64_t rows = 37, C1 = 4;
    auto l2 = randn(size_t(rows * 2), r, 3.f), lc = randn(size_t(rows * C1), r, 3.f);
    std::vector<float> ws(static_cast<size_t>(rows)), wp(static_cast<size_t>(rows * (C1 - 1)));
    engine::keep_scores(l2.data(), rows, ws.data());
    engine::class_probs(lc.data(), rows, C1, wp.data());
    float *d2 = fdev(l2), *dc = fdev(lc), *ds = fempty(ws.size()), *dp = fempty(wp.size());
    expect_status("engine keep scores launch", cuda::engine_keep_scores_cuda(d2, rows, ds));
    expect_status("engine class probs launch", cuda::engine_class_probs_cuda(dc, rows, C1, dp));
    compare("engine keep scores rows=37", host(ds, ws.size(), DType::F32), ws, 1e-6);
    compare("engine class probs rows=37 C+1=4", host(dp, wp.size(), DType::F32), wp, 1e-6);
    free_all({d2, dc, ds, dp});
  }
  // depthwise 3x3 + LayerNorm2d, [2, 5, 3, D]; D = 1056 > 1024 takes the kernel that recomputes the conv per pass
  for (int64_t D : {17, 40, 1056}) {
    const int64_t B = 2, h = 5, w = 3;
    auto in = randn(size_t(B * h * w * D), r), wt = randn(size_t(9 * D), r), nw = randn(size_t(D), r), nb = randn(size_t(D), r);
    std::vector<float> want(in.size());
    engine::depthwise3x3_layer_norm(in.data(), want.data(), B, h, w, D, wt.data(), nw.data(), nb.data(), 1e-6f);
    float *di = fdev(in), *dw = fdev(wt), *dn = fdev(nw), *db = fdev(nb), *dout = fempty(in.size());
    expect_status("engine depthwise launch", cuda::engine_depthwise3x3_ln_cuda(di, dout, B, h, w, D, dw, dn, db, 1e-6f));
    compare("engine depthwise3x3+LayerNorm2d 2x5x3 D=" + std::to_string(D), host(dout, in.size(), DType::F32), want, 1e-5);
    void* dob = dev_empty(in.size(), DType::BF16);
    expect_status("engine depthwise launch (bf16 out)", cuda::engine_depthwise3x3_ln_cuda(di, dob, B, h, w, D, dw, dn, db, 1e-6f, true));
    auto want_bf = want;
    round_bf(want_bf);
    compare("engine depthwise3x3+LayerNorm2d 2x5x3 D=" + std::to_string(D) + ", bf16 out", host(dob, in.size(), DType::BF16),
            want_bf, 1.0 / 128);
    free_all({di, dw, dn, db, dout, dob});
  }
  for (int64_t C : {1, 3, 10}) {  // resize + sigmoid + semantic: [2, Q=3, 5, 3] -> [13, 7] (up in y, up in x)
    const int64_t B = 2, Q = 3, h = 5, w = 3, Ho = 13, Wo = 7;
    auto m = randn(size_t(B * Q * h * w), r, 2.f), pr = randn(size_t(B * Q * C), r);
    for (auto& v : pr) v = std::fabs(v);
    std::vector<float> want(size_t(B * C * Ho * Wo));
    engine::resize_semantic(m.data(), pr.data(), B, Q, C, h, w, Ho, Wo, want.data());
    float *dm = fdev(m), *dp = fdev(pr), *ds = fempty(want.size());
    expect_status("engine resize launch", cuda::engine_resize_semantic_cuda(dm, dp, B, Q, C, h, w, Ho, Wo, ds));
    compare("engine resize+sigmoid+semantic 5x3->13x7 C=" + std::to_string(C), host(ds, want.size(), DType::F32), want, 1e-5);
    free_all({dm, dp, ds});
  }
  {  // query insertion and the prefix broadcast
    const int64_t B = 2, Q = 3, T0 = 4, D = 5;
    auto x0 = randn(size_t(B * T0 * D), r), q = randn(size_t(Q * D), r), cls = randn(size_t(D), r);
    std::vector<float> want(size_t(B * (Q + T0) * D));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < Q + T0; ++t)
        for (int64_t d = 0; d < D; ++d)
          want[size_t((b * (Q + T0) + t) * D + d)] = t < Q ? q[size_t(t * D + d)] : t == Q ? cls[size_t(d)] : x0[size_t((b * T0 + t - Q) * D + d)];
    float *dx0 = fdev(x0), *dq = fdev(q), *dc = fdev(cls), *dx1 = fempty(want.size());
    expect_status("engine broadcast launch", cuda::engine_broadcast_rows_cuda(dx0, B, T0, 0, dc, 1, D));
    expect_status("engine query insertion launch", cuda::engine_insert_queries_cuda(dx0, dq, dx1, B, Q, T0, D));
    compare("engine cls broadcast + query insertion", host(dx1, want.size(), DType::F32), want, 0);
    free_all({dx0, dq, dc, dx1});
  }
}

// ---------------------------------------------------------------- whole engine
void check_engine(double keep, uint64_t seed) {
  TinyModel tm = tiny_model(seed);
  const engine::EngineConfig& c = tm.config;
  engine::SessionOptions o;
  o.prune = keep < 1.0;
  o.keep = keep;
  std::unique_ptr<engine::Engine> cpu;
  std::unique_ptr<engine::CudaEngine> gpu;
  expect_status("engine create (cpu)", engine::Engine::create(tm.make(), o, &cpu));
  expect_status("engine create (cuda)", engine::CudaEngine::create(tm.make(), o, &gpu));
  if (!cpu || !gpu) return;
  const int64_t B = 2;
  Rng r(seed + 100);
  auto images = randn(size_t(B * 3 * c.image_h * c.image_w), r);
  RunBuffers A(c, B, true), Bf(c, B, true);
  const auto& a = A.bufs;
  const auto& b = Bf.bufs;
  expect_status("engine run (cpu)", cpu->run(images.data(), B, A.ro));
  if (keep < 1.0) {  // the pruned comparison must really prune: fewer patches per stage, a different result
    bool fewer = cpu->stage_keep().size() == c.stage_blocks.size();
    for (int64_t k : cpu->stage_keep()) fewer = fewer && k < c.Np();
    std::unique_ptr<engine::Engine> full;
    RunBuffers F(c, B, true);
    expect_status("engine create + run (cpu, unpruned)", engine::Engine::create(tm.make(), engine::SessionOptions{}, &full));
    if (full) expect_status("engine run (cpu, unpruned)", full->run(images.data(), B, F.ro));
    const double d = max_diff(F.bufs[0], a[0]);
    report("engine keep=0.7 prunes (k < Np per stage, semantic differs from unpruned)", fewer && d > 1e-3,
           "max|pruned - unpruned| = " + std::to_string(d));
  }
  for (int rep = 0; rep < 2; ++rep) {  // twice: the second run reuses the workspace
    expect_status("engine run (cuda)", gpu->run(images.data(), B, Bf.ro));
    const std::string tag = std::string(keep < 1 ? "keep=0.7" : "unpruned") + (rep ? " (2nd run)" : "");
    report("engine " + tag + " stage keep counts", cpu->stage_keep() == gpu->stage_keep(), "");
    compare("engine " + tag + " semantic [2,2,40,24]", b[0], a[0]);
    compare("engine " + tag + " class logits [2,3,3]", b[1], a[1]);
    compare("engine " + tag + " mask logits [2,3,20,12]", b[2], a[2]);
    for (int64_t i = 0; i < c.decode_points(); ++i)
      compare("engine " + tag + " per-block map " + std::to_string(i), b[3 + size_t(i)], a[3 + size_t(i)]);
  }
}

}  // namespace

// No argument: every part; else the parts named (layers, fp32, bf16, graphs): the emulated forwards are slow.
int main(int argc, char** argv) {
  const auto want = [&](const char* part) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]) == part) return true;
    return false;
  };
  if (want("layers")) check_layers(7);
  if (want("fp32")) {
    check_engine(1.0, 31);
    check_engine(0.7, 32);
  }
  engine_mode_checks(want("bf16"), want("graphs"));
  std::printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
  return g_fail ? 1 : 0;
}
