// scratch.h: a grow-only, 64-byte aligned float buffer owned by one thread (kernels keep one per calling
// thread, `thread_local`): back-to-back calls (a block runs four GEMMs, an engine forward dozens of blocks)
// neither allocate nor page-fault their scratch. Fresh pages are expensive here (a page fault each 4 KiB
// under a hypervisor; a forward would touch tens of MiB of new pages per block). Blocks of 2 MiB and more
// are 2 MiB aligned and advised for transparent huge pages. Plain C++: include from any file.
#pragma once
#include <cstddef>

namespace r4p {

class ScratchBuffer {
 public:
  // keep_bytes: trim() releases the buffer when it is larger than this (a one-off huge call does not pin it).
  explicit ScratchBuffer(size_t keep_bytes = size_t{64} << 20) : keep_(keep_bytes) {}
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  // At least n floats, or nullptr when out of memory (the previous block is released first). The contents
  // are whatever the last user left.
  float* get(size_t n);
  void trim();

 private:
  void release();
  float* p_ = nullptr;
  size_t cap_ = 0;
  size_t keep_;
};

}  // namespace r4p
