"""The recorded speed measurements (``benchmarks/results/*.json``) as tables and a figure, for the book.

The benchmarks themselves live in ``benchmarks/`` (``make bench``); this module only reads what they
recorded, so the book's speed page shows measured numbers and never types them by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .checkout import repo_root

OPENCV = "OpenCV ximgproc.anisotropicDiffusion (per channel)"
#: the eager Perona–Malik step on the general (unfused, bit-exact) strips, as learned diffusivities take them
GENERAL_STRIPS = "pdedenoise, rational g (eager, general strips: the step before fusing)"


def results_folder() -> Path:
    return repo_root() / "benchmarks" / "results"


def record_path(kind: str, device: str, folder: Path | None = None) -> Path:
    """Where a benchmark writes its record: ``<folder>/<kind>_<device>.json``, the device ``cpu`` or the CUDA
    device's name with underscores for spaces (e.g. ``gpu_stencil_NVIDIA_H100_80GB_HBM3.json``)."""
    import torch

    tag = "cpu" if not str(device).startswith("cuda") else torch.cuda.get_device_name(device).replace(" ", "_")
    return Path(folder or results_folder()) / f"{kind}_{tag}.json"


def load(name: str) -> dict | None:
    """A recorded benchmark (``cpu`` or ``diffnet_training_cpu``), or None when none is recorded."""
    path = results_folder() / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rate_table(rows: dict, reference: str | None = None) -> pd.DataFrame:
    """One row per implementation: best and median time, Mpixel-steps/s, and the rate relative to ``reference``."""
    df = pd.DataFrame([{"implementation": name, "best (s)": r["min_s"], "median (s)": r["median_s"],
                        "Mpixel-steps/s": r["mpx_steps_per_s"]} for name, r in rows.items()])
    if reference is not None and reference in rows:
        df[f"x {reference.split(' ')[0]}"] = df["Mpixel-steps/s"] / rows[reference]["mpx_steps_per_s"]
    return df


def scaling_frame(record: dict) -> pd.DataFrame:
    """Per-pixel rate (Mpixel-steps/s) per image size (rows) and solver (columns)."""
    return pd.DataFrame({int(size): {name: r["mpx_steps_per_s"] for name, r in table.items()}
                         for size, table in record["scaling"].items()}).T.sort_index()


def scaling_figure(record: dict):
    """Rate against image side, log-log, one line per solver."""
    import matplotlib.pyplot as plt

    frame = scaling_frame(record)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name in frame.columns:
        ax.loglog(frame.index, frame[name], "o-", label=name)
    ax.set_xlabel("image side (pixels)")
    ax.set_ylabel("Mpixel-steps/s (one thread)")
    ax.set_xticks(frame.index, [str(n) for n in frame.index])
    ax.minorticks_off()
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Cost per pixel against image size")
    return fig


def training_table(record: dict) -> pd.DataFrame:
    """Training images/s per network and mode, with the speed-up over float32."""
    return pd.DataFrame(record["rows"])[["network", "parameters", "mode", "train_images_per_s", "speed-up vs float32"]]


def learned_table(record: dict, task: str) -> pd.DataFrame:
    """The learned models' rows of ``benchmarks/bench_learned.py`` for ``task`` (``"restore"`` or ``"train"``):
    seconds per call, images/s, and where measured the speed-up over the earlier formulation in the same run and
    the time of one batch of 8 over 8 single images (below 1: batching pays)."""
    rows = [r for r in record["rows"] if r["task"] == task]
    if not rows:
        raise ValueError(f"no {task!r} rows in the record (tasks: {sorted({r['task'] for r in record['rows']})})")
    frame = pd.DataFrame(rows)
    keep = ["model", "batch", "seconds", "images_per_s", "speed-up vs earlier", "batch_over_8_singles"]
    frame = frame[[c for c in keep if c in frame]]
    return frame.rename(columns={"seconds": "seconds per call", "images_per_s": "images/s",
                                 "batch_over_8_singles": "batch of 8 / 8 singles"})


def gpu_records() -> dict[str, dict]:
    """Recorded GPU runs by GPU name: ``{"stencil": ..., "training": ...}`` from
    ``benchmarks/bench_gpu_stencil.py`` and ``benchmarks/bench_diffnet.py --device cuda`` (either may be absent);
    empty when no GPU run is recorded. CPU trial runs of the GPU script (``gpu_stencil_cpu.json``) are left out."""
    out: dict[str, dict] = {}
    for prefix, kind in (("gpu_stencil_", "stencil"), ("diffnet_training_", "training")):
        for path in sorted(results_folder().glob(f"{prefix}*.json")):
            name = path.stem[len(prefix):]
            if name != "cpu":
                out.setdefault(name.replace("_", " "), {})[kind] = json.loads(path.read_text())
    return out


def gpu_stencil_table(record: dict) -> pd.DataFrame:
    """One row per timed operation of a GPU run: ms per step, Gpixel-steps/s, fraction of the copy bandwidth."""
    return pd.DataFrame([{"operation": name, "ms per step": r["seconds_per_step"] * 1e3,
                          "Gpixel-steps/s": r["gpixel_steps_per_s"], "GB/s (8 bytes per pixel-step)":
                          r["effective_GB_per_s"], "fraction of copy bandwidth": r["fraction_of_copy_bandwidth"]}
                         for name, r in record["rows"].items()])


def authors_tf_table(record: dict) -> pd.DataFrame:
    """``benchmarks/bench_authors_tf.py``'s rows: per model and batch, the authors' TensorFlow time, the book's
    eager and compiled times, the book's best speed over TensorFlow's and the largest output difference."""
    return pd.DataFrame(record["rows"])


#: the name of the compiled path in ``bench_learned.py``'s rows (``"<model>, <path>"``)
COMPILED_PATH = "fused, compiled"
#: chapter 3's released models, each timed beside the authors' code at these batch sizes
CHAPTER3_MODELS = ("KA", "FoE-S", "FoE-D", "FoE-M", "FoE-RB", "U-Net")
AUTHORS_BATCHES = (1, 8)
#: the speed targets of the learned models (one thread unless said, ratios within one run): whether the measured
#: value must be at least (``">="``) or at most (``"<="``) the bound
SPEED_TARGETS = {
    "restoration vs the authors' TensorFlow": (">=", 1.5),
    "FoE-S restoration vs the earlier path": (">=", 10.0),
    "batch of 8 / 8 single images": ("<=", 1.0),
    "training step vs the earlier path": (">=", 5.0),
    "TNRD full batch forward + backward on two threads (s)": ("<=", 30.0),
}


def _why(row: dict) -> str:
    shares = row.get("time_shares")
    if not shares:
        return ""
    part = ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    return f"where the call's time goes: {part}"


def learned_targets(learned: dict, authors: dict | None = None) -> pd.DataFrame:
    """Every target of :data:`SPEED_TARGETS` checked on the recorded benchmarks (``bench_learned.py`` and
    ``bench_authors_tf.py``): one row per target and case with the measured value and whether it meets the target
    (``"yes"``, ``"no"``, or ``"not measured"`` for a case the records lack), and for a missed one where the
    call's time goes (the profile recorded with ``bench_learned.py``, where it profiled that model)."""
    rows = []

    def add(target: str, what: str, value: float | None, why: str = "") -> None:
        op, bound = SPEED_TARGETS[target]
        if value is None:
            met = "not measured"
        else:
            met = "yes" if (value >= bound if op == ">=" else value <= bound) else "no"
        rows.append({"target": f"{target} {op} {bound:g}", "case": what, "measured": value, "met": met,
                     "where the time goes (when missed)": why if met == "no" else ""})

    by = {(r["task"], r["model"], r["batch"]): r for r in learned["rows"]}

    def profile(task: str, model: str, b: int) -> dict:
        return by.get((task, f"{model}, {COMPILED_PATH}", b)) or by.get((task, model, b), {})

    theirs = {(r["model"], r["batch"]): r for r in (authors or {}).get("rows", [])}
    for model in CHAPTER3_MODELS:
        for b in AUTHORS_BATCHES:
            add("restoration vs the authors' TensorFlow", f"{model}, batch {b}",
                theirs.get((model, b), {}).get("book / TensorFlow speed"), _why(profile("restore", model, b)))
    for b in AUTHORS_BATCHES:
        r = profile("restore", "FoE-S", b)
        add("FoE-S restoration vs the earlier path", f"batch {b}", r.get("speed-up vs earlier"), _why(r))
    for model in CHAPTER3_MODELS:   # the book's fastest path: bench_learned's run where it times the model, else
        own = profile("restore", model, 8)   # the run beside the authors' code (whose large calls alternate with it)
        one, eight = theirs.get((model, 1)), theirs.get((model, 8))
        if "batch_over_8_singles" in own:
            add("batch of 8 / 8 single images", model, own["batch_over_8_singles"], _why(own))
        else:
            add("batch of 8 / 8 single images", f"{model} (beside the TensorFlow run)", None if one is None or
                eight is None else eight["book, best (s)"] / (8 * one["book, best (s)"]), _why(own))
    for model, b in (("FoE-S", 10), ("TNRD-style 5x5", 4)):
        r = profile("train", model, b)
        add("training step vs the earlier path", f"{model}, batch {b}", r.get("speed-up vs earlier"), _why(r))
    two = learned.get("tnrd_full_batch_seconds_two_threads")
    add("TNRD full batch forward + backward on two threads (s)",
        f"400 x {learned.get('tnrd_crop', 180)}², from a step on {learned.get('tnrd_batch', 4)} crops (one thread: "
        f"{learned['tnrd_full_batch_seconds_estimate']:.0f} s)", two, _why(profile("train", "TNRD-style 5x5", 4)))
    return pd.DataFrame(rows)
