"""The book's own certified model (:mod:`pdedenoise.leaderboard.certified`) trained at the leaderboard's ``full``
protocol on a CPU, one noise level per run, in resumable pieces.

Protocol (the book's, stated here because no paper sets it):

* **Model**: :class:`~pdedenoise.leaderboard.certified.CertifiedModel`, 8 stages of 12 channels (2,608
  parameters, under the issue's 2,700), each stage applied ``--repeats`` times
  (:data:`pdedenoise.leaderboard.ownfull.REPEATS`, the choice of ``tools/record_certified_design.py``). Every stage
  is certified non-expansive in l2 for any parameter value.
* **Data**: the leaderboard's ``full`` pairs (:func:`pdedenoise.leaderboard.analysis.fit_context`): 20,000 random
  64² crops of BSDS500 train + test with noise drawn once, tuning pairs 100 x 128², never BSDS500 val (which holds
  BSD68); a validation curve on 64 crops of 96² of the same training images (other positions and noise: it measures
  fitting to new noise and crops, not to new images).
* **Start**: :func:`~pdedenoise.leaderboard.certified.search_start` on the tuning pairs (a Perona–Malik flow;
  the grid of :data:`~pdedenoise.leaderboard.certified.INIT_GRID`), so the run starts at about tuned
  Perona–Malik's PSNR.
* **Training**: Adam, batch 16, ``--steps`` steps (default 20,000), the rate decaying from 1e-2 to 1e-3, MSE
  (the leaderboard's rule for its learned models); the trained model is kept only if it beats its start on the
  tuning pairs (as :func:`~pdedenoise.leaderboard.certified.fit_certified`).

The state (model, Adam, data order, RNG, step; a few hundred kB) is saved atomically every ``--save-minutes``, at
SIGTERM and when ``--minutes`` are spent, in ``results/full/05_own_full_s<sigma>.state.pt`` (committed until the run
ends, so that it continues on another machine); the next call continues it bit for bit. Every 1,000 steps
(:data:`~pdedenoise.leaderboard.ownfull.FULL_PROTOCOL`) the validation PSNR is recorded, beside tuned Perona–Malik's on the same crops (fitted once, at the start, on
the tuning pairs). Once complete: BSD68 and Set12 (whole images, the leaderboard's noise) at the
run's sigma beside that tuned Perona–Malik and the published anchors; the weights (``{"config", "tensors"}``, read
by :meth:`~pdedenoise.leaderboard.certified.CertifiedModel.from_state`) in ``results/full/05_own_full_s<sigma>.pt``::

    PDEDENOISE_NUM_THREADS=1 .venv/bin/python -u tools/record_own_full.py --sigma 25 --minutes 140
    .venv/bin/python tools/record_own_full.py --smoke          # every step at toy size, results/ci, a minute
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from pdedenoise import kernels, threads
from pdedenoise.atomic import atomic_file
from pdedenoise.leaderboard import analysis as A
from pdedenoise.leaderboard import certified as CM
from pdedenoise.leaderboard.certified import mean_psnr
from pdedenoise.leaderboard import evaluate as E
from pdedenoise.leaderboard import methods as MM
from pdedenoise.leaderboard import ownfull as O
from pdedenoise.leaderboard import protocol as P
from pdedenoise.leaderboard import published as PUB
from pdedenoise.results import load_results, provenance, results_dir, save_results
from pdedenoise.train import History, TrainConfig, TrainingInterrupted, fit, load_checkpoint, seed_everything

NAME = "05_own_full"
LR, LR_FINAL = 1e-2, 1e-3
REPEATS, PROTOCOL = O.REPEATS, O.FULL_PROTOCOL
SMOKE = dict(scale="ci", steps=30, curve_every=10, validation=[8, 32], test_count=2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=int, default=25, choices=[15, 25, 50])
    ap.add_argument("--repeats", type=int, default=REPEATS, help="applications of each stage (the design's choice)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default 20,000)")
    ap.add_argument("--minutes", type=float, default=140.0, help="wall time of this call")
    ap.add_argument("--save-minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="every step at toy size (results/ci, not the protocol)")
    args = ap.parse_args(argv)
    threads.configure()
    kernels.use_compiled(not args.smoke)   # the spline lookups fused (about 1.5x a step); a toy run would not repay it
    cfg = dict(SMOKE if args.smoke else PROTOCOL)
    if args.steps is not None:
        cfg["steps"] = args.steps
    deadline = time.monotonic() + 60 * args.minutes
    scale = "ci" if args.smoke else "full"
    name = f"{NAME}{'_smoke' if args.smoke else ''}_s{args.sigma}"
    out = results_dir(scale)
    out.mkdir(parents=True, exist_ok=True)
    state_path, weights_path = out / f"{name}.state.pt", out / f"{name}.pt"
    started = provenance("cpu")
    run = {"model": "certified", "repeats": args.repeats, "sigma": args.sigma, "seed": args.seed, **cfg}
    record = load_results(name, scale) or {}
    for key in ("provenance", "name", "scale"):  # written afresh by every save (this call's commit and times)
        record.pop(key, None)
    files = f"{out / name}.json, {state_path.name} and {weights_path.name}"
    if record and record.get("run") != run:
        raise SystemExit(f"{out / name}.json holds another run ({record.get('run')}); move {files} away to start "
                         "this one")
    if "start" not in record and (state_path.exists() or weights_path.exists()):
        raise SystemExit(f"{state_path.name} or {weights_path.name} exists without the record of its start in "
                         f"{name}.json: move {files} away to start afresh")
    record.update(sigma=args.sigma, run=run, protocol={"lr": [LR, LR_FINAL], "loss": "mse", "optimiser": "adam"})
    record.setdefault("curve", {"step": [], "seconds": [], "validation PSNR": []})
    record.setdefault("complete", False)

    def write() -> None:
        save_results(name, scale, record, device="cpu", provenance_at_start=started)

    def curve_point(model: torch.nn.Module, steps: int, seconds: float) -> None:
        """Score the validation crops at ``steps`` unless that point is recorded (once per ``curve_every`` steps and
        at the end), and write the record."""
        if steps in record["curve"]["step"] or not (steps % cfg["curve_every"] == 0 or steps == cfg["steps"]):
            return
        was_training = model.training
        record["curve"]["step"].append(steps)
        record["curve"]["seconds"].append(seconds)
        record["curve"]["validation PSNR"].append(mean_psnr(model.eval(), val))
        model.train(was_training)
        print(f"step {steps:,}: validation {record['curve']['validation PSNR'][-1]:.3f} dB", flush=True)
        write()

    seed_everything(args.seed)
    ctx = A.fit_context(cfg["scale"], args.sigma, seed=args.seed, progress=True)
    val = P.training_pairs(*cfg["validation"], args.sigma, args.seed + 2)
    model = CM.CertifiedModel(repeats=args.repeats)
    if not weights_path.exists():
        if "start" not in record:
            record["start"] = CM.search_start(model, ctx.tune, seed=args.seed)
            record["start"]["validation PSNR"] = mean_psnr(model, val)
            pm = MM.get("perona-malik-tuned")
            pm_state = pm.fit(ctx)
            pm_denoise = pm.build(pm_state, args.sigma)
            record["perona-malik"] = {"config": pm_state["config"], "validation PSNR": mean_psnr(pm_denoise, val),
                                      "tuning PSNR": mean_psnr(pm_denoise, ctx.tune)}
            record["curve"] = {"step": [0], "seconds": [0.0], "validation PSNR": [record["start"]["validation PSNR"]]}
            write()
        else:
            CM.initialise(model, record["start"]["K"], record["start"]["rho"], record["start"]["alpha"], seed=args.seed)
        start_tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if state_path.exists():  # a point whose checkpoint was saved but whose score was not (killed in between)
            saved = load_checkpoint(state_path)
            hist = History.from_dict(saved["history"])
            scratch = CM.CertifiedModel(repeats=args.repeats)
            scratch.load_state_dict(saved["model"])
            curve_point(scratch, hist.steps, hist.wall_seconds)
        piece_info = {k: started[k] for k in ("commit", "date", "device")}
        # which formulation of the spline lookups trained this piece (pieces before 1db1e17 name none: autograd's)
        piece_info["spline lookups"] = "closed form, compiled" if kernels.use_compiled() else "closed form, eager"
        while True:
            left = deadline - time.monotonic()
            if left < 60:
                print("less than a minute left: run again to continue", flush=True)
                write()
                return 0
            done = load_checkpoint(state_path)["history"]["steps"] if state_path.exists() else 0
            tc = TrainConfig(epochs=None, max_steps=cfg["steps"], batch_size=ctx.batch, lr=LR, lr_final=LR_FINAL,
                             seed=args.seed, checkpoint=str(state_path), save_every_seconds=60 * args.save_minutes,
                             max_seconds=left - 30, piece_steps=cfg["curve_every"] - done % cfg["curve_every"],
                             progress=True, log_every_seconds=60, desc=f"own certified model, sigma {args.sigma}")
            try:
                history = fit(model, ctx.train, tc, piece_info=piece_info)
            except TrainingInterrupted as exc:
                print(exc, flush=True)
                write()
                return 3
            record["training"] = {"steps": history.steps, "pieces": history.pieces,
                                  "wall seconds": history.wall_seconds,
                                  "loss every 100": history.step_loss[::100]}
            write()
            curve_point(model, history.steps, history.wall_seconds)
            if history.complete:
                break
            ended = history.pieces[-1]["ended"] if history.pieces else ""
            if ended != "piece_steps":
                print(f"piece ended ({ended}) at step {history.steps:,}; run again to continue", flush=True)
                return 0
        model.eval()
        trained = mean_psnr(model, ctx.tune)
        record["kept training"] = trained >= record["start"]["PSNR"]
        record["tuning PSNR trained"] = trained
        if not record["kept training"]:
            model.load_state_dict(start_tensors)
        write()
        with atomic_file(weights_path) as fh:
            torch.save({"config": dict(model.config),
                        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()}}, fh)
    else:
        model = CM.CertifiedModel.from_state(torch.load(weights_path, weights_only=True))
    model.eval()
    # complete: BSD68 and Set12 beside tuned Perona-Malik (fitted on the same tuning pairs) and the anchors
    pm_denoise = MM.get("perona-malik-tuned").build({"config": record["perona-malik"]["config"], "tensors": {}},
                                                     args.sigma)
    rows = {}
    for dataset in ("BSD68", "Set12"):
        pairs = P.test_pairs(dataset, args.sigma, cfg["test_count"], None if not args.smoke else 64)
        with torch.no_grad():
            ours = E.per_image("own certified model", model, pairs, dataset, args.sigma)
            theirs = E.per_image("Perona-Malik (tuned)", pm_denoise, pairs, dataset, args.sigma)
        rows[dataset] = {"own PSNR": float(ours["PSNR"].mean()), "own SSIM": float(ours["SSIM"].mean()),
                         "Perona-Malik PSNR": float(theirs["PSNR"].mean()), "images": len(ours),
                         "own per image": ours["PSNR"].tolist(), "Perona-Malik per image": theirs["PSNR"].tolist()}
    anchors = {n: a.psnr[args.sigma] for n, a in PUB.ANCHORS.items() if args.sigma in a.psnr}
    record.update(complete=True, parameters=model.count_parameters(), lipschitz=model.lipschitz(),
                  certificates=[{"alpha": c.alpha, "lambda": c.lam, "rho": c.rho, "beta": c.beta, "L": c.L,
                                 "q": c.contraction} for c in model.certificates()],
                  evaluation=rows, anchors=anchors)
    write()
    state_path.unlink(missing_ok=True)
    print({d: {k: v for k, v in r.items() if "per image" not in k} for d, r in rows.items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
