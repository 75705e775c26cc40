"""The paper-scale runs in one table: which are finished, which are under way and how far they have come, which are
not started; each with its wall time so far, the hours left at its own rate so far, and its number beside the one it
is compared with.

The runs are declared in :data:`RUNS` (chapter, what runs, the budget it runs at, how its record is read); their
records are the ``results/full/*.json`` files the recording tools write (``tools/record_tnrd_full.py``,
``tools/record_valdivia_full.py``, ``tools/record_diffnet_long.py``, ``tools/record_own_full.py``). A run without a
record (and, for runs that save a state before their first record, without a state) is *not started*; a record
that cannot be read is listed with the reason. A record that lags its saved state is read up to the state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from .results import load_results, results_dir

#: the table's columns
COLUMNS = ["chapter", "run", "budget", "state", "done", "hours so far", "hours left (estimate)", "result (dB)",
           "compared with (dB)", "compared with", "verdict", "note"]


@dataclass(frozen=True)
class Run:
    """One planned paper-scale run: where it belongs, what it is, its budget in words, its record's name in
    ``results/full`` (``None``: no recording tool yet) and how it is read: ``read(record, folder)`` returns the row's
    state, progress, numbers and note (a dict), or ``None`` for a run not started. ``note``: what the row says
    before the run starts (text, or a function computing it); ``same_cost_as``: the name of an earlier run of the
    same cost whose hours estimate this one's before it starts; ``without_record``: the run can be under way before
    its record exists (a saved state), so ``read`` is called with ``None`` too."""

    chapter: str
    run: str
    budget: str
    record: str | None
    read: Callable[[Mapping | None, Path], dict | None] | None = None
    note: str | Callable[[], str] = ""
    same_cost_as: str | None = None
    without_record: bool = False


def _hours(seconds) -> float:
    return float(seconds) / 3600


def _hours_left(done: int, planned: int, hours: float) -> float:
    """Hours for the ``planned - done`` steps left at the rate of the ``done`` ones (``hours`` so far)."""
    return (planned - done) * hours / max(done, 1)


def _tnrd(rec: Mapping, folder: Path | None = None) -> dict:
    from .leaderboard import published, tnrdfull

    p = tnrdfull.progress(rec)
    done = f"{p['iterations done']:,} of {p['iterations planned']:,} L-BFGS iterations"
    result = (rec.get("bsd68") or {}).get("mean PSNR") if p["complete"] else None
    verdict = rec["comparison"][0]["verdict"] if p["complete"] and rec.get("comparison") else ""
    note = ""
    if not p["complete"]:
        pre = tnrdfull.preview(folder)
        if pre is None:
            note = "BSD68 is measured when it ends"
        else:
            result = pre["mean PSNR"]
            note = (f"result: BSD68 of the saved state at {pre['phase']} iteration {pre['iteration']:,} of "
                    f"{pre['iterations planned']:,} (a preview, not the run's result)")
    return dict(state="finished" if p["complete"] else "under way", done=done, hours=p["hours so far"],
                left=0.0 if p["complete"] else p["hours left (estimate)"], result=result,
                reference=published.ANCHORS["TNRD 5x5 (published)"].psnr[25],
                reference_is="published TNRD 5x5, BSD68", verdict=verdict, note=note)


def _valdivia(model: str, sigma: int) -> Callable[[Mapping | None, Path], dict | None]:
    """Chapter 3's own training of ``model`` at ``sigma``: finished ones from the record, one under way from its
    saved state (the record lists finished trainings only); not started: ``None`` at sigma 25, else the hours its
    budget takes at the sigma-25 training's time per step."""
    def read(rec: Mapping | None, folder: Path) -> dict | None:
        from .papers.valdivia2024.analysis import full_training_status

        st = full_training_status(rec, folder, sigma, (model,)).iloc[0]
        steps, budget, hours = int(st["steps"]), int(st["of"]), float(st["hours"])
        if st["status"] == "not started":
            if sigma == 25:
                return None
            try:  # at the seconds per step of the same model's finished sigma-25 training
                t = load_results("03_learned_diffusivities_own_s25", folder.name, folder.parent)["trainings"][model]
                left = budget * float(t["seconds"]) / int(t["steps"]) / 3600
            except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):  # TypeError: no record
                left = float("nan")
            return dict(state="not started", done=f"0 of {budget:,} Adam steps", hours=0.0, left=left, result=None,
                        reference=None, reference_is="", note="hours: at the sigma-25 training's time per step")
        complete = st["status"] == "finished"
        row = next((r for r in (rec or {}).get("own_vs_released", []) if r["quantity"].startswith(f"{model},")),
                   None) if complete else None
        return dict(state="finished" if complete else "under way", done=f"{steps:,} of {budget:,} Adam steps",
                    hours=hours, left=0.0 if complete else _hours_left(steps, budget, hours),
                    result=None if row is None else row["reproduced"],
                    reference=None if row is None else row["published"],
                    reference_is="the authors' released checkpoint, same images",
                    verdict="" if row is None else row["verdict"],
                    note="" if row is not None else "scored when all its sigma's trainings end")
    return read


def _diffnet_exp1(rec: Mapping, folder: Path | None = None) -> dict:
    from .papers.arridge2020 import published

    return dict(state="finished", done=f"{rec['protocol']['epochs']} epochs", hours=_hours(rec["wall_seconds"]),
                left=0.0, result=rec["summary"]["mean_psnr"], reference=published.DECONVOLUTION["test PSNR"].value,
                reference_is="published, Exp. 1 test set",
                verdict=next(iter(rec.get("tables", {}).values()), [{}])[0].get("verdict", ""))


def _diffnet_exp2(key: str, job: str) -> Callable[[Mapping | None, Path], dict | None]:
    def read(rec: Mapping | None, folder: Path) -> dict | None:
        from .papers.arridge2020 import analysis, protocol, published
        from .records import verdict

        rec = analysis.with_saved_state(rec, folder / f"04_diffnet_full_{job}.state.pt")  # a lagging record
        if rec is None:
            return None
        steps = int(rec["protocol"]["steps"])
        complete = bool(rec.get("complete"))
        done_steps = steps if complete else int(rec["steps_done"])
        seconds = float(rec.get("wall_seconds_all_pieces", 0.0))
        left = 0.0 if complete else _hours_left(done_steps, steps, _hours(seconds))
        result, reference = (rec.get("summary") or {}).get("mean_psnr"), published.INVERSE[key].value
        return dict(state="finished" if complete else "under way", done=f"{done_steps:,} of {steps:,} Adam steps",
                    hours=_hours(seconds), left=left, result=result, reference=reference,
                    reference_is="published, Exp. 2 test set",
                    verdict=verdict(reference, result, *protocol.TOLERANCES["psnr"]) if complete else "",
                    note="" if complete else "result: the test set so far")
    return read


def _own(rec: Mapping, folder: Path | None = None) -> dict:
    complete = bool(rec.get("complete"))
    steps = int(rec["run"]["steps"])
    pieces = rec["training"]["pieces"]
    done_steps = steps if complete else (pieces[-1]["last_step"] if pieces else 0)
    seconds = sum(float(p["seconds"]) for p in pieces)
    left = 0.0 if complete else _hours_left(done_steps, steps, _hours(seconds))
    bsd = (rec.get("evaluation") or {}).get("BSD68") or {}
    return dict(state="finished" if complete else "under way", done=f"{done_steps:,} of {steps:,} Adam steps",
                hours=_hours(seconds), left=left, result=bsd.get("own PSNR"), reference=bsd.get("Perona-Malik PSNR"),
                reference_is="tuned Perona-Malik, BSD68, same noise",
                verdict="" if not bsd else ("above" if bsd["own PSNR"] > bsd["Perona-Malik PSNR"] else "not above"))


def _barbeiro_note() -> str:
    from .papers.barbeiro2020.protocol import SCALES

    work = lambda c: c["stages"] * c["train_crop"] ** 2 * c["steps"]  # noqa: E731  (per model and sigma)
    return (f"sized for a GPU: {work(SCALES['full']) / work(SCALES['medium']):.0f}x the medium run's training work "
            "per model and sigma (stages x crop pixels x steps)")


#: the paper-scale runs the book plans, in the order of value in which they are run
RUNS: list[Run] = [
    Run("2 / leaderboard", "TNRD 5x5, sigma 25", "Chen and Pock: 400 crops of 180², L-BFGS, 5 x 200 greedy + 300 joint",
        "05_tnrd_full_s25", _tnrd),
    *[Run("3", f"own {m}, sigma {sig}", "the authors': their released checkpoint's Adam steps, batch 10 of 128²",
          f"03_learned_diffusivities_own_s{sig}", _valdivia(m, sig), without_record=True)
      for sig in (25, 15, 50) for m in ("FoE-S", "U-Net", "KA")],
    Run("4", "DiffNet Exp. 1 (discs)", "the authors' code: 18 epochs of 1,024 discs", "04_diffnet_long_discs_authors",
        _diffnet_exp1),
    Run("4", "DiffNet Exp. 2, 1 % noise", "the authors': 50,001 steps of 16 crops of 96²", "04_diffnet_full_1pct_full",
        _diffnet_exp2("DiffNet, 1% noise, mean test PSNR", "1pct_full"), without_record=True),
    Run("4", "DiffNet Exp. 2, no noise", "the authors': 50,001 steps of 16 crops of 96²",
        "04_diffnet_full_nonoise_full", _diffnet_exp2("DiffNet, no noise, mean test PSNR", "nonoise_full"),
        without_record=True,
        note="hours: those of the 1 % noise run (the same model and steps)", same_cost_as="DiffNet Exp. 2, 1 % noise"),
    *[Run("leaderboard", f"own model, sigma {s}", "20,000 Adam steps on the full training pairs", f"05_own_full_s{s}",
          _own) for s in (15, 25, 50)],
    Run("2", "the chapter at full scale", "20 stages, 20,000 crops of 96², 5,000 steps per sigma", None,
        note=lambda: _barbeiro_note()),
    Run("1", "the PINN on 512² images", "20,000 iterations, 2 x 262,144 observations", None,
        note="sized for a GPU: 10 iterations took over 400 s on two CPU cores (over 220 hours for the run)"),
]


def table(root: Path | str | None = None, runs: list[Run] | None = None) -> pd.DataFrame:
    """One row per planned run (:data:`RUNS`), columns :data:`COLUMNS`: state *finished*, *under way*, *not started*
    or *unreadable (reason)*; what is done of the budget; hours of wall time so far (all pieces); the hours left at
    the run's own rate so far (not started: the hours of a run of the same cost, ``NaN`` where none is measured);
    its number (PSNR, dB; an unfinished run's number is the one measured so far, or ``NaN`` where it is measured
    only at the end) beside the one it is compared with, what that is, the verdict of a finished run under its
    chapter's tolerances (the own model: *above* or *not above* tuned Perona-Malik; none before a run ends), and a
    note."""
    folder = results_dir("full", root)
    runs = RUNS if runs is None else runs
    nan = float("nan")
    rows, total = [], {}  # total: hours so far + left of each run read (for ``same_cost_as``)
    for run in runs:
        row = {"chapter": run.chapter, "run": run.run, "budget": run.budget, "state": "not started", "done": "",
               "hours so far": 0.0, "hours left (estimate)": total.get(run.same_cost_as, nan), "result (dB)": nan,
               "compared with (dB)": nan, "compared with": "", "verdict": "",
               "note": run.note() if callable(run.note) else run.note}
        if run.record:
            try:
                rec = load_results(run.record, "full", root)
                got = run.read(rec, folder) if rec is not None or run.without_record else None
            except (OSError, ValueError, KeyError, TypeError) as exc:
                row.update({"state": f"unreadable ({type(exc).__name__}: {exc})", "hours so far": nan,
                            "hours left (estimate)": nan, "note": ""})
            else:
                if got is not None:
                    value = lambda v: nan if v is None else float(v)  # noqa: E731
                    row.update({"state": got["state"], "done": got["done"], "hours so far": got["hours"],
                                "hours left (estimate)": got["left"], "result (dB)": value(got["result"]),
                                "compared with (dB)": value(got["reference"]),
                                "compared with": got["reference_is"], "verdict": got.get("verdict", ""),
                                "note": got.get("note", "")})
                    total[run.run] = got["hours"] + got["left"]
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(frame: pd.DataFrame) -> str:
    """The table in one sentence: how many runs are finished, under way and not started, and the hours left of those
    under way (``"6 finished, 2 under way (about 9 hours left in all at their rates so far), 3 not started"``)."""
    counts = frame["state"].value_counts()
    under = frame[frame["state"] == "under way"]
    parts = [f"{int(counts.get('finished', 0))} finished"]
    if len(under):
        left = under["hours left (estimate)"].sum()
        parts.append(f"{len(under)} under way (about {left:.0f} hours left in all at their rates so far)")
    parts.append(f"{int(counts.get('not started', 0))} not started")
    bad = frame["state"].str.startswith("unreadable").sum()
    if bad:
        parts.append(f"{bad} unreadable")
    return ", ".join(parts)
