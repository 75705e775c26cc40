"""Scoring under the protocol: per-image PSNR and SSIM, the table, intervals between neighbours, time per image,
the Pareto front."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..metrics import psnr, ssim
from ..stats import paired_bootstrap
from . import protocol as P


#: an output whose largest magnitude exceeds this many times the peak is reported as blown up (the PSNR of such an
#: output is a number, but no denoising: a step of the explicit flow amplified some mode by orders of magnitude)
BLOWUP_FACTOR = 1e3


def per_image(name: str, denoise: Callable, pairs: Mapping, dataset: str, sigma: float,
              oracle: bool = False) -> pd.DataFrame:
    """One row per test image: ``method, set, sigma, image, PSNR, SSIM, max |output|`` (peak 255, unclipped
    output). An output with NaN or inf gets NaN scores (:func:`failures` reports it); a wrong shape raises."""
    rows = []
    for image, x, y in zip(pairs["names"], pairs["noisy"], pairs["clean"]):
        out = denoise(x, y) if oracle else denoise(x)
        if out.shape != y.shape:
            raise RuntimeError(f"{name} returned {tuple(out.shape)} for {image} ({tuple(y.shape)})")
        finite = bool(torch.isfinite(out).all())
        rows.append({"method": name, "set": dataset, "sigma": sigma, "image": image,
                     "PSNR": float(psnr(out.double(), y.double(), P.PEAK)[0]) if finite else float("nan"),
                     "SSIM": float(ssim(out.float(), y.float(), P.PEAK)[0]) if finite else float("nan"),
                     "max |output|": float(out.abs().max()) if finite else float("inf")})
    return pd.DataFrame(rows)


def failures(scores: pd.DataFrame, reference: str = "noisy input", diverged_only: bool = False) -> pd.DataFrame:
    """Per method, set and sigma, the test images on which the method failed: its output is not finite, or its PSNR
    is below the noisy input's on that image. Columns ``method, set, sigma, failed, images, reason`` (only methods
    that failed somewhere; the ``reference`` itself never fails).

    ``diverged_only``: only outputs not finite or blown up (the board's rule for not ranking an entry,
    :data:`RANKING`); an output merely worse than the noisy input on an image (a smoothing flow on a fine texture
    at low noise) is then no failure (:func:`worse_than_input` reports it). The default, every image below the
    input, is the rule for shipping a state."""
    cols = ["method", "set", "sigma", "failed", "images", "reason"]
    if scores.empty or reference not in set(scores["method"]):
        return pd.DataFrame(columns=cols)
    ref = scores[scores["method"] == reference].set_index(["set", "sigma", "image"])["PSNR"]
    rows = []
    for (m, dataset, sigma), g in scores[scores["method"] != reference].groupby(["method", "set", "sigma"], sort=False):
        below = g["PSNR"].to_numpy() < ref.reindex(list(zip(g["set"], g["sigma"], g["image"]))).to_numpy()
        big = g["max |output|"].to_numpy(dtype=float) if "max |output|" in g else np.full(len(g), np.nan)
        nonfinite = ~np.isfinite(g["PSNR"].to_numpy()) | np.isinf(big)  # NaN: not measured (an older cache)
        psnr_ = g["PSNR"].to_numpy(dtype=float)
        # blown up: the output far beyond the peak, or (where its size was not recorded) an error above the peak
        blown = below & ~nonfinite & ((big > BLOWUP_FACTOR * P.PEAK) | (psnr_ < 0))
        bad = (blown | nonfinite) if diverged_only else (below | nonfinite)
        if not bad.any():
            continue
        parts = []
        if nonfinite.any():
            parts.append(f"output not finite on {int(nonfinite.sum())}")
        if blown.any():
            size = big[blown][np.isfinite(big[blown])]
            parts.append(f"output blown up on {int(blown.sum())} (PSNR down to {np.nanmin(psnr_[blown]):.1f} dB"
                         + (f", largest |value| {size.max():.3g}" if size.size else "") + ")")
        worse = below & ~nonfinite & ~blown
        if worse.any() and not diverged_only:
            parts.append(f"PSNR below the noisy input's on {int(worse.sum())}")
        rows.append({"method": m, "set": dataset, "sigma": sigma, "failed": int(bad.sum()), "images": len(g),
                     "reason": "; ".join(parts)})
    return pd.DataFrame(rows, columns=cols)


#: the board ranks every entry whose outputs are finite and not blown up (:func:`failures` with ``diverged_only``)
RANKING = dict(diverged_only=True)


def worse_than_input(scores: pd.DataFrame, reference: str = "noisy input") -> pd.DataFrame:
    """Per method, set and sigma, how many test images a ranked entry (finite, not blown up) left worse than the
    noisy input: columns ``method, set, sigma, worse, images`` (only methods with some)."""
    every = failures(scores, reference)
    diverged = failures(scores, reference, diverged_only=True)
    out = every.merge(diverged[["method", "set", "sigma"]], how="left", indicator=True)
    out = out[out["_merge"] == "left_only"]
    return out.rename(columns={"failed": "worse"})[["method", "set", "sigma", "worse", "images"]].reset_index(drop=True)


def means(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM per method, set and sigma (long form)."""
    return scores.groupby(["method", "set", "sigma"], sort=False)[["PSNR", "SSIM"]].mean().reset_index()


def wide(scores: pd.DataFrame, value: str = "PSNR") -> pd.DataFrame:
    """Methods as rows, ``(set, sigma)`` as columns, best first by the first column."""
    table = means(scores).pivot_table(index="method", columns=["set", "sigma"], values=value, sort=False)
    return table.sort_values(table.columns[0], ascending=False)


def neighbours(scores: pd.DataFrame, dataset: str, sigma: float, resamples: int, seed: int = 0) -> pd.DataFrame:
    """Methods ranked by mean PSNR on ``dataset`` at ``sigma``; for each, the paired per-image difference to the
    next one below with its 95 % bootstrap interval (``separated``: the interval excludes 0). Methods whose output
    diverged on some image of the set (:func:`failures` by :data:`RANKING`) are not ranked."""
    sub = scores[(scores["set"] == dataset) & (scores["sigma"] == sigma)]
    failed = failures(sub, **RANKING)
    sub = sub[~sub["method"].isin(set(failed["method"]))]
    piv = sub.pivot_table(index="image", columns="method", values="PSNR")
    order = piv.mean().sort_values(ascending=False).index.tolist()
    rows = []
    for rank, (a, b) in enumerate(zip(order, order[1:] + [None]), start=1):
        row = {"rank": rank, "method": a, "PSNR": float(piv[a].mean())}
        if b is not None and len(piv) >= 2:
            d = paired_bootstrap(piv[a].to_numpy(), piv[b].to_numpy(), resamples, seed=seed)
            row.update({"next": b, "difference": d["mean"], "low": d["low"], "high": d["high"],
                        "separated": bool(d["low"] > 0 or d["high"] < 0)})
        rows.append(row)
    return pd.DataFrame(rows)


@contextmanager
def _threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seconds_per_image(denoise: Callable, size: int, threads: int, repeats: int, seed: int = 0) -> float:
    """Median wall time of ``denoise`` on one noisy ``size``² image (sigma 25) with ``threads`` torch threads,
    after one warm-up run."""
    clean = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed)) * 255.0
    x = P.add_noise(clean, 25.0, seed)
    times = []
    with _threads(threads):
        denoise(x)
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            denoise(x)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def all_threads() -> int:
    """The CPU's threads available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: smaller or equal ``x`` (cost) and larger or equal ``y``
    (quality), strictly better in one; sorted by ``x``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = []
    for i in range(len(x)):
        dominated = np.any((x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i])))
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: x[i])
