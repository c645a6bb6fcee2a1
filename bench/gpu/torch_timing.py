"""Timing shared by the PyTorch anchors (torch_block.py, torch_eomt.py): median milliseconds of `fn` after
`warmup` untimed calls, under torch.no_grad(); CUDA events around each call on a GPU, perf_counter elsewhere."""
import statistics
import time

import torch


def time_ms(fn, warmup, reps, cuda=True):
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        if cuda:
            torch.cuda.synchronize()
        out = []
        for _ in range(reps):
            if cuda:
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                fn()
                e.record()
                e.synchronize()
                out.append(s.elapsed_time(e))
            else:
                t0 = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)
