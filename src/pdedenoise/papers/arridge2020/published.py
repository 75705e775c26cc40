"""Arridge and Hauptmann (2020), "Networks for Nonlinear Diffusion Problems in Imaging": the published numbers.

J Math Imaging Vis 62, 471–487 (2020), doi:10.1007/s10851-019-00901-3. Code: github.com/imageFlowNet/DiffNet.

Published numbers are stored as data (:data:`DECONVOLUTION`, :data:`INVERSE`, :data:`GENERALISATION`,
:data:`PARAMETERS`) and the claims as sentences (:data:`CLAIMS`). The sources name the experiment and
figure; the full text was not available offline to check page and table references.
"""
from __future__ import annotations

from ...records import Published

CITATION = ("S. Arridge, A. Hauptmann, Networks for Nonlinear Diffusion Problems in Imaging, "
            "J Math Imaging Vis 62 (2020) 471-487")

#: Exp. 1: learned deconvolution of discs blurred by isotropic diffusion (3-layer DiffNet).
DECONVOLUTION: dict[str, Published] = {
    "test PSNR": Published(86.24, "Exp. 1 (deconvolution of discs), test set", "dB"),
    "relative l2 error": Published(2.5e-4, "Exp. 1 (deconvolution of discs), test set"),
}

#: Numbers the chapter reports beside a published one that the paper does not give, with the wording the page shows.
NOT_GIVEN: dict[str, str] = {
    "Exp. 1 blurred input PSNR": "not given by the paper",
    "Exp. 2 example image": "not identified by the paper",
}

#: Exp. 2: inverting Perona–Malik on STL-10, 5-layer DiffNet vs residual U-Net.
INVERSE: dict[str, Published] = {
    "DiffNet, no noise, mean test PSNR": Published(63.72, "Exp. 2, noise-free, mean over test set", "dB"),
    "DiffNet, no noise, example image": Published(65.34, "Exp. 2, noise-free, example image", "dB"),
    "U-Net, no noise, example image": Published(61.08, "Exp. 2, noise-free, example image", "dB"),
    "DiffNet, 1% noise, mean test PSNR": Published(34.21, "Exp. 2, 1% noise, mean over test set", "dB"),
    "DiffNet, 1% noise, example image": Published(34.96, "Exp. 2, 1% noise, example image", "dB"),
    "U-Net, 1% noise, example image": Published(35.27, "Exp. 2, 1% noise, example image", "dB"),
}

#: Exp. 3 (Fig. 10): DiffNet minus U-Net test PSNR with plenty of training data, read off the figure.
GENERALISATION: dict[str, Published] = {
    "forward: DiffNet - U-Net": Published(4.0, "Fig. 10, forward model, ~4 dB", "dB"),
    "inverse, no noise: DiffNet - U-Net": Published(3.0, "Fig. 10, inverse without noise, ~3 dB", "dB"),
    "inverse, 0.1% noise: DiffNet - U-Net": Published(0.0, "Fig. 10, inverse 0.1% noise, 'similar'", "dB"),
    "inverse, 1% noise: DiffNet - U-Net": Published(0.0, "Fig. 10, inverse 1% noise, 'similar'", "dB"),
}
#: Exp. 3 (Fig. 10): DiffNet's test error saturates after this many training images.
SATURATION_IMAGES = (500, 1000)

#: The paper's claims that the chapter tests, by key.
CLAIMS = {
    "deconvolution": "A 3-layer DiffNet learns to deconvolve discs blurred by isotropic diffusion to 86.24 dB "
                     "(relative error 2.5e-4) (Exp. 1).",
    "inverse, no noise": "A 5-layer DiffNet of 101,310 parameters inverts Perona-Malik diffusion without noise to "
                         "63.72 dB on average (Exp. 2).",
    "inverse, 1% noise": "With 1 % noise, DiffNet reaches 34.21 dB on average (Exp. 2).",
    "generalisation": "DiffNet saturates after 500-1000 training images and then beats a 34.5M-parameter U-Net by "
                      "about 4 dB on the forward model and 3 dB on the noise-free inverse (Exp. 3, Fig. 10).",
    "interpretation": "The filter sums zeta_1+zeta_2+zeta_3+zeta_4-zeta_5 show learned smoothing, and their mean "
                      "magnitude alpha grows with the noise level (0.01% to 10%) (Exp. 4).",
}

#: Published network sizes.
PARAMETERS: dict[str, Published] = {
    "DiffNet (5 layers, 4-layer estimators)": Published(101_310, "Exp. 2, network description"),
    "U-Net": Published(34.5e6, "Exp. 2, network description, ~34.5M"),
}
