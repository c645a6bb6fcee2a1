"""PyTorch anchor for `reg4pru bench --device cuda` (issue 11 item 4): the same EoMT-style forward
(docs/inference-forward.md) of the same-sized model in PyTorch, random weights (nothing downloaded), so a GPU run
can put our engine and PyTorch side by side on one device:

  patch Conv2d -> [cls | registers | patches + pos_embed] -> L pre-norm ViT blocks (SDPA attention, exact GELU,
  LayerScale), queries prepended before block L-Bq, with pruning the policy predictor at each stage block
  (RMSNorm, fc1+GELU, fc2*LayerScale, softmax keep score, nested top-k of floor(keep^(s+1) Np + 0.5) patches)
  and every block on the kept rows (gather -> block -> scatter) -> final LayerNorm, class head, mask MLP, two
  upscale blocks (ConvTranspose2d 2x2 + GELU, depthwise 3x3, LayerNorm2d), mask einsum, bilinear resize
  (align_corners=False), sigmoid x class-softmax semantic map.

Timing: the forward alone on a device-resident input (the image upload and output download are not timed, as
our CUDA-event figure), CUDA events on a GPU (perf_counter + synchronize elsewhere), warm-up then timed runs,
median. Eager, and torch.compile (default mode) when torch has it; SDPA when torch has it (else the plain
softmax(QK^T)V composition, said so in the header). Each result prints as one line in the format of
`reg4pru bench --device cuda` (src/cli/commands/benchCuda.ts throughputLine):

  THROUGHPUT impl=torch-eager config=unpruned batch=1 precision=bf16 img_s=123.45 ms=8.101

    python3 bench/gpu/torch_eomt.py [--config model.json] [--batch 1,8] [--keep 0.7] [--precision bf16]
                                    [--warmup 10] [--iters 50] [--no-compile] [--budget-s 240] [--device cuda]

--config: a ModelConfig JSON (src/model/config.ts fields; default: preset small at 1024x1024). --budget-s: stop
starting new measurements (compiles included) after this many seconds; what was skipped is printed.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from torch_timing import time_ms

SMALL_1024 = {"D": 384, "H": 6, "L": 12, "patch": 16, "image": [1024, 1024], "R": 4, "Q": 16, "Bq": 4, "classes": 1,
              "stageBlocks": [3, 6, 9], "selectorWidth": 96, "mlpRatio": 4}
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def make_weights(c, device, dtype, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    D, R, Q, p, C, W = c["D"], c["R"], c["Q"], c["patch"], c["classes"], c["selectorWidth"]
    Fh = D * c["mlpRatio"]
    gh, gw = c["image"][0] // p, c["image"][1] // p

    def t(*shape, scale=0.02, base=0.0):
        return (base + torch.randn(*shape, generator=g) * scale).to(device=device, dtype=dtype)

    w = {"patch_w": t(D, 3, p, p, scale=(3 * p * p) ** -0.5), "patch_b": t(D), "cls": t(1, 1, D), "reg": t(1, R, D),
         "pos": t(1, gh * gw, D), "q": t(Q, D), "blocks": [], "sel": [], "up": []}
    for _ in range(c["L"]):
        w["blocks"].append({
            "n1w": t(D, base=1, scale=0.1), "n1b": t(D), "qkvw": t(3 * D, D, scale=D ** -0.5), "qkvb": t(3 * D),
            "projw": t(D, D, scale=D ** -0.5), "projb": t(D), "ls1": t(D, base=0.5, scale=0.1),
            "n2w": t(D, base=1, scale=0.1), "n2b": t(D), "fc1w": t(Fh, D, scale=D ** -0.5), "fc1b": t(Fh),
            "fc2w": t(D, Fh, scale=Fh ** -0.5), "fc2b": t(D), "ls2": t(D, base=0.5, scale=0.1)})
    for _ in c["stageBlocks"]:
        w["sel"].append({"nw": t(D, base=1, scale=0.1), "fc1w": t(W, D, scale=D ** -0.5), "fc1b": t(W),
                         "fc2w": t(2, W, scale=W ** -0.5), "fc2b": t(2), "ls": t(2, base=1, scale=0.1)})
    w["norm_w"], w["norm_b"] = t(D, base=1, scale=0.1), t(D)
    w["cls_w"], w["cls_b"] = t(C + 1, D, scale=D ** -0.5), t(C + 1)
    w["mask"] = [(t(D, D, scale=D ** -0.5), t(D)) for _ in range(3)]
    for _ in range(2):
        w["up"].append({"c1w": t(D, D, 2, 2, scale=D ** -0.5), "c1b": t(D), "c2w": t(D, 1, 3, 3, scale=1 / 3),
                        "nw": t(D, base=1, scale=0.1), "nb": t(D)})
    return w


def attention(q, k, v):
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v)
    a = torch.softmax((q @ k.transpose(-2, -1)).float() * q.shape[-1] ** -0.5, dim=-1).to(q.dtype)
    return a @ v


def block(x, b, H):
    B, T, D = x.shape
    t = F.layer_norm(x, (D,), b["n1w"], b["n1b"], 1e-6)
    qkv = F.linear(t, b["qkvw"], b["qkvb"]).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    a = attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(B, T, D)
    z = x + b["ls1"] * F.linear(a, b["projw"], b["projb"])
    t = F.layer_norm(z, (D,), b["n2w"], b["n2b"], 1e-6)
    h = F.gelu(F.linear(t, b["fc1w"], b["fc1b"]))
    return z + b["ls2"] * F.linear(h, b["fc2w"], b["fc2b"])


def keep_scores(pat, s):
    h = pat * torch.rsqrt(pat.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(pat.dtype) * s["nw"]
    logits = F.linear(F.gelu(F.linear(h, s["fc1w"], s["fc1b"])), s["fc2w"], s["fc2b"]) * s["ls"]
    return torch.softmax(logits.float(), dim=-1)[..., 0]


def decode(x, w, c):
    B, _, D = x.shape
    Q, P, p = c["Q"], 1 + c["R"], c["patch"]
    gh, gw = c["image"][0] // p, c["image"][1] // p
    y = F.layer_norm(x, (D,), w["norm_w"], w["norm_b"], 1e-6)
    yq = y[:, :Q]
    cls = F.linear(yq, w["cls_w"], w["cls_b"])
    e = yq
    for j, (mw, mb) in enumerate(w["mask"]):
        e = F.linear(e, mw, mb)
        if j < 2:
            e = F.gelu(e)
    up = y[:, Q + P:].transpose(1, 2).reshape(B, D, gh, gw)
    for u in w["up"]:
        up = F.gelu(F.conv_transpose2d(up, u["c1w"], u["c1b"], stride=2))
        up = F.conv2d(up, u["c2w"], None, padding=1, groups=D)
        up = F.layer_norm(up.permute(0, 2, 3, 1), (D,), u["nw"], u["nb"], 1e-6).permute(0, 3, 1, 2)
    m = torch.einsum("bqd,bdhw->bqhw", e, up)
    r = F.interpolate(m, size=tuple(c["image"]), mode="bilinear", align_corners=False)
    probs = torch.softmax(cls.float(), dim=-1)[..., :-1].to(r.dtype)
    sem = torch.einsum("bqhw,bqc->bchw", torch.sigmoid(r), probs)
    return sem, cls, m


def forward(img, w, c, keep):
    B = img.shape[0]
    D, P, Q, L, Bq = c["D"], 1 + c["R"], c["Q"], c["L"], c["Bq"]
    x = F.conv2d(img, w["patch_w"], w["patch_b"], stride=c["patch"]).flatten(2).transpose(1, 2) + w["pos"]
    Np = x.shape[1]
    x = torch.cat([w["cls"].expand(B, -1, -1), w["reg"].expand(B, -1, -1), x], dim=1)
    kept, active, stage, Qc = None, None, 0, 0
    for i in range(L):
        if i == L - Bq:
            x = torch.cat([w["q"].unsqueeze(0).expand(B, -1, -1), x], dim=1)
            Qc = Q
        if keep is not None and stage < len(c["stageBlocks"]) and i == c["stageBlocks"][stage]:
            score = keep_scores(x[:, Qc + P:], w["sel"][stage])
            if active is not None:
                score = score.masked_fill(~active, float("-inf"))
            k = max(1, math.floor(keep ** (stage + 1) * Np + 0.5))
            kept = score.topk(k, dim=1).indices.sort(dim=1).values
            active = torch.zeros(B, Np, dtype=torch.bool, device=x.device).scatter(1, kept, True)
            stage += 1
        if kept is None:
            x = block(x, w["blocks"][i], c["H"])
        else:
            fixed = torch.arange(Qc + P, device=x.device).unsqueeze(0).expand(B, -1)
            rows = torch.cat([fixed, kept + (Qc + P)], dim=1).unsqueeze(-1).expand(-1, -1, D)
            x = x.scatter(1, rows, block(torch.gather(x, 1, rows), w["blocks"][i], c["H"]))
    return decode(x, w, c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", help="ModelConfig JSON file (default: preset small at 1024x1024)")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--keep", type=float, default=0.7, help="base keep ratio of the pruned configuration")
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--budget-s", type=float, default=float("inf"))
    args = ap.parse_args()
    t_start = time.monotonic()
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("torch_eomt: no CUDA device visible to torch; nothing measured")
        return 0
    c = dict(SMALL_1024)
    if args.config:
        with open(args.config) as f:
            c.update(json.load(f))
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    w = make_weights(c, args.device, dtype)
    compile_ok = hasattr(torch, "compile") and not args.no_compile
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"torch_eomt: torch {torch.__version__}, {name}, {args.precision}, "
          f"{'SDPA' if HAS_SDPA else 'plain softmax attention (no SDPA in this torch)'}, "
          f"torch.compile {'on' if compile_ok else 'off'}; D={c['D']} H={c['H']} L={c['L']} image={c['image']}; "
          f"{args.warmup} warm-up + {args.iters} timed, median")
    sys.stdout.flush()
    compiled = torch.compile(forward) if compile_ok else None
    configs = [("unpruned", None), (f"prune-{args.keep:g}", args.keep)]
    for B in [int(b) for b in args.batch.split(",")]:
        g = torch.Generator(device="cpu").manual_seed(0)
        img = torch.randn(B, 3, *c["image"], generator=g).to(device=args.device, dtype=dtype)
        for label, keep in configs:
            for impl, fn in (("torch-eager", forward), ("torch-compile", compiled)):
                if fn is None:
                    continue
                if time.monotonic() - t_start > args.budget_s:
                    print(f"torch_eomt: {impl} {label} B={B} skipped (--budget-s {args.budget_s:g} spent)")
                    continue
                try:
                    ms = time_ms(lambda: fn(img, w, c, keep), args.warmup, args.iters, cuda)
                except Exception as e:  # a compile failure must not hide the eager figures
                    print(f"torch_eomt: {impl} {label} B={B} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    continue
                print(f"THROUGHPUT impl={impl} config={label} batch={B} precision={args.precision} "
                      f"img_s={1000 * B / ms:.2f} ms={ms:.3f}")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
