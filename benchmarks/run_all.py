"""Speed of the pdedenoise solvers side by side with peers, in one run.

Peers: MedPy's ``anisotropic_diffusion`` (NumPy; the same 4-neighbour Perona–Malik scheme with
zero-flux boundaries, so the numbers are compared too), a plain NumPy loop, and
``scipy.ndimage.convolve`` for the heat equation. Each timing is the median of ``--repeat`` runs
after one warm-up. Results go to ``benchmarks/results/<device-tag>.json`` with provenance and are
printed as a table.

    python benchmarks/run_all.py [--device cuda] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from pdedenoise import data, diffusion
from pdedenoise.results import provenance, write_json_atomic


def timed(fn, repeat: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_heat(u, rho, dt, steps):
    u = u.copy()
    for _ in range(steps):
        p = np.pad(u, 1, mode="edge")
        u += dt * rho * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u)
    return u


def scipy_heat(u, rho, dt, steps):
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=u.dtype)
    u = u.copy()
    for _ in range(steps):
        u += dt * rho * ndimage.convolve(u, k, mode="nearest")
    return u


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    img = data.embedded_image("camera")
    img = torch.nn.functional.interpolate(img, size=args.size, mode="area") if args.size != 512 else img
    u_np = img[0, 0].numpy().astype(np.float32)
    u = img.to(dev)
    batch = u.repeat(16, 1, 1, 1)
    rows = []

    def add(task, impl, seconds, images=1, note=""):
        rows.append({"task": task, "implementation": impl, "seconds": seconds,
                     "megapixel_steps_per_s": None, "images": images, "note": note})

    # heat: 1000 explicit steps, dt = 1e-3 (the PINN chapter's protocol), zero flux
    steps, dt = 1000, 1e-3
    task = f"heat, {steps} steps, {args.size}^2"
    add(task, "pdedenoise.heat (torch, 1 image)", timed(lambda: diffusion.heat(u, 1.0, 1.0, dt), args.repeat, sync))
    add(task, "pdedenoise.heat (torch, batch 16)", timed(lambda: diffusion.heat(batch, 1.0, 1.0, dt), args.repeat, sync), 16)
    add(task, "pdedenoise.heat_spectral (exact, 1 image)", timed(lambda: diffusion.heat_spectral(u, 1.0, 1.0, dt=dt), args.repeat, sync),
        note="same numbers as the explicit scheme")
    add(task, "NumPy slicing loop", timed(lambda: numpy_heat(u_np, 1.0, dt, steps), args.repeat))
    add(task, "scipy.ndimage.convolve loop", timed(lambda: scipy_heat(u_np, 1.0, dt, steps), args.repeat))
    for r in rows:
        r["megapixel_steps_per_s"] = r["images"] * args.size**2 * steps / 1e6 / r["seconds"]

    # Perona-Malik: 100 steps, K = 10 (0-255 scale), dt = 0.2
    steps, K, dt = 100, 10.0, 0.2
    task = f"Perona-Malik, {steps} steps, {args.size}^2"
    start = len(rows)
    ours = diffusion.perona_malik(img.double(), K, dt, steps)[0, 0].numpy()
    add(task, "pdedenoise.perona_malik (torch, 1 image)", timed(lambda: diffusion.perona_malik(u, K, dt, steps), args.repeat, sync))
    add(task, "pdedenoise.perona_malik (torch, batch 16)", timed(lambda: diffusion.perona_malik(batch, K, dt, steps), args.repeat, sync), 16)
    try:
        from medpy.filter.smoothing import anisotropic_diffusion

        peer = anisotropic_diffusion(u_np.astype(np.float64), niter=steps, kappa=K, gamma=dt, option=2)
        diff = float(np.abs(peer - ours).max())
        add(task, "MedPy anisotropic_diffusion (NumPy)",
            timed(lambda: anisotropic_diffusion(u_np, niter=steps, kappa=K, gamma=dt, option=2), args.repeat),
            note=f"max |MedPy - pdedenoise| = {diff:.1e} grey levels")
    except ImportError:
        add(task, "MedPy anisotropic_diffusion (NumPy)", float("nan"), note="medpy not installed: pip install medpy")
    for r in rows[start:]:
        r["megapixel_steps_per_s"] = r["images"] * args.size**2 * steps / 1e6 / r["seconds"]

    tag = "cpu" if dev.type == "cpu" else torch.cuda.get_device_name(dev).replace(" ", "_")
    out = Path(__file__).parent / "results" / f"{tag}.json"
    write_json_atomic(out, {"provenance": provenance(dev), "rows": rows})
    print(f"{'task':32} {'implementation':44} {'seconds':>9} {'Mpx-steps/s':>12}  note")
    for r in rows:
        print(f"{r['task']:32} {r['implementation']:44} {r['seconds']:9.4f} {r['megapixel_steps_per_s']:12.1f}  {r['note']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
