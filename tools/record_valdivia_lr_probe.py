"""Chapter 3's learning-rate probe: which optimiser setting trains the learned diffusivities best in a short run.

The paper says plain gradient descent at 1e-5; its checkpoints carry Adam's state. This probe trains KA, FoE-S and
the U-Net at sigma = 25 for the same short budget with Adam at 1e-2, 1e-3, 1e-4 (constant) and with the paper's
gradient descent at 1e-5, and scores each on crops of the training pool's held-out images
(``protocol.train_crops(part="tune")``: never a test split; it trains on ``part="fit"``). The chapter's training
protocol (``protocol.TRAINING``) takes the winner; the result is recorded in
``results/medium/03_learned_diffusivities_lr_probe.json`` and shown on the chapter's page.

    .venv/bin/python tools/record_valdivia_lr_probe.py            # about 25 minutes on one CPU core
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from pdedenoise import threads
from pdedenoise.papers.valdivia2024 import analysis as A
from pdedenoise.papers.valdivia2024 import protocol as P
from pdedenoise.results import provenance, save_results

SETTINGS = (("adam", 1e-2), ("adam", 1e-3), ("adam", 1e-4), ("sgd", P.TRAINING["paper_lr"]))


def probe(n_train: int, crop: int, n_val: int, sigma: int, seed: int, steps: int,
          labels=("KA", "FoE-S", "U-Net"), settings=SETTINGS, log=print) -> pd.DataFrame:
    """Train every model of ``labels`` with every setting on crops of the training pool's ``fit`` part and score it
    on 64 x 64 crops of its held-out ``tune`` part; one row per (model, setting)."""
    clean = P.train_crops(n_train, crop, seed=seed, part="fit")
    pairs = P.noisy(clean, sigma, seed + 7919), clean
    val = P.train_crops(n_val, 64, seed=seed + 1, part="tune")
    rows = []
    for label in labels:
        for optimizer, lr in settings:
            model = A.fresh_model(label, sigma)
            t0 = time.perf_counter()
            rec = A.train(model, pairs, steps, 10, seed, optimizer=optimizer, lr=lr, lr_final=lr, progress=False)
            ev = A.evaluate({label: model}, val, sigma, seed)
            rows.append({"model": label, "optimizer": optimizer, "lr": lr, "held-out PSNR": float(ev.PSNR.iloc[1]),
                         "input PSNR": float(ev.PSNR.iloc[0]), "first loss": rec["loss_curve"][0],
                         "last 10 steps loss": sum(rec["loss_curve"][-10:]) / 10,
                         "seconds": time.perf_counter() - t0})
            log(rows[-1])
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--crop", type=int, default=48)
    ap.add_argument("--n-train", type=int, default=400)
    ap.add_argument("--n-val", type=int, default=20)
    ap.add_argument("--sigma", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    threads.configure()
    start = provenance("cpu")
    rows = probe(args.n_train, args.crop, args.n_val, args.sigma, args.seed, args.steps,
                 log=lambda r: print(r, flush=True))
    save_results("03_learned_diffusivities_lr_probe", "medium",
                 {"protocol": {**vars(args), "scored on": "held-out training images (train_crops part='tune')"},
                  "rows": rows}, provenance_at_start=start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
