"""The book's own model: a staged, learned nonlinear diffusion with reaction that is stable by construction.

Built from the book's parts, beyond any one paper:

* from chapter 3 (Fields of Experts): each stage computes ``F`` expert responses ``e = sigmoid(k_f * u_std)``
  (``k_f`` learned 5 x 5 filters of the standardised iterate) and a learned per-expert piecewise-linear function
  of each (20 intervals, the paper's intended, unsquared parameterisation);
* from chapter 2 (TNRD, cross-diffusion): separate parameters per stage, and a learned reaction
  ``-lambda_t (u - f)`` that pulls towards the noisy input;
* from the solver core: the diffusivity is ``g_t = cap * sigmoid(sum_f phi_f(e_f))`` at each pixel, averaged onto
  the edges, with ``cap`` chosen so that ``dt (4 cap + lambda_cap) < 1`` (0.1 % margin): every step obeys the discrete maximum
  principle for **any** parameter value, so the data-free certificate holds before training, during it and
  after it (checked by the solver, ``check="bound"``).

What the model cannot do, by this construction: sharpen (no backward diffusion, ``g >= 0``) or overshoot the
input's range. With ``F = 7`` experts and 8 stages it has 2,584 parameters, under a tenth of TNRD's 26,885.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from ..solvers.coefficients import CoefficientModel, Edges, Reaction
from ..solvers.explicit import ExplicitFlow
from ..solvers.stability import scalar_dt_max_from_sup
from ..stencils import average_to_edges

#: the architecture (the numbers the parameter budget allows; see the module docstring)
OWN = dict(stages=8, experts=7, kernel=5, dt=1.0, reaction_cap=0.2, g_start=0.05)
#: the cap sits this fraction below the bound, so that float32 rounding of a saturated sigmoid cannot cross it
CAP_MARGIN = 0.999


class CappedExpertDiffusivity(CoefficientModel):
    """``g = cap * sigmoid(b + sum_f phi_f(sigmoid(k_f * u_std)))`` per pixel, arithmetic mean onto the edges.

    Args:
        experts: F.
        kernel: filter size.
        cap: the bound of ``g`` (exclusive).
        g_start: the value of ``g`` everywhere at initialisation (all slopes zero).
    Input (N, 1, H, W); edges ``x`` (N, 1, H, W + 1), ``y`` (N, 1, H + 1, W), values in (0, cap).
    """

    def __init__(self, experts: int, kernel: int, cap: float, g_start: float):
        super().__init__()
        from ..papers.valdivia2024.method import Experts, FoEDiffusivity

        if not 0 < g_start < cap:
            raise ValueError(f"need 0 < g_start < cap, got g_start={g_start}, cap={cap}")
        self.experts = Experts(kernel, experts)
        self.function = FoEDiffusivity("splines", experts, faithful=False)
        self.cap = float(cap)
        with torch.no_grad():  # sigmoid(sum of offsets) = g_start / cap
            self.function.offsets.fill_(math.log(g_start / (cap - g_start)) / experts)

    def pixel(self, u: torch.Tensor) -> torch.Tensor:
        """The diffusivity at pixel centres, (N, 1, H, W)."""
        return self.cap * torch.sigmoid(self.function.phi(self.experts(u)).sum(dim=1, keepdim=True))

    def forward(self, u, dx, dy, bc) -> Edges:
        return Edges(*average_to_edges(self.pixel(u)))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        return scalar_dt_max_from_sup(self.cap, reaction_sup)


class OwnModel(nn.Module):
    """``stages`` explicit steps, each with its own :class:`CappedExpertDiffusivity` and reaction; (N, 1, H, W),
    0–255 in and out. Stable by construction (module docstring)."""

    def __init__(self, stages: int = OWN["stages"], experts: int = OWN["experts"], kernel: int = OWN["kernel"],
                 dt: float = OWN["dt"], reaction_cap: float = OWN["reaction_cap"], g_start: float = OWN["g_start"]):
        super().__init__()
        self.config = dict(stages=stages, experts=experts, kernel=kernel, dt=dt, reaction_cap=reaction_cap,
                           g_start=g_start)
        cap = CAP_MARGIN * (1.0 / dt - reaction_cap) / 4.0
        if not cap > g_start:
            raise ValueError(f"dt={dt} and reaction_cap={reaction_cap} leave no room for diffusion (cap {cap:.3g})")
        coefficients = [CappedExpertDiffusivity(experts, kernel, cap, g_start) for _ in range(stages)]
        reactions = [Reaction(1, init=0.1 * reaction_cap, cap=reaction_cap) for _ in range(stages)]
        self.flow = ExplicitFlow(coefficients, stages, dt, "neumann", reaction=reactions, check="bound")

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.flow(noisy)

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def certificates(self):
        """The data-free certificate of every stage (all hold for any parameters)."""
        return self.flow.certificates()

    @classmethod
    def from_state(cls, state: dict) -> "OwnModel":
        model = cls(**{k: state["config"][k] for k in OWN})
        model.load_state_dict(state["tensors"])
        return model


def fit_own(ctx) -> dict:
    """Train the own model on the protocol's pairs: MSE, Adam 1e-2 -> 1e-3 (as chapters 2 and 3), batch and steps
    of the scale's ``small`` budget."""
    from ..train import TrainConfig, fit, seed_everything

    seed_everything(ctx.seed)
    model = OwnModel()
    t0 = time.perf_counter()
    history = fit(model, ctx.train, TrainConfig(epochs=None, max_steps=int(ctx.steps["small"]), batch_size=ctx.batch, lr=1e-2,
                                      lr_final=1e-3, seed=ctx.seed, progress=ctx.progress,
                                      desc=f"own model, sigma {ctx.sigma:g}"))
    model.eval()
    return {"config": {**model.config, "seconds": time.perf_counter() - t0, "parameters": model.count_parameters(),
                       "final_loss": history.step_loss[-1]},
            "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()}}
