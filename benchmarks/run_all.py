"""Speed of the pdedenoise solvers side by side with peers, measured in one run.

Every row of a table is timed in the same loop: repetitions are interleaved (row 1, row 2, ..., row 1,
row 2, ...), so a change in the machine's load touches every row alike; each row reports the minimum
and the median. The machine's load average before and after, the torch and OpenCV thread counts and
the versions are recorded. Results go to ``benchmarks/results/<device>.json`` and are shown by the
book's speed page.

Tables:

* **Perona–Malik**, 100 steps on the 512x512 ``camera`` image, K = 10, dt = 0.2, one thread:
  pdedenoise (cache-blocked eager path, fused strips; both diffusivities, the exponential one on a noisy copy too,
  where exp(-d^2/K^2) would reach subnormal numbers; the pixel-averaged scheme; the opt-in compiled path; the
  general strips and the whole-image step the solver used before), OpenCV's
  ``ximgproc.anisotropicDiffusion`` (3-channel uint8, so its rate counts channel-pixels), MedPy's
  ``anisotropic_diffusion`` and a plain NumPy loop; learned diffusivities (a spline, a Gaussian RBF expansion,
  chapter 3's Fields of Experts with its own 10 steps on the image padded by 8) and a 2 x 2 cross-diffusion
  step through the same solver (g of the signed field v has no data-free bound, so by default every step's
  certificate is checked on the data; the unchecked row is the step alone); agreement in grey levels (float32 vs float64, pdedenoise vs MedPy).
* **Heat**, 1000 steps, dt = 1e-3: one image and a batch of 16 (per pixel), the whole-image step,
  the exact spectral solver, NumPy, ``scipy.ndimage.convolve``.
* **Scaling**: the per-pixel rate from 256^2 to 2048^2.
* **Contention**: the median-to-minimum ratio while another process keeps one core busy, for the
  solver's default policy (one thread, :mod:`pdedenoise.threads`) and for two threads on whole images.

    python benchmarks/run_all.py [--repeat 5] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from pdedenoise import data, diffusion
from pdedenoise import diffusivities as G
from pdedenoise.diffusion import _pm_coefficients
from pdedenoise.papers.valdivia2024 import method as valdivia
from pdedenoise.results import provenance, write_json_atomic
from pdedenoise.solvers import coefficients as C
from pdedenoise.solvers import blocked, explicit
from pdedenoise.solvers.explicit import ExplicitFlow
from pdedenoise.speed import GENERAL_STRIPS

K, DT, PM_STEPS = 10.0, 0.2, 100
HEAT_DT, HEAT_STEPS = 1e-3, 1000


# --------------------------------------------------------------------------- peers


def numpy_pm(u: np.ndarray, K: float, dt: float, steps: int) -> np.ndarray:
    """The same 4-neighbour Perona–Malik scheme (rational g, zero flux), plain NumPy."""
    u = u.copy()
    for _ in range(steps):
        dx = np.diff(u, axis=1)
        dy = np.diff(u, axis=0)
        fx = dx / (1 + dx * dx / (K * K))
        fy = dy / (1 + dy * dy / (K * K))
        div = np.zeros_like(u)
        div[:, :-1] += fx
        div[:, 1:] -= fx
        div[:-1, :] += fy
        div[1:, :] -= fy
        u += dt * div
    return u


def numpy_heat(u: np.ndarray, rho: float, dt: float, steps: int) -> np.ndarray:
    u = u.copy()
    for _ in range(steps):
        p = np.pad(u, 1, mode="edge")
        u += dt * rho * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u)
    return u


def scipy_heat(u: np.ndarray, rho: float, dt: float, steps: int) -> np.ndarray:
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=u.dtype)
    u = u.copy()
    for _ in range(steps):
        u += dt * rho * ndimage.convolve(u, k, mode="nearest")
    return u


def whole_image(u: torch.Tensor, coeff, h: float, steps: int) -> torch.Tensor:
    """The step as whole-image tensor operations (the autograd path; what the solver did before blocking)."""
    with torch.no_grad():
        for _ in range(steps):
            u = explicit.flux_step(u, coeff, h, check=False)
    return u


# --------------------------------------------------------------------------- timing


def interleaved(rows: dict, repeat: int) -> dict:
    """{name: (callable, work)} -> {name: {min, median, seconds}}; one warm-up each, then interleaved repeats."""
    for fn, _ in rows.values():
        fn()
    times = {name: [] for name in rows}
    for _ in range(repeat):
        for name, (fn, _) in rows.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: {"min_s": min(t), "median_s": statistics.median(t), "runs": len(t),
                   "mpx_steps_per_s": rows[name][1] / min(t) / 1e6} for name, t in times.items()}


def load() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- tables


def perona_malik_table(img: torch.Tensor, repeat: int) -> tuple[dict, dict]:
    import cv2
    from medpy.filter.smoothing import anisotropic_diffusion

    cv2.setNumThreads(1)
    work = img.numel() * PM_STEPS
    u8 = np.clip(img[0, 0].numpy(), 0, 255).astype(np.uint8)
    u83 = cv2.merge([u8, u8, u8])
    u_np = img[0, 0].numpy().astype(np.float32)
    pm = _pm_coefficients(K, "rational", "edge")
    # the same g behind a wrapper the fused strips do not recognise: the general strips (the previous eager step)
    general = C.EdgeFunction(lambda s, k: G.rational(s, k), K, lambda s, k: G.rational_(s, k))
    two = torch.cat([img, torch.zeros_like(img)], dim=1)
    cross = C.FieldBlocks(G.Rational(K), C.StableBlock(2, dt=DT, g_sup=1.0))
    spline = C.EdgeDiffusivity(G.Spline(nodes=21, lo=0.0, hi=4 * K * K, cap=1.0))
    rbf = C.EdgeDiffusivity(G.GaussianRBF(centers=31, lo=0.0, hi=4 * K * K, cap=1.0))
    foe = valdivia.stable_foe_init(valdivia.make_model("FoE"))  # chapter 3: 30 experts 5x5, splines, 10 steps
    diffusion.perona_malik(img[..., :64, :64], K, DT, 2, compile=True)  # compile before timing
    diffusion.perona_malik(img, K, DT, 1, compile=True)
    diffusion.perona_malik(img, K, DT, 1, "exponential", compile=True)
    noisy = img + 25.0 * torch.randn(img.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rows = {
            "pdedenoise, rational g (eager, cache-blocked)": (lambda: diffusion.perona_malik(img, K, DT, PM_STEPS), work),
            "pdedenoise, exponential g (eager, cache-blocked)":
                (lambda: diffusion.perona_malik(img, K, DT, PM_STEPS, "exponential"), work),
            "pdedenoise, exponential g, noisy image (sigma 25, eager)":
                (lambda: diffusion.perona_malik(noisy, K, DT, PM_STEPS, "exponential"), work),
            "pdedenoise, rational g (compiled, opt-in)":
                (lambda: diffusion.perona_malik(img, K, DT, PM_STEPS, compile=True), work),
            "pdedenoise, exponential g (compiled, opt-in)":
                (lambda: diffusion.perona_malik(img, K, DT, PM_STEPS, "exponential", compile=True), work),
            GENERAL_STRIPS: (lambda: blocked.evolve(img, general, DT, PM_STEPS), work),
            "pdedenoise, rational g, whole-image step (before)": (lambda: whole_image(img, pm, DT, PM_STEPS), work),
            "pdedenoise, pixel-averaged g (whole-image path)":
                (lambda: diffusion.perona_malik(img, K, DT, PM_STEPS, scheme="average"), work),
            "pdedenoise, learned spline g (cache-blocked)":
                (lambda: ExplicitFlow(spline, PM_STEPS, DT)(img), work),
            "pdedenoise, learned Gaussian-RBF g (cache-blocked)": (lambda: ExplicitFlow(rbf, PM_STEPS, DT)(img), work),
            "pdedenoise, 2x2 cross-diffusion g(v) B (whole-image path, stability checked on the data every step)":
                (lambda: ExplicitFlow(cross, PM_STEPS, DT)(two), work),
            "pdedenoise, 2x2 cross-diffusion g(v) B (whole-image path, unchecked)":
                (lambda: ExplicitFlow(cross, PM_STEPS, DT, check="off")(two), work),
            "OpenCV ximgproc.anisotropicDiffusion (per channel)":
                (lambda: cv2.ximgproc.anisotropicDiffusion(u83, DT, K, PM_STEPS), 3 * work),
            "MedPy anisotropic_diffusion": (lambda: anisotropic_diffusion(u_np, niter=PM_STEPS, kappa=K, gamma=DT,
                                                                          option=2), work),
            "NumPy loop": (lambda: numpy_pm(u_np, K, DT, PM_STEPS), work),
        }
        table = interleaved(rows, repeat)
        # timed on its own, after the table: interleaved, its large buffers (30 expert maps of the padded image)
        # more than tripled the median time of the OpenCV row that followed it
        table |= interleaved({"pdedenoise, chapter 3 Fields of Experts g (30 experts 5x5, splines; whole-image "
                              "path, 10 steps, timed after the table)": (lambda: foe(img), img.numel() * foe.flow.steps)},
                             repeat)
        f64 = diffusion.perona_malik(img.double(), K, DT, PM_STEPS)
        f32 = diffusion.perona_malik(img, K, DT, PM_STEPS)
        medpy = anisotropic_diffusion(img[0, 0].double().numpy(), niter=PM_STEPS, kappa=K, gamma=DT, option=2)
    agreement = {"float32 vs float64 (grey levels)": float((f32.double() - f64).abs().max()),
                 "pdedenoise vs MedPy, float64 (grey levels)": float(np.abs(f64[0, 0].numpy() - medpy).max()),
                 "compiled vs eager, float32 (grey levels)":
                     float((diffusion.perona_malik(img, K, DT, PM_STEPS, compile=True) - f32).abs().max())}
    table["OpenCV ximgproc.anisotropicDiffusion (per channel)"]["note"] = \
        "3-channel uint8, 8 neighbours, exponential g, rounded every step: a different scheme"
    return table, agreement


def heat_table(img: torch.Tensor, repeat: int) -> dict:
    work = img.numel() * HEAT_STEPS
    batch = img.repeat(16, 1, 1, 1)
    u_np = img[0, 0].numpy().astype(np.float32)
    const = explicit.resolve(1.0, img)
    rows = {
        "pdedenoise.heat (cache-blocked, 1 image)": (lambda: diffusion.heat(img, 1.0, 1.0, HEAT_DT), work),
        "pdedenoise.heat (cache-blocked, batch of 16, per pixel)":
            (lambda: diffusion.heat(batch, 1.0, 1.0, HEAT_DT), 16 * work),
        "pdedenoise, whole-image step (before)": (lambda: whole_image(img, const, HEAT_DT, HEAT_STEPS), work),
        "pdedenoise.heat_spectral (exact, same numbers)": (lambda: diffusion.heat_spectral(img, 1.0, 1.0, dt=HEAT_DT),
                                                          work),
        "NumPy slicing loop": (lambda: numpy_heat(u_np, 1.0, HEAT_DT, HEAT_STEPS), work),
        "scipy.ndimage.convolve loop": (lambda: scipy_heat(u_np, 1.0, HEAT_DT, HEAT_STEPS // 4), work // 4),
    }
    return interleaved(rows, repeat)


def scaling_table(img: torch.Tensor, sizes: list[int], repeat: int) -> dict:
    out = {}
    for n in sizes:
        u = torch.nn.functional.interpolate(img, size=n, mode="bilinear", align_corners=False)
        steps = 20
        work = u.numel() * steps
        rows = {
            "Perona-Malik, rational": (lambda: diffusion.perona_malik(u, K, DT, steps), work),
            "Perona-Malik, exponential": (lambda: diffusion.perona_malik(u, K, DT, steps, "exponential"), work),
            "heat": (lambda: diffusion.heat(u, 1.0, steps * HEAT_DT, HEAT_DT), work),
            "Perona-Malik, whole-image step (before)": (lambda: whole_image(u, _pm_coefficients(K, "rational", "edge"),
                                                                           DT, steps), work),
        }
        with torch.no_grad():
            out[n] = interleaved(rows, repeat)
    return out


def contention_table(repeat: int) -> dict:
    """Median/min under a busy core, each configuration in a fresh process with a busy-loop process beside it."""
    out = {}
    configs = {"default policy (1 thread, cache-blocked)": ("1", "blocked"),
               "2 threads, whole-image steps": ("2", "whole")}
    for name, (threads, mode) in configs.items():
        code = (
            "import statistics, time, torch, json\n"
            f"torch.set_num_threads({threads})\n"
            "from pdedenoise import data, diffusion\n"
            "import importlib; ra = importlib.import_module('run_all')\n"
            "img = data.embedded_image('camera')\n"
            f"mode = {mode!r}\n"
            "pm = diffusion._pm_coefficients(10.0, 'rational', 'edge')\n"
            "f = (lambda: diffusion.perona_malik(img, 10.0, 0.2, 100)) if mode == 'blocked' else "
            "(lambda: ra.whole_image(img, pm, 0.2, 100))\n"
            "f(); ts = []\n"
            f"for _ in range({repeat}):\n"
            "    t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)\n"
            "print(json.dumps({'min_s': min(ts), 'median_s': statistics.median(ts), 'runs': len(ts)}))\n")
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(1.0)
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=Path(__file__).parent, env={**os.environ, "PDEDENOISE_SOLVER_THREADS": "1"})
        finally:
            busy.kill()
            busy.wait()
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["median_over_min"] = row["median_s"] / row["min_s"]
        out[name] = row
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes (a smoke run)")
    args = ap.parse_args(argv)
    repeat = 2 if args.quick else args.repeat
    torch.set_num_threads(1)
    img = data.embedded_image("camera")
    load_before = load()
    t0 = time.perf_counter()
    pm, agreement = perona_malik_table(img, repeat)
    heat = heat_table(img, repeat)
    scaling = scaling_table(img, [256, 512, 1024] if args.quick else [256, 512, 1024, 2048], repeat)
    contention = contention_table(3 if args.quick else 7)
    import cv2

    out = {"provenance": provenance("cpu"), "threads": {"torch": 1, "opencv": cv2.getNumThreads()},
           "load_average": {"before": load_before, "after": load()}, "seconds": time.perf_counter() - t0,
           "image": "skimage camera, 512x512, float32 (0-255)", "perona_malik": pm, "agreement": agreement,
           "heat": heat, "scaling": scaling, "contention": contention}
    path = Path(__file__).parent / "results" / "cpu.json"
    write_json_atomic(path, out)
    for title, table in (("Perona-Malik, 100 steps, 512^2, 1 thread", pm), ("heat, 1000 steps, 512^2", heat)):
        print(title)
        for name, r in table.items():
            print(f"  {name:60s} {r['min_s']:8.4f} s (median {r['median_s']:.4f})  {r['mpx_steps_per_s']:8.0f} Mpx-steps/s")
    print("agreement", agreement)
    print("contention", contention)
    print(f"written to {path}")
    return out


if __name__ == "__main__":
    main()
