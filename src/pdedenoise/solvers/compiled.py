"""An opt-in compiled Perona–Malik step: ``torch.compile`` (inductor) fuses a whole step into one kernel.

``perona_malik(..., compile=True)`` runs here when no gradient is needed. The step is the same explicit
flux-form step as :mod:`pdedenoise.solvers.explicit` (Perona and Malik's four edges per pixel), written so
that the generated kernel vectorises and reads nothing but plain slices:

* the state lives in a buffer one ghost pixel wider on every side. For the zero-flux boundary the ghosts
  copy their neighbours after every step (two strided copies, rows then columns, through views made
  once), so a boundary edge has difference 0 and carries no flux; for the zero-value boundary they stay 0.
  No pad runs inside the kernel (a pad of the image or of the fluxes turns inductor's loop into scalar
  code, measured 1.7x slower per step);
* each pixel computes its four edge fluxes itself (an edge's flux is computed twice, once per pixel), so a
  step reads the state once and writes it once, between two preallocated buffers;
* the rational diffusivity's flux is ``d / (K^2 + d^2)`` with the factor ``K^2`` moved into the step size,
  and the four fractions of a pixel are summed over one common denominator,
  ``(p_x q_y + p_y q_x) / (q_x q_y)`` with ``q_x = q_E q_W``, ``p_x = d_E q_W + d_W q_E`` (and so on), so a
  pixel costs one division instead of four (the step is bound by divisions: 1.3x faster). The common
  denominator is a product of four factors ``K^2 + d^2``; where it could leave the floating-point range
  (:func:`one_division_safe`, decided once from the image's range and K) the four-division form runs
  instead. The exponential one is ``d exp(-d^2 / K^2)`` (its exponent capped as in
  :func:`pdedenoise.diffusivities.exponential`).

The results equal the eager solver's (:mod:`.blocked`) to float32 round-off, not bit for bit (the tests hold
them close).
Costs and limits: the first call per shape and dtype compiles (seconds; set ``TORCHINDUCTOR_CACHE_DIR``
to keep the kernels between processes), a new shape recompiles, and after eight shapes PyTorch
silently falls back to eager code. It needs a C++ compiler on a CPU. K and dt are passed as tensors so
that new values do not recompile.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..diffusivities import EXP_FLOOR
from ..stencils import check_bc

_COMPILED: dict[str, object] = {}
FORMS = ("rational, one division", "rational, four divisions", "exponential")


def _flux(d: torch.Tensor, k2: torch.Tensor, rational: bool) -> torch.Tensor:
    """The flux across an edge of difference ``d``, divided by ``K^2`` for the rational diffusivity."""
    return d / (k2 + d * d) if rational else d * torch.exp(-torch.clamp((d * d) / k2, max=EXP_FLOOR))


def _differences(up: torch.Tensor):
    """The centre (N, C, H, W) of a ghost-padded state and its differences to the four neighbours."""
    u = up[..., 1:-1, 1:-1]
    return u, up[..., 1:-1, 2:] - u, up[..., 1:-1, :-2] - u, up[..., 2:, 1:-1] - u, up[..., :-2, 1:-1] - u


def _pm_interior(up: torch.Tensor, out: torch.Tensor, k2: torch.Tensor, c: torch.Tensor, form: str) -> None:
    """``out``'s interior <- one step from the ghost-padded state ``up`` (N, C, H + 2, W + 2)."""
    u, east, west, south, north = _differences(up)
    if form == "rational, one division":
        qe, qw, qs, qn = k2 + east * east, k2 + west * west, k2 + south * south, k2 + north * north
        qx, qy = qe * qw, qs * qn
        flux = ((east * qw + west * qe) * qy + (south * qn + north * qs) * qx) / (qx * qy)
    else:
        rational = form == "rational, four divisions"
        flux = ((_flux(east, k2, rational) + _flux(west, k2, rational))
                + (_flux(south, k2, rational) + _flux(north, k2, rational)))
    out[..., 1:-1, 1:-1] = u + c * flux


def step_function(form: str):
    """The compiled interior step of one of :data:`FORMS`."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; use one of {FORMS}")
    if form not in _COMPILED:
        def step(up, out, k2, c):
            _pm_interior(up, out, k2, c, form)

        _COMPILED[form] = torch.compile(step, dynamic=False)
    return _COMPILED[form]


def one_division_safe(u: torch.Tensor, k2: torch.Tensor) -> bool:
    """Whether the one-division form stays inside ``u``'s floating-point range for this image and K.

    Every difference is at most ``R = 2 max|u|`` (between two values of the image, or a value and the zero
    of a zero-value boundary; the explicit step keeps values inside that range), so each factor ``K^2 + d^2``
    lies in ``[K^2, K^2 + R^2]``: the product of four must not overflow (with a factor 16 of headroom for the
    sums in the numerator) nor underflow to a subnormal number (the flat parts of an image, where every ``d``
    is 0, would divide 0 by 0).
    """
    info = torch.finfo(u.dtype)
    spread = 2.0 * float(u.abs().amax()) if u.numel() else 0.0
    low, high = float(k2.min()), float(k2.max()) + spread * spread
    top = max(high, 2.0 * spread * spread, 1.0)
    return low > 0 and low ** 4 > info.tiny * 1e6 and 16.0 * top ** 4 < info.max


class _Ghosts:
    """Mirror the ghost rows and columns of a padded state (N, C, H + 2, W + 2) onto their inner neighbours,
    with views made once: rows 0 and H + 1 <- rows 1 and H, then columns 0 and W + 1 <- columns 1 and W."""

    def __init__(self, v: torch.Tensor):
        H, W = v.shape[-2] - 2, v.shape[-1] - 2
        # a stride of H + 1 picks rows 0 and H + 1; a stride of H - 1 from row 1 picks rows 1 and H
        rows = (v[..., ::H + 1, 1:-1], v[..., 1:H + 1:H - 1, 1:-1]) if H > 1 else (v[..., ::H + 1, 1:-1], v[..., 1:2, 1:-1])
        cols = (v[..., ::W + 1], v[..., 1:W + 1:W - 1]) if W > 1 else (v[..., ::W + 1], v[..., 1:2])
        self.copies = (rows, cols)

    def __call__(self) -> None:
        for ghost, inner in self.copies:
            ghost.copy_(inner)


@torch.no_grad()
def perona_malik(u: torch.Tensor, K: float | torch.Tensor, h: float, steps: int, diffusivity: str = "rational",
                 bc: str = "neumann", every=None) -> torch.Tensor:
    """``steps`` compiled Perona–Malik steps (edge scheme) of size ``h``; K a float or per-image (N,).

    Args:
        u: (N, C, H, W) state, any value range.
    Returns:
        (N, C, H, W), a new tensor.
    """
    check_bc(bc)
    if diffusivity not in ("rational", "exponential"):
        raise ValueError(f"unknown diffusivity {diffusivity!r}; use 'rational' or 'exponential'")
    K = torch.as_tensor(K, dtype=u.dtype, device=u.device)
    k2 = (K * K).reshape(-1, 1, 1, 1) if K.ndim else K * K
    if diffusivity == "rational":
        form = "rational, one division" if one_division_safe(u, k2) else "rational, four divisions"
        c = h * k2
    else:
        form, c = "exponential", torch.as_tensor(h, dtype=u.dtype, device=u.device)
    step = step_function(form)
    neumann = bc == "neumann"
    a = F.pad(u, (1, 1, 1, 1), mode="replicate" if neumann else "constant")
    b = a.clone()  # its ghosts: mirrored after each step (zero flux), or 0 for good (zero value)
    ghosts_a, ghosts_b = (_Ghosts(a), _Ghosts(b)) if neumann else (None, None)
    for k in range(steps):
        step(a, b, k2, c)
        if neumann:
            ghosts_b()
        a, b = b, a
        ghosts_a, ghosts_b = ghosts_b, ghosts_a
        if every is not None:
            every(k + 1)
    return a[..., 1:-1, 1:-1].clone()
