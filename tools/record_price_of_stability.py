"""The price of stability at equal budgets: the same training for a model without a certificate (TNRD-style), a
model certified non-expansive in l2 (:mod:`pdedenoise.leaderboard.certified`) and a model certified by the discrete
maximum principle (:mod:`pdedenoise.leaderboard.ownmodel`), each at about 2.6k and about 10k parameters.

Equal budgets: every model sees the leaderboard's training pairs of ``--scale`` (BSDS500 train + test crops, sigma
25), ``--steps`` Adam steps of the same batch, MSE, the learning rate decaying from 1e-2 to 1e-3 within each phase
(the book's choice for every learned model). Each class keeps its own start and phases:

* no certificate (TNRD-style, :class:`~pdedenoise.papers.barbeiro2020.tnrd.TNRD`): greedy, stage ``t`` alone on
  top of the trained earlier ones for ``steps / 10`` steps each (five stages: half the budget), then all stages
  jointly for the other half, as Chen and Pock train (greedy then joint);
* l2 certificate: its start chosen on the tuning pairs (:func:`~pdedenoise.leaderboard.certified.search_start`,
  a grid search, no training steps; the recorded run used the coordinate search of 21 evaluations that
  preceded it), then ``steps`` joint steps;
* maximum principle: ``steps`` joint steps from its own start.

Sizes: TNRD-style 5 stages of 8 filters 5x5 with 40 influence centres (2,565) and of 24 with 63 (10,445, the book's
chapter-2 model); l2-certified 8 stages of 12 channels (2,608, the leaderboard's) and of 48 (10,384);
maximum-principle 8 stages of 7 experts (2,584, the leaderboard's own model) and of 28 (10,312).

Everything is scored on the whole of BSD68 at sigma 25 with the leaderboard's noise; nothing is chosen on the
test images. Every phase is a resumable :func:`pdedenoise.train.fit` run whose small state lives under
``results/<scale>/05_price_of_stability/`` until the run is complete; run the same command again to continue::

    PDEDENOISE_NUM_THREADS=1 .venv/bin/python -u tools/record_price_of_stability.py --minutes 140
    .venv/bin/python tools/record_price_of_stability.py --scale ci --steps 20 --images 2   # a check in seconds

Writes ``results/<scale>/05_price_of_stability.json`` after every finished job (per-image PSNR, seconds, pieces).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pdedenoise import threads
from pdedenoise.leaderboard import analysis as A
from pdedenoise.leaderboard import certified as CM
from pdedenoise.leaderboard import protocol as P
from pdedenoise.leaderboard.ownmodel import OwnModel
from pdedenoise.metrics import psnr
from pdedenoise.papers.barbeiro2020.tnrd import TNRD
from pdedenoise.results import load_results, provenance, results_dir, save_results
from pdedenoise.train import TrainConfig, fit, seed_everything

NAME = "05_price_of_stability"
#: the certificate classes, in the order of the figure
CLASSES = {"none": "no certificate (TNRD-style)", "l2": "l2 non-expansive stages", "mp": "maximum principle"}
#: the architecture of each class at each parameter budget
SIZES = {
    ("none", "2.6k"): dict(stages=5, filters=8, size=5, centers=40),
    ("none", "10k"): dict(stages=5, filters=24, size=5, centers=63),
    ("l2", "2.6k"): dict(channels=12),
    ("l2", "10k"): dict(channels=48),
    ("mp", "2.6k"): dict(experts=7),
    ("mp", "10k"): dict(experts=28),
}
LR, LR_FINAL = 1e-2, 1e-3


def build(kind: str, size: dict) -> torch.nn.Module:
    return {"none": TNRD, "l2": CM.CertifiedModel, "mp": OwnModel}[kind](**size)


def phases(kind: str, model: torch.nn.Module, steps: int) -> list[tuple[str, int, list[int] | None]]:
    """``(name, steps, trainable stages or None for all)`` of a class's training."""
    if kind == "none":
        greedy = max(1, steps // 10)
        return [(f"greedy{t + 1}", greedy, [t]) for t in range(len(model.stages))] + [("joint", steps - 5 * greedy, None)]
    return [("joint", steps, None)]


def _set_trainable(model: torch.nn.Module, stages: list[int] | None) -> None:
    if stages is None:
        for p in model.parameters():
            p.requires_grad_(True)
        if hasattr(model, "active"):
            model.active = len(model.stages)
        return
    for t, stage in enumerate(model.stages):
        for p in stage.parameters():
            p.requires_grad_(t in stages)
    model.active = max(stages) + 1


def train_job(kind: str, budget: str, ctx, steps: int, folder: Path, deadline: float, seed: int = 0):
    """Train one job to its end or to ``deadline`` (``time.monotonic()``); returns ``(model, complete, info)``."""
    seed_everything(seed)
    model = build(kind, SIZES[(kind, budget)])
    info = {"parameters": sum(p.numel() for p in model.parameters()), "phases": []}
    if kind == "l2":
        info["start"] = CM.search_start(model, ctx.tune, seed=seed)
    for name, n, stages in phases(kind, model, steps):
        _set_trainable(model, stages)
        left = deadline - time.monotonic()
        cfg = TrainConfig(epochs=None, max_steps=n, batch_size=ctx.batch, lr=LR, lr_final=LR_FINAL, seed=seed,
                          checkpoint=str(folder / f"{kind}_{budget}_{name}.state.pt"), save_every_seconds=600,
                          max_seconds=max(left, 1.0), progress=True, log_every_seconds=60,
                          desc=f"{CLASSES[kind]}, {budget}, {name}")
        history = fit(model, ctx.train, cfg)
        info["phases"].append({"phase": name, "steps": history.steps, "seconds": history.wall_seconds,
                               "final_loss": history.step_loss[-1] if history.step_loss else None,
                               "pieces": history.pieces})
        if not history.complete:
            return model, False, info
    _set_trainable(model, None)
    return model.eval(), True, info


@torch.no_grad()
def scores(model: torch.nn.Module, pairs: dict) -> list[float]:
    return [float(psnr(model(x).double(), y.double(), P.PEAK)) for x, y in zip(pairs["noisy"], pairs["clean"])]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="medium", choices=("ci", "medium", "full"))
    ap.add_argument("--steps", type=int, default=2000, help="Adam steps per model (equal for all)")
    ap.add_argument("--images", type=int, default=None, help="score on the first N BSD68 images (default: all)")
    ap.add_argument("--minutes", type=float, default=60.0, help="stop (saved) after about this many minutes")
    ap.add_argument("--jobs", default=None, help="comma list such as l2:2.6k,none:10k (default: all six)")
    args = ap.parse_args(argv)
    threads.configure()
    deadline = time.monotonic() + 60 * args.minutes
    folder = results_dir(args.scale) / NAME
    folder.mkdir(parents=True, exist_ok=True)
    record = load_results(NAME, args.scale) or {}
    if record and record.get("protocol", {}).get("steps") != args.steps:
        raise SystemExit(f"results/{args.scale}/{NAME}.json was recorded with --steps "
                         f"{record['protocol']['steps']}; use the same steps to continue or move it away")
    start = provenance("cpu")
    ctx = A.fit_context(args.scale, 25, seed=0, progress=True)
    pairs = P.test_pairs("BSD68", 25, args.images)
    jobs = [tuple(j.split(":")) for j in args.jobs.split(",")] if args.jobs else list(SIZES)
    done = dict(record.get("jobs", {}))
    for kind, budget in jobs:
        key = f"{kind}:{budget}"
        if key in done and done[key].get("complete"):
            continue
        if time.monotonic() >= deadline:
            break
        model, complete, info = train_job(kind, budget, ctx, args.steps, folder, deadline)
        entry = {"class": CLASSES[kind], "budget": budget, "size": SIZES[(kind, budget)], **info, "complete": complete}
        if complete:
            entry["BSD68 PSNR"] = scores(model, pairs)
            if kind == "l2":
                entry["lipschitz"] = model.lipschitz()
            print(f"{key}: {sum(entry['BSD68 PSNR']) / len(entry['BSD68 PSNR']):.2f} dB", flush=True)
        done[key] = entry
        save_results(NAME, args.scale, {
            "protocol": {"steps": args.steps, "batch": ctx.batch, "train": list(ctx.train[0].shape),
                         "tune": list(ctx.tune[0].shape), "lr": [LR, LR_FINAL], "sigma": 25,
                         "scored on": f"BSD68 ({len(pairs['names'])} images, whole)", "names": list(pairs["names"])},
            "jobs": done, "complete": all(done.get(f"{k}:{b}", {}).get("complete") for k, b in SIZES)},
            provenance_at_start=start)
    finished = [k for k, v in done.items() if v.get("complete")]
    print(f"finished {len(finished)} of {len(SIZES)} jobs: {', '.join(finished) or 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
