"""Kharro, Douiri and Moumni (2026): the published numbers and claims, as data with their sources.

"Optimal Thermal Diffusivity via Deep Learning for Heat Equation Image Denoising".
Grey 512x512 images (Lena, Barbara, Mandrill), additive Gaussian noise sigma = 50 on the 0–255
scale, restoration by ``v_t = rho * Laplacian(v)`` with the 5-point kernel, zero boundary values and
time step 0.001; PSNR with peak 255. The optimal rho* comes from a PINN with a trainable rho
(Algorithm 3.1/3.2, Adam, learning rate 1e-4). The protocol values are in :mod:`.protocol`.
"""
from __future__ import annotations

from ...records import Published

CITATION = ("M. Kharro, S. M. Douiri, M. Moumni, Optimal Thermal Diffusivity via Deep Learning for Heat "
            "Equation Image Denoising, 2026")

IMAGES = ("Lena", "Barbara", "Mandrill")
PSNR_TABLE = {"Lena": 3, "Barbara": 4, "Mandrill": 5}

#: Table 2: the PINN's optimal diffusivity per image.
RHO_STAR: dict[str, Published] = {
    "Lena": Published(0.9634, "Table 2, Lena"),
    "Barbara": Published(0.9360, "Table 2, Barbara"),
    "Mandrill": Published(0.9752, "Table 2, Mandrill"),
}

#: The rho values of Tables 3–5, in print order ("rho*" is the image's own value from Table 2).
RHO_COLUMNS = ("0.01", "0.1", "0.7", "0.8", "rho*", "1", "2", "4", "8")

_PSNR_ROWS = {
    "Lena": (15.26, 18.80, 25.40, 25.48, 25.5079, 25.4934, 24.71, 23.21, 21.52),
    "Barbara": (10.07, 18.58, 25.59, 25.70, 25.7434, 25.7341, 25.01, 24.28, 23.45),
    "Mandrill": (14.73, 16.50, 21.31, 21.42, 21.4819, 21.4813, 21.08, 20.48, 19.84),
}


def rho_values(image: str) -> list[float]:
    """The numeric rho of each column of the image's PSNR table (rho* replaced by its value)."""
    return [RHO_STAR[image].value if c == "rho*" else float(c) for c in RHO_COLUMNS]


#: Tables 3–5: PSNR (dB) of the heat restoration for each rho, keyed "<image>, rho=<column>".
PSNR: dict[str, Published] = {
    f"{img}, rho={col}": Published(val, f"Table {PSNR_TABLE[img]}, {img}, rho = {col}", "dB")
    for img, row in _PSNR_ROWS.items()
    for col, val in zip(RHO_COLUMNS, row)
}

#: Figure 1: PSNR of one image restored with two diffusivities (the image is not named; its
#: rho = 0.8 value matches Lena's Table 3 entry 25.48 to 0.02 dB).
FIGURE1: dict[str, Published] = {
    "rho=0.2": Published(21.51, "Figure 1, rho = 0.2", "dB"),
    "rho=0.8": Published(25.50, "Figure 1, rho = 0.8", "dB"),
}

#: The paper's claims that the chapter tests, by key.
CLAIMS = {
    "rho* is PSNR-best": "The PINN's rho* gives the highest PSNR of all rho values tested (Tables 3-5).",
    "PINN finds rho*": "A PINN with a trainable diffusivity finds the optimal diffusivity rho* of each image "
                       "(Table 2: 0.9634, 0.9360, 0.9752).",
    "PSNR tables": "Heat-equation restoration with these diffusivities gives the PSNRs of Tables 3-5.",
}


def psnr_row(image: str) -> list[float]:
    """The published PSNRs of one image, in :data:`RHO_COLUMNS` order."""
    return [PSNR[f"{image}, rho={c}"].value for c in RHO_COLUMNS]
