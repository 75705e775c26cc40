"""Valdivia Ortega, Haas and Effland (2024), "Learning Diffusion Functions for Image Restoration": published numbers.

HAL hal-04573661 (2024). Code and trained models: github.com/JoelVO/anisotropic_diffusion (AGPL-3.0).

Only the numbers below could be checked against the paper's text: the input row of Table 1, the parameter
counts of KA, the U-Net, the FoE model of reference [13] and CNCL, and KA's FLOPs (Table 3). The learned
models' PSNR/SSIM/LPIPS (Table 1), the Q metric (Table 2) and the other cells of Table 3 were not available
offline; the chapter reports its own values for those beside the checks it can make (the authors' released
models against our torch models, and our own training against the released models).

A second source: the README of the authors' repository (github.com/JoelVO/anisotropic_diffusion, section
"Models", "the mean of the validation results" on BSDS500), read at its latest commit a3b279a (2023-09-26), and
its first version of the same tables (commit 400b443, 2023-09-07), whose Perona-Malik row a3b279a replaced.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...records import Published

CITATION = ("J. Valdivia Ortega, M. Haas, A. Effland, Learning Diffusion Functions for Image Restoration, "
            "2024, HAL hal-04573661")

#: Table 1, input row: PSNR of the noisy inputs on the 500 BSDS500 val crops.
INPUT_PSNR: dict[int, Published] = {
    15: Published(24.61, "Table 1, input, sigma = 15", "dB"),
    25: Published(20.17, "Table 1, input, sigma = 25", "dB"),
    50: Published(14.15, "Table 1, input, sigma = 50", "dB"),
}

#: Table 3: parameters. "FoE [13]" is the Fields-of-Experts prior of Roth and Black that the paper cites,
#: not one of the paper's FoE diffusivities: 24 filters of 5 x 5 and 24 expert weights, 24 * 25 + 24 = 624.
PARAMETERS: dict[str, Published] = {
    "KA": Published(206_065, "Table 3, parameters, KA"),
    "U-Net": Published(27_581, "Table 3, parameters, U-Net"),
    "FoE [13] (Roth and Black)": Published(624, "Table 3, parameters, FoE [13]"),
    "CNCL": Published(47.83e6, "Table 3, parameters, CNCL (47.83M)"),
}
#: Roth and Black's FoE: 24 filters of 5 x 5 pixels, one weight per expert.
ROTH_BLACK_FOE = dict(filters=24, size=5)

#: Table 3: FLOPs for a 256 x 256 input.
FLOPS: dict[str, Published] = {
    "KA": Published(3.78e9, "Table 3, FLOPs, KA (3.78 G, 256 x 256 input)"),
}

#: The paper's claims that the chapter tests, by key.
CLAIMS = {
    "beats baselines": "The learned diffusivities (KA, FoE, U-Net) beat Perona-Malik on every data set on almost "
                       "every metric (Tables 1 and 2).",
    "beats CNCL": "The learned diffusivities (KA, FoE, U-Net) beat the CNCL network on every data set on almost "
                  "every metric (Tables 1 and 2).",
    "FoE-S similar": "The FoE-S models converge to similar anisotropic diffusion functions regardless of the noise "
                     "level (Fig. 5).",
    "stable": "The models are mathematically explainable yet stable: they keep Perona-Malik's properties "
              "(maximum principle, mean preservation).",
}


@dataclass(frozen=True)
class ReadmeRow:
    """One cell pair of the README's tables: mean PSNR (dB) and SSIM of a model's outputs at one sigma."""

    psnr: Published
    ssim: Published


README_SOURCE = "authors' README (github.com/JoelVO/anisotropic_diffusion @ a3b279a, section Models)"
README_FIRST_SOURCE = "authors' README, first version (@ 400b443, 2023-09-07)"


def _readme(table: dict, source: str) -> dict:
    return {key: ReadmeRow(Published(p, f"{source}, {key[0]}, sigma {key[1]}, PSNR output", "dB"),
                           Published(q, f"{source}, {key[0]}, sigma {key[1]}, SSIM output"))
            for key, (p, q) in table.items()}


#: The README's output columns, by (model, sigma): Perona-Malik ("PM"), "Automation of K" (KA), "FoE using splines
#: of order 1" (FoE-S) and U-Net. Every table's input columns read 24.61/20.17/14.15 dB and SSIM 0.59/0.41/0.2,
#: except the U-Net table's sigma-50 input PSNR, printed 23.96: a misprint of 14.15 (the same noisy crops; 23.96 dB
#: is not the PSNR of sigma-50 noise, which is fixed by the noise at 14.15) - see :data:`README_INPUT`.
README: dict[tuple[str, int], ReadmeRow] = _readme({
    ("PM", 15): (26.53, 0.67), ("PM", 25): (23.15, 0.49), ("PM", 50): (17.98, 0.27),
    ("KA", 15): (29.49, 0.83), ("KA", 25): (26.76, 0.72), ("KA", 50): (23.48, 0.55),
    ("FoE-S", 15): (29.5, 0.83), ("FoE-S", 25): (26.99, 0.74), ("FoE-S", 50): (24.16, 0.6),
    ("U-Net", 15): (29.26, 0.83), ("U-Net", 25): (27.18, 0.76), ("U-Net", 50): (24.16, 0.59),
}, README_SOURCE)

#: The README's input columns (the same in every table, but for the misprint below).
README_INPUT: dict[int, ReadmeRow] = {s: ReadmeRow(Published(p, f"{README_SOURCE}, input, sigma {s}, PSNR", "dB"),
                                                   Published(q, f"{README_SOURCE}, input, sigma {s}, SSIM"))
                                      for s, (p, q) in {15: (24.61, 0.59), 25: (20.17, 0.41), 50: (14.15, 0.2)}.items()}
#: The U-Net table's sigma-50 input PSNR as printed: a misprint of 14.15 (kept to be shown, never compared).
README_UNET_INPUT_MISPRINT = Published(23.96, f"{README_SOURCE}, U-Net, sigma 50, PSNR input (misprint of 14.15)", "dB")

#: The first version's Perona-Malik row (replaced in a3b279a by the row in :data:`README`).
README_FIRST_PM: dict[int, ReadmeRow] = {s: r for (m, s), r in _readme({
    ("PM", 15): (28.58, 0.78), ("PM", 25): (25.53, 0.62), ("PM", 50): (23.39, 0.55)}, README_FIRST_SOURCE).items()}
