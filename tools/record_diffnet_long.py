"""Record longer DiffNet training runs on the CPU: Exp. 1 at the paper's protocol, Exp. 2 with a test curve.

The chapter's ``medium`` scale trains for a few hundred optimiser steps; the paper's Exp. 2 numbers follow
about 100,000 (90,000 images, 18 epochs, batch 16; the authors' public script runs 50,000). Without a GPU,
this script asks how far DiffNet gets with as many steps as a fixed CPU time buys, and records the test
PSNR along the way, so the chapter can show the trend rather than one end point.

Jobs (run in the order given, sharing one time budget):

``discs``
    Exp. 1 exactly at the paper's size: 1024 training and 128 test discs of 64x64, isotropic diffusion
    to T = 1, 3-layer DiffNet, batch 16, 18 epochs, lr 2e-3 -> 4e-6 (1,152 steps).
``discs_forward``
    the same discs, data and training, but learning the other direction (disc -> diffused disc), to
    see how accurately three DiffNet layers learn the linear diffusion itself. A side measurement,
    without a published counterpart of its own, so without a verdict table.
``nonoise`` / ``1pct``
    Exp. 2 inverse of Perona–Malik (no noise / 1 % noise), 5-layer DiffNet, ``--crop`` px crops of BSDS500
    train+test (``--n-train``), tested on BSDS500 val crops, and at the end on val crops and the STL-10
    subset at 96x96 (the paper's size; DiffNet is fully convolutional). The number of steps is set from
    a timed calibration so the run ends within the remaining budget, and the paper's exponential
    schedule 2e-3 -> 4e-6 spans exactly those steps.

``discs_authors``
    Exp. 1 at the paper's size and step count (18 epochs, 1,152 steps) with the training of the authors'
    public code instead of the paper's text (:data:`pdedenoise.papers.arridge2020.protocol.AUTHORS_CODE`: the
    unsquared Frobenius loss, Adam 4e-3 halved after the first step and every 10,000, zero ghost pixels).
    ``--disc-T`` changes the blur time (job ``discs_authors_T<T>``), to test the blur's units.
``nonoise_full`` / ``1pct_full``
    Exp. 2 at the authors' code's budget: 50,001 steps of batch 16 on 96x96 crops, ``--n-train`` (default
    90,000, the paper's size) BSDS500 train+test crops, the authors' loss and schedule. Hours on a CPU, so the
    run goes in pieces of ``--minutes`` (the training pairs are made again at the start of each piece, chunk by chunk,
    about 8 GB for 90,000 crops): its state is saved atomically every ``--save-minutes``, on SIGTERM and
    at the end of the piece in ``results/full/04_diffnet_full_<job>.state.pt`` (about 1.3 MB, committed until the
    run ends, so it continues on another machine); each piece rewrites the run's record with its progress.

Writes ``results/medium/04_diffnet_long_<job>.json`` (``results/full/04_diffnet_long_discs_authors*.json`` for the
authors' Exp. 1, ``results/full/04_diffnet_full_<job>.json`` for ``nonoise_full`` and ``1pct_full``; with provenance
and a ``tables`` entry of published vs reproduced numbers,
:func:`pdedenoise.papers.arridge2020.analysis.long_run_table`) and the DiffNet weights beside it::

    python tools/record_diffnet_long.py --jobs discs,nonoise --minutes 90 --threads 1
    python tools/record_diffnet_long.py --jobs nonoise --minutes 25 --device cuda   # on a GPU
    python tools/record_diffnet_long.py --jobs discs_authors --threads 1
    python tools/record_diffnet_long.py --jobs 1pct_full --precision bf16 --minutes 120   # again to continue
    python tools/record_diffnet_long.py --retable     # rebuild the tables of recorded runs, train nothing
"""
from __future__ import annotations

import argparse
import time

import torch

from pdedenoise import data
from pdedenoise.metrics import psnr
from pdedenoise.papers.arridge2020 import analysis, method, protocol, published
from pdedenoise.results import load_results, provenance, results_dir, save_results, write_json_atomic
from pdedenoise.train import TrainingInterrupted
from pdedenoise.train import TrainConfig, predict, seconds_per_step

NAME = "04_diffnet_long"
SCALE = "medium"


def time_step(layers: int, crop: int, batch: int, device: str = "cpu", precision: str = "float32") -> float:
    """Mean wall time (s) of one Adam step of a fresh DiffNet on ``batch`` random crops of ``crop`` px."""
    model = method.make_model("diffnet", layers, seed=123)
    x = torch.rand(batch, 1, crop, crop)
    cfg = TrainConfig(lr=1e-4, device=device, precision=precision, channels_last=precision == "bf16")
    return seconds_per_step(model, x, x, cfg, steps=12, warmup=3)


def run_discs(args, forward: bool = False, authors: bool = False) -> dict:
    L = protocol.LONG_RUNS
    size, n_train, n_test, epochs, layers = L["disc_size"], L["disc_train"], L["disc_test"], args.disc_epochs, L["disc_layers"]
    train = data.discs(n_train, size, seed=args.seed)
    test = data.discs(n_test, size, seed=args.seed + 10_000)
    T = args.disc_T if authors else 1.0
    with torch.no_grad():
        blur_train, blur_test = protocol.blur(train, T), protocol.blur(test, T)
    job = "discs_forward" if forward else "discs_authors" if authors else "discs"
    if authors and T != 1.0:
        job += f"_T{T:g}"
    pairs_train, pairs_test = ((train, blur_train), (test, blur_test)) if forward else \
        ((blur_train, train), (blur_test, test))
    training = dict(lr=protocol.TRAINING["diffnet_lr"])
    if authors:
        A = protocol.AUTHORS_CODE
        training = dict(lr=A["lr"], loss=A["loss"], lr_halve_every=A["lr_halve_every"], bc=A["bc"])
    scale = "full" if authors else SCALE
    results_dir(scale).mkdir(parents=True, exist_ok=True)
    run = analysis.train_and_test("diffnet", pairs_train, pairs_test, epochs=epochs, layers=layers, seed=args.seed,
                                  curve_every=L["curve_every_discs"], precision=args.precision,
                                  channels_last=args.precision == "bf16", device=args.device,
                                  desc=f"Exp 1 {job}, {'authors code' if authors else 'paper protocol'}",
                                  **training)
    torch.save(run.model.state_dict(), results_dir(scale) / f"{NAME}_{job}.pt")
    return {"job": job, "scale": scale,
            "protocol": dict(size=size, n_train=n_train, n_test=n_test, seed=args.seed, epochs=epochs,
                             layers=layers, batch_size=protocol.TRAINING["batch_size"], blur_T=T,
                             precision=args.precision, training="authors' code" if authors else "paper",
                             **{k: v for k, v in training.items()}),
            "input_psnr": float(psnr(pairs_test[0], pairs_test[1], 1.0).mean()), "summary": run.summary(),
            "curve": run.curve, "dts": run.model.dts,
            "published": {k: v.value for k, v in published.DECONVOLUTION.items()} if not forward else {}}


FULL_NAME = "04_diffnet_full"
#: crops drawn (and diffused, and made noisy) per chunk: 90,000 crops of 96² at once took 16 GB at the peak
FULL_CHUNK = 10_000


def full_training_pairs(count: int, crop: int, level: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The full run's (inputs, targets), (count, 1, crop, crop) each, made ``FULL_CHUNK`` crops at a time into two
    preallocated tensors (chunk ``i`` seeded ``seed + 7919 i`` for its crops and ``seed + 1 + 7919 i`` for its
    noise): about 2 x 3.3 GB for 90,000 crops of 96² plus one chunk's working memory."""
    inputs = torch.empty(count, 1, crop, crop)
    targets = torch.empty(count, 1, crop, crop)
    for i, start in enumerate(range(0, count, FULL_CHUNK)):
        n = min(FULL_CHUNK, count - start)
        clean = protocol.bsds_crops("train", crop, n, seed=seed + 7919 * i)
        x, y = protocol.make_pairs(clean, "inverse", level, seed=seed + 1 + 7919 * i)
        inputs[start:start + n], targets[start:start + n] = x, y
    return inputs, targets


def run_full(args, job: str, started: dict) -> dict:
    """Exp. 2 at the authors' code's budget, one piece of ``--minutes``; None while the run is not finished."""
    level = {"nonoise_full": 0.0, "1pct_full": 1e-2}[job]
    A = protocol.AUTHORS_CODE
    crop = protocol.SCALES["full"]["crop"]
    out_dir = results_dir("full")
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / f"{FULL_NAME}_{job}.state.pt"
    t0 = time.perf_counter()
    n_train = args.n_train_full
    train = full_training_pairs(n_train, crop, level, args.seed)
    test_clean = protocol.bsds_crops("test", crop, args.n_test, seed=args.seed)
    test = protocol.make_pairs(test_clean, "inverse", level, seed=args.seed + 2)
    print(f"[{job}] data ready in {time.perf_counter() - t0:.0f} s: {n_train:,} training and {args.n_test:,} "
          f"test crops of {crop}px", flush=True)
    run = analysis.train_and_test("diffnet", train, test, epochs=None, max_steps=A["steps"], lr=A["lr"],
                                  loss=A["loss"], lr_halve_every=A["lr_halve_every"], bc=A["bc"], seed=args.seed,
                                  curve_every=args.curve_every, device=args.device, desc=f"Exp 2 {job}",
                                  precision=args.precision, channels_last=args.precision == "bf16",
                                  checkpoint=state, max_seconds=60 * args.minutes,
                                  save_every_seconds=60 * args.save_minutes,
                                  piece_info={k: started[k] for k in ("commit", "date", "device") if k in started})
    h = run.history
    record = {"job": job, "scale": "full", "noise": level, "complete": h.complete, "steps_done": h.steps,
              "protocol": dict(crop=crop, n_train=n_train, n_test=args.n_test, seed=args.seed, steps=A["steps"],
                               batch_size=A["batch_size"], lr=A["lr"], lr_halve_every=A["lr_halve_every"],
                               loss=A["loss"], bc=A["bc"], precision=args.precision, paper_steps=protocol.PAPER_STEPS,
                               epochs_equivalent=A["steps"] * A["batch_size"] / n_train),
              "pieces": h.pieces, "wall_seconds_all_pieces": h.wall_seconds,
              "input_psnr": float(psnr(test[0], test[1], 1.0).mean()), "summary": run.summary(), "curve": run.curve,
              "dts": run.model.dts}
    if h.complete:
        torch.save(run.model.state_dict(), out_dir / f"{FULL_NAME}_{job}.pt")
        key = {"nonoise_full": "DiffNet, no noise, mean test PSNR", "1pct_full": "DiffNet, 1% noise, mean test PSNR"}[job]
        record["published"] = {key: published.INVERSE[key].value}
    return record


def run_inverse(args, job: str, seconds: float) -> dict:
    level = {"nonoise": 0.0, "1pct": 1e-2}[job]
    train_clean = protocol.bsds_crops("train", args.crop, args.n_train, seed=args.seed)
    test_clean = protocol.bsds_crops("test", args.crop, args.n_test, seed=args.seed)
    train = protocol.make_pairs(train_clean, "inverse", level, seed=args.seed + 1)
    test = protocol.make_pairs(test_clean, "inverse", level, seed=args.seed + 2)
    # a short timing in this process; under load from other processes it can be optimistic, so a
    # measured value can be given instead (--seconds-per-step)
    batch = protocol.TRAINING["batch_size"]
    sps = args.seconds_per_step or time_step(5, args.crop, batch, args.device, args.precision)
    # leave room for the curve's evaluations and the final tests (about 4 % of the time)
    steps = max(100, int(0.94 * seconds / sps))
    every = max(1, steps // protocol.LONG_RUNS["curve_points"])
    print(f"[{job}] {sps:.3f} s/step -> {steps} steps in {seconds / 60:.1f} min, test every {every}", flush=True)
    run = analysis.train_and_test("diffnet", train, test, epochs=None, max_steps=steps, lr=protocol.TRAINING["diffnet_lr"],
                               seed=args.seed, curve_every=every, device=args.device, desc=f"Exp 2 DiffNet, {job}",
                               precision=args.precision, channels_last=args.precision == "bf16")
    torch.save(run.model.state_dict(), results_dir(SCALE) / f"{NAME}_{job}.pt")
    # the paper's image size: BSDS500 val crops and the STL-10 subset at 96x96
    big = {}
    paper_size = protocol.SCALES["full"]["crop"]
    val96 = protocol.bsds_crops("test", paper_size, args.n_test, seed=args.seed)
    stl = data.stl10_subset(size=paper_size)
    for name, clean in (("BSDS500 val 96px", val96), ("STL-10 subset 96px", stl)):
        x, y = protocol.make_pairs(clean, "inverse", level, seed=args.seed + 3)
        out = predict(run.model.to(args.device), x, device=args.device)
        big[name] = {"images": int(clean.shape[0]), "input_psnr": float(psnr(x, y, 1.0).mean()),
                     "diffnet_psnr": float(psnr(out, y, 1.0).mean())}
    key = {"nonoise": "DiffNet, no noise, mean test PSNR", "1pct": "DiffNet, 1% noise, mean test PSNR"}[job]
    return {"job": job, "noise": level,
            "protocol": dict(crop=args.crop, n_train=args.n_train, n_test=args.n_test, seed=args.seed, steps=steps,
                             batch_size=batch,
                             epochs_equivalent=steps * batch / args.n_train, lr=protocol.TRAINING["diffnet_lr"],
                             calibrated_seconds_per_step=sps, paper_steps=protocol.PAPER_STEPS,
                             precision=args.precision),
            "input_psnr": float(psnr(test[0], test[1], 1.0).mean()), "summary": run.summary(), "curve": run.curve,
            "dts": run.model.dts, "at_96px": big, "published": {key: published.INVERSE[key].value}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", default="discs,nonoise",
                    help="comma-separated: discs, discs_forward, discs_authors, nonoise, 1pct, nonoise_full, 1pct_full")
    ap.add_argument("--minutes", type=float, default=90.0, help="wall-clock budget for all jobs together")
    ap.add_argument("--crop", type=int, default=protocol.LONG_RUNS["crop"])
    ap.add_argument("--n-train", type=int, default=protocol.LONG_RUNS["n_train"])
    ap.add_argument("--n-test", type=int, default=protocol.LONG_RUNS["n_test"])
    ap.add_argument("--disc-epochs", type=int, default=protocol.TRAINING["epochs"], help="Exp. 1 epochs (paper: 18)")
    ap.add_argument("--disc-T", type=float, default=1.0, help="blur time of the discs_authors job (paper: 1)")
    ap.add_argument("--n-train-full", type=int, default=protocol.SCALES["full"]["n_train"],
                    help="full jobs: training crops (paper: 90,000)")
    ap.add_argument("--save-minutes", type=float, default=10.0, help="full jobs: minutes between saved states")
    ap.add_argument("--curve-every", type=int, default=1000, help="full jobs: steps between test-curve points")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="float32", choices=["float32", "bf16"],
                    help="bf16: mixed precision with channels-last order (about 2-4x faster on CPUs with bfloat16)")
    ap.add_argument("--seconds-per-step", type=float, default=None,
                    help="wall time of one Exp. 2 step, to size the run (default: timed here)")
    ap.add_argument("--retable", action="store_true", help="only rebuild the tables of the recorded runs")
    args = ap.parse_args(argv)
    if args.retable:
        for path in sorted(results_dir(SCALE).glob(f"{NAME}_*.json")):
            record = load_results(path.stem, SCALE)
            if record["job"] == "discs_forward":
                continue
            record["tables"] = {record["job"]: analysis.long_run_table(record)}
            write_json_atomic(path, record)
            print("tables rebuilt:", path)
        return
    torch.set_num_threads(args.threads)
    results_dir(SCALE).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60 * args.minutes
    started = provenance(args.device)  # the commit that runs, even if the checkout moves on during the hours
    for job in args.jobs.split(","):
        t0 = time.perf_counter()
        if job in ("discs", "discs_forward", "discs_authors"):
            out = run_discs(args, forward=job == "discs_forward", authors=job == "discs_authors")
        elif job in ("nonoise_full", "1pct_full"):
            try:
                out = run_full(args, job, started)
            except TrainingInterrupted as exc:
                # the state is saved; bring the record up to it, so that the pages show this piece too
                rec = analysis.with_saved_state(load_results(f"{FULL_NAME}_{job}", "full"),
                                                results_dir("full") / f"{FULL_NAME}_{job}.state.pt")
                if rec is not None:
                    rec.update(job=job, scale="full")
                    save_results(f"{FULL_NAME}_{job}", "full", rec, device=args.device, provenance_at_start=started)
                raise SystemExit(f"[{job}] {exc}") from None
            path = save_results(f"{FULL_NAME}_{job}", "full", out, device=args.device, provenance_at_start=started)
            print(f"[{job}] {'complete' if out['complete'] else 'piece ended'} at step {out['steps_done']:,}: "
                  f"{out['summary']['mean_psnr']:.2f} dB -> {path}", flush=True)
            continue
        elif job in ("nonoise", "1pct"):
            left = deadline - time.monotonic()
            if left < 120:
                raise SystemExit(f"[{job}] less than 2 minutes left of --minutes {args.minutes}; give more time")
            out = run_inverse(args, job, left)
        else:
            raise SystemExit(f"unknown job {job!r}; use discs, discs_forward, discs_authors, nonoise, 1pct, "
                             "nonoise_full or 1pct_full")
        out["wall_seconds"] = time.perf_counter() - t0
        out["threads"] = args.threads
        if job != "discs_forward":
            out["tables"] = {out["job"]: analysis.long_run_table(out)}
        path = save_results(f"{NAME}_{out['job']}", out.get("scale", SCALE), out, device=args.device,
                            provenance_at_start=started)
        print(f"[{job}] {out['summary']['mean_psnr']:.2f} dB in {out['wall_seconds'] / 60:.1f} min -> {path}", flush=True)


if __name__ == "__main__":
    main()
