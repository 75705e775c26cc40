"""Training throughput (images/s) of DiffNet and the residual U-Net on this machine.

    python benchmarks/bench_diffnet.py [--size 96] [--batch 16] [--steps 5] [--unet-widths 64 16 8] [--device cpu]

Times full optimiser steps (forward, MSE loss, backward, Adam) on random 0–1 images after one
warm-up step, and prints one line per network plus a JSON summary. Not part of the tests.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from pdedenoise.models.diffnet import DiffNet, count_parameters
from pdedenoise.models.unet import UNet
from pdedenoise.results import device_description


def throughput(model: torch.nn.Module, size: int, batch: int, steps: int, device: str) -> float:
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 1, size, size, device=device)
    y = torch.rand(batch, 1, size, size, device=device)

    def step():
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--unet-widths", type=int, nargs="+", default=[64, 16, 8])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    nets = {"DiffNet (5 layers)": DiffNet()} | {f"U-Net (width {w})": UNet(width=w) for w in args.unet_widths}
    out = {"device": device_description(args.device), "size": args.size, "batch": args.batch, "results": {}}
    for name, net in nets.items():
        ips = throughput(net, args.size, args.batch, args.steps, args.device)
        out["results"][name] = {"parameters": count_parameters(net), "train_images_per_s": ips}
        print(f"{name:22s} {count_parameters(net):>11,d} parameters  {ips:8.2f} training images/s "
              f"({args.size}x{args.size}, batch {args.batch})", flush=True)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
