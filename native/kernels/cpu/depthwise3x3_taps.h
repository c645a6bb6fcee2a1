// depthwise3x3_taps.h: the in-image taps of one pixel of the engine head's depthwise 3x3 (layers.h
// depthwise3x3_layer_norm), shared by its ref, avx2 and avx512 row kernels so all three sum the same taps in
// the same row-major window order. Plain C++: include from any file.
#pragma once
#include <cstdint>

namespace r4p::engine {

// Pixel x of an output row whose input rows y-1, y, y+1 are rows[0..2] ([w,D] each; nullptr outside the map):
// its nt in-image taps, src[t] the input pixel and ker[t] its kernel vector (taps wt[(i*3+j)*D + c]).
inline int depthwise3x3_taps(const float* const rows[3], const float* wt, int64_t w, int64_t D, int64_t x,
                             const float* src[9], const float* ker[9]) {
  int nt = 0;
  for (int64_t i = 0; i < 3; ++i) {
    if (rows[i] == nullptr) continue;
    for (int64_t j = 0; j < 3; ++j) {
      const int64_t xx = x + j - 1;
      if (xx < 0 || xx >= w) continue;
      src[nt] = rows[i] + xx * D;
      ker[nt] = wt + (i * 3 + j) * D;
      ++nt;
    }
  }
  return nt;
}

}  // namespace r4p::engine
