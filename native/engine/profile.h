// profile.h: REG4PRU_PROFILE=1 prints the engine's phase wall times to stderr after each run (the
// same switch as prunedBlock's per-phase profile). Checked once per process; free when off.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace r4p::engine {

inline bool profiling_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("REG4PRU_PROFILE");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

enum Phase { kEmbed, kSelect, kBlocks, kHeadNorm, kHeadMlp, kUpConv, kUpDwLn, kMaskGemm, kResizeSem, kPhases };

struct PhaseClock {
  bool on = profiling_enabled();
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double ms[kPhases] = {};
  void lap(Phase p) {
    if (!on) return;
    const auto t = std::chrono::steady_clock::now();
    ms[p] += std::chrono::duration<double, std::milli>(t - t0).count();
    t0 = t;
  }
  void report(long long B) const {
    if (!on) return;
    static const char* names[kPhases] = {"embed", "select", "blocks", "headLN", "headMLP", "upConvT", "upDwLN", "maskGemm", "resizeSem"};
    double total = 0;
    std::fprintf(stderr, "[reg4pru engine B=%lld]", B);
    for (int i = 0; i < kPhases; ++i) {
      std::fprintf(stderr, " %s %.2f", names[i], ms[i]);
      total += ms[i];
    }
    std::fprintf(stderr, " total %.2f ms\n", total);
  }
};

}  // namespace r4p::engine
