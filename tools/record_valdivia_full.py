"""Chapter 3's own trainings at the authors' budget (``full`` scale), beside the released checkpoints, on a CPU.

The medium run trains 300 Adam steps on 64² crops; the released KA and U-Net checkpoints carry 500–1,500 steps
of batch 10 on 128² crops in their optimiser state (:data:`~pdedenoise.papers.valdivia2024.protocol.CHECKPOINT_STEPS`).
This script trains each model of ``--models`` at ``--sigma`` with the ``full`` scale's protocol (Adam, the chapter's
learning rate, batch 10, 128² crops of BSDS500 train + test): KA and the U-Net for their checkpoint's steps at that
sigma, the Fields-of-Experts models (whose checkpoints carry no optimiser state) for the largest of those, 1,500. Then
it evaluates own and released models on the chapter's 500 BSDS500-val crops of 256² (Table 1's crops and noise), once
every training of the call has ended (``--evaluate-only`` scores the finished ones at any time).

Hours on one core, so every training goes in pieces: its state is saved atomically every ``--save-minutes``, on
SIGTERM and when ``--minutes`` are spent, in ``results/full/03_learned_diffusivities_own_<model>_s<sigma>.state.pt``
(small; committed until the training ends, so it continues on another machine), and the next call continues it.
``results/full/03_learned_diffusivities_own_s<sigma>.json`` holds every finished model (training record with its
pieces, wall time, device and commit; Table 1 rows of own and released; own-against-released verdicts)::

    PDEDENOISE_NUM_THREADS=1 python tools/record_valdivia_full.py --models FoE-S,U-Net,KA --sigma 25 --minutes 110

The FoE spline kernels run compiled (``PDEDENOISE_COMPILE=1`` is set here); glibc is told to keep freed memory
(``MALLOC_*`` below; measured 2-3x faster batches of the KA and U-Net networks), by re-executing the script once.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296", "MALLOC_TOP_PAD_": "268435456",
          "PDEDENOISE_COMPILE": "1"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in MALLOC.items()):  # not when imported
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC})

import torch  # noqa: E402

from pdedenoise import threads  # noqa: E402
from pdedenoise.papers.valdivia2024 import analysis as A  # noqa: E402
from pdedenoise.papers.valdivia2024 import protocol as P  # noqa: E402
from pdedenoise.results import load_results, provenance, results_dir, save_results  # noqa: E402
from pdedenoise.train import TrainingInterrupted  # noqa: E402

NAME = "03_learned_diffusivities_own"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="FoE-S,U-Net,KA", help="comma-separated labels of the chapter's models")
    ap.add_argument("--sigma", type=int, default=25, choices=P.SIGMAS)
    ap.add_argument("--minutes", type=float, default=110.0, help="wall time of this call (all models together)")
    ap.add_argument("--save-minutes", type=float, default=10.0, help="minutes between saved training states")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evaluate-only", action="store_true", help="re-evaluate finished models, train nothing")
    ap.add_argument("--smoke", action="store_true", help="a tiny run to check the script (not the protocol)")
    args = ap.parse_args(argv)
    threads.configure()
    deadline = time.monotonic() + 60 * args.minutes
    full = P.SCALES["full"]
    tr = full["train"]
    budget = A.full_budget
    if args.smoke:
        full = dict(full, n_val=4, crop=32)
        tr = dict(tr, n_train=20, crop=24, batch=4)
        budget = lambda label, sigma: 3  # noqa: E731
    out_dir = results_dir("full")
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{NAME}_s{args.sigma}"
    record = load_results(name, "full") or {"sigma": args.sigma, "trainings": {}}
    started = provenance("cpu")
    pairs, unfinished = None, False
    for label in args.models.split(","):
        if label in record["trainings"] or args.evaluate_only:
            continue
        left = deadline - time.monotonic()
        if left < 120:
            print(f"[{label}] less than 2 minutes left: run again to continue", flush=True)
            unfinished = True
            break
        if pairs is None:
            pairs = A.training_pairs(tr["n_train"], tr["crop"], args.sigma, args.seed)
        steps = budget(label, args.sigma)
        state = out_dir / f"{NAME}_{label}_s{args.sigma}.state.pt"
        torch.manual_seed(args.seed)
        A.seed_everything(args.seed)
        model = A.fresh_model(label, args.sigma)
        try:
            rec = A.train(model, pairs, steps, tr["batch"], args.seed, desc=f"{label} sigma {args.sigma} full",
                          checkpoint=state, max_seconds=left - 60, save_every_seconds=60 * args.save_minutes,
                          piece_info={k: started[k] for k in ("commit", "date", "device")})
        except TrainingInterrupted as exc:  # SIGTERM: the state is saved; say so in one line, exit 3
            print(f"[{label}] {exc}", flush=True)
            return 3
        if not rec["complete"]:
            print(f"[{label}] piece ended at step {rec['steps']:,} of {steps:,}; state in {state}", flush=True)
            unfinished = True
            break
        torch.save(model.state_dict(), out_dir / f"{NAME}_{label}_s{args.sigma}.pt")
        record["trainings"][label] = {k: v for k, v in rec.items() if k != "loss_curve"} | {
            "loss_curve_every_10": rec["loss_curve"][::10], "n_train": tr["n_train"], "crop": tr["crop"],
            "batch": tr["batch"], "budget_steps": steps}
        save_results(name, "full", record, device="cpu", provenance_at_start=started)
        state.unlink(missing_ok=True)
        print(f"[{label}] trained: {rec['steps']:,} steps in {rec['seconds'] / 60:.1f} min", flush=True)
    finished = list(record["trainings"])
    # scored once every training of the call has ended (a piece ends within its --minutes), or on request
    if finished and (args.evaluate_only or (not unfinished and record.get("evaluated") != finished)):
        clean = P.val_crops(full["n_val"], full["crop"], seed=args.seed)
        models = {}
        for label in finished:
            own = A.fresh_model(label, args.sigma)
            own.load_state_dict(torch.load(out_dir / f"{NAME}_{label}_s{args.sigma}.pt", weights_only=True))
            models[label] = A.released(args.sigma, [label])[label]
            models[f"{label} (own)"] = own.eval()
        with torch.no_grad():
            table = A.evaluate(models, clean, args.sigma, args.seed)
        record["table1"] = table
        steps = ", ".join(f"{k} {v['steps']:,}" for k, v in record["trainings"].items())
        record["own_vs_released"] = A.own_against_released(
            table, reason=f"full scale: the authors' budget ({steps} Adam steps, batch {tr['batch']}, "
                          f"{tr['crop']}x{tr['crop']} crops)")
        record["evaluated"] = finished
        path = save_results(name, "full", record, device="cpu", provenance_at_start=started)
        print(table.to_string(), f"\n-> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
