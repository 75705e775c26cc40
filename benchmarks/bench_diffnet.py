"""Training throughput (images/s) of DiffNet and the residual U-Net: float32 and mixed precision, in one run.

    python benchmarks/bench_diffnet.py [--size 96] [--batch 16] [--steps 5] [--repeat 3] [--threads 2] [--device cpu]

Times full optimiser steps (:func:`pdedenoise.train.seconds_per_step`: forward, MSE loss, backward,
Adam) on random 0–1 images, for every network in float32 and with the opt-in modes of the training
loop -- ``channels_last`` memory order, bfloat16 autocast (``precision="bf16"``), both -- repeating the
whole set ``--repeat`` times interleaved and keeping each row's best. Writes
``benchmarks/results/diffnet_training_<device>.json``; the book's speed page shows it.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from pdedenoise.models.diffnet import DiffNet, count_parameters
from pdedenoise.models.unet import UNet
from pdedenoise.results import provenance, write_json_atomic
from pdedenoise.speed import record_path
from pdedenoise.train import TrainConfig, seconds_per_step

MODES = {"float32": dict(), "channels_last": dict(channels_last=True), "bf16": dict(precision="bf16"),
         "bf16 + channels_last": dict(precision="bf16", channels_last=True)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--unet-widths", type=int, nargs="+", default=[64, 16])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    nets = {"DiffNet (5 layers)": lambda: DiffNet()} | {f"U-Net (width {w})": (lambda w=w: UNet(width=w))
                                                        for w in args.unet_widths}
    x = torch.rand(args.batch, 1, args.size, args.size, device=args.device)
    y = torch.rand_like(x)
    best: dict[tuple[str, str], float] = {}
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        for name, make in nets.items():
            for mode, opts in MODES.items():
                torch.manual_seed(0)
                s = seconds_per_step(make(), x, y, TrainConfig(lr=1e-4, device=args.device, **opts), steps=args.steps)
                best[(name, mode)] = min(best.get((name, mode), float("inf")), s)
    rows = [{"network": name, "parameters": count_parameters(make()), "mode": mode,
             "train_images_per_s": args.batch / best[(name, mode)],
             "speed-up vs float32": best[(name, "float32")] / best[(name, mode)]}
            for name, make in nets.items() for mode in MODES]
    out = {"provenance": provenance(args.device), "threads": args.threads, "size": args.size, "batch": args.batch,
           "load_average": {"before": load_before, "after": os.getloadavg()[0]},
           "seconds": time.perf_counter() - t0, "rows": rows}
    path = record_path("diffnet_training", args.device)
    write_json_atomic(path, out)
    for r in rows:
        print(f"{r['network']:20s} {r['mode']:22s} {r['train_images_per_s']:8.2f} images/s "
              f"(x{r['speed-up vs float32']:.2f})", flush=True)
    print(f"written to {path}")
    return out


if __name__ == "__main__":
    main()
