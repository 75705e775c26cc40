"""Arridge and Hauptmann (2020): the protocol as implemented, our choices where the paper is silent, the scales.

The protocol (choices where the paper is silent are marked *choice*):

* **Forward model**: Perona–Malik ``u_t = div(g grad u)``, ``g = 1 / (1 + |grad u|^2 / lambda^2)``,
  ``lambda = 0.2``, 4 explicit steps of ``dt = 0.1``, grey images scaled to maximum 1
  (:func:`forward_model`). *Choice*: g at pixel centres from central differences, averaged onto
  edges (the shared solver's ``scheme="average"``, as the authors' MATLAB code averages g onto
  edges), with **zero-flux (Neumann) boundaries as the paper states**. The authors' code instead
  pads with zeros (zero boundary values) and takes one-sided differences for |grad u|; the two
  differ only in a one-pixel frame.
* **Noise** (*choice*, "1 %" is not defined in the available text): additive white Gaussian noise of
  standard deviation ``level x 1`` (``level`` times the clean image's maximum, which is 1), added
  once to the diffused image (a fixed noisy data set).
* **Deconvolution** (Exp. 1): isotropic diffusion ``u_t = Laplacian(u)`` to ``T = 1`` (the exact
  semi-discrete flow of the 5-point Laplacian, :func:`pdedenoise.degradations.heat_blur`), discs of
  random radius and contrast, 64x64, no noise; a 3-layer DiffNet.
* **Training**: batch 16, mean squared error, Adam with the learning rate decaying exponentially
  2e-3 -> 4e-6 (U-Net 5e-4 -> 2e-5), 18 epochs (:data:`TRAINING`).
* **Data** (*choice*): the paper's 90,000 STL-10 images are not available offline; the chapter trains on
  grey crops of BSDS500 train + test and tests on BSDS500 val (:func:`bsds_crops`), and also tests on
  the curated STL-10 subset.
* **PSNR**: per image with peak 1 (images have maximum 1), then averaged over the test set.
"""
from __future__ import annotations

import math

import torch

from ...degradations import add_gaussian_noise, heat_blur, perona_malik_blur
from ...stencils import BoundaryCondition

#: The training protocol of Exp. 2.
TRAINING = dict(batch_size=16, epochs=18, diffnet_lr=(2e-3, 4e-6), unet_lr=(5e-4, 2e-5))
#: Optimiser steps of the paper's Exp. 2 (90,000 images, 18 epochs, batch 16).
PAPER_STEPS = math.ceil(90_000 / 16) * 18

#: The training of the authors' public code (imageFlowNet/DiffNet, ``DiffNet_nonlin.trainDiffNet``), where it
#: differs from the paper's text: the loss ``||relu(true) - output||_F / 16`` (unsquared, over the batch; the
#: ``"frobenius"`` loss of :func:`pdedenoise.train.frobenius_loss`), Adam from 4e-3 halved after the first step
#: and after every 10,000th (``lr_halve_every``), 50,001 steps of batch 16, zero ghost pixels in each layer's
#: stencil (``bc="dirichlet"``), estimators of three 32-channel 3x3 ReLU convolutions and one to 5 channels.
AUTHORS_CODE = dict(loss="frobenius", lr=(4e-3, None), lr_halve_every=10_000, steps=50_001, batch_size=16,
                    bc="dirichlet")

#: Verdict tolerances (reproduced, close), fixed before any result: PSNR in dB, DiffNet-minus-U-Net
#: gaps in dB, relative errors compared as log10 (0.3 = a factor of 2, 1 = a factor of 10), DiffNet's parameter
#: count (exact, as printed) and the U-Net's (the paper gives "~34.5M": its last digit, 0.1 M).
TOLERANCES = dict(psnr=(1.0, 3.0), gap=(1.5, 3.0), log_rel=(0.3, 1.0), diffnet_parameters=(0.0, 0.0),
                  unet_parameters=(1e5, 5e5))

LAMBDA = 0.2
PM_DT = 0.1
PM_STEPS = 4
BC: BoundaryCondition = "neumann"
NOISE_LEVELS = {"no noise": 0.0, "0.1% noise": 1e-3, "1% noise": 1e-2}



#: every size of the chapter, per scale: ``ci`` a few minutes on two CPU cores, ``medium`` the largest run
#: of the whole chapter that fits two CPU cores in under an hour, ``full`` the paper's protocol (a GPU).
SCALES = {
    "ci": dict(crop=32, n_train=128, n_test=64, epochs=2, unet_width=8, n_stl=64,
               disc_size=32, disc_train=128, disc_test=32, disc_epochs=4,
               sweep_sizes=[16, 128], exp4_noise=[1e-4, 1e-3, 1e-2, 1e-1]),
    "medium": dict(crop=48, n_train=512, n_test=128, epochs=6, unet_width=16, n_stl=246,
                   disc_size=64, disc_train=1024, disc_test=128, disc_epochs=6,
                   sweep_sizes=[32, 512], exp4_noise=[1e-4, 1e-3, 1e-2, 1e-1]),
    "full": dict(crop=96, n_train=90_000, n_test=10_000, epochs=18, unet_width=64, n_stl=246,
                 disc_size=64, disc_train=1024, disc_test=128, disc_epochs=18,
                 sweep_sizes=[10, 100, 500, 1000, 5000, 10_000, 90_000], exp4_noise=[1e-4, 1e-3, 1e-2, 1e-1]),
}

#: the longer single-experiment runs of ``tools/record_diffnet_long.py`` (recorded under ``medium``):
#: Exp. 1 exactly at the paper's size, Exp. 2 on BSDS500 crops of 48 px (4x more steps than 96 px buy)
LONG_RUNS = dict(crop=48, n_train=8192, n_test=128, disc_size=64, disc_train=1024, disc_test=128,
                 disc_layers=3, curve_every_discs=32, curve_points=40)


def forward_model(u: torch.Tensor, bc: BoundaryCondition = BC) -> torch.Tensor:
    """The paper's Perona–Malik forward model on images scaled to max 1: (N, C, H, W) -> same."""
    return perona_malik_blur(u, LAMBDA, PM_DT, PM_STEPS, "rational", bc, "average")


def blur(u: torch.Tensor, T: float = 1.0, bc: BoundaryCondition = BC) -> torch.Tensor:
    """Exp. 1's isotropic diffusion ``u_t = Laplacian(u)`` to time ``T`` (exact semi-discrete flow)."""
    return heat_blur(u, T, bc)


def add_noise(y: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    """y + N(0, level^2): Gaussian noise of std ``level`` x the clean images' maximum (1)."""
    if level == 0:
        return y.clone()
    return add_gaussian_noise(y, sigma=level * 255.0, seed=seed, data_range=1.0)


#: BSDS500 folders of each split of the chapter (BSDS500 val, which contains BSD68, is kept for testing).
BSDS_SPLITS = {"train": ["train/*", "test/*"], "test": ["val/*"]}


def bsds_crops(split: str, size: int, count: int, seed: int = 0) -> torch.Tensor:
    """The chapter's grey BSDS500 crops, scaled to maximum 1: (count, 1, size, size).

    ``split="train"`` draws from BSDS500 train + test with ``seed``; ``"test"`` from BSDS500 val with
    ``seed + 1``, so one run seed gives disjoint, repeatable training and test crops everywhere (the
    notebook, the long-run script). Flat crops (std < 0.02) are redrawn.
    """
    from ...data import grey_crops

    if split not in BSDS_SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(BSDS_SPLITS)}")
    return grey_crops("BSDS500", BSDS_SPLITS[split], size, count, seed=seed + (split == "test"), min_std=0.02)


def make_pairs(clean: torch.Tensor, task: str, noise: float = 0.0, seed: int = 0,
               bc: BoundaryCondition = BC, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for ``task``: ``"forward"`` (u -> PM(u)) or ``"inverse"`` (PM(u) + noise -> u).

    ``clean``: (N, 1, H, W), values 0–1. The forward model runs ``chunk`` images at a time, so the
    paper's 90,000 crops need a few hundred MB of working memory rather than tens of GB.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    with torch.no_grad():
        diffused = torch.cat([forward_model(clean[i:i + chunk], bc) for i in range(0, clean.shape[0], chunk)]) \
            if clean.shape[0] else clean.clone()
    if task == "forward":
        return clean, diffused
    if task == "inverse":
        return add_noise(diffused, noise, seed), clean
    raise ValueError(f"unknown task {task!r}; use 'forward' or 'inverse'")
