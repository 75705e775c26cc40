"""Design experiments for the own certified model (:mod:`pdedenoise.leaderboard.certified`), decided on other crops
of the training images, never on BSD68 or Set12.

At the price-of-stability budget (the leaderboard's medium training pairs, 2,000 Adam steps of batch 8 on 48²
crops, 1e-2 -> 1e-3, MSE, sigma 25; start by :func:`~pdedenoise.leaderboard.certified.search_start` on the tuning
pairs) the 2,608-parameter model (8 stages of 12 channels) and the 10,384-parameter one (48 channels) reach the same
BSD68 PSNR to 1e-3 dB, and that run's start search (a coordinate search, since replaced by the grid search of
:func:`~pdedenoise.leaderboard.certified.search_start`) picked the largest step of its grid: the flow, not the
parameter count, limits the model. Every certified stage is one gradient step no longer than ``2 / (beta L + lambda)``, so eight
steps can carry the flow only so far. Two questions here:

* do more steps with the same parameters (each stage applied ``repeats`` times) buy PSNR, at what cost in time?
  (variants ``1``, ``2``, ``3``: Adam as above);
* which optimiser reaches a given PSNR sooner: the Adam run above, or full-batch L-BFGS (strong-Wolfe line search,
  history 20, half the sum of squared errors over all 2,000 training crops, as :mod:`pdedenoise.fullbatch` trains the
  TNRD-style model) from the same start, for Adam's wall time (variant ``lbfgs:R``; it stops after the first
  iteration past that time, so it may run up to one iteration longer)?

Every variant is trained the same way and scored on a validation set of 64 crops of 96² of the training images
(other positions and noise than the training and tuning pairs; the images themselves are the training images). Writes ``results/medium/05_certified_design.json``
(per variant: parameters, repeats, the start, seconds, validation PSNR before and after training and along the way
(every 250 Adam steps, every 5 L-BFGS iterations, against the training seconds), Lipschitz bound)::

    PDEDENOISE_NUM_THREADS=1 .venv/bin/python -u tools/record_certified_design.py              # about half an hour
    .venv/bin/python tools/record_certified_design.py --scale ci --steps 10 --variants 1,2,lbfgs:1   # seconds

Resumable per variant (a finished variant is not trained again); training states are not kept. The record in
``results/medium`` was made at commit 6879349, with the coordinate start search (the starts it names).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from pdedenoise import threads
from pdedenoise.fullbatch import LBFGSConfig, lbfgs
from pdedenoise.leaderboard import analysis as A
from pdedenoise.leaderboard import certified as CM
from pdedenoise.leaderboard.certified import mean_psnr
from pdedenoise.leaderboard import protocol as P
from pdedenoise.results import load_results, provenance, save_results
from pdedenoise.train import TrainConfig, fit, seed_everything

NAME = "05_certified_design"
LR, LR_FINAL = 1e-2, 1e-3
#: the validation crops: count, size, and the seed offset that keeps them apart from the training (seed) and tuning
#: (seed + 1) pairs
VALIDATION = dict(count=64, size=96, seed_offset=2)
#: Adam steps / L-BFGS iterations between two points of the validation curve
CURVE_EVERY = dict(adam=250, lbfgs=5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="medium", choices=("ci", "medium"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--variants", default="1,2,3,lbfgs:1",
                    help="comma list: R (Adam, each stage R times) or lbfgs:R (after the Adam variant R)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    threads.configure()
    start = provenance("cpu")
    ctx = A.fit_context(args.scale, 25, seed=args.seed, progress=True)
    count = VALIDATION["count"] if args.scale != "ci" else 8
    val = P.training_pairs(count, VALIDATION["size"], 25, args.seed + VALIDATION["seed_offset"])
    record = load_results(NAME, args.scale) or {}
    if record and record.get("protocol", {}).get("steps") != args.steps:
        raise SystemExit(f"results/{args.scale}/{NAME}.json holds --steps {record['protocol']['steps']}; "
                         "use the same steps or move it away")
    done = dict(record.get("variants", {}))
    tmp = Path(tempfile.mkdtemp(prefix="certified_design_"))
    for variant in args.variants.split(","):
        optimiser, repeats = ("lbfgs", int(variant.split(":")[1])) if variant.startswith("lbfgs") else ("adam", int(variant))
        key = f"repeats {repeats}" if optimiser == "adam" else f"L-BFGS, repeats {repeats}"
        if key in done:
            continue
        seed_everything(args.seed)
        model = CM.CertifiedModel(repeats=repeats)
        t0 = time.perf_counter()
        begin = CM.search_start(model, ctx.tune, seed=args.seed)
        before = mean_psnr(model, val)
        curve = {"seconds": [0.0], "validation PSNR": [before]}
        if optimiser == "adam":
            cfg = dict(epochs=None, max_steps=args.steps, batch_size=ctx.batch, lr=LR, lr_final=LR_FINAL,
                       seed=args.seed, checkpoint=str(tmp / f"{repeats}.pt"), piece_steps=CURVE_EVERY["adam"],
                       progress=True, log_every_seconds=60, desc=f"certified, {key}")
            while True:
                history = fit(model, ctx.train, TrainConfig(**cfg))
                curve["seconds"].append(history.wall_seconds)
                curve["validation PSNR"].append(mean_psnr(model.eval(), val))
                model.train()
                if history.complete:
                    break
            extra = {"final loss": history.step_loss[-1], "steps": history.steps}
        else:
            adam = done.get(f"repeats {repeats}")
            if adam is None:
                raise SystemExit(f"run the Adam variant {repeats} first: L-BFGS gets its training seconds")
            budget = adam["training seconds"]
            spent, hist = 0.0, None
            while spent < budget:
                hist = lbfgs(model, model, (ctx.train[0],), ctx.train[1],
                             LBFGSConfig(iterations=10_000, history_size=20, chunk=250, checkpoint=tmp / f"l{repeats}.pt",
                                         piece_iterations=CURVE_EVERY["lbfgs"], max_seconds=budget - spent,
                                         progress=True, log_every_seconds=60,
                                         desc=f"certified, {key}"), run={"repeats": repeats}, phase="joint")
                spent = sum(p["seconds"] for p in hist.pieces)
                curve["seconds"].append(spent)
                curve["validation PSNR"].append(mean_psnr(model.eval(), val))
                model.train()
                if hist.complete:
                    break
            extra = {"final loss": hist.loss[-1], "iterations": hist.iterations, "evaluations": hist.evaluations}
        model.eval()
        done[key] = {"optimiser": optimiser, "repeats": repeats, "steps of the flow": repeats * len(model.stages),
                     "parameters": model.count_parameters(), "start": begin, "validation PSNR at the start": before,
                     "validation PSNR": curve["validation PSNR"][-1], "training seconds": curve["seconds"][-1],
                     "seconds": time.perf_counter() - t0, "curve": curve, "lipschitz": model.lipschitz(), **extra}
        print(f"{key}: validation {before:.3f} -> {done[key]['validation PSNR']:.3f} dB in "
              f"{done[key]['training seconds']:.0f} s of training", flush=True)
        save_results(NAME, args.scale, {
            "protocol": {"steps": args.steps, "batch": ctx.batch, "train": list(ctx.train[0].shape),
                         "tune": list(ctx.tune[0].shape), "validation": list(val[0].shape), "lr": [LR, LR_FINAL],
                         "sigma": 25, "threads": torch.get_num_threads(),
                         "scored on": "validation crops of training images (never BSD68 or Set12)"},
            "variants": done}, provenance_at_start=start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
