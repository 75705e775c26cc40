"""Chapter 4: Arridge and Hauptmann (2020), DiffNet: learned explicit diffusion layers, against a U-Net.

* :mod:`.published` -- the paper's numbers (Exp. 1–3, network sizes) and claims, with sources;
* :mod:`.protocol` -- forward model, noise, data splits, training protocol, scales, tolerances;
* :mod:`.method` -- the paper's models and two references without training, filter interpretation;
* :mod:`.analysis` -- training runs, comparison tables, long-run tables, the claims' verdicts.
"""
