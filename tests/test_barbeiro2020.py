"""Chapter 2 (Barbeiro and Lobo): the stability guarantee, the special cases, the baselines and the claims' rules."""
import math

import pandas as pd
import pytest
import torch

from pdedenoise import diffusion
from pdedenoise.papers.barbeiro2020 import analysis as A
from pdedenoise.papers.barbeiro2020 import method as M
from pdedenoise.papers.barbeiro2020 import published as V
from pdedenoise.papers.barbeiro2020 import tnrd as T

f64 = torch.float64


def _randomise(model, rng, scale):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=rng, dtype=p.dtype) * scale)


def test_a_constrained_model_is_stable_for_every_parameter_value(rng):
    """The certificate of every stage holds from the parameters alone, whatever they are, and the stages do not
    amplify a checkerboard or white noise; ten repetitions of the stages stay bounded."""
    model = M.CrossDiffusion(stages=3, tau=0.3, constrained=True, centers=15).double()
    f = torch.rand(1, 1, 24, 24, generator=rng, dtype=f64) * 255
    for scale in (0.3, 3.0, 30.0):
        for _ in range(3):
            _randomise(model, rng, scale)
            assert min(model.margins()) >= 0
            assert A.probe_growth(model.float(), size=16) <= 1 + 1e-5
            model.double()
            roll = A.rollout(model, f, 10)
            assert roll["finite"] and roll["max |U| / max |f|"] <= 1.5


def test_the_unconstrained_control_can_be_made_unstable(rng):
    model = M.CrossDiffusion(stages=2, tau=0.3, constrained=False, centers=15).double()
    assert min(model.margins()) >= 0  # it starts where the constrained model starts
    with torch.no_grad():
        model.flow.coefficient(0).block.matrix.copy_(torch.tensor([[4.0, 3.0], [-3.0, 0.5]], dtype=f64))
    assert model.margins()[0] < 0
    assert float(A.constraints(model).detach().max()) > 0  # the augmented Lagrangian sees the violation too
    assert A.probe_growth(model.float(), size=16) > 1.5
    model.double()
    # the rollout leaves the input's range (the RBF's decay in |v| then limits the growth: g -> 0)
    assert A.rollout(model, torch.rand(1, 1, 16, 16, generator=rng, dtype=f64) * 255, 10)["max |U| / max |f|"] > 1.05


def test_augmented_lagrangian_constraints_agree_with_the_certificate(rng):
    """Where every constraint holds with room, the float64 certificate holds; where the matrix is made
    indefinite, both fail."""
    model = M.CrossDiffusion(stages=2, tau=0.2, constrained=False, centers=15).double()
    c = A.constraints(model)
    assert c.shape == (6,) and float(c.detach().max()) < 0 and min(model.margins()) > 0
    c.sum().backward()  # differentiable in the parameters
    assert model.flow.coefficient(0).block.matrix.grad is not None
    with torch.no_grad():
        model.flow.coefficient(1).block.matrix.copy_(torch.tensor([[1.0, 2.0], [-2.0, -0.5]], dtype=f64))
    assert float(A.constraints(model)[3:].detach().max()) > 0 and model.margins()[1] < 0


def test_linear_cross_diffusion_with_the_identity_is_the_heat_equation(rng):
    f = torch.rand(1, 1, 12, 10, generator=rng, dtype=f64) * 255
    flow = M.linear_cross_diffusion(torch.eye(2, dtype=f64), stages=5, tau=0.2).double()
    U = flow(M.two_fields(f))
    torch.testing.assert_close(U[:, :1], diffusion.heat(f, 1.0, 1.0, 0.2), rtol=0, atol=1e-10)
    assert float(U[:, 1].detach().abs().max()) == 0.0  # v stays 0 without coupling


def test_ncdf_is_complex_diffusion(rng):
    """One step of method.ncdf on (u, v) equals I + tau div(c grad I) in complex arithmetic, c = e^{i theta} g(v)
    averaged onto edges (g = 1 / (1 + (v / (k theta))^2))."""
    theta, k, tau = math.pi / 10, 2.0, 0.1
    u = torch.rand(10, 9, generator=rng, dtype=f64) * 50
    v = torch.randn(10, 9, generator=rng, dtype=f64)
    out = M.ncdf(theta, k, 1, tau).double()(torch.stack([u, v])[None])[0]
    I = torch.complex(u, v)
    g = 1 / (1 + (v / (k * theta)) ** 2)
    c = torch.exp(torch.tensor(1j * theta, dtype=torch.complex128)) * g
    cx, cy = 0.5 * (c[:, 1:] + c[:, :-1]), 0.5 * (c[1:, :] + c[:-1, :])
    fx, fy = cx * (I[:, 1:] - I[:, :-1]), cy * (I[1:, :] - I[:-1, :])
    div = torch.zeros_like(I)
    div[:, :-1] += fx
    div[:, 1:] -= fx
    div[:-1, :] += fy
    div[1:, :] -= fy
    ref = I + tau * div
    torch.testing.assert_close(out[0], ref.real, rtol=0, atol=1e-10)
    torch.testing.assert_close(out[1], ref.imag, rtol=0, atol=1e-10)


def test_tnrd_counts_and_stage_structure(rng):
    assert T.TNRD(5, 24, 5, 63).count_parameters() == 5 * (24 * 24 + 24 * 63 + 1) == 10_445
    assert M.CrossDiffusion(5, centers=63).count_parameters() * 20 < 10_445  # far fewer parameters
    stage = T.Stage(8, 5, 15)
    with torch.no_grad():
        stage.weights.zero_()
    f = torch.rand(1, 1, 16, 16, generator=rng) * 255
    u = torch.rand(1, 1, 16, 16, generator=rng) * 255
    lam = float(torch.exp(stage.log_reaction.detach()))
    torch.testing.assert_close(stage(u, f), u - lam * (u - f))  # phi = 0: only the reaction acts
    assert float(stage.kernels.detach().sum(dim=(1, 2, 3)).abs().max()) < 1e-5  # zero-mean filters


def test_tuned_baselines_come_from_their_grids_and_denoise(rng):
    from pdedenoise.data.synthetic import synthetic_set
    from pdedenoise.metrics import psnr
    from pdedenoise.papers.barbeiro2020 import protocol as P

    clean, _ = synthetic_set(3, 32, seed=2)
    noisy = P.noisy(clean, 25, 0)
    best = A.tune_baselines(noisy, clean)
    assert set(best) == set(P.GRIDS)
    for name, params in best.items():
        assert params["steps"] in params["grid"]["steps"]
        assert set(P.GRIDS[name]["steps"]) <= set(params["grid"]["steps"])  # extended, never replaced
        for k, where in params["where"].items():  # each chosen value interior on its final grid, or at its limit
            values = params["grid"][k]
            assert where != "at the grid's edge" or len(values) >= len(P.GRIDS[name][k]) + P.GRID_EXTENSIONS
            if where == "interior":
                assert values[0] < params[k] < values[-1]
        out = A.baseline_model(name, params)(noisy)
        assert float(psnr(out.double(), clean.double(), 255.0).mean()) == pytest.approx(params["PSNR"], abs=1e-4)
        assert params["PSNR"] > float(psnr(noisy.double(), clean.double(), 255.0).mean()) + 1


def test_claims_follow_their_rules():
    paired = pd.DataFrame([{"set": "a", "sigma": 25, "against": "PM", "mean": 0.5, "low": 0.2, "high": 0.8},
                           {"set": "b", "sigma": 25, "against": "PM", "mean": -0.3, "low": -0.5, "high": -0.1}])
    assert A.improves_claim(paired.iloc[:1], "ci", "").verdict == "holds"
    assert A.improves_claim(paired, "ci", "").verdict == "partly holds"
    assert A.improves_claim(paired.iloc[1:], "ci", "").verdict == "does not hold"
    good = {"violations": 0, "finite": True, "probe": [0.9], "margin": [0.5], "steps": 1}
    bad = {**good, "violations": 1, "margin": [-1.0]}
    assert A.stable_claim([good], {"control": bad}, "ci", "").verdict == "holds by construction"
    assert "first at step 1" in A.stable_claim([good], {"control": bad}, "ci", "").reason
    assert A.stable_claim([bad], {}, "ci", "").verdict == "does not hold"
    assert A.stable_claim([{**good, "probe": [1.01]}], {}, "ci", "").verdict == "does not hold"
    edges = pd.DataFrame({"edge map": ["learned", "ncdf", "gradient of Gaussian", "random map"],
                          "F": [0.8, 0.7, 0.82, 0.3]})
    assert A.edges_claim(edges, "learned", "ncdf", "ci", "").verdict == "holds"
    assert A.edges_claim(edges.assign(F=[0.5, 0.7, 0.82, 0.3]), "learned", "ncdf", "ci", "").verdict == "partly holds"
    assert A.edges_claim(edges.assign(F=[0.35, 0.7, 0.82, 0.3]), "learned", "ncdf", "ci", "").verdict == "does not hold"


def test_paper_variant_rule_flips_at_its_tolerance_and_minimum():
    rule = A.RULES["B stable, paper's variant"]
    steps = 200

    def run(violations, last, probe=0.9, n=steps):
        margins = [-1.0] * violations + [0.1] * (n - violations - 1) + [last]
        return {"augmented Lagrangian, tau 0.3": {"violations": violations, "steps": n, "finite": True,
                                                  "margin": margins, "probe": [probe]}}

    inside = int(rule.tolerance * steps)  # uncertified share exactly at the tolerance
    assert A.paper_variant_claim(run(inside, 0.1), "ci", "").verdict == "holds"
    assert A.paper_variant_claim(run(inside + 1, 0.1), "ci", "").verdict == "partly holds"
    assert A.paper_variant_claim(run(inside + 1, -0.1), "ci", "").verdict == "does not hold"
    assert A.paper_variant_claim(run(0, 0.1, probe=1.2), "ci", "").verdict == "does not hold"
    assert A.paper_variant_claim(run(0, 0.1, n=50), "ci", "").verdict == "untested at this scale"
    assert A.paper_variant_claim({}, "ci", "").verdict == "untested"
    claim = A.paper_variant_claim(run(0, 0.1), "ci", "")
    assert claim.rule == rule.rule and claim.tolerance == rule.tolerance_text()


def test_every_claim_of_the_chapter_has_a_rule():
    assert set(V.CLAIMS) <= set(A.RULES)


def test_a_win_against_a_baseline_tuned_at_its_grid_edge_does_not_count():
    paired = pd.DataFrame([{"set": "a", "sigma": 25, "against": "Perona-Malik", "mean": 0.5, "low": 0.2, "high": 0.8}])
    interior = {"25": {"Perona-Malik": {"K": 8.0, "steps": 20, "PSNR": 28.0}}}
    at_edge = {"25": {"Perona-Malik": {"K": 22.0, "steps": 20, "PSNR": 28.0}}}  # 22 is the last K of the grid
    assert A.improves_claim(paired, "ci", "", interior, 5).verdict == "holds"
    claim = A.improves_claim(paired, "ci", "", at_edge, 5)
    assert claim.verdict == "does not hold" and "grid's edge" in claim.reason
    assert "5 steps of 0.2" in claim.reason and "20-20 steps" in claim.reason
    extended = {"25": {"Perona-Malik": {**at_edge["25"]["Perona-Malik"], "where": {"K": "interior", "steps": "interior"}}}}
    assert A.improves_claim(paired, "ci", "", extended, 5).verdict == "holds"  # an extended grid's own record wins


def test_paired_intervals_are_bonferroni_corrected_over_the_table():
    g = torch.Generator().manual_seed(3)
    rows = []
    for s in ("a", "b"):
        for i in range(12):
            base = float(torch.rand(1, generator=g)) * 30
            gain = 0.15 + 0.5 * float(torch.randn(1, generator=g))
            rows += [{"set": s, "sigma": 25, "image": i, "method": "L", "PSNR": base + gain},
                     {"set": s, "sigma": 25, "image": i, "method": "P", "PSNR": base},
                     {"set": s, "sigma": 25, "image": i, "method": "Q", "PSNR": base + 0.01}]
    scores = pd.DataFrame(rows)
    one = A.paired_table(scores[scores.set == "a"], "L", ["P"], 4000)
    four = A.paired_table(scores, "L", ["P", "Q"], 4000)
    assert one.level.iloc[0] == pytest.approx(0.95) and four.level.iloc[0] == pytest.approx(1 - 0.05 / 4)
    wider = four[(four.set == "a") & (four.against == "P")].iloc[0]
    assert wider["mean"] == pytest.approx(one["mean"].iloc[0])
    assert wider.low < one.low.iloc[0] and wider.high > one.high.iloc[0]  # the same comparison, a wider interval


def _training(margins_by_sigma: dict, probes_by_sigma: dict) -> dict:
    good = {"violations": 0, "finite": True, "steps": 3, "parameters": 10, "seconds": 1.0}
    out = {str(s): {"learned cross-diffusion": {**good, "margin": m, "probe": probes_by_sigma[s]},
                    "TNRD-style": {"steps": 3, "loss": [1.0]}} for s, m in margins_by_sigma.items()}
    out["25"]["augmented Lagrangian, tau 0.3, 10 stages"] = {**good, "violations": 2, "margin": [0.2, -0.1, -0.2],
                                                             "probe": [1.5]}
    return out


def test_claim_b_quotes_the_stability_table_shown():
    """The claims box's numbers for B are the table's: the smallest margin and the largest probe growth over every
    constrained run at every sigma (the smallest here is at sigma 50, not at the sigma of the controls)."""
    training = _training({15: [0.9, 0.7], 25: [0.8, 0.6543], 50: [0.7, 0.5432]},
                         {15: [0.95123], 25: [0.8], 50: [0.7]})
    table = A.stability_table(training, [{"run": "learned cross-diffusion", "rollout x10 finite": True}], 25)
    assert list(table.sigma) == [15, 25, 25, 50] and "TNRD-style" not in set(table.run)
    assert table.set_index(["sigma", "run"]).loc[(25, "learned cross-diffusion"), "rollout x10 finite"] == True  # noqa: E712
    mine = table[table.run == "learned cross-diffusion"]
    constrained = [recs["learned cross-diffusion"] for recs in training.values()]
    controls = {k: r for recs in training.values() for k, r in recs.items() if k.startswith("augmented")}
    claim = A.stable_claim(constrained, controls, "ci", "")
    assert f"smallest margin {mine['smallest margin'].min():.3f}" in claim.reason
    assert f"largest probe growth {mine['largest probe growth'].max():.3f}" in claim.reason
    assert "smallest margin 0.543" in claim.reason and "largest probe growth 0.951" in claim.reason
    control = table[table.run.str.startswith("augmented")].iloc[0]
    assert control["uncertified steps"] == 2 and control["first uncertified step"] == 2
    assert not control["last step certified"] and "first at step 2" in claim.reason and "probes up to 1.500x" in claim.reason


def test_the_recorded_runs_claims_quote_its_tables():
    """On the recorded run (whatever its format): claim B's smallest margin and claim A's smallest gain are numbers
    of the tables the page shows for it."""
    from pdedenoise.results import load_results

    res = load_results("02_cross_diffusion", "medium")
    if res is None:
        pytest.skip("no recorded medium run")
    claims = A.claims_from_results(res)
    table = A.stability_table(res["training"], res.get("stability"), 25)
    smallest = table[table.run == "learned cross-diffusion"]["smallest margin"].min()
    assert f"smallest margin {smallest:.3f}" in claims[1].reason
    paired = A.recorded_paired(res)
    assert f"smallest mean gain {paired['mean'].min():+.2f} dB" in claims[0].reason
    assert all(c.rule and c.verdict for c in claims)  # judged by today's rules, whatever the record stored
