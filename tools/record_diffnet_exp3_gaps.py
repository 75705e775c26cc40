"""Chapter 4, Exp. 3's gaps: why DiffNet does not beat the U-Net by the paper's margins at the largest training set.

At ``medium`` scale the chapter trains both networks for the same 192 steps (6 epochs of 512 crops of 48 px) at
every training-set size; at 512 crops DiffNet minus U-Net is far from the paper's +4 dB (forward model) and +3 dB
(noise-free inverse). This script tests three explanations on those two tasks, at the largest medium size, each
against a baseline run made here with the same data and seeds:

``steps``
    too little training: both networks trained 4x longer (same data, same schedule stretched).
``init``
    the initialisations favour the U-Net at few steps (its last convolution is zero: it starts as the identity,
    while DiffNet starts from the authors' random Glorot stencil): DiffNet started at the identity instead.
``crop``
    the test crops (48 px) are smaller than the paper's 96 px: the baseline models scored on 96 px crops.

With ``--tasks noise`` the same experiments run on the inverse tasks with 0.1 % and 1 % noise, whose published
margin is "similar" (0 dB); ``--experiments steps`` runs the baseline and the longer training only.

Writes ``results/medium/04_diffnet_exp3_gaps.json`` (``--tasks noise``: ``04_diffnet_exp3_gaps_noise.json``; per
task: the baseline and each experiment's DiffNet and U-Net mean test PSNR, their difference, and each network's
PSNR on the first test crop, Exp. 2's example); the chapter's page judges each against the published gap
(:func:`pdedenoise.papers.arridge2020.analysis.exp3_hypotheses`, :func:`~.exp3_noise_hypotheses`,
:func:`~.example_hypotheses`).

    PDEDENOISE_NUM_THREADS=1 python tools/record_diffnet_exp3_gaps.py            # about an hour on one core
    PDEDENOISE_NUM_THREADS=1 python tools/record_diffnet_exp3_gaps.py --tasks noise --experiments steps
                                                                                 # about an hour on one core
    python tools/record_diffnet_exp3_gaps.py --smoke                             # seconds, to check the script

Each training run's numbers are kept, as soon as it ends, in ``results/medium/<name>.partial.json`` (atomically;
small, committed while the recording is unfinished): the same command continues where it stopped, on any machine,
losing at most the run in progress, and removes the file when the record is written. A partial file made with
other settings is refused rather than mixed in.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from pdedenoise import threads
from pdedenoise.metrics import psnr
from pdedenoise.papers.arridge2020 import analysis, protocol
from pdedenoise.results import load_results, provenance, results_dir, save_results, write_json_atomic
from pdedenoise.train import predict

NAME = "04_diffnet_exp3_gaps"
TASKS = {"forward": ("forward", 0.0), "inverse, no noise": ("inverse", 0.0)}
NOISY_TASKS = {"inverse, 0.1% noise": ("inverse", 1e-3), "inverse, 1% noise": ("inverse", 1e-2)}
EXPERIMENTS = ("steps", "init", "crop")
STEPS_FACTOR = 4


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a tiny run to check the script (not the protocol)")
    ap.add_argument("--tasks", choices=("clean", "noise"), default="clean",
                    help="the forward model and the noise-free inverse (default), or the inverse with noise")
    ap.add_argument("--experiments", default=",".join(EXPERIMENTS),
                    help=f"comma-separated subset of {','.join(EXPERIMENTS)} (the baseline always runs)")
    args = ap.parse_args(argv)
    threads.configure()
    start, t0 = provenance("cpu"), time.perf_counter()
    cfg = dict(protocol.SCALES["medium"])
    if args.smoke:
        cfg.update(crop=16, n_train=32, n_test=8, epochs=1)
    n, crop, seed = cfg["n_train"], cfg["crop"], args.seed
    steps = cfg["epochs"] * math.ceil(n / protocol.TRAINING["batch_size"])
    train_clean = protocol.bsds_crops("train", crop, n, seed=seed)
    test_clean = protocol.bsds_crops("test", crop, cfg["n_test"], seed=seed)
    test96 = protocol.bsds_crops("test", 2 * crop, cfg["n_test"], seed=seed)
    out = {"protocol": {"n_train": n, "crop": crop, "steps": steps, "steps_factor": STEPS_FACTOR,
                        "tasks": args.tasks, "experiments": args.experiments,
                        "unet_width": cfg["unet_width"], "n_test": cfg["n_test"], "test_crop_large": 2 * crop,
                        "smoke": args.smoke}, "tasks": {}}
    experiments = [e for e in args.experiments.split(",") if e]
    if set(experiments) - set(EXPERIMENTS):
        ap.error(f"unknown experiments {sorted(set(experiments) - set(EXPERIMENTS))}")
    tasks = TASKS if args.tasks == "clean" else NOISY_TASKS
    name = NAME + ("" if args.tasks == "clean" else "_noise")
    partial_name = f"{name}.partial"
    partial = None if args.smoke else load_results(partial_name, "medium")
    if partial is not None and partial.get("protocol") != out["protocol"]:
        print(f"{results_dir('medium') / (partial_name + '.json')} was made with other settings "
              f"({partial.get('protocol')}); remove it to start again", file=sys.stderr)
        return 2
    runs = dict((partial or {}).get("runs", {}))
    if partial is not None:
        start = partial["provenance_at_start"]
        print(f"continuing: {len(runs)} training runs already done", flush=True)
    seconds_before = float((partial or {}).get("seconds", 0.0))

    def keep(key, measure):
        """The numbers of the training run ``key``: from the partial file, or measured now and kept there."""
        if key not in runs:
            runs[key] = measure()
            if not args.smoke:
                write_json_atomic(results_dir("medium") / f"{partial_name}.json",
                                  {"protocol": out["protocol"], "provenance_at_start": start, "runs": runs,
                                   "seconds": seconds_before + time.perf_counter() - t0})
        return runs[key]

    for task, (kind_task, level) in tasks.items():
        tr = protocol.make_pairs(train_clean, kind_task, level, seed=seed + 1)
        te = protocol.make_pairs(test_clean, kind_task, level, seed=seed + 2)
        te96 = protocol.make_pairs(test96, kind_task, level, seed=seed + 2)
        rows = {}

        def run(kind, label, **kw):
            return analysis.train_and_test(kind, tr, te, epochs=None, max_steps=kw.pop("max_steps", steps),
                                           lr=protocol.TRAINING[f"{kind}_lr"], unet_width=cfg["unet_width"],
                                           seed=seed, progress=True, desc=f"{task}, {label}, {kind}", **kw)

        def measured(kind, label, large=False, **kw):
            m = run(kind, label, **kw)
            out_ = {"mean": float(m.mean_psnr), "example": float(m.psnr[0])}
            if large:  # the same model scored on the larger test crops
                out_["at96"] = float(psnr(predict(m.model, te96[0]), te96[1], 1.0).mean())
            return out_

        for label, kw in (("baseline", {}), ("steps", {"max_steps": STEPS_FACTOR * steps})):
            if label != "baseline" and label not in experiments:
                continue
            large = label == "baseline" and "crop" in experiments
            d, u = (keep(f"{task} | {label} | {kind}", lambda kind=kind: measured(kind, label, large, **kw))
                    for kind in ("diffnet", "unet"))
            rows[label] = {"diffnet": d["mean"], "unet": u["mean"], "difference": d["mean"] - u["mean"],
                           "diffnet_example": d["example"], "unet_example": u["example"]}
            if large:
                rows["crop"] = {"diffnet": d["at96"], "unet": u["at96"], "difference": d["at96"] - u["at96"]}
            if label == "baseline":
                unet_base = u["mean"]
        if "init" in experiments:
            d = keep(f"{task} | init | diffnet", lambda: measured("diffnet", "init", init="identity"))
            rows["init"] = {"diffnet": d["mean"], "unet": unet_base, "difference": d["mean"] - unet_base}
        out["tasks"][task] = rows
        print(task, {k: round(v["difference"], 2) for k, v in rows.items()}, flush=True)
    out["wall_seconds"] = seconds_before + time.perf_counter() - t0
    if args.smoke:
        print(out)
        return 0
    path = save_results(name, "medium", out, device="cpu", provenance_at_start=start)
    (results_dir("medium") / f"{partial_name}.json").unlink(missing_ok=True)
    print(f"-> {path} ({out['wall_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
