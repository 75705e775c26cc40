"""Published BSD68 results of non-PDE and PDE peers, shown as reference rows (anchors; not computed here).

Every anchor carries its mean PSNR on the 68 BSD68 images by noise level (additive Gaussian noise, sigma on
0-255), its parameter count, its stability class in the leaderboard's words (:mod:`.methods`) and its source:

* BM3D, TNRD 7x7 and DnCNN-S: K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian Denoiser: Residual
  Learning of Deep CNN for Image Denoising", IEEE Trans. Image Process. 26 (2017) 3142-3155, the average PSNR on
  BSD68 of its Table II as listed in the authors' repository (github.com/cszn/DnCNN, README, "Gaussian Denoising").
* TNRD 5x5: Chen and Pock, TNRD, IEEE TPAMI 2017 (:data:`TNRD_SOURCE`).
* WCRR-NN and CRR-NN: the authors' own per-image BSD68 results in their repository (:data:`WCRR_SOURCE`), averaged
  here over the 68 images; the parameter counts are those of the released checkpoints (both 13,763: the convex
  CRR-NN there is the WCRR-NN's architecture trained the same way with the weak-convexity modulus 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SOURCE = ("Zhang et al., IEEE TIP 26 (2017) 3142-3155, Table II (BSD68 average PSNR), as listed in "
          "github.com/cszn/DnCNN")
TNRD_SOURCE = ("Y. Chen, T. Pock, Trainable Nonlinear Reaction Diffusion, IEEE TPAMI 39 (2017) 1256-1272, Gaussian "
               "denoising on the 68 test images, TNRD 5x5 with 5 stages")
WCRR_SOURCE = ("A. Goujon, S. Neumayer, M. Unser, Learning weakly convex regularizers for convergent image-"
               "reconstruction algorithms, SIAM J. Imaging Sci. 17 (2024); mean of the per-image PSNR in the authors' "
               "repository (github.com/axgoujon/weakly_convex_ridge_regularizer @ a042f67, denoising/"
               "test_WCRR_NN.csv and test_CRR_NN.csv, 68 images)")

#: TNRD 7x7 with 5 stages: 5 x (48 filters x 49 coefficients + 48 influence functions x 63 weights + 1 reaction)
TNRD_PARAMETERS = 5 * (48 * 49 + 48 * 63 + 1)
#: TNRD 5x5 with 5 stages, counted the same way: 5 x (24 filters x 25 coefficients + 24 x 63 weights + 1)
TNRD_5X5_PARAMETERS = 5 * (24 * 25 + 24 * 63 + 1)
#: DnCNN-S, 17 layers of 64 3x3 channels: first convolution with bias, 15 convolutions with batch normalisation
#: (scale and shift), last convolution
DNCNN_PARAMETERS = (9 * 64 + 64) + 15 * (64 * 9 * 64 + 2 * 64) + 64 * 9
#: WCRR-NN and CRR-NN: three 5x5 convolutions 1 -> 4 -> 8 -> 60 channels (100 + 800 + 12,000), two activation
#: splines of 101 knots, 60 scaling splines of 11 knots, one mu (the checkpoints' own count)
RIDGE_PARAMETERS = 4 * 25 + 8 * 4 * 25 + 60 * 8 * 25 + 2 * 101 + 60 * 11 + 1


@dataclass(frozen=True)
class Anchor:
    """One published row: mean PSNR on BSD68 (dB) by sigma, parameters, stability class, source."""

    psnr: dict
    parameters: int
    stability: str
    source: str


#: the published rows, by the name the board shows
ANCHORS = {
    "BM3D (published)": Anchor({15: 31.07, 25: 28.57, 50: 25.62}, 0, "not a PDE (a classical filter)", SOURCE),
    "TNRD (published)": Anchor({15: 31.42, 25: 28.92, 50: 25.97}, TNRD_PARAMETERS,
                               "empirical (TNRD 7x7, 5 stages, no certificate)", SOURCE),
    "TNRD 5x5 (published)": Anchor({25: 28.78}, TNRD_5X5_PARAMETERS, "empirical (no certificate)", TNRD_SOURCE),
    "DnCNN-S (published)": Anchor({15: 31.73, 25: 29.23, 50: 26.23}, DNCNN_PARAMETERS, "not a PDE (a network)", SOURCE),
    "WCRR-NN (published)": Anchor({15: 31.21, 25: 28.68}, RIDGE_PARAMETERS,
                                  "certificate (weakly convex regulariser, convex denoising energy: gradient descent "
                                  "reaches its global minimum)", WCRR_SOURCE),
    "CRR-NN (published)": Anchor({15: 30.55, 25: 28.10}, RIDGE_PARAMETERS,
                                 "certificate (convex regulariser: the denoiser is 1-Lipschitz)", WCRR_SOURCE),
}

#: mean PSNR (dB) on BSD68 by sigma, per anchor
BSD68 = {name: a.psnr for name, a in ANCHORS.items()}
#: parameters per anchor
PARAMETERS = {name: a.parameters for name, a in ANCHORS.items()}
#: the TNRD 5x5 row, the published number of the book's TNRD-style model at Chen and Pock's protocol
TNRD_5X5 = ANCHORS["TNRD 5x5 (published)"].psnr


def anchor_table() -> pd.DataFrame:
    """The anchors as a table a reader reads: method, parameters, stability, PSNR BSD68 per sigma (missing where the
    source gives none), source."""
    sigmas = sorted({s for a in ANCHORS.values() for s in a.psnr})
    return pd.DataFrame([{"method": name, "parameters": a.parameters, "stability": a.stability,
                          **{f"PSNR BSD68 s{s}": a.psnr.get(s) for s in sigmas}, "source": a.source}
                         for name, a in ANCHORS.items()])
