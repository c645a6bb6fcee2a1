// profile.h: REG4PRU_PROFILE=1 prints phase wall times to stderr (the engine's forward after each run,
// prunedBlock after each call). Checked once per process; free when off. Plain C++: include anywhere.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace r4p {

inline bool profiling_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("REG4PRU_PROFILE");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

// CPU time of the calling thread (excludes time the OS gave to other processes: on a shared machine it
// shows the work split and per-core speed where wall times cannot).
inline double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Wall time per phase (N phases, named at report time); a no-op unless REG4PRU_PROFILE is set.
template <int N>
struct PhaseClock {
  bool on = profiling_enabled();
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double ms[N] = {};
  void lap(int phase) {
    if (!on) return;
    const auto t = std::chrono::steady_clock::now();
    ms[phase] += std::chrono::duration<double, std::milli>(t - t0).count();
    t0 = t;
  }
  // "<title> name ms name ms ... total T ms" on stderr.
  void report(const std::string& title, const char* const (&names)[N]) const {
    if (!on) return;
    double total = 0;
    std::fprintf(stderr, "%s", title.c_str());
    for (int i = 0; i < N; ++i) {
      std::fprintf(stderr, " %s %.2f", names[i], ms[i]);
      total += ms[i];
    }
    std::fprintf(stderr, " total %.2f ms\n", total);
  }
};

}  // namespace r4p
