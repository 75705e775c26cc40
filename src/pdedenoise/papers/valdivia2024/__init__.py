"""Valdivia Ortega, Haas and Effland (2024): Perona–Malik with learned diffusivities (KA, FoE, U-Net) — chapter 3.

Modules: :mod:`.published` (the numbers and claims), :mod:`.protocol` (data, noise, metrics, scales, choices),
:mod:`.method` (the models on the shared explicit solver, the authors' Perona–Malik baseline),
:mod:`.checkpoints` (the authors' 18 released models, read without TensorFlow).
"""
