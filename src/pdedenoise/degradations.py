"""Degradations in one place: Gaussian noise, how a noisy image was stored, and diffusion blurs.

* **Noise.** :func:`add_gaussian_noise` adds white Gaussian noise of standard deviation ``sigma``
  given on the 0–255 scale, to images on the 0–255 (``data_range=255``) or 0–1 (``data_range=1``)
  scale; a seed gives the same realisation on CPU and GPU and in float32 and float64.
* **Storage (sensor models).** A real-valued noisy image may have been stored as is, clipped to the
  valid range, rounded and clipped (a saturating ``uint8``), or truncated modulo 256 (a ``uint8``
  cast that wraps): :func:`store`, :data:`STORAGE`.
* **Blurs.** The forward models of inverse problems: :func:`perona_malik_blur` (a few explicit
  Perona–Malik steps, the forward model of the DiffNet paper) and :func:`heat_blur` (the exact
  semi-discrete heat flow).

Images are tensors (N, C, H, W) (noise: any shape).
"""
from __future__ import annotations

import math

import torch

from . import validate
from .stencils import BoundaryCondition

STORAGE = ("plain", "clip", "round_clip", "wrap")
"""How a noisy image was stored (values on the 0–255 scale for ``round_clip`` and ``wrap``):

``plain``       clean + noise, real-valued, unclipped;
``clip``        clipped to [0, data_range] (a float image clipped after adding noise);
``round_clip``  rounded and clipped: a ``uint8`` image with saturation (``np.clip(...).astype(np.uint8)``);
``wrap``        truncated modulo 256: ``(clean + noise).astype(np.uint8)`` without clipping, which wraps
                negative values to bright ones and values above 255 to dark ones.
"""


def add_gaussian_noise(x: torch.Tensor, sigma: float, seed: int | None = None,
                       generator: torch.Generator | None = None, clip: bool = False,
                       data_range: float = 255.0) -> torch.Tensor:
    """x + N(0, (sigma * data_range / 255)^2), i.e. ``sigma`` is always on the 0–255 scale.

    Any shape; returns a new float tensor on x's device and dtype (integer x -> float32). The noise
    is drawn on the CPU (from ``torch.Generator().manual_seed(seed)``, or ``generator``, or the
    global RNG if neither) in float32 and then moved and cast, so a seed gives the same noise on CPU
    and GPU and for float32 and float64 inputs.
    ``clip`` clamps the result to [0, data_range]. NaN/inf in x or sigma < 0 -> ValueError.
    """
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    sigma = validate.nonnegative("sigma", sigma, "sigma is the noise level on the 0-255 scale")
    data_range = validate.data_range(data_range)
    if seed is not None:
        seed = validate.count("seed", seed, 0)
    if not isinstance(clip, bool):
        raise TypeError(f"clip must be True or False, got {clip!r}")
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("add_gaussian_noise: input contains NaN or inf")
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    gen_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32, device=gen_device)
    std = float(sigma) * float(data_range) / 255.0
    y = x + (noise * std).to(device=x.device, dtype=x.dtype)
    return y.clamp(0.0, float(data_range)) if clip else y


def store(noisy: torch.Tensor, mode: str, data_range: float = 255.0) -> torch.Tensor:
    """What a given storage (:data:`STORAGE`) would hold of a real-valued noisy image."""
    data_range = validate.data_range(data_range)
    if mode == "plain":
        return noisy
    if mode == "clip":
        return noisy.clamp(0.0, float(data_range))
    if mode in ("round_clip", "wrap") and data_range != 255.0:
        raise ValueError(f"storage {mode!r} models an 8-bit image: it needs the 0-255 scale (data_range=255)")
    if mode == "round_clip":
        return noisy.round().clamp(0.0, 255.0)
    if mode == "wrap":
        return torch.remainder(torch.trunc(noisy), 256.0)
    raise ValueError(f"unknown storage {mode!r}; use one of {STORAGE}")


def noisy_image(clean: torch.Tensor, sigma: float, seed: int, mode: str = "plain",
                data_range: float = 255.0) -> torch.Tensor:
    """``clean`` plus Gaussian noise of std ``sigma`` (0–255 scale) from ``seed``, stored as ``mode``.

    All storage modes share one noise realisation per seed, so they differ only in storage.
    """
    return store(add_gaussian_noise(clean, sigma, seed=seed, data_range=data_range), mode, data_range)


def perona_malik_blur(u: torch.Tensor, K: float, dt: float, steps: int, diffusivity: str = "rational",
                      bc: BoundaryCondition = "neumann", scheme: str = "edge") -> torch.Tensor:
    """``steps`` explicit Perona–Malik steps (:func:`pdedenoise.diffusion.perona_malik`) as a forward model."""
    from .diffusion import perona_malik

    return perona_malik(u, K, dt=dt, steps=steps, diffusivity=diffusivity, bc=bc, scheme=scheme)


def heat_blur(u: torch.Tensor, T: float, bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """Isotropic diffusion ``u_t = Laplacian(u)`` to time ``T``: the exact semi-discrete flow."""
    from .solvers.spectral import heat_spectral

    T = validate.nonnegative("T", T, "T is the diffusion time")
    return heat_spectral(u, 1.0, T, bc)
