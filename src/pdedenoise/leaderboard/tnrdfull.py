"""The TNRD-style 5x5 model at Chen and Pock's protocol: the record of ``tools/record_tnrd_full.py``
(``results/full/05_tnrd_full_s25.json``) as the page's tables.

The record holds one entry per phase (greedy stage 1..5, then joint): L-BFGS iterations done, loss evaluations, the
loss at the start and after every iteration, seconds per iteration and the pieces it ran in (each with its wall time,
device, threads and commit); once complete, the BSD68 mean PSNR and its comparison with the published 28.78 dB.
While it is under way, :func:`preview` reads the BSD68 score of a saved state, where one was taken.
"""
from __future__ import annotations

from typing import Mapping

import math

import pandas as pd


def training_psnr(record: Mapping, loss: float) -> float:
    """The PSNR (peak 255) on all training crops that a loss of half their summed squared error means."""
    pixels = int(record["protocol"]["n_train"]) * int(record["protocol"]["crop"]) ** 2
    return 10 * math.log10(255.0 ** 2 / (2 * loss / pixels))


def phase_names(record: Mapping) -> list[str]:
    """The run's phases in order (greedy stages, then joint), from its protocol."""
    stages = int(record["protocol"]["stages"])
    return [f"greedy {t}" for t in range(1, stages + 1)] + ["joint"]


def phases_table(record: Mapping) -> pd.DataFrame:
    """One row per phase: iterations done of planned, evaluations, the loss (half the sum of squared errors over all
    training crops) as the PSNR on those crops at the phase's start and now (:func:`training_psnr`), hours of wall
    time, pieces, finished (yes / under way / not started)."""
    proto = record["protocol"]
    rows = []
    for name in phase_names(record):
        p = record.get("phases", {}).get(name)
        planned = int(proto["joint"] if name == "joint" else proto["greedy"])
        if p is None:
            rows.append({"phase": name, "L-BFGS iterations": f"0 of {planned:,}", "evaluations": 0,
                         "training PSNR at the start": float("nan"), "training PSNR now": float("nan"),
                         "hours": 0.0, "pieces": 0,
                         "finished": "not started"})
            continue
        rows.append({"phase": name, "L-BFGS iterations": f"{p['iterations']:,} of {planned:,}",
                     "evaluations": p["evaluations"], "training PSNR at the start": training_psnr(record, p["loss"][0]),
                     "training PSNR now": training_psnr(record, p["loss"][-1]),
                     "hours": p["wall_seconds"] / 3600, "pieces": len(p["pieces"]),
                     "finished": "yes" if p["complete"] else "under way"})
    return pd.DataFrame(rows)


def progress(record: Mapping) -> dict:
    """Iterations done and planned over all phases, hours so far, and the hours left at the rate of each kind of phase
    so far (greedy iterations at the greedy rate, joint ones at the joint rate once one is measured, else at five times
    the greedy rate: a joint iteration runs all five stages)."""
    proto = record["protocol"]
    stages, greedy, joint = int(proto["stages"]), int(proto["greedy"]), int(proto["joint"])
    phases = record.get("phases", {})
    done_g = sum(phases.get(f"greedy {t}", {}).get("iterations", 0) for t in range(1, stages + 1))
    done_j = phases.get("joint", {}).get("iterations", 0)
    sec = lambda names: [s for n in names for s in phases.get(n, {}).get("seconds_per_iteration", [])]  # noqa: E731
    g = sec([f"greedy {t}" for t in range(1, stages + 1)])
    j = sec(["joint"])
    rate_g = sum(g) / len(g) if g else float("nan")
    rate_j = sum(j) / len(j) if j else stages * rate_g
    left = ((stages * greedy - done_g) * rate_g + (joint - done_j) * rate_j) / 3600
    return {"iterations done": done_g + done_j, "iterations planned": stages * greedy + joint,
            "hours so far": float(record.get("wall_seconds", 0.0)) / 3600, "hours left (estimate)": left,
            "complete": bool(record.get("complete"))}


def preview(folder=None, sigma: int = 25, name: str = "05_tnrd_full") -> dict | None:
    """The BSD68 preview of the run under way (``tools/record_tnrd_full.py --preview``: the saved state scored during
    the run, with its phase and iteration; not the run's result, no verdict), or ``None`` where none is recorded.
    ``folder``: the ``results/full`` folder (default: the checkout's); ``name``: the run's (the smoke run's:
    ``"05_tnrd_full_smoke"``)."""
    from pathlib import Path

    from ..results import load_results

    return load_results(f"{name}_s{sigma}_preview", Path(folder).name if folder else "full",
                        Path(folder).parent if folder else None)
