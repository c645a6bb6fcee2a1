/* openblas_sgemm.c: the OpenBLAS side of bench/ops/gemm.bench.ts. Times cblas_sgemm on random row-major
 * matrices, C = A B^T (A [M,K], B [N,K], as our Linear layers), and prints one line per timed call:
 * "ms <milliseconds>". Built by the bench with the system's OpenBLAS (Debian libopenblas-dev):
 *   cc -O2 openblas_sgemm.c -lopenblas -o openblas_sgemm
 * usage: openblas_sgemm M N K warmup reps    (threads: OPENBLAS_NUM_THREADS) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s M N K warmup reps\n", argv[0]);
    return 2;
  }
  const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), warm = atoi(argv[4]), reps = atoi(argv[5]);
  if (M <= 0 || N <= 0 || K <= 0 || warm < 0 || reps <= 0) {
    fprintf(stderr, "openblas_sgemm: sizes and reps must be positive\n");
    return 2;
  }
  float* A = malloc(sizeof(float) * (size_t)M * K);
  float* B = malloc(sizeof(float) * (size_t)N * K);
  float* C = malloc(sizeof(float) * (size_t)M * N);
  if (!A || !B || !C) {
    fprintf(stderr, "openblas_sgemm: out of memory\n");
    return 1;
  }
  unsigned s = 12345u;
  for (size_t i = 0; i < (size_t)M * K; ++i) A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.f - 0.5f;
  for (size_t i = 0; i < (size_t)N * K; ++i) B[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.f - 0.5f;
  for (int r = 0; r < warm + reps; ++r) {
    const double t0 = now_ms();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C, N);
    const double t1 = now_ms();
    if (r >= warm) printf("ms %.6f\n", t1 - t0);
  }
  fprintf(stderr, "config %s, core %s\n", openblas_get_config(), openblas_get_corename());
  free(A);
  free(B);
  free(C);
  return 0;
}
