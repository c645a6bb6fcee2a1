"""PyTorch reference for bench/tfjs/train.bench.ts: one dense training step (forward + backward + AdamW) of the
same-sized EoMT-style model as src/model/tfjs (SPEC §2), timed on the CPU.

Model (preset tiny by default: D=192, H=3, L=12, patch 16, image 256x256, R=4 registers, Q=16 queries joined
before block L-Bq, Bq=4, 1 class, MLP 4D): patch embedding (Conv2d p x p stride p) + pos_embed, cls + R register
tokens, L pre-norm ViT blocks (qkv Linear with bias, softmax attention, exact GELU MLP, LayerScale), decode
points after blocks L-Bq-1 .. L-1 (5 for tiny): final LayerNorm -> class head, 3-layer mask MLP, two upscale
blocks (ConvTranspose2d 2x2 s2, GELU, depthwise 3x3, LayerNorm2d) -> mask logits [B,Q,4gh,4gw] = einsum with the
mask embeddings. Dense: no policy masking, no routing (the PyTorch baseline the issue names).
Loss per decode point (deep supervision, summed): sigmoid BCE + dice of query 0 against a vessel target and a
cross-entropy of every query's class logits (query 0 = vessel, the others = no-object): the shape of the
Reg4Pru set loss with a fixed matching (the Hungarian matching is a small CPU step either way).
Prints one JSON line: {"torch": version, "threads": n, "median_ms": .., "p10_ms": .., "p90_ms": .., "steps": n}.
Usage: python3 bench/tfjs/torch_step.py [--steps 5] [--threads 2] [--batch 2] [--image 256]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, D, H, mlp):
        super().__init__()
        self.H = H
        self.norm1 = nn.LayerNorm(D, eps=1e-6)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ls1 = nn.Parameter(torch.full((D,), 0.1))
        self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.fc1 = nn.Linear(D, mlp * D)
        self.fc2 = nn.Linear(mlp * D, D)
        self.ls2 = nn.Parameter(torch.full((D,), 0.1))

    def forward(self, x):
        B, T, D = x.shape
        Dh = D // self.H
        qkv = self.qkv(self.norm1(x)).reshape(B, T, 3, self.H, Dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(Dh), dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.ls1 * self.proj(o)
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Upscale(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(D, D, 2, stride=2)
        self.conv2 = nn.Conv2d(D, D, 3, padding=1, groups=D, bias=False)
        self.norm = nn.LayerNorm(D, eps=1e-6)

    def forward(self, x):  # NCHW
        x = self.conv2(F.gelu(self.conv1(x)))
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Eomt(nn.Module):
    def __init__(self, D=192, H=3, L=12, patch=16, image=256, R=4, Q=16, Bq=4, classes=1, mlp=4):
        super().__init__()
        self.L, self.Q, self.Bq, self.R, self.g = L, Q, Bq, R, image // patch
        self.patch_embed = nn.Conv2d(3, D, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.randn(1, self.g * self.g, D) * 0.02)
        self.prefix = nn.Parameter(torch.randn(1, 1 + R, D) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, Q, D) * 0.02)
        self.blocks = nn.ModuleList(Block(D, H, mlp) for _ in range(L))
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.class_head = nn.Linear(D, classes + 1)
        self.mask_head = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, D), nn.GELU(), nn.Linear(D, D))
        self.upscale = nn.ModuleList([Upscale(D), Upscale(D)])

    def decode(self, x):
        B, _, D = x.shape
        y = self.norm(x)
        yq = y[:, : self.Q]
        f = y[:, self.Q + 1 + self.R :].transpose(1, 2).reshape(B, D, self.g, self.g)
        for u in self.upscale:
            f = u(f)
        return self.class_head(yq), torch.einsum("bqd,bdhw->bqhw", self.mask_head(yq), f)

    def forward(self, images):
        B = images.shape[0]
        p = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        x = torch.cat([self.prefix.expand(B, -1, -1), p], dim=1)
        outs = []
        for i, blk in enumerate(self.blocks):
            if i == self.L - self.Bq:
                x = torch.cat([self.queries.expand(B, -1, -1), x], dim=1)
            x = blk(x)
            if i == self.L - self.Bq - 1:  # the first decode point sees no queries yet: decode with them joined
                outs.append(self.decode(torch.cat([self.queries.expand(B, -1, -1), x], dim=1)))
            elif i > self.L - self.Bq - 1:
                outs.append(self.decode(x))
        return outs


def loss_fn(outs, target, Q):
    total = 0.0
    for cls, masks in outs:
        m0 = masks[:, 0]
        bce = F.binary_cross_entropy_with_logits(m0, target)
        s = torch.sigmoid(m0).flatten(1)
        t = target.flatten(1)
        dice = 1 - (2 * (s * t).sum(1) + 1) / (s.sum(1) + t.sum(1) + 1)
        labels = torch.full(cls.shape[:2], cls.shape[2] - 1, dtype=torch.long)
        labels[:, 0] = 0
        ce = F.cross_entropy(cls.reshape(-1, cls.shape[2]), labels.reshape(-1))
        total = total + bce + dice.mean() + ce
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--image", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Eomt(image=a.image)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.05)
    images = torch.randn(a.batch, 3, a.image, a.image)
    g4 = 4 * (a.image // 16)
    target = (torch.rand(a.batch, g4, g4) > 0.8).float()
    times = []
    for step in range(a.steps + 1):  # the first step warms up (allocator, thread pool)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), target, model.Q)
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t0) * 1e3
        if step > 0:
            times.append(ms)
    q = statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1 else [times[0]] * 9
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "median_ms": statistics.median(times),
                      "p10_ms": q[0], "p90_ms": q[-1], "steps": len(times), "loss": float(loss)}))


if __name__ == "__main__":
    main()
