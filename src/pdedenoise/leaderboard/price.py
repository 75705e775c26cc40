"""The price of stability: what a certificate costs in BSD68 PSNR at equal parameter and training budgets.

Reads the record of ``tools/record_price_of_stability.py`` (``results/<scale>/05_price_of_stability.json``): per
job (a certificate class at a parameter budget) the per-image PSNR on the whole of BSD68 at sigma 25 after the same
Adam steps on the same training pairs. Turns it into the page's table, its per-budget verdicts (paired bootstrap
intervals of certified minus uncertified, Bonferroni-corrected over the certificates a verdict combines) and the
figure of PSNR against parameters with the published anchors (:mod:`.published`).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from ..records import Rule
from ..stats import paired_bootstrap

#: the class without a certificate, against which each certified class is compared
UNCERTIFIED = "no certificate (TNRD-style)"
#: the reader's order of the budgets
BUDGETS = ("2.6k", "10k")

#: The rule of the per-budget verdict, fixed before the run finished: one comparison per certificate at the budget,
#: certified minus uncertified over the same BSD68 images; the intervals are Bonferroni-corrected over those
#: comparisons (level 1 - 0.05 / m for m comparisons).
RULE = Rule(
    "certified minus uncertified BSD68 PSNR, paired over the 68 images, one comparison per certificate at equal "
    "parameter (within 2x) and training budgets, Bonferroni-corrected 95 % bootstrap intervals over the "
    "certificates compared: holds (the certificates cost accuracy) if every interval lies below 0, does not hold if "
    "none does, partly holds otherwise; untested at this scale while a job of the budget is unfinished",
    0.0, "dB", {"BSD68 images": 68})
#: the claim each budget's verdict answers
CLAIM = "At equal parameter and training budgets, a stability certificate costs denoising accuracy (BSD68, sigma 25)."
#: parameter counts of the compared models may differ by at most this factor
EQUAL_PARAMETERS_RATIO = 2.0


def jobs_table(record: Mapping) -> pd.DataFrame:
    """One row per job: class, budget, parameters, training steps, seconds of training, mean BSD68 PSNR (NaN while
    unfinished), images scored, finished (yes/no)."""
    rows = []
    steps = int(record.get("protocol", {}).get("steps", 0))
    for key, job in record["jobs"].items():
        scores = job.get("BSD68 PSNR") or []
        seconds = sum(float(p.get("seconds", 0.0)) for p in job.get("phases", []))
        rows.append({"class": job["class"], "budget": job["budget"], "parameters": int(job["parameters"]),
                     "Adam steps": steps, "training seconds": seconds,
                     "PSNR BSD68 s25": (sum(scores) / len(scores)) if scores else float("nan"),
                     "images": len(scores), "finished": "yes" if job.get("complete") and scores else "no",
                     "job": key})
    order = {b: i for i, b in enumerate(BUDGETS)}
    return pd.DataFrame(rows).sort_values(["budget", "class"], key=lambda c: c.map(order) if c.name == "budget"
                                          else c.map(lambda v: (v != UNCERTIFIED, v))).reset_index(drop=True)


def comparisons(record: Mapping, resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Certified minus uncertified per budget and certificate: mean paired PSNR difference and its bootstrap interval
    at the Bonferroni-corrected level over the certificates of that budget; NaN where a job is unfinished.
    Columns: budget, certificate, parameters (certified / uncertified), difference, low, high, level, images."""
    jobs = record["jobs"]
    rows = []
    for budget in BUDGETS:
        base = next((j for j in jobs.values() if j["budget"] == budget and j["class"] == UNCERTIFIED), None)
        others = [j for j in jobs.values() if j["budget"] == budget and j["class"] != UNCERTIFIED]
        level = 1 - 0.05 / max(1, len(others))
        for j in others:
            row = {"budget": budget, "certificate": j["class"],
                   "parameters": f"{int(j['parameters']):,} / {int(base['parameters']):,}" if base else "",
                   "difference": float("nan"), "low": float("nan"), "high": float("nan"), "level": level, "images": 0}
            a, b = j.get("BSD68 PSNR"), (base or {}).get("BSD68 PSNR")
            if a and b and j.get("complete") and base.get("complete"):
                d = paired_bootstrap(a, b, resamples, level, seed)
                row.update(difference=d["mean"], low=d["low"], high=d["high"], images=d["n"])
            rows.append(row)
    return pd.DataFrame(rows)


def verdicts(record: Mapping, resamples: int = 10_000, seed: int = 0) -> list:
    """One :class:`~pdedenoise.records.Claim` per budget by :data:`RULE`."""
    comp = comparisons(record, resamples, seed)
    jobs = record["jobs"]
    steps = int(record.get("protocol", {}).get("steps", 0))
    out = []
    for budget, part in comp.groupby("budget", sort=False):
        params = [int(j["parameters"]) for j in jobs.values() if j["budget"] == budget]
        spread = max(params) / max(1, min(params))
        if part["difference"].isna().any():
            unfinished = [j["class"] for j in jobs.values() if j["budget"] == budget and not j.get("complete")]
            out.append(RULE.claim(f"{CLAIM} Budget {budget}.", "untested at this scale",
                                  f"unfinished: {', '.join(unfinished)}", "medium", "The price of stability"))
            continue
        if spread > EQUAL_PARAMETERS_RATIO:
            out.append(RULE.claim(f"{CLAIM} Budget {budget}.", "untested at this scale",
                                  f"parameter counts differ by {spread:.1f}x", "medium", "The price of stability"))
            continue
        below = part["high"] < 0
        verdict = "holds" if below.all() else "does not hold" if not below.any() else "partly holds"
        text = "; ".join(f"{r.certificate}: {r.difference:+.2f} dB [{r.low:+.2f}, {r.high:+.2f}]"
                         for r in part.itertuples())
        out.append(RULE.claim(f"{CLAIM} Budget {budget}.", verdict,
                              f"certified minus uncertified over {int(part['images'].iloc[0])} images, "
                              f"{100 * float(part['level'].iloc[0]):.1f} % intervals (Bonferroni over "
                              f"{len(part)}), {steps:,} Adam steps each: {text}", "medium",
                              "The price of stability"))
    return out


def figure(table: pd.DataFrame, anchors: Mapping[str, tuple[float, float, str]] = {}):
    """BSD68 PSNR at sigma 25 against parameters (log x): one line per certificate class through its budgets
    (finished jobs only), the published ``anchors`` (label -> (parameters, PSNR, stability)) as hollow points,
    certified anchors in the certified colour; BM3D-like anchors without parameters as a dashed level."""
    import matplotlib.pyplot as plt

    from ..figures import PAGE_WIDTH_IN, place_labels

    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.6), layout="constrained")
    done = table[table["finished"] == "yes"]
    styles = {}
    for cls, part in done.groupby("class", sort=False):
        part = part.sort_values("parameters")
        line, = ax.plot(part["parameters"], part["PSNR BSD68 s25"], "o-", label=cls)
        styles[cls] = line.get_color()
    xs, ys, names = [], [], []
    for name, (p, v, stab) in anchors.items():
        if not p:
            ax.axhline(v, ls="--", lw=1, color="grey")
            ax.annotate(name, (1, v), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8,
                        color="grey")
            continue
        certified = stab.startswith("certificate")
        ax.scatter([p], [v], facecolors="none", edgecolors="tab:purple" if certified else "k", s=45)
        xs.append(p), ys.append(v), names.append(name.replace(" (published)", ""))
    ax.scatter([], [], facecolors="none", edgecolors="k", s=45, label="published, no certificate")
    ax.scatter([], [], facecolors="none", edgecolors="tab:purple", s=45, label="published, certified")
    ax.set_xscale("log"), ax.grid(alpha=0.3, which="both")
    ax.set_xlabel("parameters (log)"), ax.set_ylabel("BSD68 mean PSNR, $\\sigma$ = 25 (dB)")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=9, loc="outside lower center", ncol=3)
    if xs:
        place_labels(ax, xs, ys, names)
    return fig
