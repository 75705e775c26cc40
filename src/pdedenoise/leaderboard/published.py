"""Published BSD68 results of non-PDE and PDE peers, shown as reference rows (not computed here).

Source: K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN
for Image Denoising", IEEE Trans. Image Process. 26 (2017) 3142-3155, the average PSNR on BSD68 of its Table II as
listed in the authors' repository (github.com/cszn/DnCNN, README, "Gaussian Denoising"). All three use the same
68 images and additive Gaussian noise at 15, 25, 50.
"""
from __future__ import annotations

SOURCE = ("Zhang et al., IEEE TIP 26 (2017) 3142-3155, Table II (BSD68 average PSNR), as listed in "
          "github.com/cszn/DnCNN")

#: mean PSNR (dB) on BSD68 by sigma
BSD68 = {
    "BM3D (published)": {15: 31.07, 25: 28.57, 50: 25.62},
    "TNRD (published)": {15: 31.42, 25: 28.92, 50: 25.97},
    "DnCNN-S (published)": {15: 31.73, 25: 29.23, 50: 26.23},
}

#: TNRD 7x7 with 5 stages: 5 x (48 filters x 49 coefficients + 48 influence functions x 63 weights + 1 reaction)
TNRD_PARAMETERS = 5 * (48 * 49 + 48 * 63 + 1)
#: DnCNN-S, 17 layers of 64 3x3 channels: first convolution with bias, 15 convolutions with batch normalisation
#: (scale and shift), last convolution
DNCNN_PARAMETERS = (9 * 64 + 64) + 15 * (64 * 9 * 64 + 2 * 64) + 64 * 9
PARAMETERS = {"BM3D (published)": 0, "TNRD (published)": TNRD_PARAMETERS, "DnCNN-S (published)": DNCNN_PARAMETERS}

#: TNRD with 5 stages of 24 filters of 5 x 5 (the model of :mod:`pdedenoise.papers.barbeiro2020.tnrd` at
#: ``TNRD(5, 24, 5, 63)``), trained by its authors with L-BFGS at sigma 25: mean PSNR (dB) on the 68 BSD68 images
TNRD_5X5 = {25: 28.78}
TNRD_SOURCE = ("Y. Chen, T. Pock, Trainable Nonlinear Reaction Diffusion, IEEE TPAMI 39 (2017) 1256-1272, Gaussian "
               "denoising on the 68 test images, TNRD 5x5 with 5 stages")
