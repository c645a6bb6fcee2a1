"""cuBLAS's BF16 GEMM through torch.matmul, the library figure our GEMM is compared with (issue 11: our GEMM at 8192^3
>= 70% of what cuBLAS reaches on the same device). C = A B^T with A, B [size, size] BF16 on the GPU, FP32 accumulation
(torch's default for BF16 matmul), CUDA events, median of the timed calls. Prints one line:
  TORCH_GEMM size=8192 ms=1.23 tflops=893.1 device=NVIDIA_H200 torch=2.11.0"""
import argparse

import torch

from torch_timing import time_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_gemm: no CUDA device")
    g = torch.Generator(device="cuda").manual_seed(0)
    A = torch.rand(a.size, a.size, device="cuda", dtype=torch.bfloat16, generator=g) - 0.5
    B = torch.rand(a.size, a.size, device="cuda", dtype=torch.bfloat16, generator=g) - 0.5
    ms = time_ms(lambda: torch.matmul(A, B.t()), a.warmup, a.iters)
    tflops = 2 * a.size**3 / (ms * 1e9)
    name = torch.cuda.get_device_name().replace(" ", "_")
    print(f"TORCH_GEMM size={a.size} ms={ms:.4f} tflops={tflops:.1f} device={name} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
