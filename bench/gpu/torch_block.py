"""PyTorch anchor for the CUDA prunedBlock (bench/gpu/prunedBlock.bench.ts): the same pre-norm ViT block
(LN1 -> qkv -> SDPA attention -> proj -> LayerScale residual -> LN2 -> fc1 -> exact GELU -> fc2 -> LayerScale
residual) in BF16 on the GPU, eager and torch.compile, unpruned (all N tokens) and pruned (gather the K kept
rows, the block on them, scatter back), at the prunedBlock bench's shapes. CUDA-event timing, median.

    python3 bench/gpu/torch_block.py [--quick] [--no-compile]

Prints one table; our figures for the same shapes come from `npm run bench:gpu` in the same run of
scripts/gpu-check.sh. No weights are downloaded (random weights).
"""
import argparse
import sys

import torch
import torch.nn.functional as F

from torch_timing import time_ms


def make_block(D, H, Fh, device, dtype):
    g = torch.Generator(device="cpu").manual_seed(0)

    def p(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device=device, dtype=dtype)

    return {
        "n1w": 1 + p(D, scale=0.1), "n1b": p(D, scale=0.1),
        "qkvw": p(3 * D, D, scale=D ** -0.5), "qkvb": p(3 * D, scale=0.1),
        "projw": p(D, D, scale=D ** -0.5), "projb": p(D, scale=0.1), "ls1": 0.5 + p(D, scale=0.1),
        "n2w": 1 + p(D, scale=0.1), "n2b": p(D, scale=0.1),
        "fc1w": p(Fh, D, scale=D ** -0.5), "fc1b": p(Fh, scale=0.1),
        "fc2w": p(D, Fh, scale=Fh ** -0.5), "fc2b": p(D, scale=0.1), "ls2": 0.5 + p(D, scale=0.1),
        "H": H,
    }


def block(x, w):
    B, T, D = x.shape
    H = w["H"]
    t = F.layer_norm(x, (D,), w["n1w"], w["n1b"], 1e-6)
    qkv = F.linear(t, w["qkvw"], w["qkvb"]).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    a = a.transpose(1, 2).reshape(B, T, D)
    z = x + w["ls1"] * F.linear(a, w["projw"], w["projb"])
    t = F.layer_norm(z, (D,), w["n2w"], w["n2b"], 1e-6)
    h = F.gelu(F.linear(t, w["fc1w"], w["fc1b"]), approximate="none")
    return z + w["ls2"] * F.linear(h, w["fc2w"], w["fc2b"])


def pruned(x, idx, w):
    D = x.shape[2]
    rows = idx.unsqueeze(-1).expand(-1, -1, D)
    y = block(torch.gather(x, 1, rows), w)
    return x.scatter(1, rows, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_block: no CUDA device; nothing measured")
        return 0
    dev, dt = "cuda", torch.bfloat16
    N, K, D, H, Fh = 4101, 2871, 384, 6, 1536
    w = make_block(D, H, Fh, dev, dt)
    warm, reps = (3, 10) if args.quick else (10, 50)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, BF16, SDPA backend default")
    print(f"{'config':<40} {'eager ms':>10} {'compile ms':>11} {'TFLOP/s (best)':>15}")
    compiled_block = None if args.no_compile else torch.compile(block)
    compiled_pruned = None if args.no_compile else torch.compile(pruned)
    for B in (1, 8):
        x = torch.randn(B, N, D, device=dev, dtype=dt)
        idx = torch.stack([torch.randperm(N, device=dev)[:K].sort().values for _ in range(B)])
        for name, T, fe, fc in (
            (f"B={B} all N={N} tokens", N, lambda: block(x, w), (lambda: compiled_block(x, w)) if compiled_block else None),
            (f"B={B} pruned K={K} (gather, block, scatter)", K, lambda: pruned(x, idx, w), (lambda: compiled_pruned(x, idx, w)) if compiled_pruned else None),
        ):
            flops = B * (2 * T * D * (3 * D + D + 2 * Fh) + 4 * T * T * D)
            e = time_ms(fe, warm, reps)
            c = time_ms(fc, warm, reps) if fc else float("nan")
            best = min(e, c) if c == c else e
            print(f"{name:<40} {e:>10.3f} {c:>11.3f} {flops / (best * 1e9):>15.1f}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
