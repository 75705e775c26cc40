"""Barbeiro and Lobo (2019/2020): training with certificates and probes, the baselines, paired comparisons, claims.

Images are (N, 1, H, W) on 0–255. Learned models are :class:`~.method.CrossDiffusion` or :class:`~.tnrd.TNRD`;
every method is a callable ``noisy -> restored`` for the comparisons.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from ... import diffusion
from ...diffusivities import Rational
from ...edgemaps import edge_scores, gradient_of_gaussian, laplacian_of_gaussian
from ...gridsearch import interior_search
from ...metrics import psnr, ssim
from ...records import Claim, Rule
from ...solvers import coefficients as C
from ...solvers.explicit import flux_step
from ...stats import paired_bootstrap
from ...train import lr_factor, seed_everything
from . import method as M
from . import protocol as P
from . import published as V
from .tnrd import TNRD

# --------------------------------------------------------------------------- stability during learning


def _grid_values(g, points: int = 1024) -> torch.Tensor:
    """An RBF influence function on a grid covering its centres and 4 widths beyond (differentiable)."""
    lo, hi = float(g.centers[0]) - 4 * g.width, float(g.centers[-1]) + 4 * g.width
    return g(torch.linspace(lo, hi, points, dtype=g.raw.dtype))


def constraints(model: M.CrossDiffusion, eps: float = 1e-3) -> torch.Tensor:
    """The stability conditions of every stage of an unconstrained model as ``c <= 0`` (differentiable):
    ``g >= 0`` on the grid, the symmetric part of ``B`` positive definite (``lmin >= eps``), and the l2 step bound
    ``tau (4 sup g lmax(S^-1 B^T B) + lambda_max / 2) <= 1`` of :mod:`pdedenoise.solvers.stability`."""
    out = []
    for t in range(model.stages):
        coeff = model.flow.coefficient(t)
        values = _grid_values(coeff.g)
        g_sup, g_min = values.max(), values.min()
        B = coeff.block()
        S = 0.5 * (B + B.T)
        lmin = torch.linalg.eigvalsh(S)[0]
        out += [-g_min, eps - lmin]
        lam = model.flow.reaction_at(t).max()
        L, info = torch.linalg.cholesky_ex(S)
        if int(info) == 0:
            W = torch.linalg.solve_triangular(L, B.T, upper=False)
            top = torch.linalg.eigvalsh(W @ W.T)[-1]
            out.append(model.tau * (4 * g_sup.clamp_min(0) * top + lam / 2) - 1)
        else:
            out.append(torch.ones((), dtype=B.dtype))  # no step is stable: violated
    return torch.stack(out)


def checkerboard_state(size: int, amplitude: float = 8.0) -> torch.Tensor:
    """A (1, 2, size, size) checkerboard in both fields, the mode that saturates the explicit bound."""
    b = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2 * 2.0 - 1.0) * amplitude
    return b.expand(1, 2, size, size).clone()


@torch.no_grad()
def probe_growth(model: M.CrossDiffusion, size: int = 32, seed: int = 0) -> float:
    """The largest ``||stage(P)|| / ||P||`` over the stages, for a checkerboard and for white noise ``P`` (reference
    0, reaction on): above 1 means a stage amplified a probe."""
    g = torch.Generator().manual_seed(seed)
    probes = (checkerboard_state(size), 8.0 * torch.randn(1, 2, size, size, generator=g))
    worst = 0.0
    for t in range(model.stages):
        for p in probes:
            out = model.flow.step(p, t, torch.zeros_like(p), check_data=False)
            worst = max(worst, float(out.norm() / p.norm()))
    return worst


def train_cross(model: M.CrossDiffusion, pairs: tuple[torch.Tensor, torch.Tensor], steps: int, batch: int, seed: int,
                augmented: bool = False, mu: float = 10.0, progress: bool = True, desc: str = "cross-diffusion") -> dict:
    """Train ``model`` in place (MSE of ``u^T``, Adam with the learning rate decaying ``lr -> lr_final``) and record,
    after every step, the smallest certificate margin over the stages (from the parameters, float64), every
    :data:`~.protocol.PROBE_EVERY` steps the probes' growth, and with ``augmented`` the Lagrange multipliers of the
    stability constraints (:func:`constraints`, inequality augmented Lagrangian updated every
    :data:`~.protocol.AL_UPDATE_EVERY` steps)."""
    from tqdm.auto import tqdm

    seed_everything(seed)
    noisy, clean = pairs
    opt = torch.optim.Adam(model.parameters(), lr=P.TRAINING["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, P.TRAINING["lr"],
                                                                         P.TRAINING["lr_final"]))
    gen = torch.Generator().manual_seed(seed)
    multipliers = torch.zeros_like(constraints(model).detach()) if augmented else None
    rec = {"loss": [], "margin": [], "probe_step": [], "probe": [], "violations": 0, "finite": True}
    t0 = time.perf_counter()
    for step in tqdm(range(1, steps + 1), desc=desc, disable=not progress):
        idx = torch.randint(noisy.shape[0], (batch,), generator=gen)
        loss = F.mse_loss(model(noisy[idx]), clean[idx])
        total = loss
        if augmented:  # Powell-Hestenes-Rockafellar for c <= 0
            c = constraints(model)
            total = loss + (0.5 / mu) * ((multipliers + mu * c).clamp_min(0) ** 2 - multipliers ** 2).sum()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
        if augmented and step % P.AL_UPDATE_EVERY == 0:
            with torch.no_grad():
                multipliers = (multipliers + mu * constraints(model)).clamp_min(0)
        margin = min(model.margins())
        rec["loss"].append(float(loss.detach()))
        rec["margin"].append(margin)
        rec["violations"] += int(margin < 0)
        if not math.isfinite(float(loss.detach())):
            rec["finite"] = False
            break
        if step % P.PROBE_EVERY == 0 or step == steps:
            rec["probe_step"].append(step)
            rec["probe"].append(probe_growth(model))
    rec["seconds"] = time.perf_counter() - t0
    rec["steps"] = len(rec["loss"])
    rec["parameters"] = model.count_parameters()
    return rec


@torch.no_grad()
def rollout(model: M.CrossDiffusion, f: torch.Tensor, repeats: int) -> dict:
    """The stages repeated ``repeats`` times on ``f`` (reference ``(f, 0)``): finite? and the largest |U| reached,
    against the input's largest |f|."""
    U0 = M.two_fields(f)
    U = U0
    for _ in range(repeats):
        for t in range(model.stages):
            U = model.flow.step(U, t, U0, check_data=False)
    return {"finite": bool(torch.isfinite(U).all()), "max |U| / max |f|": float(U.abs().max() / f.abs().max())}


# --------------------------------------------------------------------------- the non-learned baselines


def _incremental(make_step: Callable[[int, torch.Tensor], torch.Tensor], start: torch.Tensor, steps: Sequence[int],
                 clean: torch.Tensor, channel_out: bool) -> dict[int, float]:
    """Mean PSNR after each number of ``steps`` of a Markov scheme, run once to the largest."""
    out, state, done = {}, start, 0
    for n in sorted(steps):
        state = make_step(n - done, state)
        done = n
        u = state[:, :1] if channel_out else state
        out[n] = float(psnr(u.double(), clean.double(), 255.0).mean())
    return out


def baseline_factories() -> dict[str, Callable]:
    """For each non-learned baseline: ``params -> (make_step(n, state) -> state, two_fields?)`` (states float64);
    the cross-diffusion steps are split into stable sub-steps where their coefficients need it."""

    def pm(p):
        return (lambda n, u: diffusion.perona_malik(u, p["K"], P.GRIDS["Perona-Malik"]["dt"], n)), False

    def ncdf(p):
        coeff = M.ncdf(p["theta"], p["k"], 1, P.GRIDS["NCDF"]["tau"]).coefficients
        return (lambda n, U: _stable_steps(coeff, U, n, P.GRIDS["NCDF"]["tau"])), True

    def linear(p):
        B = p["scale"] * torch.tensor([[1.0, -p["rotation"]], [p["rotation"], 1.0]], dtype=torch.float64)
        coeff = M.linear_cross_diffusion(B, 1, P.GRIDS["linear cross-diffusion"]["tau"]).coefficients
        return (lambda n, U: _stable_steps(coeff, U, n, P.GRIDS["linear cross-diffusion"]["tau"])), True

    def nonlinear(p):
        B = torch.tensor([[1.0, -p["b"]], [p["b"], 0.5]], dtype=torch.float64)
        coeff = C.FieldBlocks(Rational(p["k"]), C.FreeBlock(2, init=B), channel=1, feature="v^2")
        return (lambda n, U: _stable_steps(coeff, U, n, P.GRIDS["nonlinear cross-diffusion"]["tau"])), True

    return {"Perona-Malik": pm, "NCDF": ncdf, "linear cross-diffusion": linear, "nonlinear cross-diffusion": nonlinear}


@torch.no_grad()
def _stable_steps(coeff, U: torch.Tensor, n: int, tau: float) -> torch.Tensor:
    """``n`` steps of length ``tau``; when the coefficients' data-free bound does not cover ``tau`` (some hand-set
    baselines are not stable for every state), each step is split into as many sub-steps as the certificate
    of its actual coefficients needs."""
    coeff = coeff.double()
    covered = coeff.dt_max() >= tau
    for _ in range(n):
        U = flux_step(U, coeff, tau, "neumann", check=not covered, substeps=True)
    return U


@torch.no_grad()
def tune_baselines(noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, dict]:
    """Each baseline's best parameters on held-out training crops (mean PSNR), by a grid search that starts on
    :data:`~.protocol.GRIDS` and extends any parameter whose best value is at its grid's edge
    (:func:`pdedenoise.gridsearch.interior_search`, within :data:`~.protocol.GRID_LIMITS`).

    Returns ``{name: {**params, "steps", "PSNR", "grid": final grid, "where": {param: "interior" | "at its
    limit" | "at the grid's edge"}}}``."""
    best = {}
    for name, factory in baseline_factories().items():
        grid = P.GRIDS[name]
        searched = {k: list(v) for k, v in grid.items() if k not in ("dt", "tau")}

        def evaluate(params, steps, factory=factory):
            step, two = factory(params)
            start = M.two_fields(noisy.double()) if two else noisy.double()
            return _incremental(step, start, steps, clean, two)

        r = interior_search(evaluate, searched, inner="steps", limits=P.GRID_LIMITS.get(name),
                            max_extensions=P.GRID_EXTENSIONS)
        best[name] = {**r.params, "PSNR": r.score, "grid": r.grid, "where": r.where}
    return best


def tuning_table(best: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per tuned baseline and parameter: the value chosen, the grid it was chosen from (after any
    extension) and where on it the value lies."""
    rows = []
    for name, b in best.items():
        for k, values in b.get("grid", {}).items():
            rows.append({"baseline": name, "parameter": k, "chosen": b[k],
                         "grid": ", ".join(f"{v:g}" for v in values),
                         "where": b.get("where", {}).get(k, "fixed")})
    return pd.DataFrame(rows)


def baselines_table(baselines: Mapping) -> pd.DataFrame:
    """The tuned baselines of a run (``{sigma: {name: params}}``, as stored in a results payload, also one made
    before grids were extended): one row per sigma, baseline and tuned parameter, with its value, the tuning PSNR
    and where it lies on its grid (:func:`grid_position`, which claim A reads)."""
    rows = []
    for sigma, at_sigma in baselines.items():
        for name, params in at_sigma.items():
            where = grid_position(name, params)
            for k, w in where.items():
                rows.append({"sigma": int(float(sigma)), "baseline": name, "parameter": k, "chosen": params.get(k),
                             "PSNR on the tuning crops (dB)": params.get("PSNR"),
                             "where": w})
    return pd.DataFrame(rows)


def baseline_fields(name: str, params: Mapping, noisy: torch.Tensor) -> torch.Tensor:
    """The two-field state ``(u, v)`` a tuned cross-diffusion baseline ends in, (N, 2, H, W) float32."""
    step, two = baseline_factories()[name](params)
    if not two:
        raise ValueError(f"{name} has one field")
    return step(int(params["steps"]), M.two_fields(noisy.double())).float()


@torch.no_grad()
def psnr_by_stage(model: M.CrossDiffusion, noisy: Sequence[torch.Tensor], clean: Sequence[torch.Tensor]) -> list[float]:
    """Mean PSNR of ``u`` after each stage (stage 0: the noisy input) over images of any sizes."""
    per_image = []
    for x, y in zip(noisy, clean):
        per_image.append([float(psnr(U[:, :1].double(), y.double(), 255.0)) for U in model.trace(x)])
    return [sum(col) / len(col) for col in zip(*per_image)]


def baseline_model(name: str, params: Mapping) -> Callable[[torch.Tensor], torch.Tensor]:
    """The tuned baseline as ``noisy -> restored`` (float32 out)."""
    step, two = baseline_factories()[name](params)

    @torch.no_grad()
    def run(x):
        start = M.two_fields(x.double()) if two else x.double()
        out = step(int(params["steps"]), start)
        return (out[:, :1] if two else out).float()

    return run


# --------------------------------------------------------------------------- TNRD


def train_tnrd(model: TNRD, pairs: tuple[torch.Tensor, torch.Tensor], greedy: int, joint: int, batch: int, seed: int,
               progress: bool = True) -> dict:
    """Greedy (stage ``t`` alone, on top of the trained earlier stages, ``greedy`` steps each) then joint training
    (``joint`` steps), MSE, Adam (learning rate decaying 1e-2 -> 1e-3 within each phase, *choice*)."""
    from tqdm.auto import tqdm

    seed_everything(seed)
    noisy, clean = pairs
    gen = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.perf_counter()

    def phase(params, steps, desc):
        opt = torch.optim.Adam(params, lr=1e-2)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, 1e-2, 1e-3))
        for _ in tqdm(range(steps), desc=desc, disable=not progress):
            idx = torch.randint(noisy.shape[0], (batch,), generator=gen)
            loss = F.mse_loss(model(noisy[idx]), clean[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))

    for t in range(len(model.stages)):
        model.active = t + 1
        phase(list(model.stages[t].parameters()), greedy, f"TNRD greedy, stage {t + 1}")
    phase(list(model.parameters()), joint, "TNRD joint")
    return {"seconds": time.perf_counter() - t0, "steps": len(losses), "loss": losses,
            "parameters": model.count_parameters()}


# --------------------------------------------------------------------------- comparisons


@torch.no_grad()
def per_image_scores(methods: Mapping[str, Callable], images: Sequence[torch.Tensor], names: Sequence[str],
                     sigma: int, seed: int, test_set: str) -> pd.DataFrame:
    """PSNR and SSIM of every method on every image (image ``i`` gets noise seeded ``seed + sigma + i``)."""
    rows = []
    for i, (name, clean) in enumerate(zip(names, images)):
        noisy = P.noisy(clean, sigma, seed + sigma + i)
        outs = {"noisy": noisy, **{m: f(noisy) for m, f in methods.items()}}
        for m, out in outs.items():
            rows.append({"set": test_set, "sigma": sigma, "image": name, "method": m,
                         "PSNR": float(psnr(out.double(), clean.double(), 255.0)),
                         "SSIM": float(ssim(out.double(), clean.double(), 255.0))})
    return pd.DataFrame(rows)


def paired_table(scores: pd.DataFrame, learned: str, against: Sequence[str], resamples: int,
                 metric: str = "PSNR", family_level: float = 0.95) -> pd.DataFrame:
    """``learned`` minus each of ``against``, per (set, sigma): mean difference and a paired bootstrap interval.

    The intervals are Bonferroni-corrected over all the comparisons of the table, so that together they hold
    with probability ``family_level``: each is the central ``1 - (1 - family_level) / m`` share of its resampled
    means (``m`` comparisons; column ``level``)."""
    pairs = []
    for (s, sigma), t in scores.groupby(["set", "sigma"], sort=False):
        wide = t.pivot(index="image", columns="method", values=metric)
        pairs += [(s, sigma, other, wide) for other in against if other in wide and learned in wide]
    level = 1 - (1 - family_level) / max(1, len(pairs))
    rows = [{"set": s, "sigma": sigma, "learned": learned, "against": other,
             **paired_bootstrap(wide[learned].to_numpy(), wide[other].to_numpy(), resamples=resamples, level=level),
             "level": level} for s, sigma, other, wide in pairs]
    return pd.DataFrame(rows)


def grid_position(name: str, params: Mapping) -> dict[str, str]:
    """Where each tuned parameter of baseline ``name`` lies on its grid: the record's own ``where`` (an
    extended search, :func:`tune_baselines`), or for a record made before grids were extended, its position on
    :data:`~.protocol.GRIDS` (``"interior"`` or ``"at the grid's edge"``; a declared limit counts as interior)."""
    if "where" in params:
        return dict(params["where"])
    out = {}
    for k, values in P.GRIDS[name].items():
        if k in ("dt", "tau") or len(values) < 2 or k not in params:
            continue
        low, high = P.GRID_LIMITS.get(name, {}).get(k, (None, None))
        v = params[k]
        at_edge = v in (min(values), max(values)) and v not in (low, high)
        out[k] = "at the grid's edge" if at_edge else "interior"
    return out


# --------------------------------------------------------------------------- edges (claim C)


@torch.no_grad()
def edge_table(fields: Mapping[str, torch.Tensor], noisy: torch.Tensor, edges: torch.Tensor,
               seed: int = 0) -> pd.DataFrame:
    """F-measure and average precision of each edge map against the exact edges: ``|v|`` of the given two-field
    states (``fields[name]`` (N, 2, H, W)), gradient and Laplacian of Gaussian of the noisy input, and a random map."""
    maps = {name: U[:, 1:2].abs().double() for name, U in fields.items()}
    maps["gradient of Gaussian (sigma 1.5)"] = gradient_of_gaussian(noisy.double(), 1.5)
    maps["Laplacian of Gaussian (sigma 1.5)"] = laplacian_of_gaussian(noisy.double(), 1.5)
    g = torch.Generator().manual_seed(seed)
    maps["random map"] = torch.rand(noisy.shape, generator=g, dtype=torch.float64)
    rows = [{"edge map": k, **edge_scores(m, edges, P.EDGE_TOL["pixel_tolerance"])} for k, m in maps.items()]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- claims

#: The decision rule of each claim (:data:`.published.CLAIMS`), fixed before results.
RULES = {
    "A improves": Rule(
        "a win is a paired bootstrap interval of (learned - non-learned) PSNR above 0, Bonferroni-corrected over "
        "all comparisons (95 % family-wise), against a baseline whose tuning is interior on its grid (a parameter "
        "at a declared limit of its range, which no grid can pass, counts as interior); holds if "
        "every comparison (set, sigma, baseline) is a win, partly holds if some are, does not hold if none are",
        0.0, "dB",
        {"comparisons": 1}),
    "B stable": Rule(
        "the book's parameterisation (g capped through a sigmoid, B's symmetric part kept positive definite, the "
        "reaction capped) certifies every stage for any parameter value: holds by construction if every constrained "
        "run kept every certificate margin at or above 0 after every step, stayed finite and no probe grew by more "
        "than the tolerance; does not hold otherwise (a defect of the construction)", 1e-9,
        "relative growth of a probe's norm", {"constrained runs": 1}),
    "B stable, paper's variant": Rule(
        "the paper's route, unconstrained parameters with the stability conditions as augmented-Lagrangian "
        "constraints: holds if at most the tolerance (a share of its steps) was uncertified, the last step is "
        "certified and no probe grew; partly holds if the last step is certified and no probe grew; does not hold "
        "otherwise", 0.05, "of the steps uncertified", {"augmented-Lagrangian runs": 1, "steps": 100}),
    "C edges": Rule(
        f"holds if the F-measure of the learned |v| is at least NCDF's |v| and within {P.EDGE_TOL['close_to_best']:g} "
        "of the best classical detector (gradient or Laplacian of Gaussian), partly holds if it beats a random map "
        f"by {P.EDGE_TOL['above_random']:g} or more, does not hold otherwise",
        P.EDGE_TOL["close_to_best"], "in F-measure", {"edge maps": 1}),
}
#: the claim of the paper's own variant (stability through the constraints of an augmented Lagrangian)
PAPER_VARIANT_CLAIM = ("Stability is ensured during learning (abstract), by the paper's route: unconstrained "
                       "coefficients with the stability conditions as augmented-Lagrangian constraints (Birgin and "
                       "Martinez).")


def improves_claim(paired: pd.DataFrame, scale: str, evidence: str,
                   baselines: Mapping[str, Mapping[str, Mapping]] | None = None, stages: int | None = None) -> Claim:
    """A, by :data:`RULES`: wins are intervals above 0 against a baseline tuned inside its grid; every comparison
    a win holds, some partly, none not. A win against a baseline whose tuning ended at its grid's edge is not
    counted (the baseline might do better beyond); a loss counts either way.

    Args:
        paired: :func:`paired_table` (columns set, sigma, against, mean, low, high).
        baselines: ``{str(sigma): {name: tuned params}}`` (:func:`tune_baselines`), for the grid positions and
            the budgets named in the text.
        stages: the learned model's stages (of :data:`~.protocol.TAU`), for the budgets named in the text.
    """
    rule = RULES["A improves"]
    if paired.empty:
        return rule.claim(V.CLAIMS["A improves"], "untested", "no comparison at this scale", scale, evidence)
    baselines = baselines or {}

    def edge(row) -> list[str]:
        at_sigma = baselines.get(str(int(row.sigma)), baselines.get(int(row.sigma), {}))
        params = at_sigma.get(row.against)
        return [] if params is None else [k for k, w in grid_position(row.against, params).items()
                                          if w == "at the grid's edge"]

    above = paired.low > 0
    unsettled = [i for i, row in paired.iterrows() if above[i] and edge(row)]
    wins = int(above.sum()) - len(unsettled)
    below = int((paired.high < 0).sum())
    worst = paired.sort_values("mean").iloc[0]
    level = f"{paired['level'].iloc[0]:.4f}" if "level" in paired else None
    corrected = (f"Bonferroni-corrected intervals over {len(paired)} comparisons (each at {level})" if level
                 else "uncorrected 95 % intervals")
    text = (f"{corrected}: above 0 in {wins} of {len(paired)} comparisons, below 0 in {below}"
            + (f", {len(unsettled)} more above 0 only against a baseline tuned at its grid's edge" if unsettled else "")
            + f"; smallest mean gain {worst['mean']:+.2f} dB (against {worst.against}, {worst.set}, sigma "
            f"{int(worst.sigma)})")
    if stages is not None and baselines:
        steps = sorted({int(p["steps"]) for b in baselines.values() for p in b.values() if "steps" in p})
        text += (f"; budgets: the learned model {stages} steps of {P.TAU:g}, the tuned baselines "
                 f"{steps[0]}-{steps[-1]} steps")
    verdict = "holds" if wins == len(paired) else ("partly holds" if wins > 0 else "does not hold")
    return rule.claim(V.CLAIMS["A improves"], verdict, text, scale, evidence)


def _first_uncertified(r: Mapping) -> int | None:
    """The first optimiser step (1-based) after which a certificate failed, or None."""
    return next((i + 1 for i, m in enumerate(r["margin"]) if float(m) < 0), None)


def _uncertified(name: str, r: Mapping) -> str:
    first = _first_uncertified(r)
    return (f"{name}: {r['violations']} of {r['steps']} steps uncertified"
            + (f" (first at step {first})" if first else " (the constraint was never active)")
            + f", probes up to {max(map(float, r['probe']), default=float('nan')):.3f}x")


def stability_table(training: Mapping[str, Mapping[str, Mapping]], rollout=None, rollout_sigma=None) -> pd.DataFrame:
    """One row per certified run (constrained model and controls) at every sigma, from the training records (sigma
    -> run name -> record of :func:`train_cross`): the numbers claim B is judged on (:func:`stable_claim`,
    :func:`paper_variant_claim`), so that the claims box quotes this table.

    Args:
        training: the training records, as in a results payload (``training``) or the page (``RECORDS``).
        rollout: optional rows (a frame or records) with a ``run`` column and ``rollout ...`` columns, measured at
            ``rollout_sigma``; they join the rows of that sigma.
    """
    rows = []
    for sigma, recs in training.items():
        for name, r in recs.items():
            if "margin" not in r:
                continue
            first = _first_uncertified(r)
            rows.append({"sigma": int(float(sigma)), "run": name, "parameters": r.get("parameters"), "steps": r["steps"],
                         "uncertified steps": r["violations"],
                         "first uncertified step": float("nan") if first is None else first,
                         "smallest margin": min(map(float, r["margin"])),
                         "last step certified": bool(r["margin"]) and float(r["margin"][-1]) >= 0,
                         "largest probe growth": max(map(float, r["probe"]), default=float("nan")),
                         "seconds": r.get("seconds")})
    table = pd.DataFrame(rows)
    if rollout is not None and rollout_sigma is not None and not table.empty:
        extra = pd.DataFrame(rollout)
        cols = [c for c in extra.columns if str(c).startswith("rollout")]
        if cols and "run" in extra:
            extra = extra[["run", *cols]].assign(sigma=int(float(rollout_sigma)))
            table = table.merge(extra, on=["sigma", "run"], how="left")
    return table


def stable_claim(constrained: Sequence[dict], controls: Mapping[str, dict], scale: str, evidence: str) -> Claim:
    """B, by :data:`RULES`: *holds by construction* if every constrained run kept every certificate margin >= 0 after
    every step, stayed finite and no probe grew (the book's parameterisation guarantees it; the paper's own variant
    is :func:`paper_variant_claim`); does not hold otherwise. The controls' behaviour is reported."""
    rule = RULES["B stable"]
    if not constrained:
        return rule.claim(V.CLAIMS["B stable"], "untested", "no constrained run at this scale", scale, evidence)
    ok = all(r["violations"] == 0 and r["finite"] and max(r["probe"], default=0) <= 1 + rule.tolerance
             for r in constrained)
    worst = min(min(map(float, r["margin"])) for r in constrained)
    text = (("the book's parameterisation certifies every stage for any parameter value; " if ok else
             "the construction failed: ") +
            f"constrained runs: smallest margin {worst:.3f}, largest probe growth "
            f"{max(max(map(float, r['probe']), default=0) for r in constrained):.3f}; "
            + "; ".join(_uncertified(name, r) for name, r in controls.items()))
    return rule.claim(V.CLAIMS["B stable"], "holds by construction" if ok else "does not hold", text, scale, evidence)


def paper_variant_claim(controls: Mapping[str, dict], scale: str, evidence: str) -> Claim:
    """B for the paper's own route (the augmented-Lagrangian runs among ``controls``, names starting with
    ``"augmented Lagrangian"``), by :data:`RULES`."""
    rule = RULES["B stable, paper's variant"]
    runs = {k: r for k, r in controls.items() if k.startswith("augmented Lagrangian")}
    if not runs:
        return rule.claim(PAPER_VARIANT_CLAIM, "untested", "no augmented-Lagrangian run at this scale", scale,
                          evidence)
    text = "; ".join(_uncertified(name, r) for name, r in runs.items())
    steps = min(r["steps"] for r in runs.values())
    short = rule.short_of({"augmented-Lagrangian runs": len(runs), "steps": steps})
    if short:
        return rule.claim(PAPER_VARIANT_CLAIM, "untested at this scale",
                          f"{steps} steps, below the rule's minimum of {rule.minimum['steps']:,.0f}; {text}", scale,
                          evidence)
    share = max(r["violations"] / max(r["steps"], 1) for r in runs.values())
    end_ok = all(r["finite"] and r["margin"] and float(r["margin"][-1]) >= 0 for r in runs.values())
    probes_ok = all(max(r["probe"], default=0) <= 1 + RULES["B stable"].tolerance for r in runs.values())
    verdict = ("holds" if share <= rule.tolerance and end_ok and probes_ok else
               "partly holds" if end_ok and probes_ok else "does not hold")
    return rule.claim(PAPER_VARIANT_CLAIM, verdict, text + f"; last step certified: {'yes' if end_ok else 'no'}",
                      scale, evidence)


def edges_claim(table: pd.DataFrame, learned: str, ncdf: str, scale: str, evidence: str) -> Claim:
    """C, by :data:`RULES`: holds if |v| of the learned model scores an F-measure at least NCDF's |v| and within 0.05
    of the best classical detector; partly if it beats a random map's F by 0.1 or more; does not hold otherwise."""
    rule = RULES["C edges"]
    t = table.set_index("edge map").F
    best_classic = max(t[k] for k in t.index if "Gaussian" in k)
    text = (f"F-measure of |v|: {t[learned]:.3f} (NCDF's |v| {t[ncdf]:.3f}, best classical detector "
            f"{best_classic:.3f}, random map {t['random map']:.3f})")
    if t[learned] >= t[ncdf] and t[learned] >= best_classic - P.EDGE_TOL["close_to_best"]:
        return rule.claim(V.CLAIMS["C edges"], "holds", text, scale, evidence)
    if t[learned] >= t["random map"] + P.EDGE_TOL["above_random"]:
        return rule.claim(V.CLAIMS["C edges"], "partly holds", text, scale, evidence)
    return rule.claim(V.CLAIMS["C edges"], "does not hold", text, scale, evidence)


def chapter_claims(paired: pd.DataFrame, records: Mapping, edges: pd.DataFrame, scale: str,
                   baselines: Mapping | None = None, stages: int | None = None) -> list[Claim]:
    """Every claim's verdict from one run's evidence: the paired comparisons, the training records (sigma ->
    run name -> record of :func:`train_cross`), the edge table, and the tuned baselines (``{str(sigma): {name:
    params}}``) with the learned model's ``stages`` for claim A's grid positions and budgets."""
    constrained = [r for recs in records.values() for k, r in recs.items() if k == "learned cross-diffusion"]
    controls = {k: r for recs in records.values() for k, r in recs.items()
                if k not in ("learned cross-diffusion", "TNRD-style") and "margin" in r}
    return [improves_claim(paired, scale, "Restoration against the baselines", baselines, stages),
            stable_claim(constrained, controls, scale, "Learning, with the certificate watched"),
            paper_variant_claim(controls, scale, "Learning, with the certificate watched"),
            edges_claim(edges, "learned |v|", "NCDF |v|", scale, "The edge field")]


def recorded_paired(res: Mapping) -> pd.DataFrame:
    """The paired comparisons of a recorded run under the current rule (Bonferroni-corrected), made again from
    its per-image ``scores`` with its own bootstrap size; the recorded table as it is when it has no scores."""
    paired = pd.DataFrame(res["paired"])
    if "scores" not in res or paired.empty:
        return paired
    scores = pd.DataFrame(res["scores"])
    return paired_table(scores[scores.set != "synthetic"], str(paired.learned.iloc[0]),
                        list(dict.fromkeys(paired.against)), int(res.get("config", {}).get("bootstrap", 10_000)))


def claims_from_results(res: Mapping) -> list[Claim]:
    """:func:`chapter_claims` under the current rules from a recorded results payload (``scores``, ``paired``,
    ``training``, ``edges``, ``baselines``, ``config``, ``scale``). The paired comparisons are made again from the
    recorded per-image scores (the current rule's multiplicity correction), with the run's own bootstrap size."""
    paired = recorded_paired(res)
    stages = res.get("config", {}).get("stages")
    return chapter_claims(paired, res["training"], pd.DataFrame(res["edges"]), res["scale"], res.get("baselines"),
                          stages)


def parameter_table(models: Mapping[str, torch.nn.Module]) -> pd.DataFrame:
    """Trainable parameters of each learned model."""
    return pd.DataFrame([{"model": k, "parameters": sum(p.numel() for p in m.parameters() if p.requires_grad)}
                         for k, m in models.items()])


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR and SSIM per (set, sigma, method)."""
    return scores.groupby(["set", "sigma", "method"], sort=False)[["PSNR", "SSIM"]].mean().reset_index()



# --------------------------------------------------------------------------- one noise level, every learned run


def learn_all(pairs: tuple[torch.Tensor, torch.Tensor], cfg: Mapping, seed: int, controls: bool,
              progress: bool = True, sigma: int = 0) -> tuple[dict[str, torch.nn.Module], dict[str, dict]]:
    """The constrained model, and with ``controls`` the unconstrained control (same stages and step), the
    unconstrained control at the larger step and more stages, and the augmented-Lagrangian model at that larger
    setting; then the TNRD baseline. Returns ``(models, records)`` by name."""
    runs = {"learned cross-diffusion": (M.CrossDiffusion(cfg["stages"], P.TAU, constrained=True), False)}
    if controls:
        runs["unconstrained control"] = (M.CrossDiffusion(cfg["stages"], P.TAU, constrained=False), False)
        big = dict(stages=cfg["control_stages"], tau=cfg["control_tau"], constrained=False)
        runs[f"unconstrained, tau {cfg['control_tau']}, {cfg['control_stages']} stages"] = (M.CrossDiffusion(**big), False)
        runs[f"augmented Lagrangian, tau {cfg['control_tau']}, {cfg['control_stages']} stages"] = (
            M.CrossDiffusion(**big), True)
    models, records = {}, {}
    for name, (model, augmented) in runs.items():
        records[name] = train_cross(model, pairs, cfg["steps"], P.TRAINING["batch"], seed, augmented=augmented,
                                    progress=progress, desc=f"{name}, sigma {sigma}")
        models[name] = model.eval()
    tn = cfg["tnrd"]
    tnrd = TNRD(tn["stages"], tn["filters"], 5, tn["centers"])
    records["TNRD-style"] = train_tnrd(tnrd, pairs, tn["greedy"], tn["joint"], P.TRAINING["batch"], seed, progress)
    models["TNRD-style"] = tnrd.eval()
    return models, records
