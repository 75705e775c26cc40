"""Chapter 3's learning-rate probe: which optimiser setting trains the learned diffusivities best in a short run.

The paper says plain gradient descent at 1e-5; its checkpoints carry Adam's state. This probe trains KA, FoE-S and
the U-Net at sigma = 25 for the same short budget with Adam at 1e-2, 1e-3, 1e-4 (constant) and with the paper's
gradient descent at 1e-5, and scores each on BSDS500 val crops. The chapter's training protocol
(``protocol.TRAINING``) takes the winner; the result is recorded in
``results/medium/03_learned_diffusivities_lr_probe.json`` and shown on the chapter's page.

    .venv/bin/python tools/record_valdivia_lr_probe.py            # about 6 minutes on two CPU cores
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
    pairs = A.training_pairs(args.n_train, args.crop, args.sigma, args.seed)
    val = P.val_crops(args.n_val, 64, seed=args.seed)
    rows = []
    for label in ("KA", "FoE-S", "U-Net"):
        for optimizer, lr in SETTINGS:
            model = A.fresh_model(label, args.sigma)
            t0 = time.perf_counter()
            rec = A.train(model, pairs, args.steps, 10, args.seed, optimizer=optimizer, lr=lr, lr_final=lr,
                          progress=False)
            ev = A.evaluate({label: model}, val, args.sigma, args.seed)
            rows.append({"model": label, "optimizer": optimizer, "lr": lr, "val PSNR": float(ev.PSNR.iloc[1]),
                         "input PSNR": float(ev.PSNR.iloc[0]), "first loss": rec["loss_curve"][0],
                         "last 10 steps loss": sum(rec["loss_curve"][-10:]) / 10,
                         "seconds": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    save_results("03_learned_diffusivities_lr_probe", "medium",
                 {"protocol": vars(args), "rows": pd.DataFrame(rows)}, provenance_at_start=start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
