"""The one mapping from the code's keys to the names a reader sees.

Methods are called by their command-line names in the code and on the command line (``foe-s-authors``,
``perona-malik-tuned``); results files name quantities and tables by keys (``rms_db``, ``table2``). Every
table of the book (:mod:`pdedenoise.book`) and the command line's ``pdedenoise methods`` listing show the
label of :data:`LABELS` instead; :func:`label` is the look-up. A key without a label is shown as it is.
"""
from __future__ import annotations

import functools
from typing import Hashable

#: methods that the command line runs but that are not leaderboard entries, and rows that are not methods
_EXTRA_METHODS = {
    "perona-malik": "Perona-Malik (your parameters)",
    "heat": "heat equation (your parameters)",
}

#: quantities: column headers of results tables, with their units
QUANTITIES = {
    "rms_db": "rms difference (dB)",
    "max_abs_db": "largest |difference| (dB)",
    "seed_sd_db": "seed s.d. (dB)",
    "out_clip": "output clipped to",
    "mean_relative_error": "mean relative error",
    "relative_error": "relative error",
    "immerkaer": "Immerkær estimate of σ",
    "min_s": "fastest (s)",
    "median_s": "median (s)",
    "median_over_min": "median / fastest",
    "train_images_per_s": "training images/s",
    "mean_psnr": "mean PSNR (dB)",
    "median_psnr": "median PSNR (dB)",
    "input_psnr": "input PSNR (dB)",
    "final_loss": "final loss (MSE)",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "n_train": "training images",
}

#: tables and runs named by key in the results files
TABLES = {
    "table1": "Table 1", "table2": "Table 2", "table3": "Table 3", "table4": "Table 4", "table5": "Table 5",
    "figure1": "Figure 1",
    "exp1": "Exp. 1", "exp2": "Exp. 2", "exp3": "Exp. 3", "exp4": "Exp. 4",
    "input_psnr": "input PSNR (dB)",
    "own_vs_released": "own training against the released models",
    "1pct": "Exp. 2, 1 % noise",
    "nonoise": "Exp. 2, no noise",
    "discs": "Exp. 1, discs",
}


def _method_labels() -> dict[str, str]:
    from .leaderboard.methods import METHODS

    return {**{name: m.label for name, m in METHODS.items()}, **_EXTRA_METHODS}


#: method name -> label (the leaderboard's entries, :data:`pdedenoise.leaderboard.methods.METHODS`)
METHODS: dict[str, str] = _method_labels()
#: every key -> label; a quantity's label wins over a table's of the same key in column headers
LABELS: dict[str, str] = {**TABLES, **METHODS, **QUANTITIES}


#: short names of the methods, for figure labels where a full label does not fit
SHORT = {"heat-tuned": "heat, tuned ρ", "heat-oracle": "heat, oracle ρ", "perona-malik-tuned": "Perona-Malik",
         "perona-malik-exp-tuned": "Perona-Malik (exp. g)", "ncdf": "NCDF", "cross-diffusion": "cross-diffusion",
         "tnrd": "TNRD-style", "diffnet": "DiffNet", "unet": "U-Net", "bm3d": "BM3D", "own": "own model",
         "own-certified": "own model (l2)"}


def short_label(key: Hashable) -> Hashable:
    """A method's short name for a figure (``"foe-s-authors"`` -> ``"FoE-S (authors)"``); else :func:`label`."""
    from .leaderboard.methods import DIFFUSIVITIES

    if not isinstance(key, str):
        return key
    if key in SHORT:
        return SHORT[key]
    base = key.removesuffix("-authors")
    if base in DIFFUSIVITIES:
        return DIFFUSIVITIES[base] + (" (authors)" if key.endswith("-authors") else "")
    return label(key)


def label(key: Hashable) -> Hashable:
    """The reader's name of ``key`` (a method, quantity or table key); anything else is returned unchanged."""
    return LABELS.get(key, key) if isinstance(key, str) else key


def table_label(key: str) -> str:
    """The caption of a results table named ``key`` (``"table2"`` -> ``"Table 2"``)."""
    return TABLES.get(key, label(key))


@functools.lru_cache(maxsize=1)
def code_keys() -> frozenset[str]:
    """The keys that read as code when a page shows them instead of their labels (``foe-s-authors``, ``tnrd``,
    ``rms_db``, ``table2``): every key whose label differs from it, except the ordinary words and phrases of the
    prose that double as keys (:data:`PROSE_WORDS`)."""
    return frozenset(key for key, lab in LABELS.items() if key != lab and key not in PROSE_WORDS)


#: keys that are also ordinary words or phrases of the prose ("our own model", "the heat equation")
PROSE_WORDS = {"own", "heat", "discs", "cross-diffusion", "perona-malik"}
