// emu_engine_model.h: pieces shared by the emulator's engine checks (emu_engine_test.cc: layers and the FP32
// forward; emu_engine_modes_test.cc: BF16, CUDA graphs): a tiny random model, output buffers of a run, and the
// max-abs comparison that prints what it measured.
#pragma once
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emu_check.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/model.h"

namespace emu_check {

inline float* fdev(const std::vector<float>& v) { return static_cast<float*>(dev(v, DType::F32)); }
inline float* fempty(size_t n) { return static_cast<float*>(dev_empty(n, DType::F32)); }
inline void free_all(std::initializer_list<void*> ps) {
  for (void* p : ps) r4p::cuda::device_free(p);
}
inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}
inline double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    if (!std::isfinite(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}
// max |got - want| <= tol * max(1, max |want|)
inline void compare(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double tol = 1e-4) {
  const double d = max_diff(got, want), lim = tol * std::max(1.0, max_abs(want));
  char buf[96];
  std::snprintf(buf, sizeof(buf), "max|diff| = %.3g (limit %.3g, max|ref| = %.3g)", d, lim, max_abs(want));
  report(what, got.size() == want.size() && d <= lim, buf);
}
struct TinyModel {
  r4p::engine::EngineConfig config;
  std::map<std::string, std::vector<float>> data;
  std::unique_ptr<r4p::engine::Model> make() {
    std::map<std::string, r4p::engine::TensorRef> refs;
    for (auto& [k, v] : data) refs[k] = r4p::engine::TensorRef{v.data(), int64_t(v.size())};
    std::unique_ptr<r4p::engine::Model> m;
    if (!r4p::engine::Model::create(config, refs, &m).ok()) std::abort();
    return m;
  }
};

// D=32 H=2 (Dh 16: the SIMT attention) by default; dims = {D, H} = {64, 2} gives Dh 32, the tensor-core
// attention kernel in BF16. 40x24 image, patch 8: 5x3 patches; two pruning stages, one before the queries.
inline TinyModel tiny_model(uint64_t seed, int D = 32, int H = 2) {
  TinyModel t;
  const std::string json = R"({"preset":"custom","D":)" + std::to_string(D) + R"(,"H":)" + std::to_string(H) +
                           R"(,"L":4,"patch":8,"image":[40,24],"R":1,"Q":3,"Bq":2,)"
                           R"("classes":2,"selectorWidth":16,"mlpRatio":2,"stageBlocks":[1,3]})";
  const Status s = r4p::engine::parse_config(json, &t.config);
  if (!s.ok()) {
    std::printf("config: %s\n", s.message.c_str());
    std::abort();
  }
  Rng r(seed);
  for (const auto& [name, dims] : r4p::engine::weight_shapes(t.config)) {
    size_t n = 1;
    for (int64_t d : dims) n *= size_t(d);
    auto v = randn(n, r, 0.3f);
    if (name.find("norm") != std::string::npos && name.find("weight") != std::string::npos)
      for (auto& x : v) x = 1.f + 0.2f * x;
    t.data[name] = std::move(v);
  }
  return t;
}

// Host buffers for one run's outputs: [semantic, class logits, mask logits, per-block maps...].
struct RunBuffers {
  std::vector<std::vector<float>> bufs;
  r4p::engine::RunOutputs ro;
  RunBuffers(const r4p::engine::EngineConfig& c, int64_t B, bool per_block) {
    bufs.assign(3 + (per_block ? size_t(c.decode_points()) : 0), {});
    bufs[0].resize(size_t(r4p::engine::semantic_size(c, B)));
    bufs[1].resize(size_t(r4p::engine::class_logits_size(c, B)));
    bufs[2].resize(size_t(r4p::engine::mask_logits_size(c, B)));
    ro.semantic = bufs[0].data(); ro.class_logits = bufs[1].data(); ro.mask_logits = bufs[2].data();
    for (size_t i = 3; i < bufs.size(); ++i) {
      bufs[i].resize(bufs[0].size());
      ro.per_block.push_back(bufs[i].data());
    }
  }
  RunBuffers(const RunBuffers&) = delete;
  RunBuffers& operator=(const RunBuffers&) = delete;
};

}  // namespace emu_check

// emu_engine_modes_test.cc: the CUDA engine in BF16 and with CUDA graphs; adds its failures to g_fail.
void engine_mode_checks(bool bf16, bool graphs);
