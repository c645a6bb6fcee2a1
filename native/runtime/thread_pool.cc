// thread_pool.cc: see thread_pool.h. Between jobs a worker first spins for a short while (REG4PRU_POOL_SPIN_US,
// default 100 microseconds) watching for the next job, then sleeps on a condition variable; the caller likewise
// spins that long for the workers to finish before it sleeps. A forward runs ~10 jobs per ViT block back to back,
// and waking a sleeping vCPU goes through the hypervisor: the short spin keeps the workers awake across those
// gaps and costs nothing when the pool stays idle longer (the threads are asleep again after the spin).
#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace r4p {

// Spins until done() or the spin time has passed; the caller then takes the locked (sleeping) path, which
// re-checks the condition, so giving up early is always safe.
template <class Done>
void spin_until(Done done) {
  static const int64_t spin_ns = [] {
    const char* e = std::getenv("REG4PRU_POOL_SPIN_US");
    const long us = e ? std::strtol(e, nullptr, 10) : 100;
    return int64_t(std::max(0L, std::min(us, 100000L))) * 1000;
  }();
  if (spin_ns == 0) return;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(spin_ns)) return;
  }
}

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv_start, cv_done;
  std::mutex run_mu;  // one job at a time; try_lock failure -> serial fallback
  const Task* task = nullptr;
  int job_nth = 1;
  // Written under mu; read without it while spinning.
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  bool stop = false;
  int nthreads = 1;

  void start(int n) {
    nthreads = n;
    stop = false;
    // New workers must not mistake the last job (or the previous shutdown) for a new one.
    const uint64_t gen = generation.load();
    for (int i = 1; i < n; ++i) workers.emplace_back([this, i, gen] { loop(i, gen); });
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
      ++generation;
    }
    cv_start.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }
  void loop(int ith, uint64_t seen) {
    for (;;) {
      const Task* t = nullptr;
      int nth = 0;
      spin_until([&] { return generation.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lk(mu);
        cv_start.wait(lk, [&] { return generation != seen; });
        seen = generation;
        if (stop) return;
        t = task;
        nth = job_nth;
      }
      if (ith < nth) (*t)(ith, nth);
      {
        std::lock_guard<std::mutex> lk(mu);
        if (--pending == 0) cv_done.notify_one();
      }
    }
  }
};

static int default_threads() {
  if (const char* env = std::getenv("REG4PRU_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 256) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min(hc, 256u));
}

ThreadPool::ThreadPool() : impl_(new Impl) { impl_->start(default_threads()); }
ThreadPool::~ThreadPool() {
  impl_->shutdown();
  delete impl_;
}

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: joining threads during static destruction at process exit can hang.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

int ThreadPool::threads() const { return impl_->nthreads; }

void ThreadPool::set_threads(int n) {
  n = std::max(1, std::min(n, 256));
  std::lock_guard<std::mutex> guard(impl_->run_mu);
  if (n == impl_->nthreads) return;
  impl_->shutdown();
  impl_->start(n);
}

void ThreadPool::run(const Task& fn, int64_t max_tasks) {
  int nth = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(impl_->nthreads, max_tasks)));
  std::unique_lock<std::mutex> guard(impl_->run_mu, std::try_to_lock);
  if (nth == 1 || !guard.owns_lock()) {
    // Serial path: same partition semantics as one thread.
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->task = &fn;
    impl_->job_nth = nth;
    impl_->pending = impl_->nthreads - 1;
    ++impl_->generation;
  }
  impl_->cv_start.notify_all();
  fn(0, nth);
  spin_until([&] { return impl_->pending.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->cv_done.wait(lk, [&] { return impl_->pending == 0; });
  impl_->task = nullptr;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_tasks = std::max<int64_t>(1, n / grain);
  ThreadPool::instance().run(
      [&](int ith, int nth) {
        int64_t b, e;
        split_range(n, ith, nth, &b, &e);
        if (b < e) fn(b, e);
      },
      max_tasks);
}

}  // namespace r4p
