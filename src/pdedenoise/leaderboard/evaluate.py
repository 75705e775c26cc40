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


def per_image(name: str, denoise: Callable, pairs: Mapping, dataset: str, sigma: float,
              oracle: bool = False) -> pd.DataFrame:
    """One row per test image: ``method, set, sigma, image, PSNR, SSIM`` (peak 255, unclipped output)."""
    rows = []
    for image, x, y in zip(pairs["names"], pairs["noisy"], pairs["clean"]):
        out = denoise(x, y) if oracle else denoise(x)
        if out.shape != y.shape or not torch.isfinite(out).all():
            raise RuntimeError(f"{name} returned {tuple(out.shape)}{' with NaN/inf' if out.shape == y.shape else ''} "
                               f"for {image} ({tuple(y.shape)})")
        rows.append({"method": name, "set": dataset, "sigma": sigma, "image": image,
                     "PSNR": float(psnr(out.double(), y.double(), P.PEAK)[0]),
                     "SSIM": float(ssim(out.float(), y.float(), P.PEAK)[0])})
    return pd.DataFrame(rows)


def means(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM per method, set and sigma (long form)."""
    return scores.groupby(["method", "set", "sigma"], sort=False)[["PSNR", "SSIM"]].mean().reset_index()


def wide(scores: pd.DataFrame, value: str = "PSNR") -> pd.DataFrame:
    """Methods as rows, ``(set, sigma)`` as columns, best first by the first column."""
    table = means(scores).pivot_table(index="method", columns=["set", "sigma"], values=value, sort=False)
    return table.sort_values(table.columns[0], ascending=False)


def neighbours(scores: pd.DataFrame, dataset: str, sigma: float, resamples: int, seed: int = 0) -> pd.DataFrame:
    """Methods ranked by mean PSNR on ``dataset`` at ``sigma``; for each, the paired per-image difference to the
    next one below with its 95 % bootstrap interval (``separated``: the interval excludes 0)."""
    sub = scores[(scores["set"] == dataset) & (scores["sigma"] == sigma)]
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
