"""Every method of the leaderboard, by name: how it is tuned or trained under the protocol, and how it denoises.

A method's *state* is what tuning or training produced (a few numbers, or a network's weights) as a plain dict
``{"config": {...}, "tensors": {...}}`` that :mod:`.weights` saves and checks. ``build(state)`` returns the
denoiser, a function ``noisy (N, 1, H, W), 0–255 -> restored (N, 1, H, W)``, float32, no gradient.

Stability labels (the ``stability`` column):

``certificate``
    every step is proven stable before it runs: the data-free bound of the coefficients covers the step, or the
    step is split into sub-steps from the certificate of its actual coefficients (maximum principle for scalar
    diffusivities, l2 for the cross-diffusion blocks).
``empirical``
    a PDE-like flow with no proof: stable on the test images, not for every input.
``not a PDE``
    a network or a classical filter.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from .. import diffusion
from ..train import TrainConfig, fit, seed_everything

Denoiser = Callable[[torch.Tensor], torch.Tensor]
Pairs = tuple[torch.Tensor, torch.Tensor]


@dataclass
class FitContext:
    """What tuning or training may use: training pairs ``train`` and tuning pairs ``tune`` (both ``(noisy, clean)``,
    (N, 1, s, s), 0–255, from BSDS500 train + test only), the noise level, the budget and the seed."""

    sigma: float
    train: Pairs
    tune: Pairs
    steps: Mapping[str, object]
    batch: int = 8
    seed: int = 0
    progress: bool = False


@dataclass(frozen=True)
class Method:
    """One leaderboard entry.

    Attributes:
        name: the command-line name (``pdedenoise denoise ... --method NAME``).
        label: the name in tables.
        family: ``"PDE, tuned"``, ``"PDE, learned"``, ``"network"`` or ``"classical"``.
        stability: ``"certificate"``, ``"empirical"`` or ``"not a PDE"`` (module docstring).
        chapter: where the book explains it.
        fit: ``FitContext -> state`` (None: nothing to fit).
        build: ``(state, sigma) -> denoiser``.
        oracle: needs the clean image (an upper bound, not a usable denoiser).
        requires: an optional Python package it needs.
        shipped: whether the book ships its fitted state (small enough, our own training).
        note: a remark for the tables.
        weights_from: where its shipped weights come from.
    """

    name: str
    label: str
    family: str
    stability: str
    chapter: str
    fit: Callable[[FitContext], dict] | None
    build: Callable[[dict, float], Denoiser]
    oracle: bool = False
    requires: str | None = None
    shipped: bool = True
    note: str = ""
    #: where shipped weights come from (the command-line listing says it while there are none)
    weights_from: str = "the leaderboard's medium run"
    tags: tuple = field(default_factory=tuple)


def parameters(state: Mapping) -> int:
    """Learned or tuned numbers of a state: a network's learnable parameters (buffers such as batch-norm
    statistics not counted), or the number of tuned scalars."""
    config = state.get("config", {})
    return int(config["parameters"]) if "parameters" in config else int(config.get("tuned", 0))


def _no_grad(fn: Denoiser) -> Denoiser:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return fn(x.float()).float()
    return run


def _any_size(fn: Denoiser, multiple: int) -> Denoiser:
    """Run a network that needs H and W divisible by ``multiple`` on any size: mirror-pad the bottom and right
    edges up to the next multiple, crop the result back (a choice: the networks' own code has no rule)."""
    def run(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % multiple, -w % multiple
        if ph == 0 and pw == 0:
            return fn(x)
        mode = "reflect" if ph < h and pw < w else "replicate"
        return fn(torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode))[..., :h, :w]
    return run


# --------------------------------------------------------------------------- heat equation (chapter 1)

HEAT_T = 1.0


def _heat_fit(ctx: FitContext) -> dict:
    """The single diffusivity rho (final time 1, zero-flux boundary, exact flow) with the best mean PSNR over the
    tuning crops: a 1-D bounded search over log rho."""
    from scipy.optimize import minimize_scalar

    from ..tuning import SpectralSweep

    noisy, clean = ctx.tune
    sweeps = [SpectralSweep(noisy[i:i + 1], clean[i:i + 1], "neumann", None) for i in range(noisy.shape[0])]
    res = minimize_scalar(lambda s: -sum(sw.psnr(math.exp(s), HEAT_T) for sw in sweeps) / len(sweeps),
                          bounds=(math.log(1e-3), math.log(200.0)), method="bounded", options={"xatol": 1e-4})
    return {"config": {"rho": math.exp(res.x), "T": HEAT_T, "tuned": 1}, "tensors": {}}


def _heat_build(state: dict, sigma: float) -> Denoiser:
    from ..solvers.spectral import heat_spectral

    rho, T = state["config"]["rho"], state["config"]["T"]
    return _no_grad(lambda x: heat_spectral(x.double(), rho, T, "neumann", dt=None))


def _heat_oracle_build(state: dict, sigma: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(noisy, clean) -> restored`` with each image's own best rho (an oracle: it looks at the clean image)."""
    from ..solvers.spectral import heat_spectral
    from ..tuning import optimal_rho

    def run(x, clean):
        out = [heat_spectral(x[i:i + 1].double(), optimal_rho(x[i:i + 1], clean[i:i + 1], HEAT_T, "neumann",
                                                              None, bounds=(1e-3, 200.0)).rho, HEAT_T, "neumann",
                             dt=None) for i in range(x.shape[0])]
        return torch.cat(out).float()

    return run


# --------------------------------------------------------------------------- Perona–Malik and NCDF (tuned)

PM_GRID = dict(K=(2.0, 3.0, 4.0, 6.0, 8.0, 11.0, 16.0, 22.0, 32.0), steps=(2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 80),
               dt=0.2)


def _pm_fit(kind: str) -> Callable[[FitContext], dict]:
    def fit_pm(ctx: FitContext) -> dict:
        """Grid search of K and the number of steps (dt 0.2) on the tuning crops, best mean PSNR; a grid whose
        best value is at its edge is extended past it (:func:`pdedenoise.gridsearch.interior_search`)."""
        from ..gridsearch import interior_search
        from ..papers.barbeiro2020.analysis import _incremental

        noisy, clean = ctx.tune

        def evaluate(params, steps):
            step = lambda n, u: diffusion.perona_malik(u, params["K"], PM_GRID["dt"], n, diffusivity=kind)  # noqa: E731
            return _incremental(step, noisy.double(), steps, clean, False)

        r = interior_search(evaluate, {"K": list(PM_GRID["K"]), "steps": list(PM_GRID["steps"])}, inner="steps",
                            limits={"steps": (1, None)})
        return {"config": {"K": r.params["K"], "steps": r.params["steps"], "dt": PM_GRID["dt"], "diffusivity": kind,
                           "tuned": 2, "where": r.where}, "tensors": {}}
    return fit_pm


def _pm_build(state: dict, sigma: float) -> Denoiser:
    c = state["config"]
    return _no_grad(lambda x: diffusion.perona_malik(x, c["K"], c["dt"], c["steps"], diffusivity=c["diffusivity"]))


def _ncdf_fit(ctx: FitContext) -> dict:
    """Gilboa's NCDF on the grid of chapter 2 (theta, k, steps), best mean PSNR on the tuning crops, the grid
    extended past any edge its optimum lands on (as chapter 2's :func:`~pdedenoise.papers.barbeiro2020.analysis.
    tune_baselines`)."""
    from ..gridsearch import interior_search
    from ..papers.barbeiro2020 import analysis as BA
    from ..papers.barbeiro2020 import method as BM
    from ..papers.barbeiro2020 import protocol as BP

    noisy, clean = ctx.tune
    factory = BA.baseline_factories()["NCDF"]

    def evaluate(params, steps):
        step, _ = factory(params)
        return BA._incremental(step, BM.two_fields(noisy.double()), steps, clean, True)

    grid = {k: list(v) for k, v in BP.GRIDS["NCDF"].items() if k != "tau"}
    r = interior_search(evaluate, grid, inner="steps", limits=BP.GRID_LIMITS["NCDF"], max_extensions=BP.GRID_EXTENSIONS)
    return {"config": {"theta": r.params["theta"], "k": r.params["k"], "steps": r.params["steps"], "tuned": 3,
                       "where": r.where}, "tensors": {}}


def _ncdf_build(state: dict, sigma: float) -> Denoiser:
    from ..papers.barbeiro2020 import analysis as BA

    c = state["config"]
    return _no_grad(BA.baseline_model("NCDF", {"theta": c["theta"], "k": c["k"], "steps": c["steps"]}))


# --------------------------------------------------------------------------- learned cross-diffusion and TNRD (chapter 2)

CROSS = dict(stages=5, tau=0.2)
TNRD_SIZE = dict(stages=5, filters=24, size=5, centers=63)


def _state(model: torch.nn.Module, config: Mapping) -> dict:
    """A trained model's state: its configuration with the count of learnable parameters, and its tensors."""
    return {"config": {**config, "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)},
            "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def _cross_fit(ctx: FitContext) -> dict:
    """Chapter 2's constrained learned cross-diffusion, trained on the protocol's pairs (Adam 1e-2 -> 1e-3)."""
    from ..papers.barbeiro2020 import analysis as BA
    from ..papers.barbeiro2020 import method as BM

    model = BM.CrossDiffusion(CROSS["stages"], CROSS["tau"], constrained=True)
    rec = BA.train_cross(model, ctx.train, int(ctx.steps["small"]), ctx.batch, ctx.seed, progress=ctx.progress,
                         desc=f"cross-diffusion, sigma {ctx.sigma:g}")
    return _state(model, {**CROSS, "seconds": rec["seconds"], "final_loss": rec["loss"][-1]})


def _cross_build(state: dict, sigma: float) -> Denoiser:
    from ..papers.barbeiro2020 import method as BM

    c = state["config"]
    model = BM.CrossDiffusion(c["stages"], c["tau"], constrained=True)
    model.load_state_dict(state["tensors"])
    return _no_grad(model.eval())


def _tnrd_fit(ctx: FitContext) -> dict:
    """A TNRD-style learned reaction-diffusion (chapter 2's baseline): greedy, then joint training."""
    from ..papers.barbeiro2020 import analysis as BA
    from ..papers.barbeiro2020.tnrd import TNRD

    greedy, joint = ctx.steps["tnrd"]
    model = TNRD(**TNRD_SIZE)
    rec = BA.train_tnrd(model, ctx.train, int(greedy), int(joint), ctx.batch, ctx.seed, ctx.progress)
    return _state(model, {**TNRD_SIZE, "seconds": rec["seconds"], "final_loss": rec["loss"][-1]})


def _tnrd_build(state: dict, sigma: float) -> Denoiser:
    from ..papers.barbeiro2020.tnrd import TNRD

    c = state["config"]
    model = TNRD(**{k: c[k] for k in TNRD_SIZE})
    model.load_state_dict(state["tensors"])
    return _no_grad(model.eval())


# --------------------------------------------------------------------------- learned diffusivities (chapter 3)

#: the models of chapter 3 by leaderboard name: (paper label, architecture arguments of ``method.make_model``)
#: the label :func:`~.analysis.stability` computes from the authors' checkpoints (the same at sigma 15, 25 and 50;
#: a test holds this table to the computation), where it is not ``empirical``
AUTHORS_STABILITY = {"unet-diffusivity-authors": "certificate"}

DIFFUSIVITIES = {"ka": "KA", "foe-s": "FoE-S", "foe-d": "FoE-D", "foe-m": "FoE-M", "foe-rb": "FoE-RB",
                 "unet-diffusivity": "U-Net"}


def released_sigma(sigma: float) -> int:
    """The noise level of chapter 3's released models nearest to ``sigma``."""
    from ..papers.valdivia2024 import checkpoints as CK

    return min(CK.SIGMAS, key=lambda t: abs(t - sigma))


def authors_model(name: str, sigma: float):
    """The authors' released model behind ``<name>-authors`` at the nearest released sigma, and its spec."""
    from ..papers.valdivia2024 import analysis as VA
    from ..papers.valdivia2024 import checkpoints as CK

    label = DIFFUSIVITIES[name[: -len("-authors")]]
    near = released_sigma(sigma)
    return VA.released(near, (label,))[label], CK.spec(VA.released_name(label, near))


def _architecture(label: str, sigma: float) -> dict:
    """``make_model`` arguments of the authors' released model of ``label`` at the nearest released sigma."""
    from ..papers.valdivia2024 import analysis as VA
    from ..papers.valdivia2024 import checkpoints as CK

    s = CK.spec(VA.released_name(label, released_sigma(sigma)))
    if s.architecture == "KA":
        return {"architecture": "KA", "option": s.first}
    if s.architecture == "FoE":
        return {"architecture": "FoE", "kind": s.kind, "kernel": s.first, "experts": s.second}
    return {"architecture": "UNet", "kernel": s.first, "depth": s.second}


def _diffusivity_fit(label: str) -> Callable[[FitContext], dict]:
    def fit_diffusivity(ctx: FitContext) -> dict:
        """Chapter 3's model with the released architecture, trained by chapter 3's routine on the protocol's
        pairs (Adam 1e-2 -> 1e-3, 10 explicit steps)."""
        from ..papers.valdivia2024 import analysis as VA

        arch = _architecture(label, ctx.sigma)
        model = VA.fresh_model(label, released_sigma(ctx.sigma))
        rec = VA.train(model, ctx.train, int(ctx.steps["small"]), ctx.batch, ctx.seed, progress=ctx.progress,
                       desc=f"{label}, sigma {ctx.sigma:g}")
        return _state(model, {**arch, "seconds": rec["seconds"], "final_loss": rec["final_loss"]})
    return fit_diffusivity


def _diffusivity_model(state: dict):
    from ..papers.valdivia2024 import method as VM

    c = {k: v for k, v in state["config"].items() if k in ("architecture", "kind", "kernel", "experts", "depth",
                                                             "option")}
    model = VM.make_model(**c)
    model.load_state_dict(state["tensors"])
    return model.eval()


def _diffusivity_build(state: dict, sigma: float) -> Denoiser:
    model = _diffusivity_model(state)
    if state["config"]["architecture"] != "UNet":
        return _no_grad(model)
    # the U-Net diffusivity pools depth times the input padded by 2 x PAD pixels
    return _no_grad(_any_size(model, 2 ** int(state["config"]["depth"])))


def _authors_build(name: str) -> Callable[[dict, float], Denoiser]:
    def build(state: dict, sigma: float) -> Denoiser:
        """The authors' released model at the nearest released sigma, read from their checkpoint at run time."""
        model, spec = authors_model(name, sigma)
        return _no_grad(_any_size(model, 2 ** spec.second) if spec.architecture == "UNet" else model)
    return build


def authors_parameters(name: str, sigma: float) -> int:
    """Parameters of the authors' released model behind ``<name>-authors`` at the nearest released sigma."""
    from ..papers.valdivia2024 import method as VM

    return VM.count_parameters(authors_model(name, sigma)[0])


# --------------------------------------------------------------------------- DiffNet and the residual U-Net (chapter 4)

DIFFNET = dict(layers=5)
UNET = dict(width=8, depth=3)


def _scaled(model: torch.nn.Module) -> torch.nn.Module:
    """Train or run a [0, 1] network on 0–255 data: ``255 model(x / 255)``."""
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return 255.0 * self.net(x / 255.0)
    return Scaled()


def _network_fit(kind: str) -> Callable[[FitContext], dict]:
    def fit_network(ctx: FitContext) -> dict:
        """Chapter 4's network trained for denoising on the protocol's pairs (MSE on [0, 1], Adam, the learning
        rates of chapter 4)."""
        from ..papers.arridge2020 import protocol as AP

        model = _network(kind, None, ctx.seed)
        t0 = time.perf_counter()
        lr = AP.TRAINING["diffnet_lr" if kind == "diffnet" else "unet_lr"]
        noisy, clean = ctx.train
        history = fit(model, (noisy / 255.0, clean / 255.0),
                      TrainConfig(epochs=None, max_steps=int(ctx.steps["network"]), batch_size=ctx.batch, lr=lr[0],
                                  lr_final=lr[1], seed=ctx.seed, progress=ctx.progress, desc=f"{kind}, sigma {ctx.sigma:g}"))
        model.eval()
        # the loss on [0, 1] data, scaled to 0-255 like every other entry's
        return _state(model, {**(DIFFNET if kind == "diffnet" else UNET), "seconds": time.perf_counter() - t0,
                              "final_loss": history.step_loss[-1] * 255.0 ** 2})
    return fit_network


def _network(kind: str, state: dict | None, seed: int = 0) -> torch.nn.Module:
    from ..models.diffnet import DiffNet
    from ..models.unet import UNet

    seed_everything(seed)
    model = DiffNet(layers=DIFFNET["layers"], bc="neumann") if kind == "diffnet" else UNet(**UNET)
    if state is not None:
        model.load_state_dict(state["tensors"])
    return model


def _network_build(kind: str) -> Callable[[dict, float], Denoiser]:
    def build(state: dict, sigma: float) -> Denoiser:
        net = _scaled(_network(kind, state).eval())
        return _no_grad(net if kind == "diffnet" else _any_size(net, 2 ** UNET["depth"]))
    return build


# --------------------------------------------------------------------------- BM3D (not a PDE, not trained)

def _bm3d_build(state: dict, sigma: float) -> Denoiser:
    """BM3D (Makinen, Azzari, Foi 2020 implementation, PyPI package ``bm3d``) at the given noise level."""
    try:
        import bm3d
    except ImportError as exc:  # pragma: no cover - the book's environment installs it
        raise ImportError("BM3D needs the 'bm3d' package: pip install bm3d (free for non-commercial use only)") from exc

    def run(x: torch.Tensor) -> torch.Tensor:
        out = [torch.from_numpy(bm3d.bm3d(im[0].double().numpy(), sigma_psd=float(sigma))) for im in x]
        return torch.stack(out)[:, None].float()
    return run


# --------------------------------------------------------------------------- the registry

def _build_own(state: dict, sigma: float) -> Denoiser:
    from .ownmodel import OwnModel

    return _no_grad(OwnModel.from_state(state).eval())


def _fit_own(ctx: FitContext) -> dict:
    from .ownmodel import fit_own

    return fit_own(ctx)


def _build_certified(state: dict, sigma: float) -> Denoiser:
    from .certified import CertifiedModel

    return _no_grad(CertifiedModel.from_state(state).eval())


def _fit_certified(ctx: FitContext) -> dict:
    from .certified import fit_certified
    from .ownfull import REPEATS

    return fit_certified(ctx, repeats=REPEATS)


def _registry() -> dict[str, Method]:
    m = [
        Method("heat-tuned", "heat equation, best single rho", "PDE, tuned", "certificate", "01_heat_pinn", _heat_fit,
               _heat_build, note="exact flow to T = 1, zero-flux boundary"),
        Method("heat-oracle", "heat equation, per-image oracle rho", "PDE, tuned", "certificate", "01_heat_pinn",
               None, _heat_oracle_build, oracle=True, shipped=False,
               note="an oracle: each image's best rho, found with its clean image"),
        Method("perona-malik-tuned", "Perona-Malik, rational g", "PDE, tuned", "certificate", "00_solvers",
               _pm_fit("rational"), _pm_build),
        Method("perona-malik-exp-tuned", "Perona-Malik, exponential g", "PDE, tuned", "certificate", "00_solvers",
               _pm_fit("exponential"), _pm_build),
        Method("ncdf", "NCDF (nonlinear complex diffusion)", "PDE, tuned", "certificate", "02_cross_diffusion",
               _ncdf_fit, _ncdf_build),
        Method("cross-diffusion", "learned cross-diffusion", "PDE, learned", "certificate", "02_cross_diffusion",
               _cross_fit, _cross_build),
        Method("tnrd", "TNRD-style reaction-diffusion", "PDE, learned", "empirical", "02_cross_diffusion",
               _tnrd_fit, _tnrd_build),
    ]
    for name, label in DIFFUSIVITIES.items():
        m.append(Method(name, f"{label} diffusivity", "PDE, learned", "empirical", "03_learned_diffusivities",
                        _diffusivity_fit(label), _diffusivity_build))
    for name, label in DIFFUSIVITIES.items():
        m.append(Method(f"{name}-authors", f"{label} diffusivity (authors' weights)", "PDE, learned",
                        AUTHORS_STABILITY.get(f"{name}-authors", "empirical"),
                        "03_learned_diffusivities", None, _authors_build(f"{name}-authors"), shipped=False,
                        note="the authors' released checkpoint (AGPL-3.0), read from the data folder; trained "
                             "under the paper's protocol, not this one"))
    m += [
        Method("diffnet", "DiffNet", "PDE, learned", "empirical", "04_diffnet", _network_fit("diffnet"),
               _network_build("diffnet")),
        Method("unet", "residual U-Net", "network", "not a PDE", "04_diffnet", _network_fit("unet"),
               _network_build("unet"), note=f"width {UNET['width']}, depth {UNET['depth']}"),
        Method("bm3d", "BM3D", "classical", "not a PDE", "05_leaderboard", None, _bm3d_build, requires="bm3d",
               shipped=False, note="the reference implementation from PyPI (Tampere University; free for non-commercial use only)"),
        Method("own", "the book's own model", "PDE, learned", "certificate", "05_leaderboard", _fit_own, _build_own),
        Method("own-certified", "the book's own model, l2-certified", "PDE, learned", "certificate",
               "05_leaderboard", _fit_certified, _build_certified,
               note="every stage non-expansive in l2 for any parameters; can sharpen",
               weights_from="its full-protocol runs (tools/record_own_full.py, then tools/ship_weights.py --own-full)"),
    ]
    return {x.name: x for x in m}


METHODS: dict[str, Method] = _registry()


def get(name: str) -> Method:
    """The method called ``name``; the error lists the names."""
    if name not in METHODS:
        raise KeyError(f"no leaderboard method {name!r}; the methods are {', '.join(METHODS)} "
                       "(pdedenoise methods lists them)")
    return METHODS[name]
