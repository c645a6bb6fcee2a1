// thread_pool.h: one persistent pool of worker threads shared by every CPU kernel.
//
// ggml-style (ith, nth) parallelism: `run(nth_hint, fn)` calls fn(ith, nth) once for each
// ith in [0, nth) on nth threads (the caller is thread 0). Kernels split their outputs by ith so
// that every output element is written by exactly one thread with a fixed reduction order:
// results never depend on the thread count.
//
// Re-entrancy: if the pool is already busy (a nested call from inside a task, or a second
// AsyncWorker running at the same time), the call runs serially on the calling thread with
// nth = 1. That keeps the pool deadlock-free and the result the same.
#pragma once
#include <cstdint>
#include <functional>

namespace r4p {

class ThreadPool {
 public:
  using Task = std::function<void(int ith, int nth)>;

  static ThreadPool& instance();

  // Number of threads used by run() (>= 1). Default: hardware concurrency or REG4PRU_THREADS.
  int threads() const;
  // Changes the thread count (1..256); restarts the workers. Not safe while run() is in flight.
  void set_threads(int n);

  // Calls fn(ith, nth) for ith in [0, nth), nth = min(threads(), max_tasks) (>= 1).
  void run(const Task& fn, int64_t max_tasks = INT64_MAX);

  ~ThreadPool();

 private:
  ThreadPool();
  struct Impl;
  Impl* impl_;
};

// Splits [0, n) into nth near-equal contiguous ranges; range ith is [begin, end).
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  const int64_t base = n / nth, rem = n % nth;
  *begin = ith * base + (ith < rem ? ith : rem);
  *end = *begin + base + (ith < rem ? 1 : 0);
}

// parallel_for over [0, n): fn(begin, end) on contiguous chunks, at most one chunk per thread,
// and no thread gets fewer than `grain` items (small work stays on one thread).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace r4p
