// emu_check.h: helpers shared by the emulator's checks (emu_test.cc, emu_token_test.cc): a small RNG,
// bf16 rounding as the device does it (RNE), "device" buffers (emulated allocations, poisoned with 0xFF,
// then filled), error measures and the pass/fail report.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/cuda/cuda_runtime_api.h"

namespace emu_check {

using r4p::Status;
using r4p::StatusCode;
using r4p::cuda::DType;

inline int g_fail = 0;

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double u() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return double(s >> 11) * (1.0 / 9007199254740992.0);
  }
  float n() { return float(std::sqrt(-2 * std::log(u() + 1e-300)) * std::cos(6.283185307179586 * u())); }
};

inline std::vector<float> randn(size_t n, Rng& r, float scale = 1.f) {
  std::vector<float> v(n);
  for (auto& x : v) x = r.n() * scale;
  return v;
}
inline uint16_t bf_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float bf_round(float f) {
  const uint32_t u = uint32_t(bf_bits(f)) << 16;
  float g;
  std::memcpy(&g, &u, 4);
  return g;
}
inline void round_bf(std::vector<float>& v) {
  for (auto& x : v) x = bf_round(x);
}

// A "device" copy of host floats in the given dtype (poisoned allocation, then filled).
inline void* dev(const std::vector<float>& v, DType t) {
  void* p = nullptr;
  if (!r4p::cuda::device_alloc(&p, v.size() * (t == DType::BF16 ? 2 : 4)).ok()) std::abort();
  if (t == DType::BF16) {
    auto* b = static_cast<uint16_t*>(p);
    for (size_t i = 0; i < v.size(); ++i) b[i] = bf_bits(v[i]);
  } else {
    std::memcpy(p, v.data(), v.size() * 4);
  }
  return p;
}
inline void* dev_empty(size_t n, DType t) {
  void* p = nullptr;
  if (!r4p::cuda::device_alloc(&p, n * (t == DType::BF16 ? 2 : 4)).ok()) std::abort();
  return p;
}
inline std::vector<float> host(const void* p, size_t n, DType t) {
  std::vector<float> v(n);
  if (t == DType::BF16) {
    const auto* b = static_cast<const uint16_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t u = uint32_t(b[i]) << 16;
      std::memcpy(&v[i], &u, 4);
    }
  } else {
    std::memcpy(v.data(), p, n * 4);
  }
  return v;
}

// ||got - want|| / max(||want||, floor_rms * sqrt(n)): the floor keeps an exactly-zero reference (the q / k
// gradients at N = 1) from turning float rounding noise into an infinite relative error.
inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want, double floor_rms = 1e-2) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    if (!std::isfinite(d)) return INFINITY;
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / std::max(den, floor_rms * floor_rms * double(got.size())));
}
inline double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}
// max over i of |got - want| / (atol + rtol |want|): <= 1 passes.
inline double close_ratio(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - want[i]);
    if (!std::isfinite(d)) return INFINITY;
    worst = std::max(worst, d / (atol + rtol * std::fabs(want[i])));
  }
  return worst;
}
inline void report(const std::string& what, bool ok, const std::string& detail) {
  std::printf("%s %-70s %s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.c_str());
  if (!ok) ++g_fail;
}
inline void expect_status(const std::string& what, const Status& s) {
  report(what, s.ok(), s.ok() ? "" : s.message);
}

}  // namespace emu_check

// emu_token_test.cc: gatherTokens / scatterTokens (+ grads), gumbelTopK, gumbelSoftmaxST (+ grad) and the
// device-error path; adds its failures to emu_check::g_fail.
void token_checks();
// emu_runtime_test.cc: the runtime's two-phase download and the reuse of its pinned staging buffers.
void runtime_checks();
