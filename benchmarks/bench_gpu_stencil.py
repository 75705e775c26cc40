"""Explicit steps on a GPU beside the same GPU's copy bandwidth, measured in one run.

    python benchmarks/bench_gpu_stencil.py [--device cuda] [--batch 64] [--size 512] [--steps 50] [--repeat 10]

On a float32 batch (batch, 1, size, size) of 0-255 noise-free test images (the ``camera`` image tiled),
every row timed in the same interleaved loop, best of ``--repeat``, the device synchronised around each
timing:

* **copy**: ``dst.copy_(src)``, ``--steps`` times: 8 bytes per pixel (one read, one write). Its rate is
  the reference bandwidth of this GPU;
* **heat**, **Perona–Malik (rational, exponential)**: ``--steps`` steps of the public solvers without
  gradients (on a GPU the strips are whole images, one kernel per operation), and the opt-in compiled
  Perona–Malik step (one fused kernel per step).

An explicit step must read the state once and write it once, 8 bytes per pixel-step; the ``fraction of
copy bandwidth`` column is that minimum traffic over the step's time, divided by the copy rate. Writes
``benchmarks/results/gpu_stencil_<device>.json`` (``cpu`` runs the same code on the CPU, to try it).
"""
from __future__ import annotations

import argparse
import time

import torch

from pdedenoise import data, diffusion
from pdedenoise.results import provenance, write_json_atomic
from pdedenoise.speed import record_path

K, DT, HEAT_DT = 10.0, 0.2, 0.2
BYTES_PER_PIXEL_STEP = 8  # float32: read the state once, write it once


def batch(n: int, size: int, device: str) -> torch.Tensor:
    """``n`` copies of the ``camera`` image, tiled or cropped to ``size`` x ``size``: (n, 1, size, size), 0-255."""
    img = data.embedded_image("camera")
    reps = -(-size // img.shape[-1])
    img = img.repeat(1, 1, reps, reps)[..., :size, :size]
    return img.expand(n, 1, size, size).contiguous().to(device)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true", help="skip the compiled row (no C++/Triton compiler)")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    u = batch(args.batch, args.size, args.device)
    dst = torch.empty_like(u)
    steps = args.steps

    def copies():
        for _ in range(steps):
            dst.copy_(u)

    rows = {
        "copy (read + write, the reference)": copies,
        "heat, eager": lambda: diffusion.heat(u, 1.0, HEAT_DT * steps, dt=HEAT_DT),
        "Perona-Malik rational, eager": lambda: diffusion.perona_malik(u, K, DT, steps),
        "Perona-Malik exponential, eager": lambda: diffusion.perona_malik(u, K, DT, steps, "exponential"),
    }
    if not args.no_compile:
        rows["Perona-Malik rational, compiled"] = lambda: diffusion.perona_malik(u, K, DT, steps, compile=True)
    best = {name: float("inf") for name in rows}
    t_start = time.perf_counter()
    with torch.no_grad():
        for fn in rows.values():  # warm-up: allocations, kernel selection, compilation
            fn()
        sync()
        for _ in range(args.repeat):
            for name, fn in rows.items():
                sync()
                t0 = time.perf_counter()
                fn()
                sync()
                best[name] = min(best[name], time.perf_counter() - t0)
    pixels = u.numel()
    copy_rate = BYTES_PER_PIXEL_STEP * pixels * steps / best["copy (read + write, the reference)"]
    table = {name: {"seconds_per_step": t / steps, "gpixel_steps_per_s": pixels * steps / t / 1e9,
                    "effective_GB_per_s": BYTES_PER_PIXEL_STEP * pixels * steps / t / 1e9,
                    "fraction_of_copy_bandwidth": BYTES_PER_PIXEL_STEP * pixels * steps / t / copy_rate}
             for name, t in best.items()}
    out = {"provenance": provenance(args.device), "shape": list(u.shape), "dtype": "float32", "steps": steps,
           "repeat": args.repeat, "seconds": time.perf_counter() - t_start, "copy_GB_per_s": copy_rate / 1e9,
           "rows": table}
    path = record_path("gpu_stencil", args.device, args.out)
    write_json_atomic(path, out)
    for name, r in table.items():
        print(f"{name:36s} {r['seconds_per_step'] * 1e3:9.3f} ms/step {r['gpixel_steps_per_s']:8.2f} Gpx-steps/s "
              f"{r['fraction_of_copy_bandwidth']:6.2f} of copy", flush=True)
    print(f"written to {path}")
    return out


if __name__ == "__main__":
    main()
