// stealing_ranges.h: a static split that rebalances at its end. [0, n) is cut into one contiguous range per
// thread (split_range); each thread takes chunks from the FRONT of its own range and, once that is empty, takes
// chunks from the BACK of the others' ranges, so a thread that a slower core (or another process) holds up does not
// make the other wait, while each thread still walks mostly contiguous work (the attention packs a head's K/V once
// per head it enters: with stealing from the back only the head where a steal lands is packed twice).
// Chunks never cross a segment boundary: seg(i) gives the [start, end) of the segment holding item i.
// Which thread runs which chunk must not change the results (true for work whose items are independent).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "runtime/thread_pool.h"

namespace r4p {

class StealingRanges {
 public:
  // n < 2^31 items (fits() says so) over nth >= 1 threads.
  StealingRanges(int64_t n, int nth) : nth_(nth), slot_(new Slot[static_cast<size_t>(nth)]) {
    for (int i = 0; i < nth; ++i) {
      int64_t b = 0, e = 0;
      split_range(n, i, nth, &b, &e);
      slot_[i].fb.store(pack(b, e), std::memory_order_relaxed);
    }
  }
  static bool fits(int64_t n) { return n >= 0 && n < (int64_t{1} << 31); }

  // The next chunk for thread ith into [*b, *e): up to `own` items from its own range's front, else up to `steal`
  // from the back of another thread's range. False when nothing is left anywhere.
  template <class Seg>
  bool next(int ith, int64_t own, int64_t steal, Seg seg, int64_t* b, int64_t* e) {
    if (take(ith, own, false, seg, b, e)) return true;
    for (int k = 1; k < nth_; ++k)
      if (take((ith + k) % nth_, steal, true, seg, b, e)) return true;
    return false;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> fb{0};  // front << 32 | back: the unclaimed items [front, back)
  };
  static uint64_t pack(int64_t f, int64_t b) { return (static_cast<uint64_t>(f) << 32) | static_cast<uint64_t>(b); }

  // Claims up to len items of range v's unclaimed [front, back): from the front (the owner) or from the back (a
  // thief), clipped to the segment of the first (front) or last (back) item.
  template <class Seg>
  bool take(int v, int64_t len, bool from_back, Seg seg, int64_t* b, int64_t* e) {
    uint64_t cur = slot_[v].fb.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t f = static_cast<int64_t>(cur >> 32), bk = static_cast<int64_t>(cur & 0xffffffffu);
      if (f >= bk) return false;
      int64_t s0 = 0, s1 = 0;
      seg(from_back ? bk - 1 : f, &s0, &s1);
      const int64_t n = std::max<int64_t>(len, 1);
      const int64_t lo = from_back ? std::max({bk - n, f, s0}) : f, hi = from_back ? bk : std::min({f + n, bk, s1});
      if (slot_[v].fb.compare_exchange_weak(cur, from_back ? pack(f, lo) : pack(hi, bk), std::memory_order_relaxed)) {
        *b = lo;
        *e = hi;
        return true;
      }
    }
  }

  int nth_;
  std::unique_ptr<Slot[]> slot_;
};

}  // namespace r4p
