"""Chapter 1: Kharro, Douiri and Moumni (2026), heat-equation denoising with a PINN-found diffusivity.

* :mod:`.published` -- the paper's numbers (Tables 2–5, Figure 1) and claims, with sources;
* :mod:`.protocol` -- the protocol as stated, our choices, the ci/medium/full scales, tolerances;
* :mod:`.method` -- the paper's method: the DeepXDE PINN with a trainable diffusivity;
* :mod:`.analysis` -- the protocol fit, the tables and the claims' verdicts;
* :mod:`.beyond` -- beyond the paper: a per-pixel diffusivity with a total-variation penalty.
"""
