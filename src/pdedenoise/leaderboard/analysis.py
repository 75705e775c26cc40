"""The leaderboard's steps: fit every entry under the protocol, score it on the test sets, time it, label its
stability, and give any entry by name to the command line."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch

from ..labels import label
from ..records import Rule
from ..runcache import code_version
from . import evaluate as E
from . import methods as MM
from . import protocol as P
from . import weights as W


def available(name: str) -> bool:
    """Whether the optional package a method needs (if any) can be imported."""
    import importlib.util

    need = MM.get(name).requires
    return need is None or importlib.util.find_spec(need) is not None


def fit_context(scale: str, sigma: float, seed: int = 0, progress: bool = True) -> MM.FitContext:
    """The training and tuning pairs of ``scale`` at ``sigma`` (BSDS500 train + test only)."""
    cfg = P.scale_config(scale)
    train = P.training_pairs(cfg["train_crops"], cfg["train_size"], sigma, seed)
    tune = P.training_pairs(cfg["tune_crops"], cfg["tune_size"], sigma, seed + 1)
    return MM.FitContext(sigma, train, tune, cfg["steps"], cfg["batch"], seed, progress)


def budget(ctx: MM.FitContext) -> dict:
    """What a fitted state depends on besides the method: the pairs' sizes, the budget, the seed and the code
    version (:func:`pdedenoise.runcache.code_version`, so that a state fitted by other code is fitted again)."""
    return {"sigma": float(ctx.sigma), "train": list(ctx.train[0].shape), "tune": list(ctx.tune[0].shape),
            "steps": {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in ctx.steps.items()},
            "batch": ctx.batch, "seed": ctx.seed, "code": code_version()}


#: the key of a state's configuration that says why its fitting failed (:func:`fit_all`, :func:`fit_failure`)
FIT_FAILED = "fit failed"


def fit_failure(state: dict) -> str | None:
    """Why fitting this state failed (its training diverged), or None for a fitted state."""
    return state.get("config", {}).get(FIT_FAILED)


#: how the board states a fitting that failed (:func:`not_fitted`); :func:`mark_failures` keeps these parts
NOT_FITTED = "not fitted at sigma"


def not_fitted(states_by_sigma: Mapping[float, Mapping[str, dict]]) -> dict[str, str]:
    """Per method, what the board says of its failed fittings at every sigma ("not fitted at sigma 15: reason";
    several joined with "; "); methods fitted everywhere are absent."""
    out: dict[str, list[str]] = {}
    for sigma in sorted(states_by_sigma):
        for name, state in states_by_sigma[sigma].items():
            if fit_failure(state):
                out.setdefault(name, []).append(f"{NOT_FITTED} {float(sigma):g}: {fit_failure(state)}")
    return {k: "; ".join(v) for k, v in out.items()}


def _join(*texts: str) -> str:
    return "; ".join(t for t in texts if t)


def fit_all(names: Sequence[str], ctx: MM.FitContext, log: Callable[[str], None] = print,
            cache: Path | None = None) -> tuple[dict, dict]:
    """Fit every method of ``names`` that has something to fit; returns ``(states, seconds)`` by name.

    A method whose training diverges (:class:`FloatingPointError` from :func:`pdedenoise.train.fit`) gets a state
    that says so (:func:`fit_failure`; never cached, so a later run tries again): it is not scored, and the board
    reports it as failed with the reason. With ``cache`` (a folder) each fitted state is written there as soon as
    it exists and reused by a later run with the same budget (:func:`budget`): a long run that stops resumes where
    it was."""
    states, seconds = {}, {}
    fingerprint = budget(ctx)
    for name in names:
        m = MM.get(name)
        if m.fit is None:
            states[name], seconds[name] = {"config": {}, "tensors": {}}, 0.0
            continue
        entry = W.manifest(cache).get(W.file_name(name, ctx.sigma)) if cache is not None else None
        if entry is not None and entry.get("budget") == fingerprint:
            states[name] = W.load_state(name, ctx.sigma, cache)
            seconds[name] = float(entry.get("seconds", math.nan))
            log(f"{name}: reusing the state fitted at sigma {ctx.sigma:g} in {cache}")
            continue
        t0 = time.perf_counter()
        try:
            states[name] = m.fit(ctx)
        except FloatingPointError as exc:  # training diverged: reported on the board, not a stop of the whole run
            seconds[name] = time.perf_counter() - t0
            states[name] = {"config": {FIT_FAILED: str(exc)}, "tensors": {}}
            log(f"{name}: not fitted at sigma {ctx.sigma:g} ({exc})")
            continue
        seconds[name] = time.perf_counter() - t0
        log(f"{name}: fitted at sigma {ctx.sigma:g} in {seconds[name]:.1f} s")
        if cache is not None:
            W.save_state(states[name], name, ctx.sigma, cache, {"budget": fingerprint, "seconds": seconds[name]})
    return states, seconds


def denoisers(states: dict, sigma: float) -> dict[str, Callable]:
    """Each state's denoiser at ``sigma`` (states whose fitting failed have none)."""
    return {name: MM.get(name).build(state, sigma) for name, state in states.items() if not fit_failure(state)}


def score_all(states: dict, scale: str, sigma: float, log: Callable[[str], None] = print,
              cache: Path | None = None) -> pd.DataFrame:
    """Per-image PSNR and SSIM of every method on BSD68 and Set12 at ``sigma`` (the protocol's noisy images).

    With ``cache`` each method's scores are written there (CSV) and reused by a later run of the same scale when
    the method's state is the cached one (same fitted-state checksum) and the code is the same
    (:func:`pdedenoise.runcache.code_version`)."""
    cfg = P.scale_config(scale)
    frames = []
    built = denoisers(states, sigma)
    for dataset in P.SETS:
        pairs = P.test_pairs(dataset, sigma, cfg["test_count"][dataset], cfg["test_crop"])
        frames.append(E.per_image("noisy input", lambda x: x, pairs, dataset, sigma))
        for name, denoise in built.items():
            path = None
            if cache is not None:
                key = W.manifest(cache).get(W.file_name(name, sigma), {}).get("sha256", "none")[:12]
                path = Path(cache) / f"scores-{name}-{dataset}-s{sigma:g}-{key}-code{code_version()[:12]}.csv"
                if path.is_file():
                    try:
                        frames.append(pd.read_csv(path))
                        log(f"{name}: reusing the {dataset} scores at sigma {sigma:g}")
                        continue
                    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:  # damaged: score again
                        log(f"{name}: the cached scores {path} are damaged ({type(exc).__name__}); scoring again")
            t0 = time.perf_counter()
            part = E.per_image(name, denoise, pairs, dataset, sigma, oracle=MM.get(name).oracle)
            frames.append(part)
            log(f"{name}: {dataset} at sigma {sigma:g} scored in {time.perf_counter() - t0:.1f} s")
            if path is not None:
                from ..atomic import atomic_file

                with atomic_file(path, "w") as fh:
                    part.to_csv(fh, index=False)
    return pd.concat(frames, ignore_index=True)


def stability(name: str, state: dict, sigma: float) -> str:
    """The stability label of a fitted entry: the registry's, except for the learned diffusivities, whose label is
    computed (``certificate`` when every step's data-free certificate holds at the fitted parameters)."""
    m = MM.get(name)
    model = None
    if name in MM.DIFFUSIVITIES and state.get("tensors"):
        model = MM._diffusivity_model(state)
    elif name.endswith("-authors"):
        model = MM.authors_model(name, sigma)[0]
    if model is not None:
        certs = model.flow.certificates()
        return "certificate" if all(not math.isnan(c.dt_max) and c.holds for c in certs) else "empirical"
    return m.stability


def timing(states: dict, sigma: float, size: int, repeats: int, skip: Sequence[str] = ()) -> pd.DataFrame:
    """Seconds per ``size``² image on one thread and on all of them (same run, same machine)."""
    rows = []
    n_all = E.all_threads()
    for name, denoise in denoisers(states, sigma).items():
        if name in skip or MM.get(name).oracle:
            continue
        rows.append({"method": name, "seconds, 1 thread": E.seconds_per_image(denoise, size, 1, repeats),
                     f"seconds, {n_all} threads": E.seconds_per_image(denoise, size, n_all, repeats)})
    return pd.DataFrame(rows)


def table(scores: pd.DataFrame, states: dict, sigma_for_labels: float, times: pd.DataFrame | None = None,
          unfitted: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The leaderboard: one row per method with its label, family, stability, parameters, mean PSNR/SSIM per set
    and sigma (columns ``PSNR BSD68 s25`` ...), and time per image where measured; best BSD68 PSNR first.

    An entry that failed on some image of a set (output not finite or blown up: :func:`~.evaluate.failures` by
    :data:`~.evaluate.RANKING`) gets no mean on that set and sigma (NaN, ranked last) and says why in ``failed``
    ("failed on N of M images (set, sigma): reason"); ``failed`` is empty for the others. ``worse than input``
    says where a ranked entry left some images worse than the noisy input ("1 of 68 (BSD68, sigma 15)"). An entry whose fitting
    failed says so first (``unfitted``: :func:`not_fitted` of the states at every sigma; default, those of
    ``states``, fitted at ``sigma_for_labels``), with or without scores at other sigmas."""
    unfitted = dict(not_fitted({sigma_for_labels: states}) if unfitted is None else unfitted)
    fails, worse = E.failures(scores, **E.RANKING), E.worse_than_input(scores)
    m = E.means(scores)
    failed_at = {(r.method, r.set, r.sigma) for r in fails.itertuples()}
    gone = [(r.method, r.set, r.sigma) in failed_at for r in m.itertuples()]
    m.loc[gone, ["PSNR", "SSIM"]] = float("nan")
    rows = []
    for name, sub in m.groupby("method", sort=False):
        row = {"method": name}
        if name in MM.METHODS:
            meth = MM.get(name)
            state = states.get(name, {"config": {}, "tensors": {}})
            row.update({"label": meth.label, "family": meth.family,
                        "stability": meth.stability if fit_failure(state) else stability(name, state, sigma_for_labels),
                        "parameters": math.nan if fit_failure(state) else
                        MM.parameters(state) if meth.fit is not None else
                        MM.authors_parameters(name, sigma_for_labels) if name.endswith("-authors") else
                        0 if meth.family == "classical" else 1 if meth.oracle else math.nan})
        else:
            row.update({"label": name, "family": "", "stability": "", "parameters": 0})
        for _, r in sub.iterrows():
            row[f"PSNR {r['set']} s{r['sigma']:g}"] = r["PSNR"]
            row[f"SSIM {r['set']} s{r['sigma']:g}"] = r["SSIM"]
        mine = fails[fails["method"] == name]
        row["failed"] = _join(unfitted.get(name, ""), *(
            f"failed on {r.failed} of {r.images} images ({r.set}, sigma {r.sigma:g}): {r.reason}"
            for r in mine.itertuples()))
        row["worse than input"] = _worse_text(worse, name)
        rows.append(row)
    for name, text in unfitted.items():
        if name not in set(m["method"]):
            meth = MM.get(name)
            rows.append({"method": name, "label": meth.label, "family": meth.family, "stability": meth.stability,
                         "parameters": math.nan, "failed": text})
    out = pd.DataFrame(rows)
    if times is not None and len(times):
        out = out.merge(times, on="method", how="left")
    key = rank_column(out.columns)
    return out.sort_values(key, ascending=False, na_position="last").reset_index(drop=True)


def _worse_text(worse: pd.DataFrame, name: str) -> str:
    """What :func:`~.evaluate.worse_than_input` (``worse``) says of ``name``, as the board's text."""
    return "; ".join(f"{r.worse} of {r.images} ({r.set}, sigma {r.sigma:g})"
                     for r in worse[worse["method"] == name].itertuples())


def mark_failures(board: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """A recorded leaderboard (``board``, one row per method) judged again on ``scores`` by today's rule: every mean
    PSNR/SSIM made again from the per-image scores, then the entries that failed on some image
    (:func:`~.evaluate.failures` by :data:`~.evaluate.RANKING`) reported, not ranked: their means on that set and
    sigma become NaN, ``failed`` says why, and they sort last; ``worse than input`` as in :func:`table`."""
    fails = E.failures(scores, **E.RANKING)
    out = board.copy()
    for r in E.means(scores).itertuples():  # a stored board may hold NaN where an older rule did not rank
        at = out["method"] == r.method
        for col, v in ((f"PSNR {r.set} s{r.sigma:g}", r.PSNR), (f"SSIM {r.set} s{r.sigma:g}", r.SSIM)):
            if col in out:
                out.loc[at, col] = v
    worse = E.worse_than_input(scores)
    out["worse than input"] = [_worse_text(worse, m) for m in out["method"]]
    # what the scores cannot show (a fitting that failed, "not fitted at sigma ...") is kept as stated; the rest is
    # made again from the scores
    kept = out["failed"].fillna("").astype(str) if "failed" in out else pd.Series("", index=out.index)
    out["failed"] = kept.map(lambda t: _join(*(p for p in t.split("; ") if p.startswith(NOT_FITTED))))
    for r in fails.itertuples():
        at = out["method"] == r.method
        for col in (f"PSNR {r.set} s{r.sigma:g}", f"SSIM {r.set} s{r.sigma:g}"):
            if col in out:
                out.loc[at, col] = float("nan")
        text = f"failed on {r.failed} of {r.images} images ({r.set}, sigma {r.sigma:g}): {r.reason}"
        out.loc[at, "failed"] = out.loc[at, "failed"].map(lambda t: f"{t}; {text}" if t else text)
    key = rank_column(out.columns)
    if key is None:
        return out.reset_index(drop=True)
    return out.sort_values(key, ascending=False, na_position="last").reset_index(drop=True)


def findings_from_results(res: dict) -> list:
    """:func:`findings` under the current rules from a recorded results payload (``scores``, ``board``, ``scale``,
    ``config``), failed entries marked first (:func:`mark_failures`)."""
    scores = pd.DataFrame(res["scores"])
    board = mark_failures(pd.DataFrame(res["board"]), scores)
    return findings(scores, board, res["scale"], int(res["config"]["bootstrap"]))


def save_states(states: dict, sigma: float, folder: Path, provenance: dict) -> list[Path]:
    """Write the shippable states (our own fitting) to ``folder`` with a checksummed manifest."""
    return [W.save_state(s, name, sigma, folder, provenance) for name, s in states.items()
            if MM.get(name).shipped and MM.get(name).fit is not None and not fit_failure(s)]


# --------------------------------------------------------------------------- one method by name (command line)

def usable(name: str) -> bool:
    """Whether ``name`` can denoise an image on its own (not an oracle)."""
    return not MM.get(name).oracle


def denoiser_for(name: str, sigma: float, folder: Path | None = None) -> tuple[Callable, str]:
    """The denoiser of method ``name`` for noise ``sigma`` (0–255 grey levels) and a line saying what it uses.

    Fitted methods use the shipped state at the nearest shipped noise level (raises
    :class:`~.weights.MissingWeights` naming the command that trains them when none is shipped).
    """
    m = MM.get(name)
    if m.oracle:
        raise ValueError(f"{name} is an oracle (it needs the clean image) and cannot denoise an image on its own")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number of grey levels (0-255 scale), got {sigma}")
    if m.fit is None:
        return m.build({"config": {}, "tensors": {}}, sigma), f"{m.label} at sigma {sigma:.3g}"
    have = W.shipped_sigmas(name, folder)
    if not have:
        W.load_state(name, sigma, folder)  # raises MissingWeights with the command to train
    near = min(have, key=lambda s: abs(math.log(s / sigma)))
    state = W.load_state(name, near, folder)
    return m.build(state, near), f"{m.label}, fitted at sigma {near:g} (nearest shipped to {sigma:.3g})"


# --------------------------------------------------------------------------- the questions, with rules fixed before results

#: tolerances of the comparisons with published numbers (dB): reproduced within the first, close within the second
PUBLISHED_TOL = (0.1, 0.3)
#: "TNRD level": within this many dB of TNRD's published BSD68 PSNR
TNRD_LEVEL_DB = 0.1

#: "uncertified beats certified" compares models of comparable size only: parameter counts within this factor
EQUAL_BUDGET_RATIO = 2.0

#: The decision rule of each question of the page, fixed before results. Comparisons with published numbers need the
#: whole test sets (68 BSD68 images, whole images): below that they are "untested at this scale".
RULES = {
    "own at TNRD level": Rule(
        f"own model minus TNRD's published BSD68 PSNR at each sigma: holds if every gap is at least -{TNRD_LEVEL_DB:g} "
        "dB, partly holds if some gap is at least -0.5 dB, does not hold otherwise", TNRD_LEVEL_DB, "dB",
        {"BSD68 whole images": 68}),
    "BM3D reproduced": Rule(
        "BM3D's BSD68 PSNR against the published one at each sigma: holds if every one is reproduced, does not hold "
        f"if none is reproduced or close, partly holds otherwise (close within {PUBLISHED_TOL[1]:g} dB)",
        PUBLISHED_TOL[0], "dB", {"BSD68 whole images": 68}),
    "learned beats tuned": Rule(
        "best learned PDE minus best tuned PDE, paired over BSD68 images: holds if the 95 % bootstrap interval lies "
        "above 0, does not hold if below 0, partly holds if it contains 0", 0.0, "dB", {"BSD68 images": 2}),
    "uncertified beats certified": Rule(
        "best uncertified learned PDE minus best certified one, paired over BSD68 images: holds if the 95 % "
        "bootstrap interval lies above 0, does not hold if below 0, partly holds if it contains 0; untested at "
        "this scale when the two models' parameter counts differ by more than a factor of "
        f"{EQUAL_BUDGET_RATIO:g} (the difference would be the models' size, not the certificate's price)", 0.0, "dB",
        {"BSD68 images": 2}),
}


def published_comparison(scores: pd.DataFrame) -> pd.DataFrame:
    """BM3D from the package against BM3D's published BSD68 mean PSNR, per sigma measured."""
    from ..records import Published, compare
    from . import published as PUB

    sub = scores[(scores["set"] == "BSD68") & (scores["method"] == "bm3d")]
    got = {f"BM3D, BSD68, sigma {s:g}": float(g["PSNR"].mean()) for s, g in sub.groupby("sigma")}
    pub = {f"BM3D, BSD68, sigma {s:g}": Published(v, PUB.SOURCE) for s, v in PUB.BSD68["BM3D (published)"].items()
           if f"BM3D, BSD68, sigma {s:g}" in got}
    return compare(pub, got, *PUBLISHED_TOL)


def _best(scores: pd.DataFrame, names: Sequence[str], dataset: str, sigma: float) -> str | None:
    sub = scores[(scores["set"] == dataset) & (scores["sigma"] == sigma) & scores["method"].isin(list(names))]
    return None if sub.empty else sub.groupby("method")["PSNR"].mean().idxmax()


def _paired(scores: pd.DataFrame, a: str, b: str, dataset: str, sigma: float, resamples: int) -> dict:
    from ..stats import paired_bootstrap

    piv = scores[(scores["set"] == dataset) & (scores["sigma"] == sigma)].pivot_table(index="image", columns="method",
                                                                                       values="PSNR")
    return paired_bootstrap(piv[a].to_numpy(), piv[b].to_numpy(), resamples)


def findings(scores: pd.DataFrame, board: pd.DataFrame, scale: str, resamples: int) -> list:
    """The page's questions and their answers (:class:`~pdedenoise.records.Claim`), each by its rule in
    :data:`RULES`. Comparisons with published numbers need the whole test sets at every noise level: on crops of a few
    images (the ``ci`` scale) they are "untested at this scale"."""
    from ..records import untested_at_scale
    from . import published as PUB

    out = []
    cfg = P.scale_config(scale)
    whole_images = cfg["test_count"]["BSD68"] if cfg["test_crop"] is None else 0
    have = {"BSD68 whole images": whole_images}
    paper = {"BSD68 whole images": 68}
    # 1. the book's own model at TNRD level, with a tenth of its parameters
    own = scores[(scores["method"] == "own") & (scores["set"] == "BSD68")].groupby("sigma")["PSNR"].mean()
    gaps = {s: float(own[s]) - PUB.BSD68["TNRD (published)"][int(s)] for s in own.index if int(s) in
            PUB.BSD68["TNRD (published)"]}
    # every sigma the board scored counts: one where the own model has no score cannot be at TNRD level
    missing = [s for s in sorted(scores.loc[scores["set"] == "BSD68", "sigma"].unique())
               if s not in gaps and int(s) in PUB.BSD68["TNRD (published)"]]
    own_params = board.set_index("method")["parameters"].get("own", math.nan)
    if gaps:
        rule = RULES["own at TNRD level"]
        text = ", ".join(f"sigma {s:g}: {g:+.2f} dB" for s, g in gaps.items())
        claim = (f"The book's own model, stable by construction with {own_params:,.0f} parameters (a tenth of "
                 f"TNRD's {PUB.TNRD_PARAMETERS:,} is {PUB.TNRD_PARAMETERS // 10:,}), reaches TNRD's published BSD68 PSNR.")
        ok = [g >= -TNRD_LEVEL_DB for g in gaps.values()]
        verdict = "holds" if all(ok) else "partly holds" if any(g >= -0.5 for g in gaps.values()) else "does not hold"
        if missing and verdict == "holds":
            verdict = "partly holds"
        reason = f"own model minus TNRD (published), BSD68: {text}; TNRD level is within {TNRD_LEVEL_DB:g} dB" + (
            f"; no score at sigma {', '.join(f'{s:g}' for s in missing)}" if missing else "")
        out.append(untested_at_scale(rule, claim, have, paper, scale, "The leaderboard", reason)
                   or rule.claim(claim, verdict, reason, scale, "The leaderboard"))
    # 2. BM3D from the package against its published numbers
    comp = published_comparison(scores)
    if len(comp):
        rule = RULES["BM3D reproduced"]
        v = set(comp["verdict"])
        verdict = "holds" if v == {"reproduced"} else "does not hold" if v == {"not reproduced"} else "partly holds"
        claim = "BM3D from the PyPI package reproduces BM3D's published BSD68 PSNR."
        reason = "; ".join(f"{r.quantity}: {r.reproduced:.2f} vs {r.published:.2f} dB ({r.verdict})"
                           for r in comp.itertuples())
        out.append(untested_at_scale(rule, claim, have, paper, scale, "Published reference rows", reason)
                   or rule.claim(claim, verdict, reason, scale, "Published reference rows"))
    # 3. learned PDEs against tuned PDEs, and 4. the price of a certificate, at the middle noise level
    for r in group_comparisons(scores, board, resamples).itertuples(index=False):
        key = r.finding
        verdict = "holds" if r.low > 0 else "does not hold" if r.high < 0 else "partly holds"
        # the reader's names, not the code's keys
        text = (f"best {r.first} minus best {r.second}: {r.difference:+.2f} dB, 95 % interval [{r.low:+.2f}, "
                f"{r.high:+.2f}] over {r.images} images")
        if key == "uncertified beats certified":
            pa, pb = float(r.parameters_first), float(r.parameters_second)
            ratio = max(pa, pb) / max(1.0, min(pa, pb))
            if ratio > EQUAL_BUDGET_RATIO:
                verdict = "untested at this scale"
                text = (f"{text}; not a price of the certificate: {r.first} has {pa:,.0f} parameters and {r.second} "
                        f"{pb:,.0f} ({ratio:.1f}x), beyond the {EQUAL_BUDGET_RATIO:g}x the rule allows")
        out.append(RULES[key].claim(FINDING_QUESTIONS[key].format(s=r.sigma), verdict, text, scale,
                                    "Neighbours in the ranking"))
    return out


#: the questions of the group comparisons (:func:`group_comparisons`), by their key in :data:`RULES`
FINDING_QUESTIONS = {
    "learned beats tuned": "The best learned PDE denoises better than the best tuned PDE (BSD68, sigma {s:g}).",
    "uncertified beats certified": ("Learned PDEs without a stability certificate denoise better than those with one "
                                    "(BSD68, sigma {s:g})."),
}


def group_comparisons(scores: pd.DataFrame, board: pd.DataFrame, resamples: int) -> pd.DataFrame:
    """The paired comparisons the findings "learned beats tuned" and "uncertified beats certified" are judged on:
    the best ranked entry of one group against the best of the other, on BSD68 at sigma 25 (or the first sigma),
    with the 95 % bootstrap interval of the paired per-image PSNR difference and both parameter counts. Learned
    entries are those trained under this protocol (not the authors' released models); an entry that failed on
    some image (``failed`` of :func:`mark_failures`) is no one's best. Columns: ``finding`` (key of
    :data:`RULES`), ``sigma``, ``first``, ``second`` (labels), ``parameters_first``, ``parameters_second``,
    ``difference``, ``low``, ``high``, ``images``."""
    sigmas = sorted(scores["sigma"].unique())
    s = 25 if 25 in sigmas else sigmas[0]
    fams = board.set_index("method")
    ranked = fams["failed"].fillna("") == "" if "failed" in fams else pd.Series(True, index=fams.index)
    learned = [m for m in fams.index if fams.loc[m, "family"] == "PDE, learned" and not m.endswith("-authors")
               and ranked[m]]
    tuned = [m for m in fams.index if fams.loc[m, "family"] == "PDE, tuned" and not MM.METHODS[m].oracle and ranked[m]]
    certified = [m for m in learned if fams.loc[m, "stability"] == "certificate"]
    empirical = [m for m in learned if fams.loc[m, "stability"] == "empirical"]
    rows = []
    for key, a_names, b_names in (("learned beats tuned", learned, tuned),
                                  ("uncertified beats certified", empirical, certified)):
        a, b = _best(scores, a_names, "BSD68", s), _best(scores, b_names, "BSD68", s)
        if a is None or b is None:
            continue
        d = _paired(scores, a, b, "BSD68", s, resamples)
        rows.append({"finding": key, "sigma": s, "first": label(a), "second": label(b),
                     "parameters_first": float(fams.loc[a, "parameters"]),
                     "parameters_second": float(fams.loc[b, "parameters"]),
                     "difference": d["mean"], "low": d["low"], "high": d["high"], "images": int(d["n"])})
    return pd.DataFrame(rows, columns=["finding", "sigma", "first", "second", "parameters_first", "parameters_second",
                                       "difference", "low", "high", "images"])


def merge_sigma_records(main: dict, others: Sequence[dict]) -> dict:
    """One payload of the leaderboard from the page's recorded run (``main``) and records of the same board at other
    noise levels (``tools/record_leaderboard_sigma.py``): the per-image scores of every sigma, the board with the
    columns of every sigma (PSNR and SSIM per set, by sigma; an entry missing from one record has no value there),
    ``config["sigmas"]`` all of them, and ``parts`` the provenance of each record by its sigmas. A sigma already in
    ``main`` is kept from ``main``. Label, family, stability and parameters of an entry are ``main``'s where it has
    them (computed at its sigma), else the first record's that has the entry."""
    have = {float(s) for s in pd.DataFrame(main["scores"])["sigma"].unique()}
    scores, board = [pd.DataFrame(main["scores"])], pd.DataFrame(main["board"])
    parts = [{"sigmas": sorted(have), **main.get("provenance", {})}]
    fit = list(main.get("fit_seconds") or [])
    for rec in others:
        sc = pd.DataFrame(rec["scores"])
        sc = sc[~sc["sigma"].astype(float).isin(have)]
        if sc.empty:
            continue
        new = sorted(float(s) for s in sc["sigma"].unique())
        have |= set(new)
        scores.append(sc)
        parts.append({"sigmas": new, **rec.get("provenance", {})})
        fit += [r for r in rec.get("fit_seconds") or [] if float(r["sigma"]) in new]
        other = pd.DataFrame(rec["board"])
        cols = [c for c in other.columns if c.startswith(("PSNR ", "SSIM ")) and float(c.rsplit(" s", 1)[1]) in new]
        meta = [c for c in ("label", "family", "stability", "parameters", "failed") if c in other.columns]
        board = board.merge(other[["method"] + meta + cols], on="method", how="outer", suffixes=("", " (other)"))
        for c in meta:
            if f"{c} (other)" not in board:
                continue
            theirs = board.pop(f"{c} (other)")
            if c == "failed":  # both records' reasons (mark_failures keeps the fittings', remakes the scores')
                board[c] = [_join(*(str(t) for t in pair if isinstance(t, str))) for pair in zip(board[c], theirs)]
            else:
                board[c] = board[c].where(board[c].notna(), theirs)
    head = [c for c in board.columns if not c.startswith(("PSNR ", "SSIM "))]
    for c in board.columns:
        if c.startswith(("PSNR ", "SSIM ")) or c == "parameters":
            board[c] = pd.to_numeric(board[c], errors="coerce")  # a missing value is NaN, whichever record lacks it
    scored = sorted((c for c in board.columns if c.startswith(("PSNR ", "SSIM "))),
                    key=lambda c: (c.split(" ")[0] != "PSNR", c.split(" ")[1], float(c.rsplit(" s", 1)[1])))
    return {**main, "scores": pd.concat(scores, ignore_index=True), "board": board[head[:1] + scored + head[1:]],
            "config": {**main.get("config", {}), "sigmas": sorted(have)}, "fit_seconds": fit, "parts": parts}


def rank_column(columns: Sequence[str]) -> str | None:
    """The column a board is ranked by: BSD68 PSNR at sigma 25 where there is one, else at the first sigma."""
    cols = [c for c in columns if c.startswith("PSNR BSD68")]
    return "PSNR BSD68 s25" if "PSNR BSD68 s25" in cols else (cols[0] if cols else None)


def recorded_board(res: dict, sigmas: Sequence[float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A results payload's leaderboard and BSD68 neighbours with failed entries not ranked: the board through
    :func:`mark_failures`, the neighbours made again from the per-image scores (:func:`~.evaluate.neighbours`, which
    leaves failed entries out) at each sigma of ``sigmas`` (default: every sigma scored). Also what the page saves."""
    scores = pd.DataFrame(res["scores"])
    board = mark_failures(pd.DataFrame(res["board"]), scores)
    sigmas = sorted(scores["sigma"].unique()) if sigmas is None else sigmas
    resamples = int(res.get("config", {}).get("bootstrap", 10_000))
    near = pd.concat([E.neighbours(scores, "BSD68", s, resamples).assign(sigma=s) for s in sigmas], ignore_index=True)
    return board, near
