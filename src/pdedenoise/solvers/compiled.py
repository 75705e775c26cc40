"""An opt-in compiled Perona–Malik step: ``torch.compile`` (inductor) fuses a whole step into one kernel.

``perona_malik(..., compile=True)`` runs here when no gradient is needed. The step is the same explicit
flux-form step as :mod:`pdedenoise.solvers.explicit`, written so that the generated kernel vectorises:
the zero-flux boundary is a zero *pad of the fluxes* (a replicate pad of the image turns inductor's
kernel into a scalar loop), a zero-value boundary a zero pad of the image. The compiled kernel may
contract multiply-adds and recomputes each edge's flux for both its pixels, so its float32 results
differ from the eager solver's in the last bits (float64: to round-off); the tests hold them close.

Costs and limits: the first call per shape and dtype compiles (seconds; set ``TORCHINDUCTOR_CACHE_DIR``
to keep the kernels between processes), a new shape recompiles, and after eight shapes PyTorch
silently falls back to eager code. It needs a C++ compiler on a CPU. K and dt are passed as tensors so
that new values do not recompile.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_COMPILED: dict[tuple[str, str], object] = {}


def _pm_step(u: torch.Tensor, k2: torch.Tensor, dt: torch.Tensor, rational: bool, dirichlet: bool) -> torch.Tensor:
    v = F.pad(u, (1, 1, 1, 1)) if dirichlet else u  # zero ghost pixels: the boundary edges carry flux
    dx = v[..., 1:] - v[..., :-1]
    dy = v[..., 1:, :] - v[..., :-1, :]
    if rational:
        fx = dx / (1.0 + dx * dx / k2)
        fy = dy / (1.0 + dy * dy / k2)
    else:
        fx = dx * torch.exp(-(dx * dx) / k2)
        fy = dy * torch.exp(-(dy * dy) / k2)
    if dirichlet:
        fx, fy = fx[..., 1:-1, :], fy[..., 1:-1]
    else:  # zero flux through the boundary edges
        fx, fy = F.pad(fx, (1, 1)), F.pad(fy, (0, 0, 1, 1))
    return u + dt * ((fx[..., 1:] - fx[..., :-1]) + fy[..., 1:, :] - fy[..., :-1, :])


def step_function(diffusivity: str, bc: str):
    """The compiled step for a diffusivity (``"rational"`` or ``"exponential"``) and boundary condition."""
    key = (diffusivity, bc)
    if key not in _COMPILED:
        rational, dirichlet = diffusivity == "rational", bc == "dirichlet"

        def step(u, k2, dt):
            return _pm_step(u, k2, dt, rational, dirichlet)

        _COMPILED[key] = torch.compile(step, dynamic=False)
    return _COMPILED[key]


@torch.no_grad()
def perona_malik(u: torch.Tensor, K: float | torch.Tensor, h: float, steps: int, diffusivity: str = "rational",
                 bc: str = "neumann", every=None) -> torch.Tensor:
    """``steps`` compiled Perona–Malik steps (edge scheme) of size ``h``; K a float or per-image (N,)."""
    step = step_function(diffusivity, bc)
    K = torch.as_tensor(K, dtype=u.dtype, device=u.device)
    k2 = (K * K).reshape(-1, 1, 1, 1) if K.ndim else K * K
    dt = torch.tensor(h, dtype=u.dtype, device=u.device)
    for k in range(steps):
        u = step(u, k2, dt)
        if every is not None:
            every(k + 1)
    return u
