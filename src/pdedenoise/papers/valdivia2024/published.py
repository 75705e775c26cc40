"""Valdivia Ortega, Haas and Effland (2024), "Learning Diffusion Functions for Image Restoration": published numbers.

HAL hal-04573661 (2024). Code and trained models: github.com/JoelVO/anisotropic_diffusion (AGPL-3.0).

Only the numbers below could be checked against the paper's text: the input row of Table 1, the parameter
counts of KA, the U-Net, the FoE model of reference [13] and CNCL, and KA's FLOPs (Table 3). The learned
models' PSNR/SSIM/LPIPS (Table 1), the Q metric (Table 2) and the other cells of Table 3 were not available
offline; the chapter reports its own values for those beside the checks it can make (the authors' released
models against our torch models, and our own training against the released models).
"""
from __future__ import annotations

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
    "beats baselines": "The learned diffusivities (KA, FoE, U-Net) beat Perona-Malik and the CNCL network on every "
                       "data set on almost every metric (Tables 1 and 2).",
    "FoE-S similar": "The FoE-S models converge to similar anisotropic diffusion functions regardless of the noise "
                     "level (Fig. 5).",
    "stable": "The models are mathematically explainable yet stable: they keep Perona-Malik's properties "
              "(maximum principle, mean preservation).",
}
