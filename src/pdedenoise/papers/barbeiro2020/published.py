"""Barbeiro and Lobo (2019/2020), learned stable nonlinear cross-diffusion: what the readable text states.

S. Barbeiro, D. Lobo, "Improved PDE Models for Image Restoration through Backpropagation", arXiv:1907.05132
(2019); journal version "Learning Stable Nonlinear Cross-Diffusion Models for Image Restoration", J Math Imaging
Vis 62 (2020) 223–237. Only the abstract and the introduction could be read here: the paper's equations,
settings and result tables could not, so the chapter publishes no "reproduced" number. It tests the claims of
the abstract (A, B) and the property the authors' earlier cross-diffusion papers give the second field (C:
Araújo, Barbeiro, Cuesta, Durán, "Cross-diffusion systems for image processing I/II", JMIV 2017).
"""
from __future__ import annotations

CITATION = ("S. Barbeiro, D. Lobo, Learning Stable Nonlinear Cross-Diffusion Models for Image Restoration, "
            "J Math Imaging Vis 62 (2020) 223-237 (arXiv:1907.05132)")

#: The claims the chapter tests, by key, with where they are stated.
CLAIMS = {
    "A improves": "Learning the coefficients and influence functions of a nonlinear cross-diffusion model by "
                  "backpropagation significantly improves restoration over the non-learned models (abstract).",
    "B stable": "Stability is ensured during learning (abstract).",
    "C edges": "The second field v acts as an edge detector (Araujo, Barbeiro, Cuesta, Duran 2017).",
}
