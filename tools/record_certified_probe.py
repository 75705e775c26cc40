"""A first measurement of the certified model (:mod:`pdedenoise.leaderboard.certified`) at the leaderboard's medium
budget, beside the shipped tuned Perona–Malik and the maximum-principle own model.

The certified model is fitted by :func:`~pdedenoise.leaderboard.certified.fit_certified` on the medium protocol's
pairs (BSDS500 train + test: its start chosen on the tuning pairs, 400 Adam steps on the training pairs, kept only
if it beats its start on the tuning pairs); the shipped medium states of ``perona-malik-tuned`` and ``own`` are
read as they are. All three are scored on the tuning pairs and on the first ``--images`` BSD68 test images (whole,
sigma 25, the protocol's noise). Nothing is chosen on the test images. Writes
``results/medium/05_certified_probe.json``; ``--state`` also saves the fitted state.

    .venv/bin/python tools/record_certified_probe.py --images 10     # about 25 minutes on one CPU core
"""
from __future__ import annotations

import argparse
import time

import torch

from pdedenoise import threads
from pdedenoise.leaderboard import analysis as A
from pdedenoise.leaderboard import certified as CM
from pdedenoise.leaderboard import methods as MM
from pdedenoise.leaderboard import protocol as P
from pdedenoise.leaderboard import weights as W
from pdedenoise.metrics import psnr
from pdedenoise.results import provenance, save_results


def mean_psnr(denoise, noisy, clean) -> float:
    return sum(float(psnr(denoise(x).double(), y.double(), P.PEAK)) for x, y in zip(noisy, clean)) / len(noisy)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10, help="the first N BSD68 images (whole)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default: the medium budget's 'small')")
    ap.add_argument("--state", default=None, help="also save the fitted state here (a .pt file)")
    args = ap.parse_args(argv)
    threads.configure()
    start = provenance("cpu")
    ctx = A.fit_context("medium", 25, seed=0, progress=True)
    t0 = time.perf_counter()
    state = CM.fit_certified(ctx, steps=args.steps)
    seconds = time.perf_counter() - t0
    if args.state:
        torch.save(state, args.state)
    model = CM.CertifiedModel.from_state(state).eval()
    denoisers = {"certified": MM._no_grad(model),
                 "perona-malik-tuned": MM.get("perona-malik-tuned").build(W.load_state("perona-malik-tuned", 25), 25),
                 "own": MM.get("own").build(W.load_state("own", 25), 25)}
    pairs = P.test_pairs("BSD68", 25, args.images)
    tune = [x[None] for x in ctx.tune[0]], [y[None] for y in ctx.tune[1]]
    rows = []
    for name, d in denoisers.items():
        rows.append({"method": name, "tuning pairs PSNR": mean_psnr(d, *tune),
                     f"BSD68 first {args.images} PSNR": mean_psnr(d, pairs["noisy"], pairs["clean"])})
        print(rows[-1], flush=True)
    certs = [{"alpha": c.alpha, "lambda": c.lam, "rho": c.rho, "beta": c.beta, "L": c.L, "q": c.contraction}
             for c in model.certificates()]
    save_results("05_certified_probe", "medium",
                 {"protocol": {**{k: v for k, v in vars(args).items() if k != "state"}, "state saved": bool(args.state),
                               "sigma": 25, "train": list(ctx.train[0].shape),
                               "tune": list(ctx.tune[0].shape), "batch": ctx.batch,
                               "scored on": f"the first {args.images} BSD68 images, whole; the tuning pairs"},
                  "config": {k: v for k, v in state["config"].items()}, "fit_seconds": seconds,
                  "certificates": certs, "rows": rows}, provenance_at_start=start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
