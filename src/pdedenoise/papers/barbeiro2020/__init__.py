"""Barbeiro and Lobo (2019/2020): learned nonlinear cross-diffusion kept stable during learning — chapter 2.

Modules: :mod:`.published` (what the readable text states, the claims), :mod:`.protocol` (our choices, data,
grids, scales), :mod:`.method` (the model family on the shared solver, its special cases), :mod:`.tnrd` (the
TNRD-style baseline), :mod:`.analysis` (training with certificates and probes, the baselines, paired
comparisons, edge scores, claims) and :mod:`.figures`.
"""
