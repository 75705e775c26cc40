"""Barbeiro and Lobo (2019/2020): our protocol, the choices where the available text is silent, and the scales.

The paper's equations, settings and tables could not be read here (only its abstract and introduction), so
everything below is a *choice*, made to test the claims of the abstract:

* **Data**: grey crops of BSDS500 train and test: all but the last 40 images (sorted by name) for learning, those
  40 for tuning the non-learned baselines (never the test images); tests on BSD68 (68 grey images, 481 x 321) and Set12 (256² and
  512²), disjoint from training (BSD68 is part of BSDS500 val), and on a seeded synthetic set
  (:func:`pdedenoise.data.synthetic.synthetic_set`: shapes, ramps and textures with exact edge maps), since
  the journal version's experiments are synthetic.
* **Noise**: Gaussian, sigma = 15, 25, 50 on 0–255, not clipped, fixed seeds; one model per sigma.
* **Model** (:class:`~.method.CrossDiffusion`): ``T`` stages of step ``tau`` on ``U = (u, v)``, ``U^0 = (f, 0)``,
  ``D_t = g_t(v) B_t`` with ``g_t`` an expansion on 63 Gaussian RBFs over ``v`` in [-32, 32] (TNRD's count), a
  2 x 2 ``B_t``, a diagonal reaction ``Lambda_t``; stable by construction, or unconstrained (the control).
* **Training**: mean-squared error of ``u^T`` against the clean crop, Adam (learning rate :data:`TRAINING`),
  random batches of a fixed set of noisy crops; after every optimiser step the certificate margins of every
  stage (from the parameters, float64); every :data:`PROBE_EVERY` steps each stage applied to a checkerboard
  and to white noise (its norm must not grow).
* **Augmented Lagrangian** (the reading the paper's reference to Birgin and Martínez suggests): the
  unconstrained parameters, with the stability conditions as inequality constraints (Powell–Hestenes–
  Rockafellar multipliers, updated every :data:`AL_UPDATE_EVERY` steps).
* **Baselines**, tuned by grid search on the held-out training crops: Perona–Malik (``K``, steps),
  NCDF (theta, k, steps), linear cross-diffusion (a rotation-scaled matrix, steps) and nonlinear
  cross-diffusion with ``g = 1/(1 + (v/k)^2)`` and a non-rotation matrix (:data:`GRIDS`); a TNRD-style learned
  reaction-diffusion (:mod:`.tnrd`) trained on the same data, greedily then jointly.
* **Comparisons**: PSNR and SSIM per image; methods are compared by the paired per-image difference with a
  95 % bootstrap interval (:func:`pdedenoise.stats.paired_bootstrap`, 10,000 resamples).
"""
from __future__ import annotations

import math

import torch

from ...data import registry
from ...data.imagesets import random_patches
from ...data.readers import load_image

SIGMAS = (15, 25, 50)
TAU = 0.2
TRAINING = dict(lr=1e-2, lr_final=1e-3, batch=8)
PROBE_EVERY = 25
AL_UPDATE_EVERY = 10
#: grids of the non-learned baselines (tuned per sigma on held-out training crops)
GRIDS = {
    "Perona-Malik": dict(K=(2.0, 4.0, 6.0, 8.0, 11.0, 16.0, 22.0), steps=(5, 10, 20, 40, 80), dt=0.2),
    "NCDF": dict(theta=(math.pi / 30, math.pi / 10), k=(1.0, 2.0, 4.0, 8.0), steps=(5, 10, 20, 40, 80, 160),
                 tau=0.2),
    "linear cross-diffusion": dict(scale=(0.25, 0.5, 1.0), rotation=(0.1, 0.3), steps=(2, 5, 10, 20), tau=0.2),
    "nonlinear cross-diffusion": dict(k=(2.0, 4.0, 8.0), b=(0.2, 0.5), steps=(5, 10, 20, 40), tau=0.2),
}
#: admissible ranges of the tuned parameters: a grid whose best value is at its edge is extended past it
#: (:func:`pdedenoise.gridsearch.interior_search`) within these; steps at least one; NCDF's angle below pi/2,
#: where the symmetric part of its rotation matrix (cos theta times the identity) would vanish, and not below
#: pi/300: as theta -> 0 NCDF tends to a limit flow (v ~ theta t Laplacian(u), g a function of v / (k theta)),
#: which the search does not chase further (a value there is reported "at its limit")
GRID_LIMITS = {
    "Perona-Malik": {"steps": (1, None)},
    "NCDF": {"steps": (1, None), "theta": (math.pi / 300, 0.45 * math.pi)},
    "linear cross-diffusion": {"steps": (1, None)},
    "nonlinear cross-diffusion": {"steps": (1, None)},
}
#: extensions of a grid allowed per parameter and side
GRID_EXTENSIONS = 4

#: the claims' rules, fixed before any result (see the chapter)
EDGE_TOL = dict(pixel_tolerance=1, close_to_best=0.05, above_random=0.1)

#: every size of the chapter, per scale
SCALES = {
    "ci": dict(stages=3, train_crop=32, n_train=64, n_tune=6, steps=60, sigmas=(25,), bsd68=4, set12=2,
               test_crop=64, synthetic=4, synthetic_size=64, tnrd=dict(stages=2, filters=8, centers=15,
                                                                       greedy=15, joint=15),
               control_stages=6, control_tau=0.3, rollout=10, bootstrap=2000),
    "medium": dict(stages=5, train_crop=48, n_train=2000, n_tune=24, steps=600, sigmas=SIGMAS, bsd68=68, set12=12,
                   test_crop=None, synthetic=24, synthetic_size=256,
                   tnrd=dict(stages=5, filters=24, centers=63, greedy=100, joint=200),
                   control_stages=10, control_tau=0.3, rollout=10, bootstrap=10_000),
    "full": dict(stages=20, train_crop=96, n_train=20_000, n_tune=100, steps=5000, sigmas=SIGMAS, bsd68=68,
                 set12=12, test_crop=None, synthetic=100, synthetic_size=256,
                 tnrd=dict(stages=5, filters=24, centers=63, greedy=2000, joint=5000),
                 control_stages=20, control_tau=0.3, rollout=10, bootstrap=10_000),
}


#: BSDS500 train + test images (sorted) kept out of learning, for tuning the non-learned baselines
TUNE_IMAGES = 40


def train_crops(count: int, size: int, seed: int = 0, part: str = "learn") -> torch.Tensor:
    """Grey crops (0–255) of BSDS500 train and test, (count, 1, size, size): ``part="learn"`` from all but the last
    :data:`TUNE_IMAGES` images (sorted by name), ``part="tune"`` from those (held out for the baselines)."""
    names = sorted(registry.files("BSDS500", "train/*.jpg") + registry.files("BSDS500", "test/*.jpg"))
    if part not in ("learn", "tune"):
        raise ValueError(f"part must be 'learn' or 'tune', got {part!r}")
    names = names[:-TUNE_IMAGES] if part == "learn" else names[-TUNE_IMAGES:]
    return random_patches([load_image("BSDS500", n) for n in names], size, count, seed=seed)


def test_images(name: str, count: int, crop: int | None = None) -> tuple[list[str], list[torch.Tensor]]:
    """The first ``count`` images of BSD68 or Set12 (grey, 0–255, each (1, 1, H, W)); centre crops of ``crop``
    pixels when given."""
    dataset = {"BSD68": "BSD68", "Set12": "Set12"}[name]
    names = sorted(f for f in registry.files(dataset) if f.lower().endswith(".png"))[:count]
    images = [load_image(dataset, f) for f in names]
    if crop is not None:
        images = [x[..., (x.shape[-2] - crop) // 2:(x.shape[-2] - crop) // 2 + crop,
                    (x.shape[-1] - crop) // 2:(x.shape[-1] - crop) // 2 + crop] for x in images]
    return names, images


def noisy(clean: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """``clean + sigma N(0, 1)``, not clipped, seeded."""
    g = torch.Generator().manual_seed(int(seed))
    return clean + sigma * torch.randn(clean.shape, generator=g, dtype=torch.float32).to(clean.dtype)
