"""The book's certified model that can sharpen: an unrolled gradient flow of learned weakly convex ridge energies.

Stage ``t`` (``t = 1..T``) of the flow started at ``u_0 = f`` (the noisy image) is one gradient step

    u  <-  u - alpha_t [ K_t^T psi_t'(K_t u) + lambda_t (u - f) ],      K_t = W_t G,

of the energy ``E_t(u) = sum psi_t(K_t u) + lambda_t/2 ||u - f||^2`` (the weakly convex ridge regulariser of
WCRR-NN: Goujon, Neumayer and Unser, "Learning weakly convex regularizers for convergent image-reconstruction
algorithms", SIAM J. Imaging Sci. 17, 2024), where

* ``G u = (d_x u, d_y u)`` are the forward differences with zero-flux boundary (the last difference of every row and
  column is zero), ``||G||^2 <= 8``;
* ``W_t`` is a bank of ``C`` learned ``k x k`` filters on the two gradient fields, zero-padded (the gradient of the
  mirrored image vanishes outside, so no border effects of a black frame), ``K_t u`` (N, C, H, W);
* ``psi_t'`` is one learned odd piecewise-linear function per filter, knots every ``spacing`` grey levels of the
  response up to ``knots * spacing`` and constant beyond, with slopes in ``(-rho_max, beta_max)`` by construction:
  negative slopes make ``psi`` non-convex -- backward diffusion, which sharpens.

With ``W`` the identity on the two fields and ``psi' = `` the Perona–Malik flux ``z / (1 + (z/K)^2)`` a stage is
exactly an explicit Perona–Malik step of the edge scheme plus a reaction: :func:`initialise` starts there.

**Certificate** (:class:`~pdedenoise.solvers.stability.RidgeCertificate`, computed in the solver core in float64
from the parameters): with ``L_t = 8 * conv_norm_sq_bound(W_t) >= ||K_t||^2``, ``rho_t, beta_t`` the largest
negative and positive slope of the stage's ``psi'``, the step uses

    lambda_t = (1 + m) rho_t L_t + softplus(a_t),    alpha_t = 2 (1 - m) sigmoid(b_t) / (beta_t L_t + lambda_t),

(``m = 1e-3``) so ``lambda_t >= rho_t L_t`` (the stage's energy is convex) and ``alpha_t (beta_t L_t + lambda_t)
<= 2`` for **any** parameter value: every stage is non-expansive in l2, ``||T_t(u) - T_t(v)|| <= q_t ||u - v||``,
``q_t <= 1``, before, during and after training. For the whole model, ``||model(f) - model(g)|| <= J ||f - g||``
with ``J`` from :meth:`CertifiedModel.lipschitz` (``J_0 = 1, J_t = q_t J_{t-1} + alpha_t lambda_t``), a number the
leaderboard can show. Unlike the maximum-principle model (:mod:`.ownmodel`), the output may leave the input's
range: the certificate bounds how perturbations grow, not the values.

Size: 8 stages x (12 filters x 2 x 3 x 3 + 12 x 9 slopes + 2 scalars) = 2,608 parameters (under the 2,700 budget):
3 x 3 filters on the gradient are 4 x 4 filters on the image; 12 filters leave room for oriented ones beside the
two of the Perona–Malik start; 9 knots every 10 grey levels cover responses up to 90 (the noise's differences at
sigma 25 have a standard deviation of about 35); 8 stages give the flow a total time of up to about 2, where tuned
Perona–Malik stops.

Images are (N, 1, H, W), grey values 0–255 in and out, as for :class:`~.ownmodel.OwnModel`.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .. import kernels

from ..solvers.stability import (GRADIENT_NORM_SQ, RidgeCertificate, conv_norm_sq_bound, ridge_lipschitz,
                                 ridge_step_parameters)

#: the architecture (module docstring says why)
CERTIFIED = dict(stages=8, channels=12, kernel=3, knots=9, spacing=10.0, rho_max=1.0, beta_max=2.0, repeats=1)
#: the grid :func:`search_start` starts from for the Perona–Malik start on the tuning pairs: the Perona–Malik contrast K
#: and the step as a fraction of its bound (searched together and extended past an edge their optimum lands on, within
#: :data:`INIT_LIMITS`), then the most negative slope allowed (0: a monotone flux, a convex energy) at that point
INIT_GRID = dict(K=(8.0, 11.0, 16.0, 22.0, 32.0), alpha=(0.4, 0.6, 0.8, 0.99), rho=(0.0, 1 / 32, 1 / 8))
#: the admissible range of each searched start parameter
INIT_LIMITS = dict(K=(1.0, None), alpha=(0.05, 0.999))


def gradient(u: torch.Tensor) -> torch.Tensor:
    """``G u``: forward differences with zero-flux boundary, (N, 1, H, W) -> (N, 2, H, W) (x then y; the last
    column of ``d_x`` and the last row of ``d_y`` are zero)."""
    gx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1))
    gy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([gx, gy], dim=1)


def gradient_adjoint(p: torch.Tensor) -> torch.Tensor:
    """``G^T p`` (minus the divergence), (N, 2, H, W) -> (N, 1, H, W): the exact adjoint of :func:`gradient`."""
    px, py = p[:, :1, :, :-1], p[:, 1:, :-1, :]
    return F.pad(px, (1, 0)) - F.pad(px, (0, 1)) + F.pad(py, (0, 0, 1, 0)) - F.pad(py, (0, 0, 0, 1))


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-4, 1 - 1e-4)
    return torch.log(p) - torch.log1p(-p)


class OddSpline(nn.Module):
    """``C`` odd piecewise-linear functions ``psi_c'``: ``psi_c'(z) = sign(z) sum_j s_cj clamp(|z| - j h, 0, h)``,
    ``j = 0..S-1``, constant beyond ``S h``; slopes ``s = -rho_max + (rho_max + beta_max) sigmoid(raw)``.

    Input and output (N, C, H, W), any real values (responses in grey levels)."""

    def __init__(self, channels: int, knots: int, spacing: float, rho_max: float, beta_max: float):
        super().__init__()
        if not (spacing > 0 and rho_max >= 0 and beta_max > 0):
            raise ValueError(f"need spacing > 0, rho_max >= 0, beta_max > 0; got {spacing}, {rho_max}, {beta_max}")
        self.knots, self.spacing, self.rho_max, self.beta_max = int(knots), float(spacing), float(rho_max), float(beta_max)
        self.raw = nn.Parameter(torch.zeros(channels, knots))

    def slopes(self) -> torch.Tensor:
        """(C, S), in (-rho_max, beta_max)."""
        return -self.rho_max + (self.rho_max + self.beta_max) * torch.sigmoid(self.raw)

    def slope_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rho, beta)``: the largest negative and positive slope (>= 0 each; the flat tail has slope 0)."""
        s = self.slopes()
        return (-s.min()).clamp(min=0.0), s.max().clamp(min=0.0)

    def set_function(self, values: torch.Tensor) -> None:
        """Interpolate ``values`` (C, S + 1) at the knots ``0, h, ..., S h`` (``values[:, 0]`` is ignored: 0)."""
        s = (values[:, 1:] - torch.cat([torch.zeros_like(values[:, :1]), values[:, 1:-1]], 1)) / self.spacing
        with torch.no_grad():
            self.raw.copy_(_logit((s + self.rho_max) / (self.rho_max + self.beta_max)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = self.slopes()
        h, S = self.spacing, self.knots
        # on interval j, psi'(|z|) = c_j + s_j |z| with c_j = (value at the left knot) - s_j j h; one gather each
        c = h * (torch.cumsum(s, dim=1) - s) - s * h * torch.arange(S, dtype=s.dtype, device=s.device)
        if kernels.reference():   # the lookups through autograd (its take backward scatters one value at a time)
            return spline_lookup(z, c.reshape(-1), s.reshape(-1), h, S)
        return _SplineLookup.apply(z, c.reshape(-1), s.reshape(-1), h, S)


def _lookup_position(z: torch.Tensor, S: int, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``|z|`` clamped at ``S h`` and the flat table index (channel row + interval of ``|z|``, int64)."""
    az = z.abs().clamp(max=S * h)
    i = (az.detach() * (1.0 / h)).clamp(max=S - 1).to(torch.int64)   # truncation = floor for |z| >= 0
    return az, i + (torch.arange(z.shape[1], device=z.device) * S).view(1, -1, 1, 1)


def spline_lookup(z: torch.Tensor, c: torch.Tensor, s: torch.Tensor, h: float, S: int) -> torch.Tensor:
    """``sign(z) (c[i] + s[i] |z|)``: :meth:`OddSpline.forward`'s table lookup; ``z`` (N, C, H, W), ``c`` and ``s``
    the (C * S) flat intercepts and slopes of the intervals, ``i`` the channel's interval of ``|z|`` (clamped)."""
    az, i = _lookup_position(z, S, h)
    return (torch.take(c, i) + torch.take(s, i) * az) * torch.sign(z)


def _spline_lookup_gradients(z, s, grad, h: float, S: int):
    """The backward of :func:`spline_lookup`: ``d/dz = s[i]`` where ``0 < |z| <= S h`` (``|.|`` has slope 0 at 0, the
    clamp above ``S h``); ``d/dc``, ``d/ds``: histograms of ``grad sign(z)`` and ``grad sign(z) |z|`` per interval."""
    az, i = _lookup_position(z, S, h)
    grad_z = grad * torch.take(s, i) * ((z.abs() <= S * h) & (z != 0))
    g = grad * torch.sign(z)
    flat = i.reshape(-1)
    grad_c = torch.zeros_like(s).index_add(0, flat, g.reshape(-1))
    grad_s = torch.zeros_like(s).index_add(0, flat, (g * az).reshape(-1))
    return grad_z, grad_c, grad_s


class _SplineLookup(torch.autograd.Function):
    """:func:`spline_lookup` with its gradients in closed form (``z`` and the slopes kept), optionally compiled
    (:mod:`pdedenoise.kernels`); the same values as the composed operations, gradients to float32 round-off."""

    @staticmethod
    def forward(ctx, z, c, s, h: float, S: int):
        ctx.save_for_backward(z, s)
        ctx.h, ctx.S = h, S
        return kernels.kernel("certified spline", spline_lookup)(z, c, s, h, S)

    @staticmethod
    def backward(ctx, grad):
        z, s = ctx.saved_tensors
        grad_z, grad_c, grad_s = kernels.kernel("certified spline gradients", _spline_lookup_gradients)(
            z, s, grad.contiguous(), ctx.h, ctx.S)
        return grad_z, grad_c, grad_s, None, None


class RidgeStage(nn.Module):
    """One certified stage (module docstring): filters ``weight`` (C, 2, k, k), :class:`OddSpline`, raw data weight
    and raw step. ``forward(u, f)``: (N, 1, H, W) each, 0–255."""

    def __init__(self, channels: int, kernel: int, knots: int, spacing: float, rho_max: float, beta_max: float):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.weight = nn.Parameter(torch.zeros(channels, 2, kernel, kernel))
        self.psi = OddSpline(channels, knots, spacing, rho_max, beta_max)
        self.raw_lambda = nn.Parameter(torch.tensor(-5.0))
        self.raw_alpha = nn.Parameter(torch.tensor(2.0))

    def bound(self) -> torch.Tensor:
        """``L >= ||K||^2``: ``8 * conv_norm_sq_bound(W)``, differentiable."""
        return GRADIENT_NORM_SQ * conv_norm_sq_bound(self.weight)

    def step_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lambda, alpha)`` the step uses (certified for any parameter value)."""
        rho, beta = self.psi.slope_bounds()
        return ridge_step_parameters(self.bound(), rho, beta, self.raw_lambda, self.raw_alpha)

    def energy_gradient(self, u: torch.Tensor) -> torch.Tensor:
        """``K^T psi'(K u)``, (N, 1, H, W)."""
        p = self.weight.shape[-1] // 2
        z = F.conv2d(gradient(u), self.weight, padding=p)
        return gradient_adjoint(F.conv_transpose2d(self.psi(z), self.weight, padding=p))

    def forward(self, u: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        lam, alpha = self.step_parameters()
        return u - alpha * (self.energy_gradient(u) + lam * (u - f))

    @torch.no_grad()
    def certificate(self, what: str = "stage") -> RidgeCertificate:
        """The stage's certificate: ``L``, ``rho``, ``beta`` recomputed in float64 from the parameters, with the
        ``alpha`` and ``lambda`` the step uses."""
        lam, alpha = self.step_parameters()
        s = self.psi.slopes().double()
        L = GRADIENT_NORM_SQ * float(conv_norm_sq_bound(self.weight.double()))
        return RidgeCertificate(float(alpha), float(lam), max(0.0, float(-s.min())), max(0.0, float(s.max())), L, what)


class CertifiedModel(nn.Module):
    """``stages`` certified gradient steps (module docstring), each applied ``repeats`` times in a row (the same
    parameters: more steps of the flow for no more parameters); (N, 1, H, W), 0–255 in and out.

    Every call first checks every stage's certificate (a :class:`~pdedenoise.solvers.stability.StabilityError`
    names a broken one: only NaN or infinite parameters can break it) unless ``check=False``."""

    def __init__(self, stages: int = CERTIFIED["stages"], channels: int = CERTIFIED["channels"],
                 kernel: int = CERTIFIED["kernel"], knots: int = CERTIFIED["knots"],
                 spacing: float = CERTIFIED["spacing"], rho_max: float = CERTIFIED["rho_max"],
                 beta_max: float = CERTIFIED["beta_max"], repeats: int = CERTIFIED["repeats"], check: bool = True):
        super().__init__()
        if int(repeats) < 1:
            raise ValueError(f"repeats must be a positive integer, got {repeats}")
        self.config = dict(stages=stages, channels=channels, kernel=kernel, knots=knots, spacing=spacing,
                           rho_max=rho_max, beta_max=beta_max, repeats=int(repeats))
        self.repeats = int(repeats)
        self.stages = nn.ModuleList(RidgeStage(channels, kernel, knots, spacing, rho_max, beta_max)
                                    for _ in range(stages))
        self.check = check
        initialise(self)

    def certificates(self) -> list[RidgeCertificate]:
        """Every stage's certificate (float64, from the parameters)."""
        return [s.certificate(f"certified stage {t + 1}") for t, s in enumerate(self.stages)]

    def lipschitz(self) -> float:
        """``J``: ``||model(f) - model(g)||_2 <= J ||f - g||_2`` for all images ``f, g`` (raises when a stage's
        certificate fails)."""
        return ridge_lipschitz([c for c in self.certificates() for _ in range(self.repeats)])

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        if noisy.ndim != 4 or noisy.shape[1] != 1:
            raise ValueError(f"expected a grey image batch (N, 1, H, W), got shape {tuple(noisy.shape)}")
        if self.check:
            for c in self.certificates():
                c.require()
        u = noisy
        for stage in self.stages:
            for _ in range(self.repeats):
                u = stage(u, noisy)
        return u

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_state(cls, state: dict) -> "CertifiedModel":
        model = cls(**{k: state["config"].get(k, CERTIFIED[k]) for k in CERTIFIED})  # states before repeats: 1
        model.load_state_dict(state["tensors"])
        return model


def pm_flux(z: torch.Tensor, K: float) -> torch.Tensor:
    """The Perona–Malik flux of the rational diffusivity, ``z / (1 + (z/K)^2)`` (slope 1 at 0, down to -1/8)."""
    return z / (1 + (z / K) ** 2)


@torch.no_grad()
def initialise(model: CertifiedModel, K: float = 22.0, rho: float = 1 / 32, alpha: float = 0.95,
               noise: float = 0.01, seed: int = 0) -> CertifiedModel:
    """Start every stage at a Perona–Malik step: ``W`` the identity on the two gradient fields (the other filters
    small random, std ``noise``, so that they learn), ``psi'`` the flux :func:`pm_flux` of contrast ``K`` with its
    slopes clipped below at ``-rho`` (``rho = 0``: a monotone flux, a convex energy; ``1/8`` leaves the
    Perona–Malik flux as it is), the least data weight the certificate allows, and the step ``alpha`` times its
    bound. Returns the model."""
    gen = torch.Generator().manual_seed(seed)
    for stage in model.stages:
        C, _, k, _ = stage.weight.shape
        w = noise * torch.randn(stage.weight.shape, generator=gen)
        w[:2] = 0.0
        w[0, 0, k // 2, k // 2] = 1.0
        w[1, 1, k // 2, k // 2] = 1.0
        stage.weight.copy_(w)
        psi = stage.psi
        zk = torch.arange(psi.knots + 1, dtype=torch.float64) * psi.spacing
        s = torch.diff(pm_flux(zk, K)) / psi.spacing
        s = s.clamp(min=-rho)
        values = torch.cat([torch.zeros(1, dtype=torch.float64), psi.spacing * torch.cumsum(s, 0)])
        psi.set_function(values.float().expand(C, -1))
        stage.raw_lambda.fill_(-9.0)
        stage.raw_alpha.copy_(_logit(torch.tensor(alpha)))
    return model


def mean_psnr(model: nn.Module, pairs) -> float:
    """Mean PSNR (peak 255) of ``model`` over ``pairs`` = ``(noisy, clean)``, (N, 1, H, W) each, 0–255, run without
    gradients eight images at a time."""
    from ..metrics import psnr

    noisy, clean = pairs
    with torch.no_grad():
        out = torch.cat([model(noisy[i:i + 8]) for i in range(0, noisy.shape[0], 8)])
    return float(psnr(out.double(), clean.double(), 255.0).mean())


def search_start(model: CertifiedModel, tune, grid: dict = INIT_GRID, seed: int = 0) -> dict:
    """The starting point of :func:`initialise` with the best mean PSNR on the tuning pairs ``tune`` (never the test
    images): ``K`` and ``alpha`` together on their grid at ``rho = 1/32``, the grid extended past any edge the optimum
    lands on (:func:`pdedenoise.gridsearch.interior_search`, within :data:`INIT_LIMITS`), then ``rho`` on its grid at
    that point; the model is left there. Returns ``{"K", "rho", "alpha", "PSNR", "evaluations", "where"}`` (where
    each optimum lies on its grid)."""
    from ..gridsearch import interior_search

    rho0 = 1 / 32
    r = interior_search(lambda p: mean_psnr(initialise(model, p["K"], rho0, p["alpha"], seed=seed), tune),
                        {"K": list(grid["K"]), "alpha": list(grid["alpha"])}, limits=INIT_LIMITS)
    best = {"K": r.params["K"], "rho": rho0, "alpha": r.params["alpha"], "PSNR": r.score}
    evaluations = r.evaluations
    for rho in grid["rho"]:
        if rho == rho0:
            continue
        score = mean_psnr(initialise(model, best["K"], rho, best["alpha"], seed=seed), tune)
        evaluations += 1
        if score > best["PSNR"]:
            best.update(rho=rho, PSNR=score)
    initialise(model, best["K"], best["rho"], best["alpha"], seed=seed)
    return {**best, "evaluations": evaluations, "where": dict(r.where)}


def fit_certified(ctx, steps: int | None = None, lr: float = 1e-2, lr_final: float = 1e-3, repeats: int = 1) -> dict:
    """Fit the certified model (each stage applied ``repeats`` times) under the leaderboard's protocol: the start by
    :func:`search_start` on the tuning pairs, then Adam (``lr -> lr_final``, MSE) on the training pairs for the
    scale's ``small`` budget (or ``steps``); the trained model is kept only if it beats its start on the tuning pairs
    (so training never makes it worse than the start it was given). Returns a state ``{"config", "tensors"}``."""
    from ..train import TrainConfig, fit, seed_everything

    seed_everything(ctx.seed)
    model = CertifiedModel(repeats=repeats)
    t0 = time.perf_counter()
    start = search_start(model, ctx.tune, seed=ctx.seed)
    start_tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    steps = int(ctx.steps["small"]) if steps is None else int(steps)
    history = fit(model, ctx.train, TrainConfig(epochs=None, max_steps=steps, batch_size=ctx.batch, lr=lr,
                                                lr_final=lr_final, seed=ctx.seed, progress=ctx.progress,
                                                desc=f"certified model, sigma {ctx.sigma:g}"))
    model.eval()
    trained = mean_psnr(model, ctx.tune)
    kept = trained >= start["PSNR"]
    if not kept:
        model.load_state_dict(start_tensors)
    return {"config": {**model.config, "seconds": time.perf_counter() - t0, "parameters": model.count_parameters(),
                       "final_loss": history.step_loss[-1], "start": start, "tune_psnr_trained": trained,
                       "kept_training": kept, "lipschitz": model.lipschitz()},
            "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()}}
