#include "runtime/scratch.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>  // madvise(MADV_HUGEPAGE)
#endif

namespace r4p {

static constexpr size_t kHuge = size_t{2} << 20;

ScratchBuffer::~ScratchBuffer() { release(); }

float* ScratchBuffer::get(size_t n) {
  if (n <= cap_) return p_;
  release();
  size_t bytes = (n == 0 ? 1 : n) * sizeof(float);
  const size_t align = bytes >= kHuge ? kHuge : 64;
  bytes = (bytes + align - 1) / align * align;
  void* q = nullptr;
  if (posix_memalign(&q, align, bytes) != 0) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHuge) madvise(q, bytes, MADV_HUGEPAGE);
#endif
  p_ = static_cast<float*>(q);
  cap_ = bytes / sizeof(float);
  return p_;
}

void ScratchBuffer::trim() {
  if (cap_ * sizeof(float) > keep_) release();
}

void ScratchBuffer::release() {
  std::free(p_);
  p_ = nullptr;
  cap_ = 0;
}

}  // namespace r4p
