"""The TNRD-style 5x5 model trained at Chen and Pock's protocol (``full`` scale) on a CPU, in resumable pieces.

Protocol (Chen and Pock, TNRD, IEEE TPAMI 2017), as used here:

* **Model**: :class:`~pdedenoise.papers.barbeiro2020.tnrd.TNRD` with 5 stages of 24 filters of 5 x 5 and 63 RBF
  centres (10,445 parameters), the published TNRD 5x5 (28.78 dB on BSD68 at sigma 25,
  :data:`pdedenoise.leaderboard.published.TNRD_5X5`).
* **Data**: 400 grey crops of 180 x 180, one per image of BSDS500 train + test (seeded positions; never BSDS500
  val, which holds BSD68), noise of sigma 25 drawn once (seeded, as :func:`pdedenoise.leaderboard.protocol.
  training_pairs`): the paper's 400 images of 180 x 180.
* **Loss**: half the sum of squared errors over all 400 images (full batch, no minibatches).
* **Optimiser**: L-BFGS (:mod:`pdedenoise.fullbatch`: strong-Wolfe line search, ``history_size`` 20, a choice
  -- it keeps the state file near 2 MB), greedy training of stage t alone on top of the trained, frozen stages
  before it (their output computed once and cached) for 200 iterations each, then joint training of all five for
  300 iterations. These counts are the paper's budgets as this project states them (issue of the full-scale runs);
  the paper's text could not be read here to confirm them exactly.

Hours on one core, so the run goes in pieces (``--minutes`` each): its state is saved atomically every
``--save-minutes``, on SIGTERM and when the time is spent, in ``results/full/05_tnrd_full_s25.state.pt`` (about
2 MB; committed until the run ends, so that it continues on another machine), and the next call continues it.
``results/full/05_tnrd_full_s25.json`` is rewritten after every piece: phase, iterations done, loss curves, the
pieces with their wall time, device, threads and commit; once complete, the BSD68 evaluation (whole images, the
leaderboard's noise seeds) beside the published 28.78 dB with the verdict under the leaderboard's tolerances
(:data:`pdedenoise.leaderboard.analysis.PUBLISHED_TOL`)::

    PDEDENOISE_NUM_THREADS=1 nice -n 10 python tools/record_tnrd_full.py --minutes 140
    python tools/record_tnrd_full.py --smoke      # a tiny run of every step, results/ci, under a minute
    python tools/record_tnrd_full.py --smoke --piece-iterations 2   # the same in pieces (call until complete)
    python tools/record_tnrd_full.py --measure 3  # seconds per iteration at full size, and the run's estimate
    python tools/record_tnrd_full.py --preview    # BSD68 of the saved state now (beside a running piece)

``--preview`` scores the model of the saved state on BSD68 while the run is under way and writes it to
``results/full/05_tnrd_full_s25_preview.json`` with the phase and iteration it was taken at: for the reader who
wants to know where the run stands on the test images. It is not the run's result and has no verdict; nothing in
the run reads it (the run goes on to its protocol's last iteration whatever it says).

Cost: an iteration costs its line search's evaluations (its start is the previous accepted point, not evaluated
again), typically one or two. One full-batch evaluation over 400 x 180² on one thread with compiled kernels was
measured at about 98 s for the five stages jointly and about 20 s for one greedy stage on cached inputs, so with
about 1.2 evaluations per iteration the run takes about ``5 x 200 x 1.2 x 20 s + 300 x 1.2 x 98 s``, some 16 hours
(greedy 6.7 h, joint 9.8 h): seven pieces of 2.5 hours. ``--measure N`` times N iterations of each kind on the
machine at hand and prints the estimate from them (:data:`MEASURED` is to hold its numbers; a measurement on a
machine whose cores were saturated by other work did not finish).

The influence-function tables run compiled (``PDEDENOISE_COMPILE=1`` is set here) and glibc keeps freed memory
(``MALLOC_*``), by re-executing the script once, as ``tools/record_valdivia_full.py`` does.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296", "MALLOC_TOP_PAD_": "268435456",
          # the smoke run's shapes are too small to repay compiling (minutes on a busy machine)
          "PDEDENOISE_COMPILE": "0" if "--smoke" in sys.argv else "1"}
if any(os.environ.get(k) != v for k, v in MALLOC.items()):
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC})

import torch  # noqa: E402

from pdedenoise import threads  # noqa: E402
from pdedenoise.data.imagesets import random_patches  # noqa: E402
from pdedenoise.data.readers import load_image  # noqa: E402
from pdedenoise.fullbatch import LBFGSConfig, LBFGSHistory, TrainingInterrupted, lbfgs, peek  # noqa: E402
from pdedenoise.leaderboard import evaluate as E  # noqa: E402
from pdedenoise.leaderboard import protocol as P  # noqa: E402
from pdedenoise.leaderboard import published as PUB  # noqa: E402
from pdedenoise.papers.barbeiro2020.tnrd import TNRD  # noqa: E402
from pdedenoise.results import provenance, results_dir, save_results  # noqa: E402

NAME = "05_tnrd_full"
#: the protocol (see the module docstring)
PROTOCOL = dict(n_train=400, crop=180, stages=5, filters=24, size=5, centers=63, greedy=200, joint=300,
                history_size=20, chunk=25, test_count=None, test_crop=None)
SMOKE = dict(n_train=8, crop=32, stages=2, filters=8, size=5, centers=15, greedy=3, joint=3, history_size=20,
             chunk=3, test_count=2, test_crop=64)
#: seconds per L-BFGS iteration at full size, one thread (``--measure 2``), once measured on a free core
MEASURED = {"greedy (cached stage input)": None, "joint": None}


def training_set(n: int, crop: int, sigma: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(noisy, clean)``, (n, 1, crop, crop), 0–255: one seeded ``crop``² crop of each of the first ``n`` BSDS500
    train + test images (sorted names), noise of ``sigma`` drawn once."""
    names = P.training_images()[:n]
    if len(names) < n:
        raise ValueError(f"only {len(names)} training images, {n} asked")
    clean = torch.cat([random_patches([load_image("BSDS500", name)], crop, 1, seed=seed * 100_003 + i)
                       for i, name in enumerate(names)])
    return P.add_noise(clean, sigma, seed + 104_729), clean


def phases(stages: int) -> list[str]:
    return [f"greedy {t}" for t in range(1, stages + 1)] + ["joint"]


def setup(model: TNRD, phase: str, noisy: torch.Tensor):
    """``(fn, inputs, params)`` of a phase: greedy stage t on the cached output of stages 1..t-1, or all of them."""
    if phase == "joint":
        model.active = len(model.stages)
        return model, (noisy,), list(model.parameters())
    t = int(phase.split()[1])
    model.active = t
    with torch.no_grad():
        u = noisy
        for stage in model.stages[:t - 1]:
            u = stage(u, noisy)
    stage = model.stages[t - 1]
    return stage, (u.contiguous(), noisy), list(stage.parameters())


def summary(hist: LBFGSHistory) -> dict:
    return {"iterations": hist.iterations, "evaluations": hist.evaluations, "complete": hist.complete,
            "reason": hist.reason, "loss": hist.loss, "seconds_per_iteration": hist.seconds,
            "wall_seconds": hist.wall_seconds, "pieces": hist.pieces}


def measure(cfg: dict, sigma: float, seed: int, iterations: int) -> dict:
    """Seconds per iteration of greedy stage 1 and of joint training from the initial weights (nothing saved)."""
    noisy, clean = training_set(cfg["n_train"], cfg["crop"], sigma, seed)
    out = {}
    for phase in ("greedy 1", "joint"):
        torch.manual_seed(seed)
        model = TNRD(cfg["stages"], cfg["filters"], cfg["size"], cfg["centers"])
        fn, inputs, params = setup(model, phase, noisy)
        t0 = time.perf_counter()
        hist = lbfgs(model, fn, inputs, clean, LBFGSConfig(iterations=iterations, history_size=cfg["history_size"],
                                                           chunk=cfg["chunk"], progress=False), params=params)
        total = time.perf_counter() - t0
        out[phase] = {"seconds per iteration": sum(hist.seconds) / hist.iterations, "evaluations": hist.evaluations,
                      "iterations": hist.iterations, "seconds with the first evaluation": total}
        print(f"[measure] {phase}: {out[phase]}", flush=True)
    g, j = out["greedy 1"]["seconds per iteration"], out["joint"]["seconds per iteration"]
    hours = (cfg["stages"] * cfg["greedy"] * g + cfg["joint"] * j) / 3600
    print(f"[measure] estimate of the whole run: {hours:.1f} h ({torch.get_num_threads()} thread(s))", flush=True)
    return out


def bsd68(model: TNRD, cfg: dict, sigma: int, label: str):
    """Per-image scores of ``model`` (all stages) on BSD68 at ``sigma``: whole images, the leaderboard's noise."""
    model.active = len(model.stages)
    model.eval()
    pairs = P.test_pairs("BSD68", sigma, cfg["test_count"], cfg["test_crop"])
    with torch.no_grad():
        return E.per_image(label, model, pairs, "BSD68", sigma)


def run_of(cfg: dict, args) -> tuple[str, str, dict]:
    """The scale, the run's name and the key a saved state must match (the same for a piece and a preview)."""
    name = f"{NAME}{'_smoke' if args.smoke else ''}_s{args.sigma}"
    run = {"model": "TNRD", "sigma": args.sigma, "seed": args.seed,
           **{k: cfg[k] for k in ("n_train", "crop", "stages", "filters", "size", "centers")}}
    return ("ci" if args.smoke else "full"), name, run


def preview(cfg: dict, args) -> int:
    """Score the saved state's model on BSD68 and write ``<name>_preview.json`` (see the module docstring)."""
    scale, name, run = run_of(cfg, args)
    state_path = results_dir(scale) / f"{name}.state.pt"
    model = TNRD(cfg["stages"], cfg["filters"], cfg["size"], cfg["centers"])
    saved = peek(state_path, run, model)
    if saved is None:
        print(f"no saved state at {state_path}: nothing to preview (the run is finished or not started)", flush=True)
        return 2
    hist = LBFGSHistory.from_dict(saved["history"])
    if hist.phase != "joint":
        print(f"the saved state is in phase {hist.phase!r}: a preview scores the whole model, so it waits for the "
              "joint phase", flush=True)
        return 2
    model.load_state_dict(saved["model"])
    t0 = time.perf_counter()
    scores = bsd68(model, cfg, args.sigma, "TNRD 5x5, full-batch L-BFGS (preview)")
    out = {"sigma": args.sigma, "phase": hist.phase, "iteration": hist.iterations, "iterations planned": cfg["joint"],
           "mean PSNR": float(scores["PSNR"].mean()), "mean SSIM": float(scores["SSIM"].mean()),
           "images": len(scores), "seconds": time.perf_counter() - t0,
           "note": "the saved state scored during the run: not the run's result, no verdict"}
    path = save_results(f"{name}_preview", scale, out, device="cpu")
    print(f"BSD68 at {hist.phase} iteration {hist.iterations}: {out['mean PSNR']:.2f} dB ({len(scores)} images) -> "
          f"{path}", flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=int, default=25, choices=[25])
    ap.add_argument("--minutes", type=float, default=140.0, help="wall time of this call")
    ap.add_argument("--save-minutes", type=float, default=10.0, help="minutes between saved states")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a tiny run of every step (results/ci, not the protocol)")
    ap.add_argument("--piece-iterations", type=int, default=None, metavar="N",
                    help="end this call, saved, after N iterations of the phase in progress (checks resuming)")
    ap.add_argument("--preview", action="store_true",
                    help="score the saved state on BSD68 now (not the result; the run never reads it)")
    ap.add_argument("--measure", type=int, default=0, metavar="N",
                    help="time N iterations of greedy and of joint training at full size, save nothing")
    args = ap.parse_args(argv)
    threads.configure()
    cfg = SMOKE if args.smoke else PROTOCOL
    if args.measure:
        measure(cfg, args.sigma, args.seed, args.measure)
        return 0
    if args.preview:
        return preview(cfg, args)
    deadline = time.monotonic() + 60 * args.minutes
    scale, name, run = run_of(cfg, args)
    out_dir = results_dir(scale)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / f"{name}.state.pt"
    weights_path = out_dir / f"{name}.pt"
    started = provenance("cpu")
    torch.manual_seed(args.seed)
    model = TNRD(cfg["stages"], cfg["filters"], cfg["size"], cfg["centers"])
    progress = {"phases": {}}
    record = {"sigma": args.sigma, "protocol": cfg, "run": run, "phases": {}, "complete": False}

    def write() -> None:
        record["phases"] = progress["phases"]
        record["wall_seconds"] = sum(p["seconds"] for s in progress["phases"].values() for p in s["pieces"])
        save_results(name, scale, record, device="cpu", provenance_at_start=started)

    names = phases(cfg["stages"])
    if weights_path.exists():
        model.load_state_dict(torch.load(weights_path, weights_only=True))
    else:
        saved = peek(state_path, run, model)
        if saved is not None:
            model.load_state_dict(saved["model"])
            progress.update(saved.get("caller_state") or {"phases": {}})
            hist = LBFGSHistory.from_dict(saved["history"])
            if hist.complete:
                progress["phases"][hist.phase] = summary(hist)
        noisy, clean = training_set(cfg["n_train"], cfg["crop"], args.sigma, args.seed)
        for k, phase in enumerate(names):
            if progress["phases"].get(phase, {}).get("complete"):
                continue
            left = deadline - time.monotonic()
            if left < 120:
                print(f"[{phase}] less than 2 minutes left: run again to continue", flush=True)
                write()
                return 0
            fn, inputs, params = setup(model, phase, noisy)
            iterations = cfg["joint"] if phase == "joint" else cfg["greedy"]
            config = LBFGSConfig(iterations=iterations, history_size=cfg["history_size"], chunk=cfg["chunk"],
                                 checkpoint=state_path, max_seconds=left - 60, save_every_seconds=60 * args.save_minutes,
                                 piece_iterations=args.piece_iterations,
                                 desc=f"TNRD {phase}", log_every_seconds=60.0)
            try:
                hist = lbfgs(model, fn, inputs, clean, config, params=params, run=run, phase=phase,
                             previous=names[:k], state=progress, data_fingerprint=(noisy, clean),
                             piece_info={key: started[key] for key in ("commit", "date", "device")})
            except TrainingInterrupted as exc:
                print(exc, flush=True)
                saved = peek(state_path, run, model)
                progress["phases"][phase] = summary(LBFGSHistory.from_dict(saved["history"]))
                write()
                return 3
            progress["phases"][phase] = summary(hist)
            write()
            if not hist.complete:
                print(f"[{phase}] piece ended at iteration {hist.iterations} of {iterations}; state in {state_path}",
                      flush=True)
                return 0
            print(f"[{phase}] done: {hist.iterations} iterations, loss {hist.loss[0]:.4g} -> {hist.loss[-1]:.4g}",
                  flush=True)
        torch.save(model.state_dict(), weights_path)
    # complete: evaluate on BSD68 (whole images, the leaderboard's noise) and compare with the published number
    from pdedenoise.leaderboard.analysis import PUBLISHED_TOL
    from pdedenoise.records import Published, compare

    scores = bsd68(model, cfg, args.sigma, "TNRD 5x5, full-batch L-BFGS")
    mean = float(scores["PSNR"].mean())
    key = f"TNRD 5x5, BSD68, sigma {args.sigma}"
    table = compare({key: Published(PUB.TNRD_5X5[args.sigma], PUB.TNRD_SOURCE, "dB")}, {key: mean}, *PUBLISHED_TOL,
                    reasons={key: f"{len(scores)} images" + (" (smoke run: not the protocol)" if args.smoke else "")})
    progress["phases"] = progress.get("phases", {})
    record.update(complete=True, bsd68={"mean PSNR": mean, "mean SSIM": float(scores["SSIM"].mean()),
                                        "images": len(scores), "per image": scores.to_dict("records")},
                  comparison=table.to_dict("records"))
    if not progress["phases"]:  # evaluated again from the weights: keep the training record
        from pdedenoise.results import load_results
        progress["phases"] = (load_results(name, scale) or {}).get("phases", {})
    write()
    state_path.unlink(missing_ok=True)
    (out_dir / f"{name}_preview.json").unlink(missing_ok=True)  # the result replaces any preview
    print(table[["quantity", "published", "reproduced", "verdict"]].to_string(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
